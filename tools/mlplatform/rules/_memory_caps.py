"""The GPU memory caps the rule gpu-memory-uncapped recognises: policies/gpu-sharing.yaml `memory_cap`.

A cap counts only where the program that reads it runs: a flag of vLLM in a container that runs vLLM, an
environment variable of our launcher in a container whose command runs the launcher. Each mechanism names
the program (substrings of the container's image, command or args), the flags and variables it reads, the
unit of their value and the upstream source that says the program enforces it. `not_caps` are settings that
look like caps but that nothing enforces; findings name them so that nobody takes them for one again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from ..errors import InputError

UNITS = ("fraction", "MB")


@dataclass(frozen=True)
class Mechanism:
    name: str
    runs: tuple[str, ...]
    args: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    unit: str = "fraction"
    source: str = ""

    def runs_in(self, program_text: str) -> bool:
        return any(marker in program_text for marker in self.runs)


@dataclass(frozen=True)
class MemoryCapPolicy:
    mechanisms: tuple[Mechanism, ...]
    not_caps: dict[str, str] = field(default_factory=dict)

    @cached_property
    def _markers(self) -> tuple[tuple[str, int], ...]:
        """(marker, index of its mechanism), flat: the rule asks this for every GPU container."""
        return tuple((marker, i) for i, m in enumerate(self.mechanisms) for marker in m.runs)

    def running(self, program_text: str) -> list[Mechanism]:
        """The mechanisms whose program the text (image, command, args) names, in policy order."""
        found = {i for marker, i in self._markers if marker in program_text}
        return [self.mechanisms[i] for i in sorted(found)]


# Without policies/: the two public servers whose flags are documented upstream (sources as in the policy).
DEFAULT = MemoryCapPolicy(
    mechanisms=(
        Mechanism("vllm", ("vllm/vllm-openai", "vllm serve", "vllm.entrypoints"), ("--gpu-memory-utilization",),
                  source="vLLM engine arguments: --gpu-memory-utilization"),
        Mechanism("text-generation-inference", ("huggingface/text-generation-inference", "text-generation-launcher"),
                  ("--cuda-memory-fraction",), ("CUDA_MEMORY_FRACTION",),
                  source="text-generation-inference launcher/src/main.rs: --cuda-memory-fraction"),
    ),
)


def _line(node: Any, key: Any = None) -> int:
    if key is not None and hasattr(node, "line_of"):
        return node.line_of(key) or 1
    return getattr(node, "line", 0) or 1


def _strings(node: Any, key: str, where: str, file: str, line: int, required: bool = False) -> tuple[str, ...]:
    value = node.get(key)
    if value is None and not required:
        return ()
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        raise InputError(f"{where}.{key}: expected a non-empty list of strings", file, line)
    return tuple(value)


def parse(raw: Any, file: str) -> MemoryCapPolicy:
    """`memory_cap` of the policy file (line-numbered maps from yamlio) -> MemoryCapPolicy; InputError if malformed."""
    if raw is None:
        return DEFAULT
    if not isinstance(raw, dict):
        raise InputError("memory_cap: expected a mapping with a 'mechanisms' list", file, _line(raw))
    items = raw.get("mechanisms")
    if not isinstance(items, list) or not items:
        raise InputError("memory_cap.mechanisms: expected a non-empty list", file, _line(raw, "mechanisms"))
    mechanisms = []
    for i, item in enumerate(items):
        where = f"memory_cap.mechanisms[{i}]"
        line = items.item_lines[i] if hasattr(items, "item_lines") and i < len(items.item_lines) else _line(items)
        if not isinstance(item, dict):
            raise InputError(f"{where}: expected a mapping", file, line)
        line = _line(item) or line
        name = item.get("name")
        if not isinstance(name, str) or not name:
            raise InputError(f"{where}.name: expected a string", file, line)
        unit = item.get("unit", "fraction")
        if unit not in UNITS:
            message = f"{where}.unit: expected one of {', '.join(UNITS)}, got {unit!r}"
            raise InputError(message, file, _line(item, "unit"))
        source = item.get("source")
        if not isinstance(source, str) or not source.strip():
            raise InputError(f"{where}.source: say where upstream documents the setting", file, line)
        mechanism = Mechanism(
            name=name,
            runs=_strings(item, "runs", where, file, _line(item, "runs"), required=True),
            args=_strings(item, "args", where, file, _line(item, "args")),
            env=_strings(item, "env", where, file, _line(item, "env")),
            unit=unit,
            source=" ".join(source.split()),
        )
        if not mechanism.args and not mechanism.env:
            raise InputError(f"{where}: name the 'args' or 'env' the program reads", file, line)
        mechanisms.append(mechanism)
    not_caps = raw.get("not_caps") or {}
    if not isinstance(not_caps, dict) or not all(isinstance(v, str) for v in not_caps.values()):
        raise InputError("memory_cap.not_caps: expected a mapping of setting to reason", file, _line(raw, "not_caps"))
    return MemoryCapPolicy(tuple(mechanisms), {str(k): " ".join(v.split()) for k, v in not_caps.items()})
