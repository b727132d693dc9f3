"""Hostile input: `mlplatform check` ends each case in a finding or a clean error, quickly, touching nothing.

The base is a small synthetic repository (benchmarks/synth.py: one cluster, ten apps, real Flux layout)
that checks clean; each case copies it, injects one piece of hostile input (tests/hostile/cases.py) and
runs the installed console script with HOME and TMPDIR pointed into the test's own directory, limited to
30 s and 1 GiB of address space (RLIMIT_AS, inherited by kustomize).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from helpers import REPO_ROOT
from hostile.cases import CASES, CLUSTER, Case
from mlplatform.buildcache import CACHE_DIR

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
import synth  # noqa: E402 - a script directory, not a package

TIME_LIMIT_SECONDS = 30
MEMORY_LIMIT_BYTES = 1024 * 1024 * 1024  # the address space of the CLI and of every process it starts


def limit_memory() -> None:
    """Runs in the child before exec: a case that needs more than 1 GiB fails instead of passing slowly."""
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))
FILE_AND_LINE = re.compile(r"[^\s:]+:\d+")


def snapshot(root: Path, skip_top: str | None = None) -> dict[str, tuple]:
    """Every path under root (without following links) with its type, size, mtime and content hash;
    `skip_top`: a top-level entry left out (the cache folder check may write, checked by cache_writes)."""
    state: dict[str, tuple] = {}
    for directory, dirnames, filenames in os.walk(root, followlinks=False):
        if skip_top and Path(directory) == root and skip_top in dirnames:
            dirnames.remove(skip_top)
        for name in dirnames + filenames:
            path = Path(directory) / name
            info = path.lstat()
            digest = ""
            if path.is_file() and not path.is_symlink() and info.st_size < 8 * 1024 * 1024:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
            state[str(path.relative_to(root))] = (info.st_mode, info.st_size, info.st_mtime_ns, digest)
    return state


@pytest.fixture(scope="session")
def base_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hostile-base") / "repo"
    synth.generate(root, clusters=1, apps=10)
    return root


def mlplatform() -> str:
    return shutil.which("mlplatform") or str(Path(sys.executable).parent / "mlplatform")


@dataclass
class Outcome:
    code: int | None  # None: killed at the time limit
    stdout: bytes
    stderr: bytes
    seconds: float

    @property
    def text(self) -> str:
        return (self.stdout + self.stderr).decode("utf-8", "backslashreplace")


def command_line(case_command: tuple[str, ...], repo: Path, sandbox: Path, crd_schemas: Path) -> list[str]:
    """The command a case targets, its placeholders filled: {repo}, {out} (a directory beside the copy),
    {cluster} and {schemas}. `check` and `validate` report JSON (parsed below)."""
    values = {"repo": str(repo), "out": str(sandbox / "out"), "cluster": CLUSTER, "schemas": str(crd_schemas)}
    args = [part.format(**values) for part in case_command]
    if args[0] in ("check", "validate"):
        args += ["--schema-location", str(crd_schemas), "--format", "json"]
    return [mlplatform(), *args, "--repo", str(repo)]


def run_check(
    repo: Path,
    sandbox: Path,
    crd_schemas: Path,
    kustomize_bin: str,
    case_command: tuple[str, ...] = ("check",),
    extra_env: dict[str, str] | None = None,
) -> Outcome:
    """Like helpers.run_cli, but keeps bytes (output must be checked for valid UTF-8, not assumed to be)
    and kills the whole process group at the time limit (a hang must fail the case, not the suite)."""
    home, tmp = sandbox / "home", sandbox / "tmp"
    home.mkdir(exist_ok=True)
    tmp.mkdir(exist_ok=True)
    env = {
        **os.environ,
        "HOME": str(home),
        "TMPDIR": str(tmp),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "MLPLATFORM_KUSTOMIZE": kustomize_bin,
        **(extra_env or {}),
    }
    env.pop("MLPLATFORM_CACHE", None)  # as in CI: the build cache stays off, so nothing may be written
    started = time.monotonic()
    process = subprocess.Popen(
        command_line(case_command, repo, sandbox, crd_schemas),
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=limit_memory,  # noqa: PLW1509 - the test process runs no threads of its own here
    )
    try:
        stdout, stderr = process.communicate(timeout=TIME_LIMIT_SECONDS)
        code: int | None = process.returncode
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        code = None
    return Outcome(code, stdout, stderr, time.monotonic() - started)


def test_the_base_repository_checks_clean(
    base_repo: Path, tmp_path: Path, crd_schemas: Path, kustomize_bin: str
) -> None:
    """The control: the clean base reports nothing, so each finding below comes from its case."""
    repo = tmp_path / "repo"
    shutil.copytree(base_repo, repo, symlinks=True)
    outcome = run_check(repo, tmp_path, crd_schemas, kustomize_bin)
    assert outcome.code == 0, outcome.text[-4000:]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_hostile_input(
    case: Case, base_repo: Path, tmp_path: Path, crd_schemas: Path, kustomize_bin: str
) -> None:
    repo, outside = tmp_path / "repo", tmp_path / "outside"
    shutil.copytree(base_repo, repo, symlinks=True)
    outside.mkdir()
    (outside / "configmap.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: outside, namespace: agents}\n"
        "data: {secret: s3cr3t}\n"
    )
    case.inject(repo, outside)
    before_repo, before_outside = snapshot(repo), snapshot(outside)

    outcome = run_check(repo, tmp_path, crd_schemas, kustomize_bin, case.command, case.env)
    output = outcome.text
    json_report = case.command[0] in ("check", "validate")

    assert outcome.code is not None, f"no result within {TIME_LIMIT_SECONDS}s (killed): {output[-2000:]}"
    assert "Traceback" not in output, output[-4000:]
    assert outcome.code in case.exits, f"exit {outcome.code}: {output[-4000:]}"
    assert "internal error" not in output, output[-4000:]
    if outcome.code == 2:
        # stderr may also carry the informational "kustomize: <binary and version>" line
        lines = [
            line
            for line in outcome.stderr.decode("utf-8", "replace").splitlines()
            if line.startswith("error")
        ]
        assert len(lines) == 1, f"an error is one line on stderr, got: {outcome.stderr!r}"
        assert FILE_AND_LINE.search(lines[0]) or case.error_without_line, f"the error names no file:line: {lines[0]}"
    if outcome.code == 1 and json_report:
        report = json.loads(outcome.stdout.decode("utf-8"))  # strict: JSON output must be valid UTF-8
        assert report["summary"]["errors"] >= 1 and report["findings"]
    elif outcome.code == 1:
        assert FILE_AND_LINE.search(output), f"exit 1 names no file:line: {output[-4000:]}"
    if outcome.code != 0:
        assert any(m in output for m in case.mentions), f"none of {case.mentions} in: {output[-4000:]}"

    assert snapshot(outside) == before_outside, "a file outside the repository was touched"
    assert not (outside / "pwned").exists(), "a plugin from the repository was executed"
    if case.verify is None:
        assert snapshot(repo) == before_repo, "the command changed the repository it only reads"
    else:
        case.verify(repo, tmp_path)  # what a writing command (fix, render --out, --base) must leave
    # the build cache is off unless the user sets MLPLATFORM_CACHE=1 (the harness does not): nothing kept
    assert not (repo / CACHE_DIR).exists(), "a cache folder was written into the repository"
    assert not any((tmp_path / "tmp").iterdir()), "temporary files were left behind"
    assert not any((tmp_path / "home").iterdir()), "files were written into HOME"
