"""Parse a check's Terraform in a child process while the parent renders.

python-hcl2 (lark) is pure Python: the ~40 files of our two environments cost about 0.6 s of CPU, and in a
thread of the check they held the interpreter lock the render, hygiene and the rules also need. In a child
process the parse runs on the other core; the parent then takes the results into terraform.py's per-process
table, and only for files whose bytes are exactly the ones the child parsed (size, mtime and a sha256 of the
text, compared again in the parent), so a file that changed meanwhile is simply parsed again in the parent.

Anything that goes wrong in the child (a file that does not parse, a module outside the repository, a crash,
the time limit) costs nothing but the time: the parent parses what it lacks itself and reports problems with
their file and line as before.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from . import buildcache, contain, terraform

TIME_LIMIT_S = 120.0
# The parser's own checkout on the child's import path, whichever way the parent found it (installed,
# editable, or a PYTHONPATH).
_PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)
_CHILD = "from mlplatform.terraform_prefetch import child_main; child_main()"


class Prefetch:
    """A running child parse; `wait()` returns once its results are in terraform.py's table (or dropped)."""

    def __init__(self, repo: Path, clusters: list[str]) -> None:
        self._done = threading.Event()
        self.taken = 0  # files taken from the child (for tests and benchmarks)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([_PACKAGE_ROOT, *filter(None, [env.get("PYTHONPATH")])])
        # the parent's decision on the build cache holds in the child too (--no-cache: not read, not written)
        env[buildcache.ENV_VAR] = "1" if buildcache.enabled() else "0"
        try:
            self._process: subprocess.Popen[str] | None = subprocess.Popen(
                contain.limited_command([sys.executable, "-c", _CHILD, str(repo.resolve()), *clusters]),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                env=env,
            )
        except OSError:
            self._process = None
        terraform.wait_for(self)  # before the collector can finish and withdraw it
        threading.Thread(target=self._collect, daemon=True, name="terraform-prefetch").start()

    def _collect(self) -> None:
        try:
            if self._process is None:
                return
            try:
                out, _ = self._process.communicate(timeout=TIME_LIMIT_S)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.communicate()
                return
            if self._process.returncode == 0:
                self.taken = _take(out)
        except Exception:  # noqa: BLE001 - a failed prefetch only means the parent parses for itself
            pass
        finally:
            self._done.set()
            terraform.done_with(self)

    def wait(self) -> None:
        self._done.wait()


def _take(out: str) -> int:
    """Put the child's parses into terraform.py's table, each only if the file is still what was parsed."""
    try:
        entries = json.loads(out)
    except ValueError:
        return 0
    taken = 0
    for entry in entries if isinstance(entries, list) else []:
        try:
            path, mtime_ns, size, rel, digest, data = entry
            text = Path(path).read_text(encoding="utf-8", errors="replace")
            stat = Path(path).stat()
        except (ValueError, TypeError, OSError):
            continue
        if (stat.st_mtime_ns, stat.st_size) != (mtime_ns, size) or _digest(text) != digest:
            continue
        terraform.remember((path, mtime_ns, size), terraform.TfFile(rel, text, data))
        taken += 1
    return taken


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def child_main() -> None:
    """In the child: load each cluster's Terraform and print every parsed file as JSON on stdout."""
    repo, clusters = Path(sys.argv[1]), sys.argv[2:]
    for cluster in clusters:
        try:
            terraform.load_terraform(repo, cluster)
        except Exception:  # noqa: BLE001, S112 - the parent loads it again and reports the problem
            continue
    entries: list[list[Any]] = [
        [path, mtime_ns, size, tf.path, _digest(tf.text), tf.data]
        for (path, mtime_ns, size), tf in terraform.parsed_files()
    ]
    json.dump(entries, sys.stdout)


def start(repo: Path, clusters: list[str]) -> Prefetch | None:
    """Parse the clusters' Terraform in a child; terraform.py waits for it before parsing a file itself.
    None when no cluster has a Terraform environment (nothing to parse: no child)."""
    environments = repo / "terraform" / "environments"
    if not any((environments / cluster).is_dir() for cluster in clusters):
        return None
    return Prefetch(repo, clusters)
