"""A Flux Kustomization that stops waiting before a HelmRelease (or Kustomization) it waits for may be done."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..duration import format_duration, parse_duration
from ..model import Finding, Manifest, Severity
from ..provenance import field_line
from ._base import RuleContext, as_dict, as_list

ID = "policy/flux-timeout-shorter-than-helmrelease"
TITLE = "Flux Kustomization times out before a release it waits for"
SEVERITY = Severity.ERROR
FIXABLE = False
RATIONALE = (
    "A Flux Kustomization with wait: true (or healthChecks) waits for the HelmReleases and Kustomizations it "
    "applies for at most its spec.timeout (default: its interval minus 30s, at least 30s; kustomize-controller "
    "v1.8.3 GetTimeout). A HelmRelease may legitimately take its own timeout (default 5m; install, upgrade "
    "and test timeouts override it; helm-controller v1.5.3), and one that dependsOn another release of the "
    "same Kustomization starts only after that one is Ready, up to 30s later (--requeue-dependency). When "
    "the Kustomization gives up first, it reports Ready=False while the release is still installing, and "
    "every Kustomization that dependsOn it stays blocked until the next retry. The bound counted here is "
    "one attempt per release: remediation retries, slow image pulls and node scale-up can take longer, "
    "which only a real cluster shows."
)
REMEDIATION = "Raise the Kustomization's spec.timeout above the HelmReleases' timeouts it waits for."

KUSTOMIZE_GROUP = "kustomize.toolkit.fluxcd.io"
HELM_GROUP = "helm.toolkit.fluxcd.io"
HELM_DEFAULT_TIMEOUT = 300.0  # helm-controller v1.5.3 api/v2: HelmRelease.GetTimeout
REQUEUE_DEPENDENCY = 30.0  # --requeue-dependency default, helm-controller v1.5.3 and kustomize-controller v1.8.3
MIN_TIMEOUT = 30.0  # kustomize-controller v1.8.3 api/v1: Kustomization.GetTimeout never returns less


def _group(manifest: Manifest) -> str:
    return manifest.ref.group


def _spec(manifest: Manifest) -> dict[str, Any]:
    return as_dict(manifest.obj.get("spec"))


def kustomization_timeout(spec: dict[str, Any]) -> tuple[float, str] | None:
    """(seconds, where it comes from) as kustomize-controller computes it; None when it cannot be read."""
    if spec.get("timeout") is not None:
        timeout = parse_duration(spec.get("timeout"))
        return None if timeout is None else (max(timeout, MIN_TIMEOUT), "spec.timeout")
    interval = parse_duration(spec.get("interval"))
    if interval is None:
        return None
    return max(interval - 30.0, MIN_TIMEOUT), "no spec.timeout: its interval minus 30s"


def release_time(spec: dict[str, Any]) -> float:
    """The longest one attempt of a HelmRelease may take: install or upgrade, then its tests if enabled."""
    base = parse_duration(spec.get("timeout")) or HELM_DEFAULT_TIMEOUT
    install = parse_duration(as_dict(spec.get("install")).get("timeout")) or base
    upgrade = parse_duration(as_dict(spec.get("upgrade")).get("timeout")) or base
    test = as_dict(spec.get("test"))
    tests = (parse_duration(test.get("timeout")) or base) if test.get("enable") is True else 0.0
    return max(install, upgrade) + tests


@dataclass
class _Waited:
    """One Flux object the parent waits for: its own time, and what it dependsOn among the waited."""

    manifest: Manifest
    own: float
    depends_on: list[tuple[str, str]] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.manifest.ref} ({format_duration(self.own)})"


def _waited_for(parent: Manifest, applied: list[Manifest]) -> list[Manifest]:
    """What kustomize-controller health-checks: everything with wait: true, else the healthChecks entries."""
    spec = _spec(parent)
    if spec.get("wait") is True:
        return applied
    wanted = set()
    for ref in as_list(spec.get("healthChecks")):
        ref = as_dict(ref)
        # an entry without apiVersion means apps/v1 (v1beta1 compatibility in kustomize-controller's inventory)
        api_version = str(ref.get("apiVersion") or "apps/v1")
        group = api_version.split("/", 1)[0] if "/" in api_version else ""
        wanted.add((group, str(ref.get("kind") or ""), ref.get("namespace") or None, str(ref.get("name") or "")))
    return [m for m in applied if (m.ref.group, m.ref.kind, m.ref.namespace, m.ref.name) in wanted]


def _timed(manifest: Manifest) -> _Waited | None:
    """A waited object that has a duration of its own: a HelmRelease or a Flux Kustomization."""
    spec, ref = _spec(manifest), manifest.ref
    if ref.kind == "HelmRelease" and ref.group == HELM_GROUP:
        own = release_time(spec)
    elif ref.kind == "Kustomization" and ref.group == KUSTOMIZE_GROUP:
        timeout = kustomization_timeout(spec)
        if timeout is None:
            return None
        own = timeout[0]
    else:
        return None
    depends = []
    for dep in as_list(spec.get("dependsOn")):
        dep = as_dict(dep)
        if dep.get("name"):
            depends.append((str(dep.get("namespace") or ref.namespace or ""), str(dep["name"])))
    return _Waited(manifest, own, depends)


def _longest_chains(waited: list[_Waited]) -> dict[tuple[str, str], tuple[float, list[_Waited]]]:
    """For each object, the longest it may take counting the dependsOn chain inside the same Kustomization.

    A dependency applied by another Kustomization is not counted: dependsOn between Kustomizations orders
    those. A dependsOn cycle is cut where it closes (flux/dependency-cycle reports Kustomization cycles)."""
    by_key = {(w.manifest.ref.namespace or "", w.manifest.ref.name): w for w in waited}
    done: dict[tuple[str, str], tuple[float, list[_Waited]]] = {}
    visiting: set[tuple[str, str]] = set()

    def need(key: tuple[str, str]) -> tuple[float, list[_Waited]]:
        if key in done:
            return done[key]
        item = by_key[key]
        visiting.add(key)
        best: tuple[float, list[_Waited]] = (0.0, [])
        for dep in item.depends_on:
            if dep in by_key and dep not in visiting:
                seconds, chain = need(dep)
                if seconds + REQUEUE_DEPENDENCY > best[0]:
                    best = (seconds + REQUEUE_DEPENDENCY, chain)
        visiting.discard(key)
        done[key] = (best[0] + item.own, [*best[1], item])
        return done[key]

    for key in by_key:
        need(key)
    return done


def _explain(chain: list[_Waited]) -> str:
    if len(chain) == 1:
        return f"its timeout is {format_duration(chain[0].own)}"
    steps = f", then up to {format_duration(REQUEUE_DEPENDENCY)} until the dependency is rechecked, then ".join(
        w.label for w in chain
    )
    return f"it dependsOn a chain in the same Kustomization: {steps}"


def check(ctx: RuleContext) -> Iterator[Finding]:
    parents = [m for m in ctx.by_kind("Kustomization") if _group(m) == KUSTOMIZE_GROUP]
    if not parents:
        return
    # Provenance names the Flux Kustomization by name only; same-named Kustomizations in two namespaces
    # would share their objects here (this repository keeps every Flux Kustomization in flux-system).
    applied_by: dict[str, list[Manifest]] = {}
    for manifest in ctx.manifests:
        if manifest.source.flux_kustomization:
            applied_by.setdefault(manifest.source.flux_kustomization, []).append(manifest)
    for parent in parents:
        spec = _spec(parent)
        if spec.get("wait") is not True and not as_list(spec.get("healthChecks")):
            continue
        timeout = kustomization_timeout(spec)
        if timeout is None:
            continue  # schema validation reports a malformed duration
        limit, origin = timeout
        waited = [w for m in _waited_for(parent, applied_by.get(parent.ref.name, [])) if (w := _timed(m))]
        chains = _longest_chains(waited)
        late = sorted((v for v in chains.values() if v[0] > limit), key=lambda v: (-v[0], str(v[1][-1].manifest.ref)))
        if not late:
            continue
        seconds, chain = late[0]
        more = f" ({len(late) - 1} more waited-for object(s) exceed it too)" if len(late) > 1 else ""
        message = (
            f"Kustomization {parent.ref.namespace or 'flux-system'}/{parent.ref.name} waits at most "
            f"{format_duration(limit)} ({origin}) for what it applies, but {chain[-1].manifest.ref} may take "
            f"{format_duration(seconds)}: {_explain(chain)}{more}; set spec.timeout to at least "
            f"{format_duration(seconds)}"
        )
        if found := ctx.emit(ID, SEVERITY, parent, message):
            found.line = field_line(parent, "spec.timeout" if spec.get("timeout") is not None else "spec.interval")
            yield found
