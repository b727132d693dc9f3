"""`render --out DIR`: one file per Flux Kustomization, names that cannot collide, no file overwritten that
this command did not write.

A readable name `<namespace>-<name>.yaml` is used when it is made of safe characters and no other
Kustomization maps to it; otherwise the name gets the first 12 hex digits of the SHA-256 of
`namespace/name` (two Kustomizations `a-b/c` and `a/b-c` both map to `a-b-c`, and one set of objects used to
vanish). DIR/.mlplatform-render.json records each file written and the SHA-256 of its bytes: a file that is
not recorded, or whose bytes changed since, belongs to someone else and the command refuses (exit 2) before
writing anything. Files of Kustomizations that no longer exist are removed only when recorded and unchanged.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from .atomic import refuse_links, write_text_atomically
from .errors import ToolError

LEDGER = ".mlplatform-render.json"
_SAFE = re.compile(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$")


def file_names(keys: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """A distinct file name for each (namespace, name), readable where that is unambiguous."""
    readable = {key: f"{key[0]}-{key[1]}" for key in keys}
    counts: dict[str, int] = {}
    for stem in readable.values():
        counts[stem] = counts.get(stem, 0) + 1
    names: dict[tuple[str, str], str] = {}
    for key, stem in readable.items():
        if counts[stem] > 1 or not _SAFE.match(key[0]) or not _SAFE.match(key[1]) or len(stem) > 200:
            digest = hashlib.sha256(f"{key[0]}/{key[1]}".encode("utf-8", "surrogateescape")).hexdigest()[:12]
            safe = re.sub(r"[^a-z0-9.-]", "_", stem.lower())[:100]
            stem = f"{safe}-{digest}"
        names[key] = f"{stem}.yaml"
    if len(set(names.values())) != len(names):
        raise ToolError("two Flux Kustomizations map to the same --out file name; rename one")
    return names


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class OutResult:
    written: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def _ledger(out: Path) -> dict[str, str]:
    path = out / LEDGER
    if not path.is_file() or path.is_symlink():
        return {}
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        raise ToolError("cannot read the record of files this command wrote; remove it or use an empty "
                        "directory", str(path)) from None
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict):
        raise ToolError("not a record of files this command wrote; use an empty directory", str(path))
    return {str(k): str(v) for k, v in files.items()}


def _ours(out: Path, name: str, ledger: dict[str, str]) -> bool:
    path = out / name
    return name in ledger and path.is_file() and not path.is_symlink() and _digest(path.read_bytes()) == ledger[name]


def write_out(out: Path, contents: dict[str, str], keep: set[str]) -> OutResult:
    """Write `contents` (file name -> text) into `out`. Names in `keep` (Kustomizations that failed this
    time) keep their previous file. Refuses, before writing anything, to replace a file it did not write."""
    if out.is_symlink():
        raise ToolError("refusing to write through a symlink", str(out))
    ledger = _ledger(out)
    for name in contents:
        path = out / name
        if (path.exists() or path.is_symlink()) and not _ours(out, name, ledger):
            raise ToolError(f"refusing to overwrite {name}: this command did not write it (or it was edited "
                            f"since); move it away or use an empty directory", str(out))
    out.mkdir(parents=True, exist_ok=True)
    result = OutResult()
    new_ledger = {name: digest for name, digest in ledger.items() if name in keep and _ours(out, name, ledger)}
    for name, text in sorted(contents.items()):
        refuse_links(out, out / name)
        write_text_atomically(out / name, text, mode=0o644)
        new_ledger[name] = _digest(text.encode("utf-8"))
        result.written.append(name)
    for name in sorted(set(ledger) - set(contents) - keep):
        # A Kustomization that is gone: its file is removed when it is still exactly what we wrote.
        if _ours(out, name, ledger):
            (out / name).unlink()
            result.removed.append(name)
    write_text_atomically(out / LEDGER, json.dumps({"files": new_ledger}, indent=2, sort_keys=True) + "\n",
                          mode=0o644)
    return result
