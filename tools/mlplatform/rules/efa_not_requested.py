"""EFA pools and the pods on them must agree: distributed GPU training asks for EFA, EFA requests land on EFA.

Two faults, both invisible until a job runs:
- a distributed GPU training job (PyTorchJob, TFJob, MPIJob, XGBoostJob, also as a Katib trial) whose pods can
  run on an EFA pool but request no `vpc.amazonaws.com/efa`: the EFA device plugin mounts no EFA device into
  the container, aws-ofi-nccl finds no EFA provider and NCCL carries the traffic between nodes over TCP
  sockets, without an error;
- a pod that requests `vpc.amazonaws.com/efa` and whose node selection admits a pool without EFA: no node of
  that pool advertises the resource (no EFA interfaces, no device plugin), so there the pod stays Pending.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..allocatable import EFA_RESOURCE
from ..model import Finding, Severity
from ._base import RuleContext, TemplateInfo, as_dict, get_path
from .spot_restart import get_path_tuple

ID = "policy/efa-not-requested"
TITLE = "Distributed training on EFA pools without EFA, or EFA requested where no node has it"
SEVERITY = Severity.ERROR
FIXABLE = False
RATIONALE = (
    "EFA pools (efa: true in the pool file) carry EFA interfaces, a cluster placement group and the EFA device "
    "plugin for multi-node NCCL traffic. A GPU pod of a distributed training job (more than one GPU pod, or "
    "an elastic PyTorchJob that may grow past one) that can run on such a pool must request "
    "vpc.amazonaws.com/efa in requests and limits. Without it the container gets no EFA device, and NCCL "
    "falls back to TCP sockets with no error (or, where NCCL_NET names the plugin, stops at start-up): an "
    "error, not a warning, because nothing else reports the slow path. A job that deliberately does without "
    "EFA says so with mlplatform.example.com/exempt-efa-not-requested and its reason. A pod that requests "
    "vpc.amazonaws.com/efa and can only be placed on pools without EFA would stay Pending: an error "
    "(fits-no-pool defers to this rule when EFA is the only reason). One whose selection also admits non-EFA "
    "pools still runs (the scheduler skips nodes without the resource) and gets a warning to select EFA "
    "nodes; a DaemonSet that does leaves a Pending pod on every non-EFA node, an error. Only a real cluster "
    "proves that the nodes advertise vpc.amazonaws.com/efa, that the image carries libfabric and "
    "aws-ofi-nccl, and that NCCL selects the EFA provider (NCCL_DEBUG=INFO, nccl-tests all_reduce_perf "
    "between two nodes): docs/layers/training-stack.md."
)
REMEDIATION = (
    "Request vpc.amazonaws.com/efa in distributed training pods on EFA pools; request it only where EFA "
    "nodes exist."
)
EFA_LABEL = "mlplatform.example.com/efa"


def efa_pools(ctx: RuleContext) -> dict[str, int]:
    """Pool -> vpc.amazonaws.com/efa per node, as the node model offers it (EFA pools of EFA instance types)."""
    found = ctx.cache.get("efa_pools")
    if found is None:
        found = ctx.cache["efa_pools"] = {
            view.pool.name: view.capacity[EFA_RESOURCE]
            for view in ctx.index.views
            if view.capacity.get(EFA_RESOURCE, 0) > 0
        }
    return found


def _non_efa_pools_but_for_efa(ctx: RuleContext, info: TemplateInfo) -> list[str]:
    """Pools without EFA that would take the template in every respect but its EFA request."""
    if info.requests.get(EFA_RESOURCE, 0) <= 0:
        return []
    without = {k: v for k, v in info.requests.items() if k != EFA_RESOURCE}
    efa = efa_pools(ctx)
    return [p for p in ctx.index.place(info.spec, without).fits if p not in efa]


def efa_is_the_only_misfit(ctx: RuleContext, info: TemplateInfo) -> bool:
    """The template fits no pool, and only its EFA request keeps it off a pool: this rule says so.

    fits-no-pool leaves such a template to this rule, whose message names the cause.
    """
    return not info.placement.fits and bool(_non_efa_pools_but_for_efa(ctx, info))


JobKey = tuple[int, tuple[str | int, ...]]  # (id of the manifest, path of the job inside it)


def _job_key(info: TemplateInfo) -> JobKey:
    # A replica template sits at <job>/spec/<kind>ReplicaSpecs/<role>/template; a Katib trial's job is nested.
    return id(info.manifest), info.tpl.path[:-4]


def _job_pods(ctx: RuleContext) -> dict[JobKey, int]:
    """GPU pods of each training job (replicas of every role that requests a GPU; elastic jobs at their max)."""
    cached = ctx.cache.get("efa_job_pods")
    if isinstance(cached, dict):
        return cached
    found: dict[JobKey, int] = {}
    for info in ctx.templates:
        if info.tpl.role is None or not info.uses_gpu:
            continue
        key = _job_key(info)
        found[key] = found.get(key, 0) + (info.tpl.replicas if info.tpl.replicas is not None else 1)
    for info in ctx.templates:
        key = _job_key(info)
        if key in found:
            job = as_dict(get_path_tuple(info.manifest.obj, key[1]))
            most = get_path(job, "spec.elasticPolicy.maxReplicas")
            if isinstance(most, int) and not isinstance(most, bool):
                found[key] = max(found[key], most)
    ctx.cache["efa_job_pods"] = found
    return found


def _job_kind(info: TemplateInfo) -> str:
    kind = as_dict(get_path_tuple(info.manifest.obj, _job_key(info)[1])).get("kind")
    return str(kind) if kind else info.kind


def _offer(ctx: RuleContext, pools: list[str]) -> str:
    efa = efa_pools(ctx)
    return ", ".join(f"{efa[p]} on {p} ({ctx.pools[p].planning_instance_type})" for p in pools)


def _missing_request(ctx: RuleContext, info: TemplateInfo) -> str | None:
    if info.tpl.role is None or not info.uses_gpu or info.requests.get(EFA_RESOURCE, 0) > 0:
        return None
    efa = efa_pools(ctx)
    targets = [p for p in info.placement.selectable if p in efa]
    pods = _job_pods(ctx).get(_job_key(info), 0)
    if not targets or pods <= 1:
        return None
    others = [p for p in info.placement.fits if p not in efa]
    message = (
        f"GPU pod{info.where} of a distributed {_job_kind(info)} ({pods} GPU pods) can run on EFA pool(s) "
        f"{', '.join(targets)} but requests no {EFA_RESOURCE}: the container gets no EFA device, so NCCL "
        f"carries the traffic between nodes over TCP sockets (or, with NCCL_NET naming the plugin, stops at "
        f"start-up). Request {EFA_RESOURCE} in requests and limits "
        f"(every interface of the node: {_offer(ctx, targets)}) and point NCCL at aws-ofi-nccl "
        f"(docs/layers/training-stack.md, EFA)"
    )
    if others:
        message += (
            f"; it can also land on pool(s) without EFA ({', '.join(others)}): select EFA nodes "
            f'({EFA_LABEL}: "true") first'
        )
    return message


def _request_without_efa_nodes(ctx: RuleContext, info: TemplateInfo) -> tuple[Severity, str] | None:
    others = _non_efa_pools_but_for_efa(ctx, info)
    if not others:
        return None
    what = (
        f"{'DaemonSet pod' if info.is_daemonset else 'pod'}{info.where} requests "
        f"{info.requests[EFA_RESOURCE]} {EFA_RESOURCE}"
    )
    lacking = (
        f"pool(s) {', '.join(others)}, whose nodes have no EFA interfaces and no EFA device plugin (the pool "
        f"file does not set efa: true)"
    )
    if not info.placement.fits:
        return Severity.ERROR, (
            f"{what} but can only be placed on {lacking}: it would stay Pending. Select an EFA pool "
            f'({EFA_LABEL}: "true") or drop the request'
        )
    if info.is_daemonset:
        return Severity.ERROR, (
            f"{what} and also selects the nodes of {lacking}: its pod on each of them would stay Pending. "
            f'Select EFA nodes only ({EFA_LABEL}: "true")'
        )
    return Severity.WARNING, (
        f"{what} and can also be placed on {lacking}; the scheduler skips those nodes, but the template should "
        f'select EFA nodes itself ({EFA_LABEL}: "true") so that its placement says what it needs'
    )


def check(ctx: RuleContext) -> Iterator[Finding]:
    if not ctx.pools:
        return
    for info in ctx.templates:
        missing = _missing_request(ctx, info)
        if missing and (found := ctx.emit(ID, SEVERITY, info.manifest, missing, tpl=info.tpl)):
            yield found
        misplaced = _request_without_efa_nodes(ctx, info)
        if misplaced and (found := ctx.emit(ID, misplaced[0], info.manifest, misplaced[1], tpl=info.tpl)):
            yield found

