"""The Flux a cluster's Terraform installs, and the feature gates its kustomize-controller runs with.

This repository bootstraps Flux with Terraform (`helm_release` of the fluxcd-community `flux2` chart, see
terraform/modules/flux-bootstrap). The chart appends `kustomizeController.container.additionalArgs` to the
controller's arguments (fluxcd-community/helm-charts, charts/flux2/templates/kustomize-controller.yaml at
flux2-2.18.3), so a feature gate is on when one of those arguments is `--feature-gates=<Gate>=true,...`.
Repeated `--feature-gates` flags add up (k8s.io/component-base MapStringBool, used by fluxcd/pkg/runtime
features), so every such argument counts.

Values are read from what python-hcl2 gives: a `yamlencode({...})` expression, a literal YAML string (heredoc)
or `set` entries. Values computed elsewhere (a variable, `file(...)`) are not followed: the gate then reads
as off, and the finding says where to put it.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import InputError
from .terraform import TerraformConfig, TfBlock, load_terraform, unquote

FLUX_CHART = "flux2"
STRICT_SUBSTITUTIONS = "StrictPostBuildSubstitutions"
_GATES_ARG = re.compile(r"--feature-gates=([A-Za-z0-9_=,]+)")
_CONTROLLER_KEY = re.compile(r"""["']?kustomizeController["']?\s*[=:]\s*\{""")
_ARGS_PATH = "kustomizeController.container.additionalArgs"


@dataclass
class FluxRelease:
    """The helm_release that installs the Flux controllers, with the kustomize-controller gates it sets."""

    file: str
    line: int
    gates: dict[str, bool] = field(default_factory=dict)
    gate_lines: dict[str, int] = field(default_factory=dict)

    def enabled(self, gate: str) -> bool:
        return self.gates.get(gate, False)

    def line_of(self, gate: str) -> int:
        return self.gate_lines.get(gate, self.line)


def flux_release(tf: TerraformConfig | None) -> FluxRelease | None:
    """The cluster's flux2 helm_release, or None when its Terraform does not install Flux with that chart."""
    if tf is None:
        return None
    for block in tf.resources("helm_release"):
        if unquote(block.body.get("chart")) != FLUX_CHART:
            continue
        tf_file = tf.file(block.file)
        start = tf_file.block_line("resource", "helm_release", block.name)
        release = FluxRelease(block.file, start, gates=_gates(block))
        for gate in release.gates:
            # the flag itself, not a comment that names the gate
            release.gate_lines[gate] = tf_file.line_of(r"--feature-gates=[A-Za-z0-9_=,]*" + re.escape(gate), start)
        return release
    return None


def strict_substitutions(repo: Path, cluster: str) -> tuple[bool, str] | None:
    """Whether the bootstrapped kustomize-controller substitutes strictly, with "file:line" saying where.

    None when it cannot be known offline: no Terraform for the cluster, Terraform that does not parse (its
    own finding reports that), or Flux installed some other way."""
    try:
        release = flux_release(load_terraform(repo, cluster))
    except InputError:
        return None
    if release is None:
        return None
    enabled = release.enabled(STRICT_SUBSTITUTIONS)
    return enabled, f"{release.file}:{release.line_of(STRICT_SUBSTITUTIONS) if enabled else release.line}"


def _gates(block: TfBlock) -> dict[str, bool]:
    args: list[str] = []
    for item in _as_list(block.body.get("values")):
        args += _args_in_values(item)
    for entry in _as_list(block.body.get("set")):
        args += _args_in_set(entry)
    gates: dict[str, bool] = {}
    for arg in args:
        for match in _GATES_ARG.finditer(arg):
            for pair in match.group(1).split(","):
                name, _, value = pair.partition("=")
                if name:
                    gates[name] = value.lower() == "true"
    return gates


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _args_in_values(item: Any) -> list[str]:
    """kustomize-controller's additional arguments in one `values` entry."""
    if isinstance(item, dict):
        return _args_in_mapping(item)
    if not isinstance(item, str):
        return []
    if item.startswith("${"):  # an HCL expression, typically yamlencode({...}): read its kustomizeController block
        return [_controller_block(item)]
    text = unquote(item)
    if text.startswith("<<"):  # a heredoc: python-hcl2 keeps its opening and closing marker lines
        text = "\n".join(text.splitlines()[1:-1])
    try:
        data = yaml.safe_load(textwrap.dedent(text))
    except yaml.YAMLError:
        return []
    return _args_in_mapping(data) if isinstance(data, dict) else []


def _args_in_mapping(data: dict[str, Any]) -> list[str]:
    node: Any = data
    for key in _ARGS_PATH.split("."):
        node = node.get(key) if isinstance(node, dict) else None
    return [str(unquote(a)) for a in node] if isinstance(node, list) else []


def _controller_block(expression: str) -> str:
    """The text of the `kustomizeController = {...}` object inside an HCL expression ("" when absent)."""
    match = _CONTROLLER_KEY.search(expression)
    if match is None:
        return ""
    depth, start = 0, match.end() - 1
    for position in range(start, len(expression)):
        char = expression[position]
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return expression[start : position + 1]
    return expression[start:]


def _args_in_set(entry: Any) -> list[str]:
    """`set` entries (helm provider 3: a list of {name, value}) that add kustomize-controller arguments."""
    if isinstance(entry, dict):
        name, value = str(unquote(entry.get("name")) or ""), unquote(entry.get("value"))
        return [str(value)] if name.startswith(_ARGS_PATH) and value is not None else []
    if isinstance(entry, str):  # the whole list as one expression: keep the pairs that name the arguments
        pairs = re.findall(r'name\s*=\s*"([^"]*)"\s*,?\s*value\s*=\s*"([^"]*)"', entry)
        return [value for name, value in pairs if name.startswith(_ARGS_PATH)]
    return []
