#!/usr/bin/env bash
# Copy the browser builds the report page inlines from the pinned npm install (.tools/js, made by
# scripts/ensure-pictures.sh from tools/js/package-lock.json) into tools/mlplatform/pictures/vendor/,
# with each package's licence, and record versions and sha256 in VENDOR.json. Run it after changing a
# version in tools/js/package.json; tests/test_report_page.py checks the copies against the install.
set -euo pipefail
cd "$(dirname "$0")/.."
modules=.tools/js/node_modules
dest=tools/mlplatform/pictures/vendor
[ -d "$modules" ] || { echo "run scripts/ensure-pictures.sh first" >&2; exit 1; }
mkdir -p "$dest"
python3 - "$modules" "$dest" <<'PY'
import hashlib, json, shutil, sys
from pathlib import Path

modules, dest = Path(sys.argv[1]), Path(sys.argv[2])
# package -> the build a page loads with a <script> tag (each defines a global: vega, vegaLite, mermaid)
builds = {"vega": "build/vega.min.js", "vega-lite": "build/vega-lite.min.js", "mermaid": "dist/mermaid.min.js"}
record = {}
for package, build in builds.items():
    root = modules / package
    meta = json.loads((root / "package.json").read_text())
    target = dest / Path(build).name
    shutil.copyfile(root / build, target)
    shutil.copyfile(root / "LICENSE", dest / f"LICENSE-{package}")
    record[package] = {
        "version": meta["version"],
        "license": meta.get("license"),
        "file": target.name,
        "from": f"{package}@{meta['version']}/{build}",
        "sha256": hashlib.sha256(target.read_bytes()).hexdigest(),
    }
(dest / "VENDOR.json").write_text(json.dumps(record, indent=2) + "\n")
for package, entry in record.items():
    print(f"{package} {entry['version']} ({entry['license']}): {entry['file']}")
PY
