"""Every finding id the test suite sees, checked against the rule catalog at the end of the session.

A finding whose id the catalog does not declare is a programming error; this catches it in the suite, never
in a user's run. Two sources: findings the tool builds in-process (Finding.__init__ wrapped; findings the
tests build themselves, with made-up ids, are left out by looking at the caller's module), and the JSON or
SARIF that `helpers.run_cli` reads back from the CLI. Under pytest-xdist each worker writes its ids to a file
next to its base temporary directory and the controller compares the union (conftest.pytest_sessionfinish).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

SEEN: set[str] = set()
_DIR = "finding-ids"


def _tool_made_it() -> bool:
    frame = sys._getframe(2)  # the caller of Finding.__init__ (or of the classmethod that called it)
    while frame is not None and frame.f_globals.get("__name__") in ("mlplatform.model", "dataclasses"):
        frame = frame.f_back
    return frame is not None and str(frame.f_globals.get("__name__", "")).startswith("mlplatform.")


def start() -> None:
    from mlplatform.model import Finding

    original = Finding.__init__
    if getattr(original, "_records_ids", False):
        return

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        if _tool_made_it():
            SEEN.add(self.rule)

    init._records_ids = True  # type: ignore[attr-defined]
    Finding.__init__ = init  # type: ignore[method-assign]


def record_output(stdout: str) -> None:
    """The ids in a `--format json` or `--format sarif` document (anything else is ignored)."""
    if not stdout.lstrip().startswith("{"):
        return
    try:
        doc = json.loads(stdout)
    except ValueError:
        return
    if not isinstance(doc, dict):
        return
    for key in ("findings", "suppressed"):
        SEEN.update(f["rule"] for f in doc.get(key) or [] if isinstance(f, dict) and "rule" in f)
    for run in doc.get("runs") or []:
        SEEN.update(r["ruleId"] for r in run.get("results") or [] if "ruleId" in r)


def save(base: Path, worker: str) -> None:
    target = base / _DIR
    target.mkdir(parents=True, exist_ok=True)
    (target / f"{worker}.json").write_text(json.dumps(sorted(SEEN)))


def load_all(base: Path) -> set[str]:
    found = set(SEEN)
    for path in (base / _DIR).glob("*.json"):
        found.update(json.loads(path.read_text()))
    return found


def unknown(ids: set[str]) -> list[str]:
    from mlplatform import rulecatalog

    return sorted(ids - set(rulecatalog.specs()))
