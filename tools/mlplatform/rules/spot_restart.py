"""Workloads that can run on spot capacity but are not restarted after an interruption."""

from __future__ import annotations

from collections.abc import Iterator

from ..model import Finding, Severity
from ._base import RuleContext, get_path, pointer
from .spot_checkpoint import spot_targets

ID = "policy/spot-restart"
TITLE = "Spot workload without a restart policy"
SEVERITY = Severity.ERROR
FIXABLE = True
RATIONALE = (
    "A checkpoint only helps if something starts the work again after the node is reclaimed. Kubeflow "
    "training replicas need restartPolicy OnFailure or ExitCode (the default Never leaves the job failed); "
    "Jobs and CronJobs need backoffLimit >= 1; bare Pods are never recreated. Deployments and StatefulSets "
    "are always restarted. Fix: restartPolicy OnFailure on the training replica spec."
)


def check(ctx: RuleContext) -> Iterator[Finding]:
    cfg = ctx.policy.workload_checks["restart"]  # typed, with defaults: _params.WORKLOAD_CHECKS
    allowed = cfg["training_job_restart_policies"]
    min_backoff = cfg["min_backoff_limit"]
    for info in ctx.templates:
        if info.is_daemonset:
            continue
        spot = spot_targets(ctx, info.placement.selectable)
        if not spot:
            continue
        tpl = info.tpl
        problem, fix = None, None
        at: str | None = None  # the field to change; None: the pod spec
        if tpl.role is not None:
            replica_path = tpl.path[:-1]  # the replica spec holding `template`
            rspec = get_path_tuple(info.manifest.obj, replica_path)
            policy = rspec.get("restartPolicy") if isinstance(rspec, dict) else None
            if policy not in allowed:
                problem = (
                    f"replica {tpl.role} has restartPolicy {policy or 'unset (Never)'}; use one of {', '.join(allowed)}"
                )
                path = at = pointer(*replica_path, "restartPolicy")
                fix = (
                    [
                        {"op": "test", "path": path, "value": policy},
                        {"op": "replace", "path": path, "value": "OnFailure"},
                    ]
                    if policy is not None
                    else [{"op": "add", "path": path, "value": "OnFailure"}]
                )
        elif tpl.kind in ("Job", "CronJob"):
            job_spec = get_path_tuple(info.manifest.obj, tpl.path[:-1])
            backoff = job_spec.get("backoffLimit") if isinstance(job_spec, dict) else None
            if isinstance(backoff, int) and backoff < min_backoff:
                problem = f"backoffLimit {backoff} never retries after a spot interruption (needs >= {min_backoff})"
                at = pointer(*tpl.path[:-1], "backoffLimit")
        elif tpl.kind == "Pod" and get_path(info.spec, "restartPolicy") != "Always":
            problem = "a bare Pod is not recreated when its node is reclaimed; run it from a Job"
        if problem:
            message = f"pod{info.where} can run on spot pool(s) {', '.join(spot)}: {problem}"
            if found := ctx.emit(ID, SEVERITY, info.manifest, message, tpl=tpl, fix=fix, at=at):
                yield found


def get_path_tuple(obj: object, path: tuple[str | int, ...]) -> object:
    for part in path:
        if isinstance(obj, dict):
            obj = obj.get(part)
        elif isinstance(obj, list) and isinstance(part, int) and part < len(obj):
            obj = obj[part]
        else:
            return None
    return obj
