"""Containment: what the repository may make the tool read, follow or run, and with which limits.

A pull request is untrusted input (docs/security.md). Paths it names are checked here before anything is
opened: no NUL bytes, no over-long names, nothing that resolves outside the repository root, no endless
symlink loops. Subprocesses the tool starts on repository content (kustomize) run with a time and an
address-space limit, so a bomb that slips past the YAML limits ends in a finding, not in a dead runner.
"""

from __future__ import annotations

import os
import resource
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

# Linux's limits (NAME_MAX, PATH_MAX): longer names fail with ENAMETOOLONG deep inside a library call.
MAX_NAME_BYTES = 255
MAX_PATH_BYTES = 4096
# A directory walk of one Flux path visits at most this many entries (a runner is shared; a repository
# with more files under one path is not one we can check in bounded time anyway).
MAX_WALK_ENTRIES = 20_000
# kustomize's address space: large enough for any real tree (a few hundred MiB), small enough that an
# alias or patch bomb ends in an allocation failure instead of the OOM killer taking the runner.
KUSTOMIZE_MEMORY_BYTES = 1536 * 1024 * 1024


def bad_name(text: str) -> str | None:
    """Why a path text from a repository file cannot be used, or None when it can."""
    if "\0" in text:
        return "contains a NUL byte"
    data = text.encode("utf-8", "surrogateescape")
    if len(data) > MAX_PATH_BYTES:
        return f"is longer than {MAX_PATH_BYTES} bytes"
    if any(len(part) > MAX_NAME_BYTES for part in data.split(b"/")):
        return f"has a name longer than {MAX_NAME_BYTES} bytes"
    return None


def safe_resolve(path: Path) -> Path | None:
    """`path.resolve()`, or None for a symlink loop (RuntimeError on Python 3.11, OSError later) or an
    unreadable link."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return None


def resolve_inside(repo: Path, path: Path) -> Path | None:
    """The real path of `path` when it lies inside the repository, else None (outside, loop, unreadable)."""
    try:
        real, root = path.resolve(strict=False), repo.resolve()
    except (OSError, RuntimeError, ValueError):
        return None
    return real if real == root or real.is_relative_to(root) else None


@dataclass(frozen=True)
class Entry:
    """One entry of a contained directory walk."""

    path: Path  # as reached from the walk's root (links not resolved)
    kind: str  # "file" | "directory" | "outside" | "special" | "loop" | "bad-name" | "limit"
    detail: str = ""


def walk(repo: Path, root: Path, descend: Callable[[Path], bool]) -> Iterator[Entry]:
    """Every entry under `root`, sorted, iteratively (the depth is the repository's choice, not Python's
    stack), never leaving the repository through a symlink and never visiting a real directory twice.

    `descend(directory)` says whether to walk into a subdirectory (a directory with its own kustomization is
    built, not walked). Hidden entries are skipped, as Flux's generated kustomization skips them."""
    seen: set[Path] = set()
    stack = [root]
    count = 0
    while stack:
        directory = stack.pop()
        real = resolve_inside(repo, directory)
        if real is None:
            yield Entry(directory, "outside")
            continue
        if real in seen:
            yield Entry(directory, "loop")
            continue
        seen.add(real)
        try:
            names = sorted(os.listdir(directory))
        except OSError as exc:
            yield Entry(directory, "special", exc.strerror or "unreadable")
            continue
        subdirectories: list[Path] = []
        for name in names:
            if name.startswith("."):
                continue
            count += 1
            if count > MAX_WALK_ENTRIES:
                yield Entry(directory, "limit", f"more than {MAX_WALK_ENTRIES} entries")
                return
            path = directory / name
            problem = bad_name(str(path))
            if problem:
                yield Entry(path, "bad-name", problem)
                continue
            try:
                info = path.lstat()
            except OSError as exc:
                yield Entry(path, "special", exc.strerror or "unreadable")
                continue
            if stat.S_ISLNK(info.st_mode):
                target = resolve_inside(repo, path)
                if target is None:
                    yield Entry(path, "outside")
                    continue
                try:
                    info = target.stat()
                except OSError:
                    yield Entry(path, "loop")
                    continue
            if stat.S_ISDIR(info.st_mode):
                if descend(path):
                    subdirectories.append(path)
                else:
                    yield Entry(path, "directory")
            elif stat.S_ISREG(info.st_mode):
                yield Entry(path, "file")
            else:
                yield Entry(path, "special", "not a regular file")
        stack.extend(reversed(subdirectories))


def address_space_limit(memory_bytes: int = KUSTOMIZE_MEMORY_BYTES) -> int:
    """The address-space cap for a child: `memory_bytes`, never above the limit this process already has."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = memory_bytes
    if soft != resource.RLIM_INFINITY:
        limit = min(limit, soft)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    return limit


# POSIX sh sets the cap and replaces itself with the command, so the child's pid, exit code and output are the
# command's own. A preexec_fn did this before: it forces fork() instead of vfork(), which copied the page
# tables of the whole checking process for every kustomize run (5.5 ms of CPU with the interpreter lock held,
# 12 ms of latency, against 0.3 ms and 1 ms: 27 runs per fleet check). `ulimit -S -v` takes KiB and sets the
# soft limit only, as setrlimit(RLIMIT_AS, (limit, hard)) did; a shell that cannot set it runs nothing.
_SHELL = "/bin/sh"
_LIMIT_SCRIPT = 'ulimit -S -v "$1" || exit 125; shift; exec "$@"'


def limited_command(command: list[str], memory_bytes: int = KUSTOMIZE_MEMORY_BYTES) -> list[str]:
    """`command`, run with its address space capped (see address_space_limit)."""
    kib = address_space_limit(memory_bytes) // 1024
    return [_SHELL, "-c", _LIMIT_SCRIPT, "mlplatform-limit", str(kib), *command]


def not_started(code: int, stdout: str, stderr: str) -> str | None:
    """Why the shell of limited_command did not start the command (the cap could not be set: 125; the command
    is missing or not executable: 127, 126, with the shell's message and no output), else None."""
    if code in (125, 126, 127) and not stdout and ("ulimit" in stderr or "exec" in stderr):
        return stderr.strip().splitlines()[-1]  # the shell's own line (it names the command and why)
    return None


def out_of_memory(code: int, stderr: str) -> bool:
    """True when a child ended because it hit its memory limit (Go reports it, or the process was killed)."""
    text = stderr.lower()
    return code < 0 or "out of memory" in text or "cannot allocate memory" in text
