"""`plan --base REF`: plan a git ref in a temporary worktree; the change in nodes, GPU units and cost."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ToolError
from ..interrupt import cleanup_on_signal

GIT_TIMEOUT_S = 120


def _git(cwd: Path, *args: str) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=GIT_TIMEOUT_S)
    except FileNotFoundError:
        raise ToolError("git not found: --base needs git on PATH") from None
    except subprocess.TimeoutExpired:
        raise ToolError(f"git {' '.join(args)} took longer than {GIT_TIMEOUT_S}s") from None
    if done.returncode != 0:
        message = (done.stderr.strip().splitlines() or ["failed"])[-1]
        raise ToolError(f"git {' '.join(args[:2])}: {message}")
    return done.stdout.strip()


@dataclass(frozen=True)
class BaseTree:
    ref: str
    commit: str
    repo: Path  # the repository root inside the temporary worktree


@contextmanager
def base_worktree(repo: Path, ref: str) -> Iterator[BaseTree]:
    """A detached worktree of `ref` beside the current checkout, removed afterwards even on error."""
    if ref.startswith("-"):
        raise ToolError(f"--base {ref!r}: not a git ref")
    toplevel = Path(_git(repo, "rev-parse", "--show-toplevel")).resolve()
    try:
        commit = _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    except ToolError:
        # --quiet leaves git silent on a bad ref: name the ref rather than echo "failed".
        raise ToolError(f"unknown git ref {ref!r}") from None
    inside = repo.resolve().relative_to(toplevel)
    # SIGTERM/SIGINT raise inside this block, so the `finally` below runs for them too (interrupt.py).
    with cleanup_on_signal() as shielded:
        holder: Path | None = None
        try:
            holder = Path(tempfile.mkdtemp(prefix="mlplatform-base-"))
            tree = holder / "tree"
            _git(toplevel, "worktree", "add", "--detach", "--quiet", str(tree), commit)
            yield BaseTree(ref, commit, tree / inside)
        finally:
            with shielded():
                _remove_worktree(toplevel, holder)


def _remove_worktree(toplevel: Path, holder: Path | None) -> None:
    """Remove the worktree and its administrative entry in .git/worktrees, whatever happened before
    (also after a `worktree add` cut short: prune drops an entry whose directory is gone)."""
    if holder is not None:
        subprocess.run(
            ["git", "worktree", "remove", "--force", str(holder / "tree")],
            cwd=toplevel,
            capture_output=True,
            timeout=GIT_TIMEOUT_S,
        )
        shutil.rmtree(holder, ignore_errors=True)
    subprocess.run(["git", "worktree", "prune"], cwd=toplevel, capture_output=True, timeout=GIT_TIMEOUT_S)


def plan_at_ref(repo: Path, ref: str, plan: Callable[[Path], list[dict[str, Any]]]) -> tuple[str, list[dict[str, Any]]]:
    """(commit, cluster plans as JSON) of `ref`, computed by `plan(root of the base tree)`."""
    with base_worktree(repo, ref) as base:
        try:
            return base.commit, plan(base.repo)
        except ToolError as exc:
            raise ToolError(f"planning --base {ref} ({base.commit[:12]}): {exc}") from None


def _delta(base: float | int | None, head: float | int | None) -> dict[str, Any]:
    b, h = base or 0, head or 0
    delta = round(h - b, 4) if isinstance(h, float) or isinstance(b, float) else h - b
    return {"base": base, "head": head, "delta": delta}


def _pool_diff(name: str, base: dict[str, Any] | None, head: dict[str, Any] | None) -> dict[str, Any]:
    status = "added" if base is None else "removed" if head is None else "changed"
    b, h = base or {}, head or {}
    out: dict[str, Any] = {"pool": name, "status": status}
    for block, keys in (
        ("nodes_needed", ("min_demand", "max_demand")),
        ("cost_usd_per_hour", ("at_min_demand", "at_max_demand")),
        ("nodes_configured", ("min", "max")),
    ):
        out[block] = {k: _delta((b.get(block) or {}).get(k), (h.get(block) or {}).get(k)) for k in keys}
    b_gpu = {g["resource"]: g for g in b.get("gpu_units", [])}
    h_gpu = {g["resource"]: g for g in h.get("gpu_units", [])}
    out["gpu_units"] = [
        {
            "resource": r,
            "available_at_max_size": _delta(
                b_gpu.get(r, {}).get("available_at_max_size"), h_gpu.get(r, {}).get("available_at_max_size")
            ),
            "requested_at_max_demand": _delta(
                b_gpu.get(r, {}).get("requested_at_max_demand"),
                h_gpu.get(r, {}).get("requested_at_max_demand"),
            ),
        }
        for r in sorted(set(b_gpu) | set(h_gpu))
    ]
    changed = any(
        v["delta"]
        for blk in ("nodes_needed", "cost_usd_per_hour", "nodes_configured")
        for v in out[blk].values()
    )
    changed = changed or any(
        g[k]["delta"] for g in out["gpu_units"] for k in ("available_at_max_size", "requested_at_max_demand")
    )
    if status == "changed" and not changed:
        out["status"] = "unchanged"
    return out


def incomplete_sides(cluster_diff: dict[str, Any]) -> list[str]:
    """The sides ("head", "base") of one cluster's diff whose plan is incomplete, head first."""
    complete = cluster_diff.get("complete") or {}
    return [side for side in ("head", "base") if complete.get(side) is False]


def diff_plans(base: list[dict[str, Any]], head: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per cluster and pool: base, head and delta of nodes needed, GPU units and cost (JSON plans in)."""
    b_by, h_by = {c["cluster"]: c for c in base}, {c["cluster"]: c for c in head}
    clusters = []
    for name in sorted(set(b_by) | set(h_by)):
        b, h = b_by.get(name, {}), h_by.get(name, {})
        b_pools = {p["pool"]: p for p in b.get("pools", [])}
        h_pools = {p["pool"]: p for p in h.get("pools", [])}
        order = list(h_pools) + [p for p in b_pools if p not in h_pools]
        b_total = (b.get("total") or {}).get("cost_usd_per_hour") or {}
        h_total = (h.get("total") or {}).get("cost_usd_per_hour") or {}
        clusters.append(
            {
                "cluster": name,
                "status": "added" if not b else "removed" if not h else "present",
                "pools": [_pool_diff(p, b_pools.get(p), h_pools.get(p)) for p in order],
                "total_cost_usd_per_hour": {
                    k: _delta(b_total.get(k), h_total.get(k)) for k in ("at_min_demand", "at_max_demand")
                },
                "unplaced": {"base": len(b.get("unplaced", [])), "head": len(h.get("unplaced", []))},
                # A side with errors in its files (capacity/inputs.py) planned part of its repository: its
                # figures, and so the deltas, are no real change. None: the side has no such cluster.
                "complete": {"base": b.get("complete", True) if b else None,
                             "head": h.get("complete", True) if h else None},
                "input_errors": {"base": b.get("input_errors", []), "head": h.get("input_errors", [])},
            }
        )
    return clusters
