"""Mutations of a copy of this repository: each is reported as an error on the mutated object, with its file.

The targets are found by kind and labels (the apps move; their roles do not), mutated with ruamel.yaml, and
one `mlplatform check --format json` of the copy must report every mutation. The unmutated repository passes
every policy rule (test_repository_passes_the_policy_rules).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from helpers import run_cli
from mlplatform.rules import RULES_BY_ID

TYPE_LABEL = "mlplatform.example.com/workload-type"


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    return yaml


def _templates(obj: Any) -> list[dict]:
    """Pod templates of the kinds the apps use (enough to find targets; the tool itself uses workloads.py)."""
    spec = obj.get("spec") or {}
    if obj.get("kind") in ("Deployment", "StatefulSet", "Job"):
        return [spec.get("template") or {}]
    if obj.get("kind") == "CronJob":
        return [((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}]
    if obj.get("kind") in ("PyTorchJob", "TFJob"):
        replica_specs = spec.get("pytorchReplicaSpecs") or spec.get("tfReplicaSpecs") or {}
        return [r.get("template") or {} for r in replica_specs.values()]
    return []


def _type(obj: Any) -> str | None:
    for tpl in _templates(obj):
        value = ((tpl.get("metadata") or {}).get("labels") or {}).get(TYPE_LABEL)
        if value:
            return str(value)
    return None


def _limits(obj: Any) -> list[dict]:
    return [
        c.setdefault("resources", {}).setdefault("limits", {})
        for tpl in _templates(obj)
        for c in (tpl.get("spec") or {}).get("containers") or []
    ]


def _gpu_resources(obj: Any) -> set[str]:
    return {str(k) for limits in _limits(obj) for k in limits if str(k).startswith("nvidia.com/")}


def mutate(
    repo: Path, predicate: Callable[[Any], bool], change: Callable[[Any], Any], taken: set[tuple[str, str]]
) -> tuple[str, str, str]:
    """Apply `change` to the first matching document not mutated yet; returns (file, kind, name).

    `change` edits the document in place, or returns "delete" to drop it from its file.
    """
    yaml = _yaml()
    for path in sorted(repo.glob("apps/**/*.yaml")) + sorted(repo.glob("infrastructure/**/*.yaml")):
        docs = list(yaml.load_all(path.read_text()))
        for i, doc in enumerate(docs):
            if not isinstance(doc, dict) or not predicate(doc):
                continue
            key = (str(doc.get("kind")), str(doc["metadata"]["name"]))
            if key in taken:
                continue
            taken.add(key)
            if change(doc) == "delete":
                del docs[i]
            out = io.StringIO()
            yaml.dump_all(docs, out)
            path.write_text(out.getvalue())
            return path.relative_to(repo).as_posix(), key[0], key[1]
    raise AssertionError("no target for this mutation")


def _check(repo: Path, crd_schemas: Path, expect_exit: int) -> dict:
    proc = run_cli("check", "--repo", str(repo), "--format", "json", "--schema-location", str(crd_schemas))
    assert proc.returncode == expect_exit, proc.stderr + proc.stdout[-2000:]
    return json.loads(proc.stdout)


def _drop_gpu_toleration(doc: Any) -> None:
    for tpl in _templates(doc):
        tpl["spec"]["tolerations"] = [t for t in tpl["spec"].get("tolerations") or [] if t.get("key") != "gpu"]


def _mig_to_4g(doc: Any) -> None:
    for tpl in _templates(doc):
        for c in tpl["spec"]["containers"]:
            for table in ("requests", "limits"):
                values = (c.get("resources") or {}).get(table) or {}
                for key in [k for k in values if str(k).startswith("nvidia.com/mig-")]:
                    del values[key]
                    values["nvidia.com/mig-4g.40gb"] = 1


def _tolerate_gpu_exists(doc: Any) -> None:
    for tpl in _templates(doc):
        tpl["spec"].setdefault("tolerations", []).append({"key": "gpu", "operator": "Exists"})


def _two_gpus(doc: Any) -> None:
    for tpl in _templates(doc):
        for c in tpl["spec"]["containers"]:
            for table in ("requests", "limits"):
                values = (c.get("resources") or {}).get(table) or {}
                if "nvidia.com/gpu" in values:
                    values["nvidia.com/gpu"] = 2


def _no_checkpoint(doc: Any) -> None:
    (doc["metadata"].get("annotations") or {}).pop("mlplatform.example.com/checkpoint-path", None)
    for tpl in _templates(doc):
        (tpl.get("metadata") or {}).get("annotations", {}).pop("mlplatform.example.com/checkpoint-path", None)
        volumes = tpl["spec"].get("volumes") or []
        tpl["spec"]["volumes"] = [v for v in volumes if v.get("name") not in ("checkpoints", "checkpoint")]
        for c in tpl["spec"]["containers"]:
            c["volumeMounts"] = [
                m for m in c.get("volumeMounts") or [] if m.get("name") not in ("checkpoints", "checkpoint")
            ]


# The variables of policies/gpu-sharing.yaml memory_cap (TGI's, and those our trainer launchers read).
_CAP_VARIABLES = {"CUDA_MEMORY_FRACTION", "MLPLATFORM_GPU_MEMORY_FRACTION", "MLPLATFORM_GPU_MEMORY_LIMIT_MB"}


def _uncap(doc: Any) -> None:
    for tpl in _templates(doc):
        (tpl.get("metadata") or {}).get("annotations", {}).pop("mlplatform.example.com/gpu-memory-fraction", None)
        for c in tpl["spec"]["containers"]:
            for field in ("args", "command"):
                if c.get(field):
                    c[field] = [
                        a.replace("--gpu-memory-utilization", "--max-num-seqs").replace(
                            "--cuda-memory-fraction", "--max-batch-size"
                        )
                        for a in c[field]
                    ]
            c["env"] = [e for e in c.get("env") or [] if e.get("name") not in _CAP_VARIABLES]


def _operator_without_gpu_toleration(doc: Any) -> None:
    values = doc["spec"]["values"]
    values["daemonsets"]["tolerations"] = [t for t in values["daemonsets"]["tolerations"] if t.get("key") != "gpu"]


def test_each_mutation_is_an_error_on_the_mutated_object(repo_copy: Path, crd_schemas: Path):
    taken: set[tuple[str, str]] = set()
    expected: list[tuple[str, str, str, str]] = []  # (rule, file, kind, name)

    def expect(rule: str, predicate: Callable[[Any], bool], change: Callable[[Any], Any]) -> tuple[str, str, str]:
        file, kind, name = mutate(repo_copy, predicate, change, taken)
        expected.append((rule, file, kind, name))
        return file, kind, name

    def mig_inference(doc: Any) -> bool:
        return (
            doc.get("kind") == "Deployment"
            and _type(doc) == "production-inference"
            and any(r.startswith("nvidia.com/mig-") for r in _gpu_resources(doc))
        )

    # Remove the pool toleration of a production inference server: it fits no pool.
    expect("policy/fits-no-pool", mig_inference, _drop_gpu_toleration)
    # Request a MIG profile the MIG pool's layout lacks.
    expect("policy/mig-profile-not-offered", mig_inference, _mig_to_4g)
    # Tolerate `gpu` with Exists on a CPU-only workload.
    expect(
        "policy/cpu-tolerates-gpu-taint",
        lambda d: d.get("kind") == "Deployment" and _type(d) in ("mlops", "agents") and not _gpu_resources(d),
        _tolerate_gpu_exists,
    )
    # Ask for two time-sliced GPUs.
    expect(
        "policy/timeslice-multiple-gpus",
        lambda d: _type(d) == "batch-inference" and "nvidia.com/gpu" in _gpu_resources(d),
        _two_gpus,
    )
    # Drop the memory cap of a time-sliced GPU workload.
    expect(
        "policy/gpu-memory-uncapped",
        lambda d: _type(d) in ("training", "fine-tuning", "research") and "nvidia.com/gpu" in _gpu_resources(d),
        _uncap,
    )
    # Spot training without a checkpoint.
    expect("policy/spot-checkpoint", lambda d: _type(d) == "training-spot", _no_checkpoint)
    # The GPU operator's DaemonSets lose their toleration for the `gpu` taint.
    expect(
        "policy/gpu-daemonset-coverage",
        lambda d: (
            d.get("kind") == "HelmRelease" and d["spec"].get("chart", {}).get("spec", {}).get("chart") == "gpu-operator"
        ),
        _operator_without_gpu_toleration,
    )
    # Drop the PodDisruptionBudget of a production inference server not mutated above.
    yaml_targets = []
    for path in sorted(repo_copy.glob("apps/**/*.yaml")):
        for doc in _yaml().load_all(path.read_text()):
            if isinstance(doc, dict) and mig_inference(doc) and ("Deployment", doc["metadata"]["name"]) not in taken:
                yaml_targets.append((path.relative_to(repo_copy).as_posix(), doc))
    assert yaml_targets, "no production inference Deployment left to drop the PDB of"
    deployment_file, deployment = yaml_targets[0]
    labels = dict(deployment["spec"]["template"]["metadata"]["labels"])
    namespace = deployment["metadata"].get("namespace")

    def protects(doc: Any) -> bool:
        selector = ((doc.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        return (
            doc.get("kind") == "PodDisruptionBudget"
            and doc["metadata"].get("namespace") == namespace
            and bool(selector)
            and all(labels.get(k) == v for k, v in selector.items())
        )

    mutate(repo_copy, protects, lambda doc: "delete", taken)
    expected.append(("policy/ha-pdb", deployment_file, "Deployment", deployment["metadata"]["name"]))

    findings = _check(repo_copy, crd_schemas, expect_exit=1)["findings"]
    for rule, file, kind, name in expected:
        hits = [
            f
            for f in findings
            if f["rule"] == rule
            and f["severity"] == "error"
            and f["file"] == file
            and (f["object"] or {}).get("kind") == kind
            and (f["object"] or {}).get("name") == name
        ]
        assert hits, f"{rule} not reported on {kind} {name} in {file}: " + json.dumps(
            [f for f in findings if f["rule"] == rule], indent=1
        )
        assert all(isinstance(f["line"], int) and f["line"] >= 1 for f in hits)


def test_repository_passes_the_policy_rules(repo_root: Path, crd_schemas: Path):
    """The repository as committed: no policy rule reports an error, and every exemption has a reason."""
    findings = _check(repo_root, crd_schemas, expect_exit=0)["findings"]
    ours = [f for f in findings if f["rule"] in RULES_BY_ID and f["severity"] == "error"]
    assert ours == [], json.dumps(ours, indent=1)


def _broaden_gpu_toleration(doc: Any) -> None:
    for tpl in _templates(doc):
        tpl["spec"]["tolerations"] = [
            {"key": "gpu", "operator": "Exists", "effect": "NoSchedule"} if t.get("key") == "gpu" else t
            for t in tpl["spec"].get("tolerations") or []
        ]


def test_a_gpu_toleration_with_exists_is_a_warning_at_its_line(repo_copy: Path, crd_schemas: Path):
    # The architecture's taint design: workloads tolerate the one value they mean; Exists opens every GPU pool
    # and leaves the nodeSelector alone to keep a pod on its pools.
    file, kind, name = mutate(
        repo_copy,
        lambda d: d.get("kind") == "Deployment" and _type(d) == "production-inference",
        _broaden_gpu_toleration,
        set(),
    )
    findings = _check(repo_copy, crd_schemas, expect_exit=0)["findings"]
    hits = [f for f in findings if f["rule"] == "policy/gpu-toleration-too-broad"]
    assert [(f["file"], f["object"]["name"], f["severity"]) for f in hits] == [(file, name, "warning")], hits
    # the toleration's own line (ruamel writes the new item in block style: `- key: gpu`)
    line = (repo_copy / file).read_text().splitlines()[hits[0]["line"] - 1]
    assert line.strip().startswith("- key: gpu"), line
