#!/usr/bin/env bash
# Make sure a real promtool is available for `mlplatform check` (promtool check rules / test rules on the
# PrometheusRules). promtool on PATH is used as it is; else the promtool of Debian's `prometheus` package,
# pinned by version and sha256, is extracted into .tools/bin. Prints the path it settled on (stdout) and
# what it did with the version (stderr).
#
# Why Debian's package: Debian's archive is a registry this project's machines reach (PyPI and npm ship no
# promtool binary), apt-get verifies the archive's signatures, and `apt-get download` + `dpkg-deb -x` need
# neither an install nor the package's dependencies (promtool is a Go binary that needs only libc).
# The pin is bookworm's (Debian 12) security update of Prometheus 2.42.0; the Debian archive keeps only the
# newest update of a suite, so when a newer one replaces it the download fails with a message naming the
# candidate: update both values below from `apt-cache show prometheus=<version>` (its SHA256 line).
set -euo pipefail
cd "$(dirname "$0")/.."
DEB_VERSION="2.42.0+ds-5+deb12u1"
DEB_SHA256="81d59a24fce84f7fbe97a45a4f2914b6a5881b5cd1db2a6a0e129e515e1a5f55"  # amd64
dest="$PWD/.tools/bin/promtool"  # absolute: callers run from other directories

say() { echo "ensure-promtool: $*" >&2; }

if command -v promtool >/dev/null 2>&1; then
  found=$(command -v promtool)
  say "using promtool on PATH: $found ($("$found" --version 2>&1 | head -n1))"
  echo "$found"
  exit 0
fi
if [ -x "$dest" ] && [ -f "$dest.deb-version" ] && [ "$(cat "$dest.deb-version")" = "$DEB_VERSION" ]; then
  say "using $dest ($("$dest" --version 2>&1 | head -n1))"
  echo "$dest"
  exit 0
fi

for tool in apt-get apt-cache dpkg-deb dpkg sha256sum; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    say "error: no promtool on PATH and no $tool to fetch Debian's prometheus package; install promtool" \
      "(Prometheus $DEB_VERSION or newer) and put it on PATH"
    exit 2
  fi
done
arch=$(dpkg --print-architecture)
if [ "$arch" != amd64 ]; then
  say "error: the pinned sha256 is for amd64, this machine is $arch; install promtool and put it on PATH"
  exit 2
fi
if ! apt-cache show "prometheus=$DEB_VERSION" >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    say "error: the package lists do not have prometheus=$DEB_VERSION; run 'apt-get update' as root, or put" \
      "promtool on PATH"
    exit 2
  fi
  say "the package lists do not have prometheus=$DEB_VERSION: running apt-get update"
  apt-get update -qq >&2
fi
if ! apt-cache show "prometheus=$DEB_VERSION" >/dev/null 2>&1; then
  candidate=$(apt-cache policy prometheus 2>/dev/null | awk '/Candidate:/ {print $2}')
  say "error: Debian's archive no longer has prometheus=$DEB_VERSION (candidate: ${candidate:-none});" \
    "update DEB_VERSION and DEB_SHA256 in scripts/ensure-promtool.sh from" \
    "'apt-cache show prometheus=${candidate:-<version>}'"
  exit 2
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
say "no promtool on PATH: fetching Debian's prometheus=$DEB_VERSION (promtool only, nothing is installed)"
# The sandbox user _apt cannot write into a private temporary directory; the sha256 below is checked anyway.
(cd "$work" && apt-get download -qq -o APT::Sandbox::User=root "prometheus=$DEB_VERSION" >&2)
deb=$(ls "$work"/prometheus_*.deb)
actual=$(sha256sum "$deb" | cut -d' ' -f1)
if [ "$actual" != "$DEB_SHA256" ]; then
  say "error: $(basename "$deb") has sha256 $actual, expected $DEB_SHA256"
  exit 2
fi
dpkg-deb -x "$deb" "$work/root"
mkdir -p "$(dirname "$dest")"
install -m 0755 "$work/root/usr/bin/promtool" "$dest"
echo "$DEB_VERSION" > "$dest.deb-version"
say "extracted $dest ($("$dest" --version 2>&1 | head -n1))"
echo "$dest"
