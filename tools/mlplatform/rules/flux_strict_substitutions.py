"""Flux postBuild substitution in a cluster whose bootstrapped kustomize-controller is not strict."""

from __future__ import annotations

from collections.abc import Iterator

from ..flux_bootstrap import STRICT_SUBSTITUTIONS, flux_release
from ..model import Finding, Severity
from ._base import RuleContext, as_dict

ID = "policy/flux-strict-substitutions"
TITLE = "postBuild substitution without StrictPostBuildSubstitutions"
SEVERITY = Severity.ERROR
FIXABLE = False
RATIONALE = (
    "kustomize-controller replaces a ${var} that has no value and no default with an empty string and applies "
    "the result, unless it runs with --feature-gates=StrictPostBuildSubstitutions=true; then the Kustomization "
    "fails to build and nothing of that revision is applied (fluxcd/kustomize-controller v1.8.3: opt-in gate; "
    "fluxcd/pkg kustomize v1.27.1 varSubstitution). `check` finds unset variables it can see "
    "(flux/substitute-unset), but not values in Secrets or in ConfigMaps created outside git, so the gate is "
    "the guard on the cluster. When the cluster's Terraform installs Flux with the flux2 chart and any Flux "
    "Kustomization substitutes, the release must pass the gate in kustomizeController.container.additionalArgs. "
    "A Terraform finding cannot be exempted by annotation: change the Terraform. That the running controller "
    "has the flag (and that nobody edited its Deployment) only the cluster can show."
)
REMEDIATION = (
    "Pass --feature-gates=StrictPostBuildSubstitutions=true in "
    "kustomizeController.container.additionalArgs of the flux2 Helm release in Terraform."
)


def check(ctx: RuleContext) -> Iterator[Finding]:
    substituting = sorted(
        (
            m
            for m in ctx.by_kind("Kustomization")
            if m.ref.group == "kustomize.toolkit.fluxcd.io" and as_dict(m.obj.get("spec")).get("postBuild")
        ),
        key=lambda m: (m.ref.namespace or "", m.ref.name),
    )
    if not substituting:
        return
    release = flux_release(ctx.terraform)
    if release is None or release.enabled(STRICT_SUBSTITUTIONS):
        return
    names = ", ".join(m.ref.name for m in substituting)
    yield Finding(
        ID,
        SEVERITY,
        f"the flux2 helm_release runs kustomize-controller without --feature-gates={STRICT_SUBSTITUTIONS}=true, "
        f"while Kustomization(s) {names} substitute variables: an unset ${{var}} would be applied as an empty "
        "string; add the flag to kustomizeController.container.additionalArgs in the release's values",
        cluster=ctx.name,
        file=release.file,
        line=release.line_of(STRICT_SUBSTITUTIONS),
        object=substituting[0].ref,
    )
