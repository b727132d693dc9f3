"""A workload requesting a MIG profile its workload type may not use (policies/workload-pools.yaml)."""

from __future__ import annotations

from collections.abc import Iterator

from ..model import MIG_RESOURCE_PREFIX, Finding, Severity
from ._base import RuleContext, resource_at
from .mig_profile_not_offered import unoffered_profiles

ID = "policy/mig-profile-allowed"
TITLE = "MIG profile not allowed for the workload type"
SEVERITY = Severity.ERROR
FIXABLE = False
RATIONALE = (
    "The MIG layout is shared by all production workloads; each type may use only the profiles sized for "
    "it (mig_profiles in policies/workload-pools.yaml), so that one service cannot take the large slices "
    "another one was planned with."
)
REMEDIATION = (
    "Request a profile listed in the workload type's mig_profiles (policies/workload-pools.yaml), or "
    "change the type."
)


def check(ctx: RuleContext) -> Iterator[Finding]:
    for info in ctx.templates:
        wtype = ctx.policy.types.get(info.workload_type or "")
        if wtype is None or wtype.mig_profiles is None:
            continue
        # A profile no pool offers (usually a typo) is mig-profile-not-offered's to report, once.
        unoffered = set(unoffered_profiles(ctx, info)[0])
        bad = [
            r[len(MIG_RESOURCE_PREFIX) :]
            for r in info.gpu_requests
            if r.startswith(MIG_RESOURCE_PREFIX)
            and r[len(MIG_RESOURCE_PREFIX) :] not in wtype.mig_profiles
            and r[len(MIG_RESOURCE_PREFIX) :] not in unoffered
        ]
        if bad:
            message = (
                f"pod{info.where} of type {wtype.name} requests MIG profile(s) {', '.join(bad)}; allowed: "
                f"{', '.join(wtype.mig_profiles) or 'none'}"
            )
            at = resource_at(info, MIG_RESOURCE_PREFIX + bad[0])  # the first request to change
            if found := ctx.emit(ID, SEVERITY, info.manifest, message, tpl=info.tpl, at=at):
                yield found
