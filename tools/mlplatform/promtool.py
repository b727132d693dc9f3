"""The real promtool, found the way kustomize is: $MLPLATFORM_PROMTOOL, PATH, the set-up's .tools/bin.

`make` provides one (scripts/ensure-promtool.sh: Debian's prometheus package, pinned). Without any, the
PrometheusRule step reports that it could not run promtool instead of failing the whole check; a binary that
is named explicitly (environment) but does not run is a tool error (exit 2), as for kustomize.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from . import buildcache
from .config import Config
from .errors import ToolError

ENV_VAR = "MLPLATFORM_PROMTOOL"
# Where `make setup` (scripts/ensure-promtool.sh) puts promtool: the tool's own checkout, not the repository.
SETUP_BIN = Path(__file__).resolve().parents[2] / ".tools" / "bin"
TIMEOUT_SECONDS = 120


@dataclass(frozen=True)
class Promtool:
    path: str
    version: str

    def describe(self) -> str:
        return f"{self.path} ({self.version})"

    def run(self, args: list[str], cwd: Path, repo: Path | None = None) -> subprocess.CompletedProcess[str]:
        """Run promtool in `cwd`; stdout and stderr together, in order, as promtool interleaves them.

        Both clusters render the same PrometheusRules from apps/base and infrastructure/*/base, and `test
        rules` is the slowest step of check (about a second a cluster). A run whose arguments and whole
        scratch directory (every file's relative path and bytes: all promtool reads) equal an earlier one's
        in this process gets that run's result; clusters checked at the same time wait for the first.
        With `repo`, the verdict is also kept between runs in its cache folder (buildcache.py), keyed by
        the same inputs plus the binary's identity and version.
        """
        key = (self.path, tuple(args), _tree_digest(cwd))
        with _MEMO_LOCK:
            pending = _MEMO.get(key)
            owner = pending is None
            if pending is None:
                pending = _MEMO[key] = Future()
        if not owner:
            return pending.result()
        try:
            result = self._run_kept(args, cwd, key[2], repo)
        except BaseException as exc:
            with _MEMO_LOCK:
                del _MEMO[key]  # a later call tries again rather than inheriting a time-out
            pending.set_exception(exc)
            raise
        pending.set_result(result)
        return result

    def _run_kept(self, args: list[str], cwd: Path, tree: str, repo: Path | None) -> subprocess.CompletedProcess[str]:
        store = buildcache.shared(repo, "promtool") if repo is not None else None
        if store is None:
            return self._run(args, cwd)
        identity = buildcache.binary_identity(self.path, self.version)
        key = hashlib.sha256("\0".join([identity, tree, *args]).encode("utf-8", "surrogateescape"))
        kept = store.get(key.hexdigest())
        code, _, output = (kept or "").partition("\n")
        if code in ("0", "1"):
            return subprocess.CompletedProcess([self.path, *args], int(code), output)
        result = self._run(args, cwd)
        if result.returncode in (0, 1):  # a verdict; a crash or signal is run again next time
            store.put(key.hexdigest(), f"{result.returncode}\n{result.stdout}")
        return result

    def _run(self, args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                [self.path, *args],
                cwd=cwd,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=TIMEOUT_SECONDS,
                env=_offline_env(),
            )
        except subprocess.TimeoutExpired as exc:
            raise ToolError(f"promtool {' '.join(args[:2])} did not finish in {TIMEOUT_SECONDS}s") from exc
        except OSError as exc:
            raise ToolError(f"promtool {self.path} does not run: {exc}") from exc


_MEMO: dict[tuple[str, tuple[str, ...], str], Future[subprocess.CompletedProcess[str]]] = {}
_MEMO_LOCK = threading.Lock()


def _tree_digest(directory: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest.update(path.relative_to(directory).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def _offline_env() -> dict[str, str]:
    # promtool's rule checks and unit tests never need the network; make sure nothing could reach it.
    env = dict(os.environ)
    dead = "http://127.0.0.1:9"
    env.update({"HTTP_PROXY": dead, "HTTPS_PROXY": dead, "http_proxy": dead, "https_proxy": dead, "NO_PROXY": ""})
    return env


@functools.lru_cache(maxsize=8)
def _probe(path: str) -> Promtool:
    try:
        proc = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30, env=_offline_env())
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolError(f"promtool {path} does not run: {exc}") from exc
    out = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0 or not out.startswith("promtool"):
        raise ToolError(f"{path} is not a working promtool: {out.splitlines()[:1] or proc.returncode}")
    return Promtool(path=path, version=out.splitlines()[0].replace("promtool, ", "", 1))


def find_promtool(repo: Path, config: Config) -> Promtool | None:
    """The first of: $MLPLATFORM_PROMTOOL, promtool on PATH, the set-up's .tools/bin; else None.

    Never a path from the repository (its .mlplatform.yaml refuses a `promtool` setting, and a
    <repo>/.tools/bin/promtool could be committed by a pull request): see docs/security.md."""
    if os.environ.get(ENV_VAR):
        path = os.environ[ENV_VAR]
        resolved = shutil.which(path) or path
        if not Path(resolved).is_file():
            raise ToolError(f"promtool not found: {path} (from {ENV_VAR})")
        # absolute: promtool runs in a scratch directory
        return _probe(str(Path(resolved).resolve()))
    found = shutil.which("promtool")
    if found:
        return _probe(found)
    local = SETUP_BIN / "promtool"
    if local.is_file():
        return _probe(str(local))
    return None
