"""The rules' parameters in policies/*.yaml: each declared once, with its type, its default and its rule.

The policy files are repository content (a pull request edits them), so a value of the wrong type or range is
a finding at its file and line (`policy/invalid-parameter`) and the rule runs with the default; a key no rule
reads is a finding too (`policy/unknown-parameter`: most often a misspelt parameter that silently does
nothing). Rules read the validated values and hold no defaults of their own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..model import Finding, Severity
from ..suggest import did_you_mean
from ..yamlio import plain

RULE_INVALID = "policy/invalid-parameter"
RULE_UNKNOWN = "policy/unknown-parameter"


class BadParameter(Exception):  # noqa: N818 - a value a parser rejects, not an error of the tool
    """The message says what the parameter needs; `at` is the path inside the value to the part at fault
    (its line is the finding's line)."""

    def __init__(self, message: str, at: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.at = at


Parse = Callable[[Any], Any]


def whole_number(low: int, high: int = 2**31 - 1) -> Parse:
    def parse(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise BadParameter(f"a whole number from {low} to {high}")
        return value
    return parse


def flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise BadParameter("true or false")
    return value


def text(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise BadParameter("a non-empty string")
    return value


def texts(value: Any) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise BadParameter("a non-empty list of strings")
    return list(value)


def span(low: int, high: int) -> Parse:
    """{min: a, max: b} with low <= a <= b <= high."""
    def parse(value: Any) -> dict[str, int]:
        expected = f"{{min: N, max: M}} with {low} <= N <= M <= {high}"
        if not isinstance(value, dict) or set(value) != {"min", "max"}:
            raise BadParameter(expected)
        lo, hi = value["min"], value["max"]
        if any(isinstance(v, bool) or not isinstance(v, int) for v in (lo, hi)) or not low <= lo <= hi <= high:
            raise BadParameter(expected)
        return {"min": lo, "max": hi}
    return parse


def record(fields: dict[str, Parse], optional: frozenset[str] = frozenset()) -> Parse:
    """A mapping with exactly these keys (those in `optional` may be left out), each checked by its parser."""
    def parse(value: Any) -> dict[str, Any]:
        expected = f"a mapping with {', '.join(fields)}"
        if not isinstance(value, dict) or not set(fields) - optional <= set(value) or not set(value) <= set(fields):
            raise BadParameter(expected)
        out = {}
        for k, v in value.items():
            try:
                out[k] = fields[k](v)
            except BadParameter as exc:
                raise BadParameter(f"{expected} ({k}: {exc})", at=(k, *exc.at)) from None
        return out
    return parse


def mapping_of(row: Parse) -> Parse:
    def parse(value: Any) -> dict[str, Any]:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise BadParameter("a mapping")
        out = {}
        for k, v in value.items():
            try:
                out[k] = row(v)
            except BadParameter as exc:
                raise BadParameter(f"a mapping of name to {exc}", at=(k, *exc.at)) from None
        return out
    return parse


def list_of_mappings(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise BadParameter("a list of mappings")
    return plain(value)  # type: ignore[no-any-return]


def any_mapping(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadParameter("a mapping")
    return plain(value)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Param:
    key: str  # dotted path in its file: "restart.min_backoff_limit"
    parse: Parse
    default: Any
    rules: str  # the rule(s) that read it (for the finding and docs/policies)


WORKLOAD_CHECKS = (
    Param("checkpoint.annotation", text, "mlplatform.example.com/checkpoint-path", "spot-checkpoint"),
    Param("checkpoint.volume_names", texts, ["checkpoints", "checkpoint"], "spot-checkpoint"),
    Param("checkpoint.durable_volume_sources", texts, ["persistentVolumeClaim", "ephemeral", "csi"],
          "spot-checkpoint"),
    Param("restart.training_job_restart_policies", texts, ["OnFailure", "ExitCode", "Always"], "spot-restart"),
    # Kubernetes' own default backoffLimit is 6; 1 is the least that restarts a Job at all
    Param("restart.min_backoff_limit", whole_number(0), 1, "spot-restart"),
    Param("required_requests", texts, ["cpu", "memory"], "resources-missing"),
    Param("required_limits", texts, ["memory"], "resources-missing"),
    Param("builtin_priority_classes", texts, ["system-cluster-critical", "system-node-critical"],
          "priority-class-exists"),
)

GPU_SHARING = (
    Param("time_slicing_replicas", span(2, 1024), {"min": 2, "max": 8}, "pool-sharing-range"),
    Param("mig_instances_per_gpu", span(1, 7), {"min": 1, "max": 7}, "pool-sharing-range"),
    # memory_cap has its own parser with lines per mechanism (_memory_caps.py); here only its place is declared
    Param("memory_cap", any_mapping, None, "gpu-memory-uncapped"),
    Param("device_plugin_configmap", record({"namespace": text, "name": text, "default_key": text},
                                            frozenset({"namespace", "default_key"})),
          {"name": "device-plugin-config", "default_key": "default"}, "sharing-config-drift"),
    Param("mig_parted_configmap", record({"namespace": text, "name": text, "key": text},
                                         frozenset({"namespace", "key"})),
          {"name": "mig-parted-config", "key": "config.yaml"}, "sharing-config-drift"),
    Param("mig_strategy", text, "mixed", "sharing-config-drift"),
    Param("fail_requests_greater_than_one", flag, True, "sharing-config-drift"),
    Param("gpu_taint_keys", texts, ["gpu", "nvidia.com/gpu"], "cpu-tolerates-gpu-taint, gpu-toleration-too-broad"),
)

GPU_DAEMONSETS = (
    Param("daemonsets", list_of_mappings, [], "gpu-daemonset-coverage, gpu-daemonset-on-cpu-pool"),
    Param("helm_charts", any_mapping, {}, "gpu-daemonset-coverage, gpu-daemonset-on-cpu-pool"),
)

# policy file -> its parameters (workload-pools.yaml has its own structured loader in _policy.py)
PARAMETERS: dict[str, tuple[Param, ...]] = {
    "workload-checks.yaml": WORKLOAD_CHECKS,
    "gpu-sharing.yaml": GPU_SHARING,
    "gpu-daemonsets.yaml": GPU_DAEMONSETS,
}


class _Unparseable:
    """A value no parser accepts: its rejection message is the parameter's expected type, in words."""


def expected(param: Param) -> str:
    """What the parameter takes ("a whole number from 0 to ...") for the catalog and docs/rules.md."""
    try:
        param.parse(_Unparseable())
    except BadParameter as exc:
        return str(exc)
    return "any value"


def defaults(params: tuple[Param, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for param in params:
        _put(out, param.key, _copy(param.default))
    return out


def validate(raw: Any, params: tuple[Param, ...], file: str) -> tuple[dict[str, Any], list[Finding]]:
    """The file's parameters, every one present (default where absent or invalid), and the findings."""
    values = defaults(params)
    findings: list[Finding] = []
    declared = {p.key: p for p in params}
    sections = {p.key.rsplit(".", 1)[0] for p in params if "." in p.key}

    def unknown(mapping: Any, prefix: str) -> None:
        known = [k.split(".")[prefix.count(".")] for k in declared if k.startswith(prefix)]
        for key in mapping:
            if str(key) not in known:
                name = f"{prefix}{key}"
                findings.append(Finding(RULE_UNKNOWN, Severity.ERROR,
                                        f"{name}: no rule reads this parameter{did_you_mean(str(key), known)}",
                                        file=file, line=_line(mapping, key)))

    if not isinstance(raw, dict):
        return values, findings
    unknown(raw, "")
    for section in sorted(sections):
        node = raw.get(section)
        if node is None:
            continue
        if not isinstance(node, dict):
            findings.append(Finding(RULE_INVALID, Severity.ERROR, f"{section}: expected a mapping of parameters; "
                                    "the defaults are used", file=file, line=_line(raw, section)))
            continue
        unknown(node, f"{section}.")
    for param in params:
        parent, found, node, leaf = raw, True, raw, param.key
        for part in param.key.split("."):
            parent, leaf = node, part
            if not isinstance(node, dict) or part not in node:
                found = False
                break
            node = node[part]
        if not found or node is None:
            continue
        try:
            _put(values, param.key, param.parse(node))
        except BadParameter as exc:
            findings.append(Finding(
                RULE_INVALID, Severity.ERROR,
                f"{'.'.join((param.key, *exc.at))}: expected {exc}, got {_describe(_inside(node, exc.at))}; "
                f"rule {param.rules} uses the default {_show(param.default)}",
                file=file, line=_line_inside(parent, leaf, exc.at)))
    return values, findings


def _line(mapping: Any, key: Any) -> int:
    return mapping.line_of(key) if hasattr(mapping, "line_of") else 1


def _inside(node: Any, at: tuple[str, ...]) -> Any:
    for key in at:
        if not isinstance(node, dict) or key not in node:
            break
        node = node[key]
    return node


def _line_inside(parent: Any, leaf: str, at: tuple[str, ...]) -> int:
    """The line of the most precise part of the value a person edits: the key at fault inside it."""
    line = _line(parent, leaf)
    node = parent[leaf]
    for key in at:
        if not isinstance(node, dict) or key not in node:
            break
        line, node = _line(node, key), node[key]
    return line


def _put(target: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    for part in parents:
        target = target.setdefault(part, {})
    target[leaf] = value


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    return list(value) if isinstance(value, list) else value


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    shown = repr(value)
    return shown if len(shown) <= 40 else shown[:37] + "..."


def _show(value: Any) -> str:
    shown = repr(plain(value))
    return shown if len(shown) <= 60 else shown[:57] + "..."
