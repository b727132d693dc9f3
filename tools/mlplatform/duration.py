"""Durations as Flux writes them (Go's time.ParseDuration, restricted by the Flux CRDs to ms, s, m and h).

The CRD pattern of every Flux timeout and interval is `^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$`
(fluxcd/kustomize-controller v1.8.3 api/v1/kustomization_types.go, fluxcd/helm-controller v1.5.3
api/v2/helmrelease_types.go). Anything else is a schema error, reported by schema validation; here it is None.
"""

from __future__ import annotations

import re
from typing import Any

_WHOLE = re.compile(r"^(?:[0-9]+(?:\.[0-9]+)?(?:ms|s|m|h))+$")
_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: Any) -> float | None:
    """Seconds of a duration such as "1h30m", "10m0s" or "1.5h"; None when it is not one."""
    if not isinstance(value, str) or not _WHOLE.match(value):
        return None
    return sum(float(number) * _SECONDS[unit] for number, unit in _PART.findall(value))


def format_duration(seconds: float) -> str:
    """The shortest Go-style spelling of whole seconds: 1230 -> "20m30s", 3600 -> "1h"."""
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "") + (f"{secs}s" if secs else "")
    return text or "0s"
