"""YAML hygiene of every YAML file of the repository: syntax, duplicate keys, odd documents, symlinks."""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from .errors import InputError
from .model import Finding, Severity
from .render import SourceCache, printable, rel, yaml_rule
from .yamlio import MAX_FILE_BYTES, what_it_is

YAML_SUFFIXES = (".yaml", ".yml")
# Directories that are not part of the platform's source (environments, provisioned tools, test inputs
# that are broken on purpose).
SKIP_DIR_NAMES = frozenset(
    {
        ".git",
        ".tools",
        "node_modules",
        "__pycache__",
        ".pytest_cache",
        ".ruff_cache",
        ".terraform",
        ".hypothesis",
        ".mutation",  # make mutation's staging copies (tests and fixtures, broken YAML on purpose)
        ".mlplatform-cache",  # kustomize outputs kept between runs (buildcache.py), not sources
    }
)
SKIP_REL_DIRS = frozenset({"tests/hostile", "tests/fixtures"})
# Files under these top-level directories are Kubernetes objects: each document must be a mapping.
OBJECT_DIRS = ("clusters", "infrastructure", "apps")


def _skip_dir(rel_dir: str, name: str) -> bool:
    return name in SKIP_DIR_NAMES or name.startswith(".venv") or rel_dir in SKIP_REL_DIRS


def _escapes(repo_real: Path, path: Path) -> Path | None:
    """The target of a symlink that resolves outside the repository, else None."""
    try:
        target = path.resolve()
    except (OSError, RuntimeError):  # a symlink loop
        return path
    return None if target.is_relative_to(repo_real) else target


def excluded(rel_path: str, patterns: Iterable[str]) -> bool:
    """True when a repository-relative path matches one of the `exclude` globs of the configuration (a
    folder pattern excludes everything below it)."""
    return any(
        fnmatch.fnmatchcase(rel_path, pattern.rstrip("/"))
        or fnmatch.fnmatchcase(rel_path, pattern.rstrip("/") + "/*")
        for pattern in patterns
    )


def iter_yaml_files(repo: Path, findings: list[Finding], exclude: Iterable[str] = ()) -> Iterator[Path]:
    """Every YAML file of the repository (skipping environments, fixtures, Helm chart folders and the
    configuration's `exclude` globs); symlinks out are findings. Top-down, a folder's files before its
    subfolders, each in name order. os.scandir's entries know from the directory listing whether they are
    links, so only links cost a system call (a Path and an lstat per file were a tenth of a fleet's hygiene)."""
    repo_real = repo.resolve()
    patterns = list(exclude)
    stack: list[tuple[str, str]] = [(str(repo), ".")]  # (folder, its path relative to the repository)
    while stack:
        folder, rel_dir = stack.pop()
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError:
            continue  # as os.walk did: an unreadable folder is skipped
        folders: list[os.DirEntry[str]] = []
        files: list[os.DirEntry[str]] = []
        for entry in entries:
            try:
                is_folder = entry.is_dir()  # a link to a folder counts as one, as in os.walk
            except OSError:
                is_folder = False
            (folders if is_folder else files).append(entry)
        if rel_dir != "." and any(entry.name == "Chart.yaml" for entry in files):
            continue  # a Helm chart: its templates are Go templates, not YAML (helm lint checks them)
        shown_dir = printable(rel_dir)
        below: list[tuple[str, str]] = []
        for entry in folders:
            child_rel = _below(shown_dir, entry.name)
            if _skip_dir(child_rel, entry.name) or excluded(child_rel, patterns):
                continue
            if entry.is_symlink():
                finding = _symlink_finding(repo, repo_real, Path(entry.path))
                if finding is not None:
                    findings.append(finding)
                continue  # links to folders are not walked; the ones inside are walked at their target
            below.append((entry.path, _below(rel_dir, entry.name)))
        for entry in files:
            path = Path(entry.path)
            if entry.is_symlink():
                finding = _symlink_finding(repo, repo_real, path)
                if finding is not None:
                    findings.append(finding)
                    continue
            if entry.name.endswith(YAML_SUFFIXES) and not excluded(printable(_below(rel_dir, entry.name)), patterns):
                yield path
        stack.extend(reversed(below))


def _below(rel_dir: str, name: str) -> str:
    """The repository-relative path of `name` in the folder `rel_dir` ("." is the repository itself)."""
    return f"{rel_dir}/{name}" if rel_dir != "." else name


def _error(rule: str, file: str, line: int, message: str) -> Finding:
    """Every hygiene finding is an error about a file, not about a cluster."""
    return Finding(rule=rule, severity=Severity.ERROR, file=file, line=line, message=message)


def _symlink_finding(repo: Path, repo_real: Path, path: Path) -> Finding | None:
    """A finding for a symlink that leaves the repository or loops; None for anything else."""
    if not path.is_symlink():
        return None
    target = _escapes(repo_real, path)
    if target is None:
        return None
    if target == path:  # _escapes could not resolve it
        return _error("yaml/symlink-loop", rel(repo, path), 1, "symlink loop: the link never reaches a file")
    return _error(
        "yaml/symlink-outside-repository",
        rel(repo, path),
        1,
        f"symlink points outside the repository ({printable(str(target))}); Flux's source would not "
        "contain it and tools refuse to follow it",
    )


# A file of 200,000 stray '---' made 200,000 findings (55 MB of JSON, half a GiB of memory): the first ones are
# listed, the rest counted in the last.
MAX_EMPTY_LISTED = 20


def check_file(repo: Path, path: Path, cache: SourceCache, *, expect_objects: bool = False) -> list[Finding]:
    file = rel(repo, path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        return [_error("yaml/unreadable", file, 1, f"cannot read: {exc.strerror}")]
    if size > MAX_FILE_BYTES:
        # never read it: a manifest this size is a mistake (or an attack), not configuration
        return [
            _error(
                "yaml/too-large",
                file,
                1,
                f"file is {size // (1024 * 1024)} MiB, over the {MAX_FILE_BYTES // (1024 * 1024)} "
                "MiB limit for a YAML file",
            )
        ]
    docs = cache.fast_documents(path)  # only documents' kinds and start lines are needed here
    if isinstance(docs, InputError):
        return [_error(yaml_rule(docs.message), file, docs.line or 1, docs.message)]
    findings: list[Finding] = []
    objects_expected = expect_objects or file.split("/", 1)[0] in OBJECT_DIRS
    empty = [doc for doc in docs if doc.data is None] if len(docs) > 1 else []
    for number, doc in enumerate(empty[:MAX_EMPTY_LISTED + 1]):
        message = f"document {doc.index + 1} of {len(docs)} is empty (a stray '---'?)"
        if number == MAX_EMPTY_LISTED:
            message += f", and {len(empty) - number - 1} more empty documents after it (not listed one by one)"
        findings.append(_error("yaml/empty-document", file, doc.line, message))
    for doc in docs:
        if doc.data is None:
            continue
        if objects_expected and not isinstance(doc.data, dict):
            findings.append(
                _error(
                    "yaml/not-an-object",
                    file,
                    doc.line,
                    f"document {doc.index + 1} is {what_it_is(doc.data)}, not a Kubernetes object (a "
                    "mapping with apiVersion, kind and metadata); notes belong in a file that is not .yaml, "
                    "outside any kustomization's resources",
                )
            )
    return findings


def check_files(
    repo: Path, files: Iterable[Path], *, cache: SourceCache | None = None, expect_objects: bool = False
) -> list[Finding]:
    cache = cache or SourceCache()
    repo_real = repo.resolve()
    findings: list[Finding] = []
    for path in files:
        finding = _symlink_finding(repo, repo_real, path)
        if finding is not None:
            findings.append(finding)
            continue
        findings.extend(check_file(repo, path, cache, expect_objects=expect_objects))
    return findings


def check_repository(
    repo: Path, *, cache: SourceCache | None = None, exclude: Iterable[str] = ()
) -> list[Finding]:
    """Hygiene findings for every YAML file of the repository (but the excluded ones)."""
    cache = cache or SourceCache()
    findings: list[Finding] = []
    for path in iter_yaml_files(repo, findings, exclude):
        findings.extend(check_file(repo, path, cache))
    return findings
