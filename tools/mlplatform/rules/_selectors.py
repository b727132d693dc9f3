"""Label selectors (metav1.LabelSelector) and the objects that target a workload (autoscalers, PDBs)."""

from __future__ import annotations

from typing import Any

from ..model import Manifest


def selector_matches(selector: Any, labels: dict[str, str]) -> bool:
    """metav1.LabelSelector semantics: an empty selector matches everything; null or malformed, nothing."""
    if not isinstance(selector, dict):
        return False
    match_labels = selector.get("matchLabels") or {}
    expressions = selector.get("matchExpressions") or []
    if not isinstance(match_labels, dict) or not isinstance(expressions, list):
        return False
    for key, value in match_labels.items():
        if labels.get(key) != str(value):
            return False
    for expr in expressions:
        if not isinstance(expr, dict) or not isinstance(expr.get("key"), str):
            return False
        key, op = expr["key"], expr.get("operator")
        raw = expr.get("values") or []
        values = [str(v) for v in raw] if isinstance(raw, list) else []
        present = key in labels
        outcome: dict[object, bool] = {  # op may be anything the YAML holds
            "In": present and labels.get(key) in values,
            "NotIn": not present or labels.get(key) not in values,
            "Exists": present,
            "DoesNotExist": not present,
        }
        if not outcome.get(op, False):
            return False
    return True


def targets(manifest: Manifest, target: Any, default_kind: str) -> bool:
    """Does a scaleTargetRef-like {kind, name} in the autoscaler's namespace point at `manifest`?"""
    if not isinstance(target, dict):
        return False
    kind = target.get("kind") or default_kind
    return kind == manifest.ref.kind and target.get("name") == manifest.ref.name
