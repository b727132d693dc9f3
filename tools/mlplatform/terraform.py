"""The Terraform side of one cluster, read offline for the cross-layer rules.

A cluster's Terraform is `terraform/environments/<cluster>/*.tf` plus every local module it reaches through a
relative `source` (registry and git modules are not read: their inputs are what we pass them, which is in our
own files). python-hcl2 parses the files; it keeps no line numbers, so a finding locates its line by searching
the file's text for the attribute it is about (`line_of`).

Values come back as python-hcl2 gives them: strings keep their quotes (`"\"foo\""`) and expressions are
`${...}`; `unquote` turns a literal string into its value.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import buildcache
from .contain import safe_resolve
from .errors import InputError

MAX_TF_BYTES = 2 * 1024 * 1024  # our largest .tf is a few KiB; anything near this is not hand-written config


@dataclass(frozen=True)
class TfBlock:
    """One labelled block: `resource "aws_eks_addon" "vpc_cni" {...}` is kind resource, labels (type, name)."""

    file: str  # repository-relative POSIX path
    kind: str
    labels: tuple[str, ...]
    body: dict[str, Any]

    @property
    def name(self) -> str:
        return self.labels[-1] if self.labels else ""


@dataclass
class TfFile:
    path: str
    text: str
    data: dict[str, Any]

    def line_of(self, pattern: str, start: int = 1) -> int:
        """The first line at or after `start` matching the regular expression `pattern` (else `start`)."""
        regex = re.compile(pattern)
        for number, line in enumerate(self.text.splitlines(), 1):
            if number >= start and regex.search(line):
                return number
        return start

    def block_line(self, kind: str, *labels: str) -> int:
        """The line that opens a block, e.g. block_line("resource", "aws_eks_addon", "vpc_cni")."""
        quoted = r"\s+".join(['"?' + re.escape(label) + '"?' for label in labels])
        return self.line_of(rf"^\s*{re.escape(kind)}\s+{quoted}\s*\{{")


@dataclass
class TerraformConfig:
    """The parsed .tf files of one cluster's environment and the local modules it uses."""

    root: str  # repository-relative environment directory
    files: dict[str, TfFile] = field(default_factory=dict)
    tfvars: TfFile | None = None  # the environment's terraform.tfvars, when present and parsable

    def variable_value(self, name: str) -> Any:
        """A root variable's value: terraform.tfvars, else the environment's `variable` default (else None)."""
        if self.tfvars is not None and name in self.tfvars.data:
            return self.tfvars.data[name]
        for path, tf in self.files.items():
            if path.rpartition("/")[0] != self.root:
                continue  # a module's variables are its inputs, not the environment's
            for block in _blocks_in(tf, "variable", name):
                if "default" in block.body:
                    return block.body["default"]
        return None

    def blocks(self, kind: str, block_type: str | None = None) -> Iterator[TfBlock]:
        """Every block of a kind (resource, module, data, ...), optionally of one type (first label)."""
        for tf in self.files.values():
            yield from _blocks_in(tf, kind, block_type)

    def resources(self, block_type: str) -> list[TfBlock]:
        return list(self.blocks("resource", block_type))

    def modules(self) -> list[TfBlock]:
        return list(self.blocks("module"))

    def search(self, pattern: str) -> list[tuple[str, int]]:
        """(file, line) of every line of every file matching the regular expression `pattern`."""
        regex = re.compile(pattern)
        hits = []
        for tf in self.files.values():
            for number, line in enumerate(tf.text.splitlines(), 1):
                if regex.search(line):
                    hits.append((tf.path, number))
        return hits

    def file(self, path: str) -> TfFile:
        return self.files[path]

    def local(self, directory: str, name: str) -> Any:
        """The expression of `local.<name>` in the module at `directory` (locals are per module), or None."""
        for tf in self.files.values():
            if tf.path.rpartition("/")[0] != directory:
                continue
            for entry in tf.data.get("locals") or []:
                if isinstance(entry, dict) and name in entry:
                    return entry[name]
        return None


def unquote(value: Any) -> Any:
    """A python-hcl2 literal string without its quotes; other values unchanged."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def _blocks_in(tf: TfFile, kind: str, block_type: str | None) -> Iterator[TfBlock]:
    for entry in tf.data.get(kind) or []:
        if not isinstance(entry, dict):
            continue
        for label, body in entry.items():
            if label.startswith("__"):
                continue
            first = unquote(label)
            if kind in ("resource", "data"):
                if block_type is not None and first != block_type:
                    continue
                for name, inner in (body or {}).items():
                    if not name.startswith("__") and isinstance(inner, dict):
                        yield TfBlock(tf.path, kind, (first, unquote(name)), inner)
            elif block_type is None or first == block_type:
                if isinstance(body, dict):
                    yield TfBlock(tf.path, kind, (first,), body)


# (path, mtime_ns, size) -> parsed file. Both clusters share the modules, and python-hcl2 (lark) takes
# ~15 ms a file: parse each file once per process.
_PARSED: dict[tuple[str, int, int], TfFile] = {}
_PARSED_LOCK = threading.Lock()
# A parse running in a child process (terraform_prefetch.py): a file it may be parsing is waited for, not
# parsed twice.
_PREFETCHES: list[Any] = []


def remember(key: tuple[str, int, int], parsed: TfFile) -> None:
    with _PARSED_LOCK:
        _PARSED.setdefault(key, parsed)


def parsed_files() -> list[tuple[tuple[str, int, int], TfFile]]:
    with _PARSED_LOCK:
        return list(_PARSED.items())


def wait_for(prefetch: Any) -> None:
    """Make _parse wait for `prefetch` (an object with wait()) before parsing a file it has not seen."""
    with _PARSED_LOCK:
        _PREFETCHES.append(prefetch)


def done_with(prefetch: Any) -> None:
    with _PARSED_LOCK:
        if prefetch in _PREFETCHES:
            _PREFETCHES.remove(prefetch)


def _parse(repo: Path, path: Path) -> TfFile:
    rel = path.relative_to(repo).as_posix()
    stat = path.stat()
    if stat.st_size > MAX_TF_BYTES:
        raise InputError(f"{rel} is larger than {MAX_TF_BYTES // 1024} KiB", file=rel, line=1)
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    with _PARSED_LOCK:
        cached = _PARSED.get(key)
        pending = list(_PREFETCHES) if cached is None else []
    for prefetch in pending:
        prefetch.wait()
    if pending:
        with _PARSED_LOCK:
            cached = _PARSED.get(key)
    if cached is not None and cached.path == rel:
        return cached
    parsed = _parse_text(rel, path.read_text(encoding="utf-8", errors="replace"), repo)
    with _PARSED_LOCK:
        _PARSED[key] = parsed
    return parsed


def _parse_text(rel: str, text: str, repo: Path | None = None) -> TfFile:
    import hcl2
    from hcl2.utils import SerializationOptions

    # python-hcl2 (lark) is the slowest pure-Python step of a check whose kustomize builds come from the
    # cache: its result is kept between runs too, keyed by the parser's version and the file's text.
    store = buildcache.shared(repo, "terraform") if repo is not None and _hcl2_version() else None
    key = hashlib.sha256(f"python-hcl2 {_hcl2_version()}\0{text}".encode("utf-8", "surrogateescape")).hexdigest()
    kept = store.get(key) if store is not None else None
    if kept is not None:
        try:
            return TfFile(rel, text, json.loads(kept))
        except ValueError:
            pass  # an entry that passed its HMAC but is not JSON: parse again
    try:
        data = hcl2.loads(text, serialization_options=SerializationOptions(with_comments=False))
    except Exception as exc:  # python-hcl2 raises lark errors of many kinds
        line = getattr(exc, "line", None)
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"{rel}: Terraform does not parse: {first}", file=rel, line=line or 1) from None
    if store is not None:
        try:
            store.put(key, json.dumps(data))
        except (TypeError, ValueError):
            pass  # a value JSON cannot hold: this file is simply parsed every run
    return TfFile(rel, text, data)


@functools.lru_cache(maxsize=1)
def _hcl2_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("python-hcl2")
    except PackageNotFoundError:
        return ""  # no version to key on: no cache


def load_terraform(repo: Path, cluster: str) -> TerraformConfig | None:
    """The cluster's Terraform, or None when the repository has no environment for it.

    Raises InputError for a file that does not parse or a local module outside the repository.
    """
    repo = repo.resolve()
    env = repo / "terraform" / "environments" / cluster
    if not env.is_dir():
        return None
    config = TerraformConfig(root=env.relative_to(repo).as_posix())
    pending = [env]
    seen: set[Path] = set()
    while pending:
        directory = pending.pop()
        if directory in seen:
            continue
        seen.add(directory)
        for path in sorted(directory.glob("*.tf")):
            if not path.is_file():
                continue
            tf = _parse(repo, path)
            config.files[tf.path] = tf
            for block in _blocks_in(tf, "module", None):
                source = unquote(block.body.get("source"))
                if isinstance(source, str) and source.startswith(("./", "../")):
                    target = safe_resolve(directory / source)
                    if target is None:
                        raise InputError(
                            f"module {block.name} reads {source}, which cannot be resolved (a symlink loop?)",
                            file=tf.path,
                            line=tf.block_line("module", block.name),
                        )
                    if not target.is_relative_to(repo):
                        raise InputError(
                            f"module {block.name} reads {source}, outside the repository",
                            file=tf.path,
                            line=tf.block_line("module", block.name),
                        )
                    if target.is_dir():
                        pending.append(target)
    tfvars = env / "terraform.tfvars"
    if tfvars.is_file():
        try:
            config.tfvars = _parse(repo, tfvars)
        except InputError:
            pass  # values then come from the variables' defaults; `terraform validate` (CI) reports the file
    return config
