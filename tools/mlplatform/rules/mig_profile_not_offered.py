"""A container asks for a MIG profile that the MIG layout of the pool it targets does not offer."""

from __future__ import annotations

from collections.abc import Iterator

from ..model import MIG_RESOURCE_PREFIX, Finding, Pool, Severity
from ..suggest import did_you_mean
from ._base import RuleContext, TemplateInfo, resource_at

ID = "policy/mig-profile-not-offered"
TITLE = "MIG profile not in the target pool's layout"
SEVERITY = Severity.ERROR
FIXABLE = False
RATIONALE = (
    "With the mixed MIG strategy each profile is its own resource (nvidia.com/mig-<profile>); a node only "
    "advertises the profiles of its mig-parted layout, and profile names depend on the GPU (1g.10gb "
    "exists on 80 GB parts, 1g.5gb on A100-40GB). A request for a profile the layout lacks never schedules."
)
REMEDIATION = (
    "Request a profile the target pool's mig_layout offers, or add the profile to the layout "
    "(node-pools.yaml)."
)


def _layout(pool: Pool) -> dict[str, int]:
    return pool.mig_layout


def unoffered_profiles(ctx: RuleContext, info: TemplateInfo) -> tuple[list[str], list[Pool]]:
    """(requested MIG profiles no MIG pool the template reaches offers, the MIG pools it was compared with)."""
    wanted = [r[len(MIG_RESOURCE_PREFIX) :] for r in info.gpu_requests if r.startswith(MIG_RESOURCE_PREFIX)]
    if not wanted:
        return [], []
    mig_pools = [p for p in ctx.pools.values() if _layout(p)]
    reachable = [p for p in mig_pools if p.name in info.placement.selectable]
    candidates = reachable or mig_pools
    return [w for w in wanted if not any(w in _layout(p) for p in candidates)], candidates


def missing_mig_resources(ctx: RuleContext, info: TemplateInfo) -> list[tuple[str, str]]:
    """(message, profile) for each requested MIG profile that no MIG pool the template reaches offers."""
    unoffered, candidates = unoffered_profiles(ctx, info)
    problems = []
    for profile in unoffered:
        if not candidates:
            problems.append((f"requests nvidia.com/mig-{profile} but this cluster has no MIG pool", profile))
            continue
        details = []
        for pool in candidates:
            layout = ", ".join(f"{k} x{v}" for k, v in _layout(pool).items())
            model = ctx.cluster.catalog.gpu_model_of_instance(pool.planning_instance_type)
            note = ""
            if model is not None and profile not in model.mig_profiles:
                note = f"; {model.name} has no profile {profile}"
            details.append(f"{pool.name} offers {layout}{note}")
        offered = {name for pool in candidates for name in _layout(pool)}
        problems.append((
            f"requests nvidia.com/mig-{profile}, which no target MIG pool offers ({'; '.join(details)})"
            f"{did_you_mean(profile, offered)}",
            profile,
        ))
    return problems


def check(ctx: RuleContext) -> Iterator[Finding]:
    if not ctx.pools:
        return  # no (usable) pool file: pool/file-missing or pool/file-invalid says so once
    for info in ctx.templates:
        for problem, profile in missing_mig_resources(ctx, info):
            at = resource_at(info, MIG_RESOURCE_PREFIX + profile)  # the request to change
            if found := ctx.emit(ID, SEVERITY, info.manifest, f"pod{info.where} {problem}", tpl=info.tpl, at=at):
                yield found
