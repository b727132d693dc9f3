"""The kustomize runner: find the real binary, walk kustomization trees offline, build Flux paths."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import itertools
import os
import re
import shutil
import stat
import subprocess
import tempfile
import threading
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from . import buildcache, contain, fastyaml
from .config import Config
from .contain import safe_resolve
from .errors import InputError, ToolError
from .model import Cause, Finding, Severity
from .yamlio import Document, LineDict, LineList, load_documents, load_documents_fast, what_it_is

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
DEFAULT_TIMEOUT_SECONDS = 120
LOAD_RESTRICTOR = "LoadRestrictionsNone"  # kustomize-controller's setting (see KustomizeTool.command)
LIMIT_EXIT = 124  # run_kustomize's code for a build stopped by its time or memory limit
# Line-start patterns are searched in "\n" + text from a literal line break: a leading `^` in MULTILINE mode
# makes the regex engine try every position of the text (8x slower on a kustomize object).
_DOC_SPLIT = re.compile(r"\n---[ \t]*$", re.MULTILINE)
# kustomize writes top-level keys at column 0 and everything below them indented
_METADATA_BLOCK = re.compile(r"\nmetadata:[ \t]*\n(?:[ \t]+.*\n?|[ \t]*\n)*", re.MULTILINE)
# Anything kustomize would fetch over the network: URLs, scp-like git addresses, go-getter style hosts.
_REMOTE = re.compile(
    r"^([a-z][a-z0-9+.-]*://|git@|github\.com/|gitlab\.com/|bitbucket\.org/)|[?&]ref=|\.git(//|$)",
    re.IGNORECASE,
)

try:
    _FastLoader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - libyaml missing
    _FastLoader = yaml.SafeLoader


class PlainLoader(_FastLoader):  # type: ignore[misc]  # the base is picked at import (libyaml or not)
    """libyaml's loader, with timestamps kept as strings (Kubernetes treats them as strings)."""

    # fastyaml.load reads every text it accepts exactly as this loader does (tests/test_fastyaml.py)
    fastyaml_equivalent = True


PlainLoader.add_constructor("tag:yaml.org,2002:timestamp", lambda loader, node: loader.construct_scalar(node))


def printable(text: str) -> str:
    """A file name as valid UTF-8 (undecodable bytes of odd names shown as escapes, never passed through)."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def rel(repo: Path, path: Path) -> str:
    """A repository-relative POSIX path (the path as given when it lies outside the repository)."""
    top, text = str(repo), str(path)
    # Sliced for a path below the repository (every object's provenance asks: 10,000 calls per fleet
    # check): a Path's text is its parts joined by "/", so this is path.relative_to(repo). Not for the root
    # "/", whose "//" prefix would wrongly match a path with pathlib's distinct "//" root.
    if text.startswith(top + "/") and top != "/":
        return printable(text[len(top) + 1:])
    try:
        return printable(path.relative_to(repo).as_posix())
    except ValueError:
        resolved, root = safe_resolve(path), safe_resolve(repo)
        if resolved is not None and root is not None and resolved.is_relative_to(root):
            return printable(resolved.relative_to(root).as_posix())
        return printable(str(path))


_T = TypeVar("_T")
_K = TypeVar("_K")


class SourceCache:
    """Parsed YAML files shared by hygiene and provenance of every cluster: each file is read once per run.

    Two views of a file: `documents` with line numbers inside (LineDict/LineList, for the few files whose
    fields findings name: kustomizations, Flux objects, objects with findings) and `fast_documents`
    without them where the fast parser vouches for the text (every other source file). A file read fast is
    read again with line numbers only when asked for them."""

    def __init__(self) -> None:
        self._docs: dict[Path, list[Document] | InputError] = {}
        self._fast: dict[Path, list[Document] | InputError] = {}
        # The same file is asked for thousands of times (every kustomization and object that names it);
        # resolving its path each time (an lstat per component) cost more than parsing it. Keyed by the path
        # as given, then by the resolved path so two spellings of one file still share one parse.
        self._by_given: dict[Path, list[Document] | InputError] = {}
        self._fast_by_given: dict[Path, list[Document] | InputError] = {}
        self.builds = BuildMemo(documents=self.fast_documents)
        # (repo, directory) -> the walk of that kustomization, findings without a cluster (walk_kustomization)
        self.walks: dict[tuple[Path, Path], KustTree] = {}
        self._lock = threading.Lock()
        self._once: dict[Hashable, Any] = {}
        self._once_locks: dict[Hashable, threading.Lock] = {}
        # one lock per file, so that hygiene and a render thread never parse the same file twice at once
        self._file_locks: dict[Path, threading.Lock] = {}
        # Resolved paths and file kinds of this run: the walks of every cluster ask for the same paths, and
        # resolving one costs an lstat per component (most of a 10-cluster check was spent there).
        self._resolved: dict[Path, Path | None] = {}
        self._kinds: dict[Path, str] = {}
        self._roots: dict[Path, Path] = {}  # repo -> repo.resolve()

    def once(self, key: Hashable, compute: Callable[[], _T]) -> _T:
        """compute() once per run for `key` (a file walk every cluster asks for at the same time): the first
        caller computes, the others wait for its answer. An exception is not kept: the next caller retries."""
        with self._lock:
            lock = self._once_locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._once:
                self._once[key] = compute()
            return self._once[key]  # type: ignore[no-any-return]

    def resolve(self, path: Path) -> Path | None:
        """safe_resolve(path), with every directory resolved once per run: a path is its resolved parent
        plus its name unless its last component is a link (or `..`), which safe_resolve then follows."""
        known = self._resolved.get(path, False)
        if known is not False:
            return known  # type: ignore[return-value]
        parent = path.parent
        if not path.is_absolute() or parent == path or path.name in ("", ".", ".."):
            result = safe_resolve(path)
        else:
            base = self.resolve(parent)
            candidate = base / path.name if base is not None else None
            if candidate is not None and self.kind(candidate) != "link":
                result = candidate  # the resolved directory holds no link by that name: resolved
            else:
                result = safe_resolve(path)  # a link (or a loop above): let realpath follow it
        self._resolved[path] = result
        return result

    def directory(self, repo: Path, directory: Path) -> _DirectoryRead:
        """The walk's reading of one kustomization directory, once per run (it depends on the files alone).
        The walks of two clusters' threads reach the same bases at the same time: one reads a directory, the
        other waits for its read (reading it twice was a third more reads on the 10-cluster benchmark)."""
        return self.once(("directory", repo, directory), lambda: _read_directory(repo, directory, self))

    def root(self, repo: Path) -> Path:
        """repo.resolve(), once per run (every directory read checks its references against it)."""
        known = self._roots.get(repo)
        if known is None:
            known = self._roots[repo] = repo.resolve()
        return known

    def kind(self, path: Path) -> str:
        """"file", "dir", "link", "other" or "missing" (lstat: a link is not followed), once per run."""
        known = self._kinds.get(path)
        if known is None:
            try:
                mode = os.lstat(path).st_mode
            except (OSError, ValueError):
                known = "missing"
            else:
                known = ("link" if stat.S_ISLNK(mode) else "dir" if stat.S_ISDIR(mode)
                         else "file" if stat.S_ISREG(mode) else "other")
            self._kinds[path] = known
        return known

    def followed_kind(self, path: Path) -> str:
        """kind() of what the path leads to (links followed, as Path.is_file/is_dir/exists do)."""
        known = self.kind(path)
        if known != "link":
            return known
        real = self.resolve(path)
        return self.kind(real) if real is not None and real != path else "missing"

    def kustomization_file(self, directory: Path) -> Path | None:
        for name in KUSTOMIZATION_FILES:
            candidate = directory / name
            if self.followed_kind(candidate) == "file":
                return candidate
        return None

    def documents(self, path: Path) -> list[Document] | InputError:
        cached = self._by_given.get(path)
        if cached is not None:
            return cached
        result = self._documents_resolved(path, fast=False)
        self._by_given[path] = result
        return result

    def fast_documents(self, path: Path) -> list[Document] | InputError:
        """The documents of a file, without line numbers inside when the fast path read them (Document.lines
        says which); the same documents, start lines, errors and limits as `documents`."""
        cached = self._by_given.get(path) or self._fast_by_given.get(path)
        if cached is not None:
            return cached
        result = self._documents_resolved(path, fast=True)
        self._fast_by_given[path] = result
        return result

    def _documents_resolved(self, path: Path, *, fast: bool) -> list[Document] | InputError:
        key = self.resolve(path)
        if key is None:
            return InputError("symlink loop", str(path), 1)
        cached = self._docs.get(key) or (self._fast.get(key) if fast else None)
        if cached is not None:
            return cached
        with self._lock:
            file_lock = self._file_locks.setdefault(key, threading.Lock())
        with file_lock:
            cached = self._docs.get(key) or (self._fast.get(key) if fast else None)
            if cached is not None:
                return cached
            result: list[Document] | InputError
            if not key.is_file():  # a FIFO or device would block or never end: never open one
                result = InputError("not a regular file", str(path), 1)
            else:
                try:
                    result = load_documents_fast(path) if fast else load_documents(path)
                except InputError as exc:
                    result = exc
                except RecursionError:
                    result = InputError("nesting too deep", str(path), 1)
            if fast and not (isinstance(result, list) and any(not doc.lines for doc in result)):
                self._docs[key] = result  # the fast path fell back: this is the line-aware parse
            (self._fast if fast else self._docs)[key] = result
        return result


def yaml_rule(message: str) -> str:
    """The hygiene rule id for a YAML loading problem (shared so that duplicates collapse)."""
    if message.startswith("duplicate key"):
        return "yaml/duplicate-key"
    # the limits of yamlio.py (alias bombs, recursive aliases, nesting); an undefined alias or a duplicate
    # anchor is a plain syntax error
    if message.startswith(("aliases ", "an alias refers")) or "nesting" in message or "unhashable" in message:
        return "yaml/limit"
    if "UTF-8" in message:
        return "yaml/encoding"
    if "binary" in message:
        return "yaml/binary"
    if "MiB" in message:
        return "yaml/too-large"
    if message.startswith(("cannot read", "not a regular file", "symlink loop")):
        return "yaml/unreadable"
    return "yaml/syntax"


# ---------------------------------------------------------------- the binary


@dataclass(frozen=True)
class KustomizeTool:
    """The kustomize we run: standalone (`kustomize build`) or kubectl's built-in (`kubectl kustomize`)."""

    path: str
    flavour: str  # "kustomize" | "kubectl"
    version: str

    def command(self, directory: Path) -> list[str]:
        # As Flux's kustomize-controller builds (fluxcd/pkg kustomize/kustomize_generator.go, Build: krusty
        # Options LoadRestrictionsNone and DisabledPluginConfig): files outside a kustomization's own folder
        # may be read. Flux confines them to the source root with its secure filesystem; here
        # walk_kustomization refuses, before kustomize runs, any reference that resolves outside the root.
        # Plugins and exec functions stay off: kustomize enables them only with flags never passed here.
        if self.flavour == "kubectl":
            return [self.path, "kustomize", "--load-restrictor", LOAD_RESTRICTOR, str(directory)]
        return [self.path, "build", "--load-restrictor", LOAD_RESTRICTOR, str(directory)]

    def describe(self) -> str:
        return f"{self.flavour} {self.path} ({self.version})"

    def identity(self) -> str:
        return buildcache.binary_identity(self.path, self.version)


@functools.lru_cache(maxsize=8)
def _probe(path: str) -> KustomizeTool:
    flavour = "kubectl" if "kubectl" in Path(path).name else "kustomize"
    args = [path, "version", "--client"] if flavour == "kubectl" else [path, "version"]
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=30, env=_offline_env())
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolError(f"kustomize binary {path} does not run: {exc}") from exc
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise ToolError(
            f"kustomize binary {path} does not run: {out.strip().splitlines()[-1:] or proc.returncode}"
        )
    if flavour == "kubectl":
        client = re.search(r"Client Version:\s*(\S+)", out)
        kust = re.search(r"Kustomize Version:\s*(\S+)", out)
        version = f"kubectl {client.group(1) if client else '?'}, kustomize {kust.group(1) if kust else '?'}"
    else:
        match = re.search(r"v?\d+\.\d+\.\d+\S*", out)
        version = f"kustomize {match.group(0) if match else out.strip()[:40]}"
    return KustomizeTool(path=path, flavour=flavour, version=version)


# Where `make setup` (scripts/ensure-kustomize.sh) installs kubectl: the tool's own checkout, never the
# repository under check (a pull request could commit an executable at <repo>/.tools/bin/kubectl).
SETUP_BIN = Path(__file__).resolve().parents[2] / ".tools" / "bin"


def find_kustomize(repo: Path, config: Config) -> KustomizeTool:
    """The first of: $MLPLATFORM_KUSTOMIZE, a binary chosen by the caller's code, the set-up's pinned kubectl
    (.tools/bin), kustomize/kubectl on PATH. The pinned one comes before PATH so that a laptop and CI render
    with the same kustomize. Never a path from a repository file (docs/security.md)."""
    candidates: list[tuple[str, str]] = []
    if os.environ.get("MLPLATFORM_KUSTOMIZE"):
        candidates.append(("MLPLATFORM_KUSTOMIZE", os.environ["MLPLATFORM_KUSTOMIZE"]))
    if config.kustomize:
        candidates.append(("caller", config.kustomize))
    local = SETUP_BIN / "kubectl"
    if local.exists():
        candidates.append(("set-up", str(local)))
    for name in ("kustomize", "kubectl"):
        found = shutil.which(name)
        if found:
            candidates.append(("PATH", found))
    if not candidates:
        raise ToolError(
            "no kustomize found: install kubectl or kustomize, or run `make check` which provides one"
        )
    origin, path = candidates[0]
    resolved = shutil.which(path) or path
    if not Path(resolved).is_file():
        raise ToolError(f"kustomize binary not found: {path} (from {origin})")
    return _probe(resolved)


def _offline_env() -> dict[str, str]:
    # Defence in depth: remote bases are refused before running, and any fetch that slips through goes
    # to a dead proxy instead of the network.
    env = dict(os.environ)
    dead = "http://127.0.0.1:9"
    env.update(
        {
            "HTTP_PROXY": dead,
            "HTTPS_PROXY": dead,
            "http_proxy": dead,
            "https_proxy": dead,
            "NO_PROXY": "",
            "no_proxy": "",
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_ALLOW_PROTOCOL": "file",
        }
    )
    return env


# ---------------------------------------------------------------- kustomization trees


@dataclass
class Generator:
    """A configMapGenerator / secretGenerator entry: the objects it makes point at this line."""

    kind: str
    name: str
    file: Path
    line: int


@dataclass
class KustTree:
    """Everything a kustomization directory pulls in, found without running kustomize."""

    root: Path
    kustomization_files: list[Path] = field(default_factory=list)
    resource_files: list[Path] = field(default_factory=list)
    patch_files: list[Path] = field(default_factory=list)
    name_prefixes: set[str] = field(default_factory=set)
    name_suffixes: set[str] = field(default_factory=set)
    generators: list[Generator] = field(default_factory=list)
    # (entry text, kustomization file, line) of each local reference, to point kustomize errors at a line
    references: list[tuple[str, Path, int]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def blocking(self) -> bool:
        """True when running kustomize would fetch, escape the repository or surely fail."""
        return any(f.severity is Severity.ERROR for f in self.findings)

    def copy_for(self, cluster: str | None) -> KustTree:
        """A copy whose lists the caller may extend (walk_components does), its findings naming `cluster`."""
        return KustTree(
            root=self.root,
            kustomization_files=list(self.kustomization_files),
            resource_files=list(self.resource_files),
            patch_files=list(self.patch_files),
            name_prefixes=set(self.name_prefixes),
            name_suffixes=set(self.name_suffixes),
            generators=list(self.generators),
            references=list(self.references),
            findings=[dataclasses.replace(f, cluster=cluster) if f.cluster == _CALLER else dataclasses.replace(f)
                      for f in self.findings],
        )


# The cluster of a memoised walk's findings about the cluster's build (a YAML problem of a file has none: it
# collapses with hygiene's finding); KustTree.copy_for puts the caller's cluster in its place.
_CALLER = "\0caller"


def kustomization_file(directory: Path) -> Path | None:
    for name in KUSTOMIZATION_FILES:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


def _item_line(seq: Any, index: int, default: int) -> int:
    if isinstance(seq, LineList) and index < len(seq.item_lines):
        return seq.item_lines[index]
    return default


def walk_kustomization(
    repo: Path, directory: Path, cluster: str | None = None, cache: SourceCache | None = None
) -> KustTree:
    """Follow resources, components, patches and generators from `directory`; problems become findings.

    A walk depends only on the repository's files, which do not change during a run: every cluster, and
    the build-ahead and the render of each Flux Kustomization, ask for the same few directories (26 walks
    answer 300 requests on the 10-cluster benchmark), so each directory is walked once per SourceCache and
    every caller gets its own copy, its findings naming the caller's cluster."""
    cache = cache or SourceCache()
    memo_key = (repo, directory)
    walked = cache.walks.get(memo_key)
    if walked is None:
        walked = cache.walks.setdefault(memo_key, _walk(repo, directory, cache))
    return walked.copy_for(cluster)


@dataclass
class _DirectoryRead:
    """What one kustomization directory adds to a walk, in the order the walk adds it.

    It depends on the directory's files alone, never on the walk that reaches it, so it is read once per run
    (SourceCache.directory) and replayed by every walk: the 80 walks of the 10-cluster benchmark reach 341
    directories 2,510 times, and reading each every time was most of the walk's time. `steps` are
    (KustTree field, value) pairs, and ("child", (directory, (kustomization file, line))) where the walk
    descends into a referenced directory at that point of the file."""

    kfile: Path | None  # None: the directory holds no kustomization file
    steps: list[tuple[str, Any]] = field(default_factory=list)


def _walk(repo: Path, directory: Path, cache: SourceCache) -> KustTree:
    tree = KustTree(root=directory)
    seen: set[Path] = set()
    # a step's KustTree field by name -> how a value joins it (append to a list, add to a name set)
    added_to: dict[str, Callable[[Any], None]] = {
        name: getattr(tree, name).add if name in ("name_prefixes", "name_suffixes") else getattr(tree, name).append
        for name in ("kustomization_files", "resource_files", "patch_files", "name_prefixes", "name_suffixes",
                     "generators", "references", "findings")
    }

    def visit(d: Path, via: tuple[Path, int] | None) -> Iterator[tuple[Path, tuple[Path, int]]]:
        """Replay one kustomization's read; yields each directory it references, which the loop below walks
        at that point, depth first as a recursion would (the input controls the nesting: no Python recursion)."""
        real = cache.resolve(d) or d
        if real in seen:
            return
        seen.add(real)
        read = cache.directory(repo, d)
        if read.kfile is None:
            if via is not None:  # the only finding that names the referring file: made here, not kept
                tree.findings.append(
                    Finding(
                        rule="render/missing-kustomization",
                        severity=Severity.ERROR,
                        message=f"directory {rel(repo, d)} has no kustomization.yaml",
                        cluster=_CALLER,  # walk_kustomization names the caller's cluster on its copy
                        file=rel(repo, via[0]),
                        line=via[1],
                    )
                )
            return
        for name, value in read.steps:
            if name == "child":
                yield value
            else:
                added_to[name](value)

    walks = [visit(directory, None)]
    while walks:
        child = next(walks[-1], None)
        if child is None:
            walks.pop()
        else:
            walks.append(visit(*child))
    return tree


def _read_directory(repo: Path, d: Path, cache: SourceCache) -> _DirectoryRead:
    """Read the kustomization of directory `d`: its entries checked (remote, outside the repository, missing,
    unreadable) and recorded as the steps a walk replays (see _DirectoryRead)."""
    kfile = cache.kustomization_file(d)
    if kfile is None:
        return _DirectoryRead(None)
    repo_real = cache.root(repo)
    read = _DirectoryRead(kfile)
    steps = read.steps
    folder = str(kfile.parent)  # every entry of the file is relative to it
    cluster = _CALLER  # walk_kustomization names the caller's cluster on its copy

    def finding(
        rule: str, message: str, file: Path, line: int, severity: Severity = Severity.ERROR,
        follows: Cause | None = None,
    ) -> None:
        steps.append(
            (
                "findings",
                Finding(
                    rule=rule,
                    severity=severity,
                    message=message,
                    cluster=cluster,
                    file=rel(repo, file),
                    line=line,
                    follows=follows,
                ),
            )
        )

    def local(entry: str, kfile: Path, line: int, what: str) -> Path | None:
        """Resolve a local reference; None (with a finding) when remote, outside the repo or missing."""
        problem = contain.bad_name(entry)
        if problem:  # before any path is built from it: NUL bytes and long names fail deep in os calls
            finding("render/unreadable-input", f"{what} {printable(repr(entry))[:200]} {problem}", kfile, line)
            return None
        if _REMOTE.search(entry):
            finding(
                "render/remote-reference",
                f"{what} '{entry}' is remote; rendering is offline, vendor it into the repository",
                kfile,
                line,
            )
            return None
        # joined as strings: the same path as `kfile.parent / entry` normalised, one Path built instead of three
        target = Path(os.path.normpath(os.path.join(folder, entry)))
        real = cache.resolve(target)
        if real is None:
            finding("render/missing-reference", f"{what} '{entry}' is a symlink loop", kfile, line)
            return None
        if not real.is_relative_to(repo_real):
            finding(
                "render/outside-repository",
                f"{what} '{entry}' resolves outside the repository ({real})",
                kfile,
                line,
            )
            return None
        found = cache.followed_kind(target)
        if found == "missing":
            finding("render/missing-reference", f"{what} '{entry}' does not exist", kfile, line)
            return None
        if found == "other":  # kustomize would open it and wait (a FIFO) or read forever (a device)
            finding("render/unreadable-input", f"{what} '{entry}' is not a regular file (a FIFO, socket or "
                    "device): kustomize would block reading it", kfile, line)
            return None
        steps.append(("references", (entry, kfile, line)))
        return target

    def readable(path: Path, entry: str, kfile: Path, line: int, *, objects: bool = False) -> bool:
        # kustomize itself would choke on these (an alias bomb takes it minutes and gigabytes): refuse first.
        # Read fast: only whether it can be read matters here (provenance reads the same parse).
        docs = cache.fast_documents(path)

        def refuse(message: str) -> bool:
            # The file's own finding (hygiene's yaml/*, at the line to edit) is the cause: this one folds into it.
            finding("render/unreadable-input", message, kfile, line, follows=Cause(rel(repo, path), ("yaml/",)))
            return False

        if isinstance(docs, InputError):
            where = f"{rel(repo, path)}:{docs.line}" if docs.line else rel(repo, path)
            return refuse(f"'{entry}' cannot be used ({where}: {docs.message})")
        # A resource document must be a mapping: kustomize fails on a scalar (prose) or a list with a chain of
        # "accumulating resources" errors, reported at each cluster's root instead of at this entry.
        stray = next((d for d in docs if objects and d.data is not None and not isinstance(d.data, dict)), None)
        if stray is not None:
            return refuse(f"'{entry}' cannot be used ({rel(repo, path)}:{stray.line}: document {stray.index + 1} "
                          f"is {what_it_is(stray.data)}, not a Kubernetes object); kustomize would fail on it")
        return True

    steps.append(("kustomization_files", kfile))
    try:
        # every cluster's walk reaches the shared bases: parse each kustomization once per run
        loaded = cache.documents(kfile)
        if isinstance(loaded, InputError):
            raise loaded
        docs = [doc for doc in loaded if doc.data is not None]
    except InputError as exc:
        # the same finding hygiene makes (no cluster), so the two collapse into one
        steps.append(
            (
                "findings",
                Finding(
                    rule=yaml_rule(exc.message),
                    severity=Severity.ERROR,
                    message=exc.message,
                    file=rel(repo, kfile),
                    line=exc.line or 1,
                ),
            )
        )
        return read
    # documents() keeps lines, so every mapping it reads is a LineDict
    if len(docs) != 1 or not isinstance(docs[0].data, LineDict):
        finding("render/invalid-kustomization", "a kustomization file must hold one mapping", kfile, 1)
        return read
    spec: LineDict = docs[0].data
    for key in ("helmCharts", "helmChartInflationGenerator", "helmGlobals"):
        if key in spec:
            finding(
                "render/helm-in-kustomize",
                f"'{key}' needs helm inside kustomize, which rendering does "
                "not enable; use a Flux HelmRelease",
                kfile,
                spec.line_of(key),
            )
    if isinstance(spec.get("namePrefix"), str):
        steps.append(("name_prefixes", spec["namePrefix"]))
    if isinstance(spec.get("nameSuffix"), str):
        steps.append(("name_suffixes", spec["nameSuffix"]))
    for key in ("resources", "bases", "components", "crds"):
        entries = spec.get(key)
        if entries is None:
            continue
        if not isinstance(entries, list):
            finding("render/invalid-kustomization", f"'{key}' must be a list", kfile, spec.line_of(key))
            continue
        for i, entry in enumerate(entries):
            line = _item_line(entries, i, spec.line_of(key))
            if not isinstance(entry, str):
                finding("render/invalid-kustomization", f"{key}[{i}] must be a path", kfile, line)
                continue
            target = local(entry, kfile, line, key.rstrip("s") if key != "crds" else "crd")
            if target is None:
                continue
            if cache.followed_kind(target) == "dir":
                steps.append(("child", (target, (kfile, line))))
            elif readable(target, entry, kfile, line, objects=True):
                steps.append(("resource_files", target))
    for key in ("patchesStrategicMerge",):
        for i, entry in enumerate(spec.get(key) or []):
            # an entry is a file path or an inline patch; only single-line entries are paths
            if isinstance(entry, str) and "\n" not in entry and ":" not in entry:
                line = _item_line(spec[key], i, spec.line_of(key))
                target = local(entry, kfile, line, "patch")
                if (
                    target is not None
                    and cache.followed_kind(target) == "file"
                    and readable(target, entry, kfile, line)
                ):
                    steps.append(("patch_files", target))
    for key in ("patches", "patchesJson6902", "replacements"):
        items = spec.get(key) or []
        for i, item in enumerate(items if isinstance(items, list) else []):
            if isinstance(item, dict) and isinstance(item.get("path"), str):
                line = item.line_of("path") if isinstance(item, LineDict) else _item_line(items, i, 0)
                target = local(item["path"], kfile, line, "patch")
                if (
                    target is not None
                    and cache.followed_kind(target) == "file"
                    and readable(target, item["path"], kfile, line)
                ):
                    steps.append(("patch_files", target))
    # Files kustomize reads for its own configuration: with LoadRestrictionsNone only this check keeps them
    # inside the source root (kustomize would read /etc/passwd as an OpenAPI schema).
    openapi = spec.get("openapi")
    if isinstance(openapi, dict) and isinstance(openapi.get("path"), str):
        line = openapi.line_of("path") if isinstance(openapi, LineDict) else spec.line_of("openapi")
        local(openapi["path"], kfile, line, "openapi")
    configurations = spec.get("configurations")
    for i, entry in enumerate(configurations if isinstance(configurations, list) else []):
        if isinstance(entry, str):
            local(entry, kfile, _item_line(configurations, i, spec.line_of("configurations")), "configuration")
    for key, kind in (("configMapGenerator", "ConfigMap"), ("secretGenerator", "Secret")):
        items = spec.get(key) or []
        for i, item in enumerate(items if isinstance(items, list) else []):
            if not isinstance(item, dict):
                continue
            line = item.line if isinstance(item, LineDict) else _item_line(items, i, spec.line_of(key))
            if isinstance(item.get("name"), str):
                steps.append(("generators", Generator(kind, item["name"], kfile, line)))
            for source_key in ("files", "envs", "env"):
                sources = item.get(source_key)
                if isinstance(sources, str):
                    sources = [sources]
                for source in sources or []:
                    if isinstance(source, str):
                        path = source.split("=", 1)[1] if source_key == "files" and "=" in source else source
                        local(path, kfile, line, f"{key} {source_key} entry")
    for key in ("generators", "transformers", "validators"):
        for i, entry in enumerate(spec.get(key) or []):
            if isinstance(entry, str) and "\n" not in entry:
                target = local(entry, kfile, _item_line(spec[key], i, spec.line_of(key)), key.rstrip("s"))
                if target is not None and cache.followed_kind(target) == "dir":
                    steps.append(("child", (target, (kfile, spec.line_of(key)))))
    return read


def walk_components(
    repo: Path,
    tree: KustTree,
    directory: Path,
    components: list[str],
    file: str,
    line: int,
    cluster: str | None = None,
    cache: SourceCache | None = None,
) -> None:
    """A Flux Kustomization's spec.components (relative to its path), walked and checked like the
    kustomization's own entries; kustomize is given only what this walk has seen (docs/security.md)."""
    def refuse(rule: str, message: str) -> None:
        tree.findings.append(
            Finding(rule=rule, severity=Severity.ERROR, message=message, cluster=cluster, file=file, line=line)
        )

    for component in components:
        problem = contain.bad_name(component)
        if problem:
            refuse("render/unreadable-input", f"component {printable(repr(component))[:200]} {problem}")
            continue
        if _REMOTE.search(component):
            tree.findings.append(Finding(rule="render/remote-reference", severity=Severity.ERROR,
                                         message=f"component '{component}' is remote; rendering is offline",
                                         cluster=cluster, file=file, line=line))
            continue
        target = Path(os.path.normpath(directory / component))
        if contain.resolve_inside(repo, target) is None:
            refuse("render/outside-repository", f"component '{component}' resolves outside the repository")
            continue
        if not target.is_dir() or kustomization_file(target) is None:
            refuse("render/missing-reference", f"component '{component}' is not a directory with a kustomization.yaml")
            continue
        sub = walk_kustomization(repo, target, cluster, cache)
        tree.findings.extend(sub.findings)
        tree.kustomization_files.extend(sub.kustomization_files)
        tree.resource_files.extend(sub.resource_files)
        tree.patch_files.extend(sub.patch_files)
        tree.generators.extend(sub.generators)
        tree.references.extend(sub.references)


# ---------------------------------------------------------------- building


@dataclass
class FluxBuildOptions:
    """Flux Kustomization fields that change the build output (applied by a generated overlay, like Flux)."""

    target_namespace: str | None = None
    patches: list[dict[str, Any]] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)
    components: list[str] = field(default_factory=list)
    name_prefix: str | None = None
    name_suffix: str | None = None

    def empty(self) -> bool:
        return not (
            self.target_namespace
            or self.patches
            or self.images
            or self.components
            or self.name_prefix
            or self.name_suffix
        )


_KIND_LINE = re.compile(r"\nkind: (.*?)[ \t]*$", re.MULTILINE)


class RenderedDoc:
    """One object of kustomize's output and its exact YAML text (Flux substitutes on the text).

    The object is parsed on first use: an object that substitution rewrites is then parsed once, from the
    substituted text, instead of twice. kustomize writes top-level keys at column 0 and nothing else there,
    so `has_kind` can look at the text without parsing it."""

    __slots__ = ("_kinds", "_obj", "_text", "error")

    def __init__(self, obj: dict[str, Any] | None, text: str):
        self._obj = obj
        self._text = text
        self.error: str | None = None  # why the text could not be parsed (the object is then empty)
        self._kinds: frozenset[str] | None = None  # the `kind:` lines at column 0 of the text, found once

    @property
    def text(self) -> str:
        return self._text

    @text.setter
    def text(self, value: str) -> None:
        self._text, self._kinds = value, None

    @property
    def obj(self) -> dict[str, Any]:
        if self._obj is None:
            fast, parsed = fastyaml.load(self.text)  # the compiled parser, where it reads the text as we do
            if not fast:
                try:
                    parsed = yaml.load(self.text, Loader=PlainLoader)  # noqa: S506 - a safe loader
                except Exception as exc:  # noqa: BLE001 - PyYAML constructors raise more than YAMLError
                    parsed, self.error = None, f"{type(exc).__name__}: {exc}"
            self._obj = parsed if isinstance(parsed, dict) else {}
        return self._obj

    @obj.setter
    def obj(self, value: dict[str, Any]) -> None:
        self._obj = value

    def metadata(self) -> dict[str, Any]:
        """The object's metadata, read from its `metadata:` block alone while the object is unparsed."""
        if self._obj is None:
            match = _METADATA_BLOCK.search("\n" + self.text)
            if match:
                block = match.group(0)[1:]  # without the line break the search added
                fast, parsed = fastyaml.load(block)
                if not fast:
                    try:
                        parsed = yaml.load(block, Loader=PlainLoader)  # noqa: S506 - safe loader
                    except yaml.YAMLError:
                        parsed = None
                meta = parsed.get("metadata") if isinstance(parsed, dict) else None
                if isinstance(meta, dict):
                    return meta
        meta = self.obj.get("metadata")
        return meta if isinstance(meta, dict) else {}

    def has_kind(self, kinds: tuple[str, ...]) -> bool:
        if self._obj is not None:
            return self._obj.get("kind") in kinds
        # one search for the `kind:` line per object, kept: rendering asks each object up to three times
        # (ConfigMaps and Secrets for substituteFrom, Flux objects for discovery, and again before substituting)
        found = self._kinds
        if found is None:
            found = self._kinds = frozenset(_KIND_LINE.findall("\n" + self.text))
        return not found.isdisjoint(kinds)


@dataclass
class BuildResult:
    docs: list[RenderedDoc] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0


def split_documents(text: str) -> list[str]:
    """kustomize's output, one text per object (it writes `---` lines only between top-level documents).

    Each text ends with the line break before its `---` line; the next starts with the one after it."""
    parts, start = [], 0
    for marker in _DOC_SPLIT.finditer("\n" + text):  # a match starts at the line break ending the line before
        parts.append(text[start : marker.start()])  # up to and with that line break ("\n" shifted it by one)
        start = marker.end() - 1
    parts.append(text[start:])
    return [part for part in parts if part.strip()]


def parse_output(text: str) -> list[RenderedDoc]:
    """kustomize's output as documents; each object is parsed when first needed."""
    return [RenderedDoc(None, part) for part in split_documents(text)]


def _kustomize_error(stderr: str, repo: Path) -> str:
    """kustomize's message without klog decoration: kubectl writes `err="..."` or a multi-line `err=<...>`."""
    quoted = re.search(r'err="((?:[^"\\]|\\.)*)"', stderr)
    block = re.search(r"err=<\n(.*?)\n\s*>\s*$", stderr, re.DOTALL)
    if quoted:
        message = quoted.group(1).replace('\\"', '"').replace("\\n", " ")
    elif block:
        message = " ".join(line.strip() for line in block.group(1).splitlines() if line.strip())
    else:
        lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
        message = re.sub(r"^Error:\s*", "", lines[-1]) if lines else "no error message"
    # absolute paths of this checkout mean nothing to a reader on another machine
    message = message.replace(str(repo.resolve()) + "/", "").replace(str(repo) + "/", "")
    return message[:800]


def _locate_error(repo: Path, tree: KustTree, message: str) -> tuple[str, int]:
    """Point a kustomize error at the kustomization line whose entry it mentions, else the root file."""
    for entry, kfile, line in tree.references:
        name = Path(entry).name
        if name and name not in (".", "..") and name in message:
            return rel(repo, kfile), line
    root = kustomization_file(tree.root)
    return rel(repo, root or tree.root), 1


def _overlay_text(repo: Path, overlay_dir: Path, directory: Path, options: FluxBuildOptions) -> str:
    # kustomize refuses absolute resource paths: a relative path from the temporary overlay to the Flux path
    # (only inline patches are added; the files it reaches were checked by walk_kustomization).
    spec: dict[str, Any] = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [os.path.relpath(directory, overlay_dir)],
    }
    if options.components:
        spec["components"] = [os.path.relpath(directory / c, overlay_dir) for c in options.components]
    if options.target_namespace:
        spec["namespace"] = options.target_namespace
    if options.name_prefix:
        spec["namePrefix"] = options.name_prefix
    if options.name_suffix:
        spec["nameSuffix"] = options.name_suffix
    if options.patches:
        spec["patches"] = options.patches
    if options.images:
        spec["images"] = options.images
    return yaml.safe_dump(spec, sort_keys=False)


class BuildMemo:
    """kustomize's output per build input, so identical builds execute once per run, and (with a store,
    buildcache.py) not again in later runs while nothing they read changed.

    A fleet of clusters whose overlays reference the same bases runs byte-identical builds (same kustomization
    text, same files at the same relative paths); kustomize is most of the run time, so each is run once. The
    key (`key`) hashes, by path relative to the build root: every file under each kustomization directory the
    build reaches (generator inputs included), its resources and patches, and every other file or directory a
    string of a kustomization (or of a generator/transformer/validator config it names) points at, so a file
    reached through `../` by any field counts even where the walk does not follow that field; plus the
    kustomize binary's identity and version, its command line and the Flux build options. Only successful
    builds are shared or stored: a failure is re-run so its messages name the caller's own files. Callers get
    kustomize's text, never shared parsed objects (each cluster substitutes into its own copies).
    """

    MAX_FILES = 5000  # a build reaching more files than this is keyed by no one: it simply runs
    # kustomization keys whose file entries are configs that name further files (relative to the kustomization)
    _CONFIG_KEYS = ("generators", "transformers", "validators", "configurations", "openapi")

    def __init__(self, documents: Callable[[Path], list[Document] | InputError] | None = None) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, _MemoEntry] = {}
        # SourceCache.fast_documents when the memo is a run's: a kustomization is then parsed once per run
        # (hygiene and the walk read it too), not again here to find the paths its strings name
        self._documents = documents
        self._digests: dict[str, bytes] = {}
        self._listings: dict[Path, list[str] | None] = {}
        self._named: dict[tuple[Path, Path], set[str] | None] = {}
        # (repo, kustomization file) -> the files it makes a build read, as strings (_kustomization_inputs)
        self._inputs: dict[tuple[Path | None, Path], frozenset[str] | None] = {}
        self._real_dirs: dict[str, Path | None] = {}  # safe_resolve of directories, once per run
        self._keys: dict[tuple[Any, ...], str | None] = {}  # key() per distinct input, once per run
        self.hits = 0
        self.ran = 0  # kustomize processes started through this memo
        self.store: Any = None  # a buildcache.BuildCache once attached
        self._store_decided = False

    def _remember(self, table: dict[_K, _T], key: _K, compute: Callable[[], _T]) -> _T:
        """table[key], computed on first request outside the lock (the files do not change during a run, so
        two threads that both compute it get equal answers; the first one stored is kept)."""
        with self._lock:
            if key in table:
                return table[key]
        value = compute()
        with self._lock:
            return table.setdefault(key, value)

    def attach_store(self, repo: Path, enabled: bool) -> None:
        """Open the repository's persistent cache once per run (the first cluster rendered decides)."""
        with self._lock:
            if self._store_decided:
                return
            self._store_decided = True
        if enabled:
            self.store = buildcache.BuildCache.open(repo)

    def _digest(self, path: str) -> bytes:
        known = self._digests.get(path)
        if known is not None:
            return known
        try:
            info = os.lstat(path)
            if stat.S_ISLNK(info.st_mode):
                # never follow: the link text and where it lands decide what kustomize reads
                digest = b"link:" + os.readlink(path).encode("utf-8", "surrogateescape") + str(
                    safe_resolve(Path(path))).encode("utf-8", "surrogateescape")
            elif stat.S_ISREG(info.st_mode):
                with open(path, "rb") as file:
                    digest = hashlib.sha256(file.read()).digest()
            else:
                digest = b"special"  # a FIFO or device is never opened
        except OSError:
            digest = b"unreadable"
        self._digests[path] = digest
        return digest

    def _listing(self, top: Path) -> list[str] | None:
        """Every file below `top` (hidden directories skipped, links not followed), listed once per run: the
        builds of every cluster reach the same bases. None when there are more than MAX_FILES."""
        return self._remember(self._listings, top, lambda: self._list_files(top))

    def _list_files(self, top: Path) -> list[str] | None:
        files: list[str] = []
        listing: list[str] | None = files
        for root, dirs, names in os.walk(top):  # does not follow directory links
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            files.extend(os.path.join(root, name) for name in names)  # str(Path(root) / name), no Path built
            if len(files) > self.MAX_FILES:
                listing = None
                break
        return listing

    def _named_paths(self, repo: Path, kfile: Path) -> set[str] | None:
        """Files (and the files below directories) inside the repository that any string of the
        kustomization names, relative to its directory, and those its config files name in turn. Generic
        on purpose: a field the walk does not know (or learns later) still keys what it reads."""
        return self._remember(self._named, (repo, kfile), lambda: self._find_named_paths(repo, kfile))

    def _find_named_paths(self, repo: Path, kfile: Path) -> set[str] | None:
        base, found = kfile.parent, set[str]()
        spec = self._load(kfile)
        configs: list[Path] = []
        result: set[str] | None = found
        for text, under_config_key in _strings(spec):
            for target in _path_candidates(repo, base, text, self._real_dirs, bare=under_config_key):
                if target.is_dir():
                    listing = self._listing(target)
                    if listing is None:
                        result = None
                        break
                    found.update(listing)
                else:
                    found.add(str(target))
                    if under_config_key:
                        configs.append(target)
            if result is None:
                break
        for config in configs if result is not None else ():
            for text, _ in _strings(self._load(config)):
                found.update(str(t) for t in _path_candidates(repo, base, text, self._real_dirs) if t.is_file())
        if result is not None and len(found) > self.MAX_FILES:
            result = None
        return result

    def _load(self, path: Path) -> list[Any] | None:
        """_bounded_load(path), from the run's parse when there is one (the same documents and limits;
        it refuses a FIFO or device too)."""
        if self._documents is None:
            return _bounded_load(path)
        try:
            docs = self._documents(path)
        except (RecursionError, OSError):
            return None
        return None if isinstance(docs, InputError) else [doc.data for doc in docs]

    def _kustomization_inputs(self, repo: Path | None, kfile: Path) -> frozenset[str] | None:
        """Every file below the kustomization's directory and (with a repository) every file its strings
        name, as strings; None when either is too many. Once per run: the keys of every cluster reach the
        same bases (80 keys, 341 kustomizations, 2,550 requests on the 10-cluster benchmark)."""
        def inputs() -> frozenset[str] | None:
            listing = self._listing(kfile.parent)
            named = self._named_paths(repo, kfile) if repo is not None and listing is not None else set()
            return None if listing is None or named is None else frozenset(listing).union(named)

        return self._remember(self._inputs, (repo, kfile), inputs)

    def key(
        self,
        directory: Path,
        tree: KustTree,
        options: FluxBuildOptions,
        tool: KustomizeTool | None = None,
        repo: Path | None = None,
    ) -> str | None:
        # Every cluster asks for the same builds (150 requests, 26 distinct on the 10-cluster benchmark) and
        # the files do not change during a run: the same inputs give the same key, computed once.
        memo_key = (directory, repr(options), tool, repo, tuple(tree.kustomization_files),
                    tuple(tree.resource_files), tuple(tree.patch_files))
        return self._remember(self._keys, memo_key, lambda: self._compute_key(directory, tree, options, tool, repo))

    def _compute_key(
        self,
        directory: Path,
        tree: KustTree,
        options: FluxBuildOptions,
        tool: KustomizeTool | None,
        repo: Path | None,
    ) -> str | None:
        # str, not Path: a set of Paths compares the walk's Path objects with the listing's equal ones
        # through Path.__eq__, a Python call per file per key
        files = {str(path) for path in (*tree.resource_files, *tree.patch_files, *tree.kustomization_files)}
        for kfile in tree.kustomization_files:
            inputs = self._kustomization_inputs(repo, kfile)
            if inputs is None:
                return None
            files.update(inputs)
            if len(files) > self.MAX_FILES:
                return None
        digest = hashlib.sha256(repr(options).encode())
        if tool is not None:
            # the binary, its version and the exact command line (flags such as a load restrictor included)
            digest.update(tool.identity().encode("utf-8", "surrogateescape") + b"\0")
            digest.update("\0".join(tool.command(Path("@build-root@"))).encode("utf-8", "surrogateescape"))
        start, parents = str(directory), dict[str, str]()
        # Ordered by the relative path that is hashed. Two spellings of one relative path (a path with `..`
        # in it beside its normal form) keep the Path order they always had: str order differs from it
        # ("a/b" > "a-b" but Path("a/b") < Path("a-b")), and a different order would be a different key.
        entries = sorted((_relative(path, start, parents), path) for path in files)
        if any(first[0] == second[0] for first, second in itertools.pairwise(entries)):
            entries.sort(key=lambda entry: (entry[0], Path(entry[1])))
        for relative, path in entries:
            digest.update(relative.encode("utf-8", "surrogateescape") + b"\0")
            digest.update(self._digest(path) + b"\0")
        return digest.hexdigest()

    def counts(self) -> dict[str, int]:
        """For the report's info: builds run, shared within this run, and read from the persistent cache."""
        store = self.store
        return {"ran": self.ran, "shared": self.hits, "cached": store.hits if store is not None else 0}

    def run(self, key: str | None, compute: Callable[[], tuple[int, str, str]]) -> tuple[int, str, str]:
        def execute() -> tuple[int, str, str]:
            with self._lock:
                self.ran += 1
            return compute()

        if key is None:
            return execute()

        def fetch() -> tuple[int, str, str]:
            # the first build of a key in this run: an earlier run's output, else kustomize (kept if it works)
            store = self.store
            kept = store.get(key) if store is not None else None
            if kept is not None:
                return 0, kept, ""
            result = execute()
            if store is not None and result[0] == 0:
                store.put(key, result[1])
            return result

        with self._lock:
            entry = self._entries.get(key)
            owner = entry is None
            if entry is None:
                entry = self._entries[key] = _MemoEntry()
        if owner:
            try:
                entry.result = fetch()
            finally:
                entry.done.set()
            return entry.result
        entry.done.wait()
        if entry.result is None or entry.result[0] != 0:
            return execute()
        with self._lock:
            self.hits += 1
        return entry.result


def _relative(path: str, start: str, parents: dict[str, str] | None = None) -> str:
    """os.path.relpath(path, start): by slicing for a normalised path below `start`; else, with `parents`
    (a memo for one `start`), from the relpath of the file's directory, computed once per directory
    (relpath normalises and splits both paths on every call: it was most of a key's cost, since the
    files of shared bases lie beside the build root, not below it)."""
    if path.startswith(start + "/") and "/." not in path and "//" not in path:
        return path[len(start) + 1:]
    folder, _, name = path.rpartition("/")
    if parents is None or not folder.startswith("/") or folder.startswith("//") or name in ("", ".", ".."):
        return os.path.relpath(path, start)  # relative, `//` (kept by normpath) or not a plain name
    up = parents.get(folder)
    if up is None:
        up = os.path.relpath(folder, start)
        # A directory that is `start` or above it: relpath may strip the file's own name as a component
        # common with `start` (a file `/r/x` and a start `/r/x/y`), so such files are left to relpath.
        # "" marks it (never a relpath result).
        up = parents[folder] = "" if all(part == ".." for part in up.split("/")) else up
    if not up:
        return os.path.relpath(path, start)
    return name if up == "." else up + "/" + name


def _bounded_load(path: Path) -> list[Any] | None:
    """A file's documents read with the hostile-input limits of yamlio (size, aliases, depth, duplicate
    keys); None when it cannot be read that way (the walk or kustomize reports why; its bytes key it)."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None  # a FIFO (a config entry may name one) would block the read forever, a device never end
        return [doc.data for doc in load_documents_fast(path)]
    except (InputError, RecursionError, OSError):
        return None


def _strings(value: Any, config_key: bool = False) -> list[tuple[str, bool]]:
    """Every string scalar of a parsed YAML value (keys included), iteratively, each with whether it sits
    under one of BuildMemo._CONFIG_KEYS at the top."""
    found: list[tuple[str, bool]] = []
    stack: list[tuple[Any, bool, bool]] = [(value, config_key, True)]
    while stack:
        item, under, top = stack.pop()
        if isinstance(item, str):
            found.append((item, under))
        elif isinstance(item, dict):
            for k, v in item.items():
                if isinstance(k, str):
                    found.append((k, under))
                stack.append((v, under or (top and k in BuildMemo._CONFIG_KEYS), False))
        elif isinstance(item, list):
            stack.extend((v, under, top) for v in item)
    return found


@functools.lru_cache(maxsize=16)
def _resolved_root(repo: Path) -> Path:
    return repo.resolve()


def _real_path(target: str, real_dirs: dict[str, Path | None]) -> Path | None:
    """Where an existing (normalised) path really is, None when it does not exist: one lstat, the parent's
    resolution shared, and a full resolution only for a link (realpath on every string cost an lstat per
    component)."""
    try:
        mode = os.lstat(target).st_mode
    except (OSError, ValueError):
        return None
    if stat.S_ISLNK(mode):
        real = safe_resolve(Path(target))
        return real if real is not None and real.exists() else None
    # the directories of a repository are few and asked for by every kustomization beside them (per run);
    # os.path.split of a normalised path gives Path.parent and Path.name as strings
    folder, name = os.path.split(target)
    if folder not in real_dirs:
        real_dirs[folder] = safe_resolve(Path(folder))
    parent = real_dirs[folder]
    return parent / name if parent is not None else None


def _path_candidates(
    repo: Path, base: Path, text: str, real_dirs: dict[str, Path | None], bare: bool = False
) -> list[Path]:
    """The existing paths inside the repository a kustomization string may name (`key=path` entries too);
    a bare name (no `/`) only with `bare`, since the directory's own files are keyed already."""
    if not text or "\n" in text or "\0" in text or len(text) > 1024 or _REMOTE.search(text):
        return []
    out, folder = [], str(base)
    for candidate in {text, text.split("=", 1)[1]} if "=" in text else {text}:
        if not bare and "/" not in candidate and candidate != "..":
            continue  # a bare name is in the kustomization's directory, whose every file is keyed already
        # as strings (every string of every kustomization comes here): normpath(join) is the same path as
        # `base / candidate` normalised, and a Path equals `base` exactly when its str does
        target = os.path.normpath(os.path.join(folder, candidate))
        if target == folder:
            continue  # the kustomization's own directory is listed already
        real = _real_path(target, real_dirs)
        root = _resolved_root(repo)
        if real is not None and real != root and real.is_relative_to(root):
            out.append(Path(target))
    return out


@dataclass
class _MemoEntry:
    done: threading.Event = field(default_factory=threading.Event)
    result: tuple[int, str, str] | None = None


def run_kustomize(tool: KustomizeTool, directory: Path, timeout: float) -> tuple[int, str, str]:
    """kustomize on a tree walk_kustomization has checked, bounded in time and address space."""
    try:
        proc = subprocess.run(
            contain.limited_command(tool.command(directory)),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=_offline_env(),
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return LIMIT_EXIT, "", f"kustomize timed out after {timeout:.0f}s (the limit per build)"
    except OSError as exc:
        raise ToolError(f"cannot run {tool.path}: {exc.strerror}") from exc
    unstarted = contain.not_started(proc.returncode, proc.stdout, proc.stderr)
    if unstarted is not None:
        raise ToolError(f"cannot run {tool.path}: {unstarted}")
    if proc.returncode != 0 and contain.out_of_memory(proc.returncode, proc.stderr):
        limit = contain.KUSTOMIZE_MEMORY_BYTES // (1024 * 1024)
        return LIMIT_EXIT, "", f"kustomize ran out of memory (limit {limit} MiB per build)"
    return proc.returncode, proc.stdout, proc.stderr


def build(
    tool: KustomizeTool,
    repo: Path,
    directory: Path,
    tree: KustTree,
    options: FluxBuildOptions,
    *,
    cluster: str | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    memo: BuildMemo | None = None,
) -> BuildResult:
    """Build one kustomization directory (already walked and found safe) with the real kustomize."""
    result = BuildResult()

    def run() -> tuple[int, str, str]:
        if options.empty():
            return run_kustomize(tool, directory, timeout)
        with tempfile.TemporaryDirectory(prefix="mlplatform-flux-") as tmp:
            overlay = Path(tmp)
            (overlay / "kustomization.yaml").write_text(_overlay_text(repo, overlay, directory, options))
            return run_kustomize(tool, overlay, timeout)

    if memo is None:
        code, out, err = run()
    else:
        code, out, err = memo.run(memo.key(directory, tree, options, tool, repo), run)
    if code != 0:
        message = _kustomize_error(err, repo)
        file, line = _locate_error(repo, tree, message)
        result.findings.append(
            Finding(
                rule="render/kustomize-limit" if code == LIMIT_EXIT else "render/kustomize-error",
                severity=Severity.ERROR,
                message=f"kustomize build failed: {message}",
                cluster=cluster,
                file=file,
                line=line,
            )
        )
        return result
    try:
        result.docs = parse_output(out)
    except yaml.YAMLError as exc:  # pragma: no cover - kustomize writes valid YAML
        result.findings.append(
            Finding(
                rule="render/kustomize-error",
                severity=Severity.ERROR,
                message=f"cannot parse kustomize output: {exc}",
                cluster=cluster,
                file=rel(repo, directory),
                line=1,
            )
        )
    return result


def timeout_of(config: Config) -> float:
    # the repository may shorten the limit, never lengthen it past the default (a runner is shared);
    # config.py refuses a longer value with a finding, min() keeps the bound for a value set in code
    return min(config.kustomize_timeout, DEFAULT_TIMEOUT_SECONDS)


def jobs_of(config: Config) -> int:
    return config.jobs if config.jobs and config.jobs > 0 else max(1, os.cpu_count() or 1)
