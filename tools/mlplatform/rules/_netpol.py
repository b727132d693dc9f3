"""Whether the cluster's NetworkPolicies let one pod reach another on a port (networking.k8s.io/v1 semantics).

A pod is isolated for a direction when some policy of its namespace selects it and lists that direction in
policyTypes (Ingress always when policyTypes is absent, Egress when an egress section is present); traffic
then needs a rule of such a policy that admits the peer and the port, on both ends. ipBlock peers are not
counted: whether they apply to pod IPs is up to the network plugin, so only a cluster shows it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..model import Manifest
from ._selectors import selector_matches

NAME_LABEL = "kubernetes.io/metadata.name"  # the API server sets it on every Namespace


@dataclass(frozen=True)
class Endpoint:
    namespace: str
    labels: dict[str, str]
    namespace_labels: dict[str, str]


def namespace_labels(namespaces: list[Manifest], name: str) -> dict[str, str]:
    for ns in namespaces:
        if ns.ref.name == name:
            return {**ns.labels, NAME_LABEL: name}
    return {NAME_LABEL: name}


def _types(spec: dict[str, Any]) -> list[str]:
    types = spec.get("policyTypes")
    if isinstance(types, list):
        return [str(t) for t in types]
    return ["Ingress"] + (["Egress"] if spec.get("egress") is not None else [])


def _peer_admits(peer: Any, policy_namespace: str, other: Endpoint) -> bool:
    if not isinstance(peer, dict) or "ipBlock" in peer:
        return False
    ns_selector, pod_selector = peer.get("namespaceSelector"), peer.get("podSelector")
    if ns_selector is None:
        in_namespace = other.namespace == policy_namespace
    else:
        in_namespace = selector_matches(ns_selector, other.namespace_labels)
    return in_namespace and (pod_selector is None or selector_matches(pod_selector, other.labels))


def _port_admits(ports: Any, port: int, port_name: str | None, protocol: str) -> bool:
    if not ports:
        return True
    for entry in ports if isinstance(ports, list) else []:
        if not isinstance(entry, dict) or str(entry.get("protocol") or "TCP") != protocol:
            continue
        value = entry.get("port")
        if value is None or value == port or (port_name is not None and value == port_name):
            return True
        end = entry.get("endPort")
        if isinstance(value, int) and isinstance(end, int) and value <= port <= end:
            return True
    return False


def isolating(policies: list[Manifest], subject: Endpoint, direction: str) -> list[Manifest]:
    """The policies that isolate `subject` in `direction` ("Ingress" or "Egress")."""
    found = []
    for policy in policies:
        spec = policy.obj.get("spec")
        if policy.ref.namespace != subject.namespace or not isinstance(spec, dict):
            continue
        if direction in _types(spec) and selector_matches(spec.get("podSelector"), subject.labels):
            found.append(policy)
    return found


def allows(
    policies: list[Manifest], subject: Endpoint, direction: str, other: Endpoint, port: int,
    port_name: str | None = None, protocol: str = "TCP",
) -> tuple[bool, list[Manifest]]:
    """(allowed, the isolating policies) for traffic of `subject` in `direction` with `other` on `port`."""
    isolated = isolating(policies, subject, direction)
    if not isolated:
        return True, []
    section, side = ("egress", "to") if direction == "Egress" else ("ingress", "from")
    for policy in isolated:
        for rule in policy.obj["spec"].get(section) or []:
            if not isinstance(rule, dict):
                continue
            peers = rule.get(side)
            peer_ok = not peers or any(_peer_admits(p, subject.namespace, other) for p in peers)
            if peer_ok and _port_admits(rule.get("ports"), port, port_name, protocol):
                return True, isolated
    return False, isolated
