"""The policy rules: one module per rule, found here by name, so adding a rule is adding its module.

A rule module (any module of this package whose name does not start with "_") defines ID, TITLE, SEVERITY,
RATIONALE, REMEDIATION, FIXABLE and `check(ctx: RuleContext)`, which yields findings; the reporting layer
applies exemptions (suppress.py). Parameters live in policies/*.yaml, declared in `_params.py`. Rules do not
depend on each other's order: what they share (`ctx.cache`) is computed on first use.
"""

from __future__ import annotations

import gc
import importlib
import pkgutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from types import ModuleType

from ..context import ClusterContext
from ..model import Finding, Severity, schema_cause
from ._base import RuleContext, build_context
from ._policy import Policy, load_policy


def _rule_modules() -> list[ModuleType]:
    """Every rule module of this package, by name (the catalog refuses one without the required fields)."""
    names = sorted(info.name for info in pkgutil.iter_modules(__path__) if not info.name.startswith("_"))
    return [importlib.import_module(f"{__name__}.{name}") for name in names]


RULES: list[ModuleType] = _rule_modules()
RULES_BY_ID = {rule.ID: rule for rule in RULES}
POLICY_CONFIG_ID = "policy/defaults-used"
POLICY_INPUT_ID = "policy/template-unreadable"  # a pod template the rules cannot read (schema validation says why)

__all__ = ["RULES", "RULES_BY_ID", "RuleContext", "Policy", "load_policy", "run_rules", "run_rules_with"]


_gc_lock = threading.Lock()
_gc_pausers = 0  # runs in progress (check renders clusters in threads); the last one out restores the GC
_gc_was_enabled = True


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while rules run.

    The rules allocate many small, acyclic objects; with tens of thousands of rendered objects alive, the
    collector's full passes cost ~15% of the run for nothing. Reference counting still frees everything.
    """
    global _gc_pausers, _gc_was_enabled
    with _gc_lock:
        if _gc_pausers == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pausers += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pausers -= 1
            if _gc_pausers == 0 and _gc_was_enabled:
                gc.enable()


def run_rules_with(ctx: ClusterContext, policy: Policy, only: set[str] | None = None) -> list[Finding]:
    """Run the rules (or only those named) with an already loaded policy."""
    with _collector_paused():
        rctx = build_context(ctx, policy)
        findings: list[Finding] = []
        for rule in RULES:
            if only is None or rule.ID in only:
                findings.extend(rule.check(rctx))
        findings += [
            Finding.on(
                manifest,
                POLICY_INPUT_ID,
                Severity.WARNING,
                f"policy rules skipped a pod template: {where} does not have the type Kubernetes expects",
                # schema/invalid names the field at its line: this warning folds into it (consolidate.py)
                follows=schema_cause(manifest),
            )
            for manifest, where in rctx.skipped
        ]
        findings += rctx.terraform_errors
        return findings


def run_rules(ctx: ClusterContext) -> list[Finding]:
    policy = load_policy(ctx.repo, ctx.cluster)
    # problems in the policy files: findings at their file and line (the rules ran with the defaults)
    findings: list[Finding] = [replace(f, cluster=ctx.cluster) for f in policy.problems]
    if len(policy.missing) == len(policy.files):
        # A repository without policies/ (a fixture, a new project): the rules run on built-in defaults.
        findings.append(
            Finding(
                POLICY_CONFIG_ID,
                Severity.INFO,
                "no policies/ directory: the policy rules use built-in defaults and know no workload types",
                cluster=ctx.cluster,
            )
        )
    else:
        findings += [
            Finding(
                POLICY_CONFIG_ID,
                Severity.WARNING,
                f"{path} is missing: the rules that read it use built-in defaults",
                cluster=ctx.cluster,
                file=path,
                line=1,
            )
            for path in policy.missing
        ]
    return findings + run_rules_with(ctx, policy)
