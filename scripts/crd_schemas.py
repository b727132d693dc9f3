#!/usr/bin/env python3
"""The vendored CRD schemas (schemas/crds/): check their sources offline, regenerate them when online.

    python scripts/crd_schemas.py check                  # offline: SOURCES.yaml matches the pinned charts
    python scripts/crd_schemas.py convert CRD.yaml ...   # offline: CRD manifests -> <group>/<kind>_<version>.json
    python scripts/crd_schemas.py fetch [--group G] [--ref G=REF] [--all]   # needs network

`fetch` downloads, for each group of schemas/crds/SOURCES.yaml, the Helm chart at the version this repository
pins (the chart's index.yaml, then its archive), or the git repository at the named ref, takes the
CustomResourceDefinitions out of it and rewrites that group's files (only the kinds and versions already
vendored, unless --all). The conversion is the one `mlplatform check` applies to CRDs it renders
(mlplatform.schema.make_strict): objects that declare properties reject unknown fields.
Exit codes: 0 done, 1 a check failed or a source had no CRDs, 2 bad arguments or a download failed.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import subprocess
import sys
import tarfile
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
SCHEMA_DIR = REPO_ROOT / "schemas" / "crds"
SOURCES = SCHEMA_DIR / "SOURCES.yaml"
DOWNLOAD_TIMEOUT_S = 60
# Helm template directives alone on a line ({{- if .Values.crds.enabled }}, {{- end }}) and inline ones.
_DIRECTIVE_LINE = re.compile(r"^\s*\{\{.*\}\}\s*$")
_INLINE = re.compile(r"\{\{.*?\}\}")


class SourceError(Exception):
    """A source cannot be read or downloaded: exit 2 with one line."""


def _tools() -> Any:
    sys.path.insert(0, str(REPO_ROOT / "tools"))
    from mlplatform import schema  # the same conversion check applies to rendered CRDs

    return schema


def load_sources(path: Path = SOURCES) -> dict[str, dict[str, Any]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data["groups"]


# ---------------------------------------------------------------- conversion (offline)


def crd_documents(text: str) -> Iterator[dict[str, Any]]:
    """CustomResourceDefinitions in a manifest or a Helm template (template directives blanked out)."""
    if "{{" in text:
        text = "\n".join(_INLINE.sub("x", line) for line in text.splitlines() if not _DIRECTIVE_LINE.match(line))
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError:
        return
    schema = _tools()
    for doc in docs:
        if schema.is_crd(doc):
            yield doc


def convert(crds: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """{"<group>/<kind>_<version>.json": strict JSON schema} for every served version of the CRDs."""
    schema = _tools()
    out: dict[str, dict[str, Any]] = {}
    for crd in crds:
        for (group, version, kind), _, body in schema.crd_schemas(crd):
            out[f"{group}/{kind.lower()}_{version}.json"] = schema.make_strict(json.loads(json.dumps(body)))
    return out


def write_schemas(schemas: dict[str, dict[str, Any]], out: Path, only_existing: bool) -> list[str]:
    written = []
    for name, body in sorted(schemas.items()):
        target = out / name
        if only_existing and not target.is_file():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(body, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        written.append(name)
    return written


# ---------------------------------------------------------------- downloads (online)


def _get(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:  # noqa: S310 - https or file
            return response.read()
    except (OSError, ValueError) as exc:
        raise SourceError(f"cannot download {url}: {exc}") from None


def chart_crds(repository: str, name: str, version: str) -> list[dict[str, Any]]:
    """The CRDs in a chart's archive (crds/ and templates/), found through the repository's index.yaml."""
    base = repository.rstrip("/") + "/"
    index = yaml.safe_load(_get(base + "index.yaml"))
    entries = [e for e in (index.get("entries") or {}).get(name) or [] if str(e.get("version")) == version]
    if not entries or not entries[0].get("urls"):
        raise SourceError(f"chart {name} {version} is not in {base}index.yaml")
    archive = _get(urllib.parse.urljoin(base, entries[0]["urls"][0]))
    found: list[dict[str, Any]] = []
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        for member in tar.getmembers():
            if member.isfile() and member.name.endswith((".yaml", ".yml")):
                handle = tar.extractfile(member)
                if handle is not None:
                    found.extend(crd_documents(handle.read().decode("utf-8", errors="replace")))
    return found


def git_crds(url: str, ref: str, path: str) -> list[dict[str, Any]]:
    """The CRDs in `path` of a git repository at `ref` (a shallow clone into a temporary directory)."""
    with tempfile.TemporaryDirectory(prefix="crd-schemas-") as tmp:
        done = subprocess.run(["git", "clone", "--quiet", "--depth", "1", "--branch", ref, url, tmp],
                              capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            raise SourceError(f"git clone {url} at {ref}: {done.stderr.strip().splitlines()[-1:]}")
        found: list[dict[str, Any]] = []
        for file in sorted((Path(tmp) / path).rglob("*.y*ml")):
            found.extend(crd_documents(file.read_text(encoding="utf-8", errors="replace")))
        return found


def source_crds(group: str, entry: dict[str, Any], refs: dict[str, str]) -> list[dict[str, Any]]:
    if "chart" in entry:
        chart = entry["chart"]
        return chart_crds(chart["repository"], chart["name"], str(chart["version"]))
    found: list[dict[str, Any]] = []
    for source in entry.get("git") or []:
        ref = refs.get(group) or source.get("ref")
        if not ref:
            raise SourceError(f"{group}: this repository pins no release of {source['url']}; pass --ref {group}=TAG")
        found.extend(git_crds(source["url"], str(ref), source["path"]))
    return found


# ---------------------------------------------------------------- offline consistency check


def pinned_chart_version(chart: dict[str, Any], repo: Path = REPO_ROOT) -> str | None:
    """The version the repository pins for a chart entry: in its HelmRelease, or in a Terraform variable."""
    if "helmrelease" in chart:
        for doc in yaml.safe_load_all((repo / chart["helmrelease"]).read_text(encoding="utf-8")):
            if isinstance(doc, dict) and doc.get("kind") == "HelmRelease" and \
                    doc["metadata"]["name"] == chart["release"]:
                return str(doc["spec"]["chart"]["spec"]["version"])
        return None
    text = (repo / chart["terraform"]).read_text(encoding="utf-8")
    pattern = r'variable\s+"' + re.escape(chart["variable"]) + r'"\s*\{[^}]*default\s*=\s*"([^"]+)"'
    match = re.search(pattern, text)
    return match.group(1) if match else None


def check_sources(repo: Path = REPO_ROOT) -> list[str]:
    """Problems: a vendored group without a source entry, or a chart version that differs from the pin."""
    schema_dir = repo / "schemas" / "crds"
    groups = load_sources(schema_dir / "SOURCES.yaml")
    problems = []
    present = sorted(p.name for p in schema_dir.iterdir() if p.is_dir() and p.name != "LICENSES")
    problems += [f"{g}: vendored but not described in SOURCES.yaml" for g in present if g not in groups]
    problems += [f"{g}: in SOURCES.yaml but no schemas vendored" for g in groups if g not in present]
    for group, entry in groups.items():
        chart = entry.get("chart")
        if chart:
            pinned = pinned_chart_version(chart, repo)
            if pinned != str(chart["version"]):
                problems.append(f"{group}: SOURCES.yaml says {chart['name']} {chart['version']}, the repository "
                                f"pins {pinned}; run `python scripts/crd_schemas.py fetch --group {group}`")
        licence = schema_dir / "LICENSES" / f"{entry['licence']}.txt"
        if not licence.is_file():
            problems.append(f"{group}: licence text {licence.relative_to(schema_dir)} missing")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("check", help="offline: SOURCES.yaml covers every group and matches the pinned versions")
    conv = sub.add_parser("convert", help="offline: write the schemas of the CRDs in these files")
    conv.add_argument("files", nargs="+", type=Path)
    conv.add_argument("--out", type=Path, default=SCHEMA_DIR)
    fetch = sub.add_parser("fetch", help="download the pinned charts' CRDs and rewrite the schemas (network)")
    fetch.add_argument("--group", action="append", default=[], help="only this group (repeatable)")
    fetch.add_argument("--ref", action="append", default=[], metavar="GROUP=REF",
                       help="git ref for a group this repository does not pin")
    fetch.add_argument("--all", action="store_true", help="write every kind and version, not only vendored ones")
    fetch.add_argument("--out", type=Path, default=SCHEMA_DIR)
    args = parser.parse_args(argv)
    try:
        if args.command == "check":
            problems = check_sources()
            for problem in problems:
                print(f"schemas/crds: {problem}", file=sys.stderr)
            return 1 if problems else 0
        if args.command == "convert":
            crds = [crd for f in args.files for crd in crd_documents(f.read_text(encoding="utf-8"))]
            written = write_schemas(convert(crds), args.out, only_existing=False)
            print("\n".join(written) or "no CustomResourceDefinition found")
            return 0 if written else 1
        groups = load_sources(args.out / "SOURCES.yaml")
        refs = dict(r.split("=", 1) for r in args.ref if "=" in r)
        status = 0
        for group in args.group or sorted(groups):
            if group not in groups:
                raise SourceError(f"unknown group {group!r} (SOURCES.yaml lists {', '.join(sorted(groups))})")
            schemas = {k: v for k, v in convert(source_crds(group, groups[group], refs)).items()
                       if k.startswith(group + "/")}
            written = write_schemas(schemas, args.out, only_existing=not args.all)
            print(f"{group}: {len(written)} schema(s) written")
            status |= 0 if written else 1
        return status
    except (SourceError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
