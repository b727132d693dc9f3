"""The GPU memory cap launchers (apps/base/training/shared/gpu-memory-cap) and how the trainers use them.

The launchers run inside the trainer images, where torch or tensorflow is installed; here both are replaced by
recording stand-ins, so the tests prove what the launchers call and in which order (the cap before the
training script), not what CUDA then does: that only a GPU shows.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from helpers import REPO_ROOT
from mlplatform.config import Config
from mlplatform.model import Manifest, Provenance
from mlplatform.render import find_kustomize
from mlplatform.workloads import pod_templates
from mlplatform.yamlio import load_documents, plain

LAUNCHERS = REPO_ROOT / "apps/base/training/shared/gpu-memory-cap"
MOUNT = "/opt/mlplatform/gpu-memory-cap"


def _load(name: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(f"launcher_{name}", LAUNCHERS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fake_torch(devices: int, calls: list) -> types.ModuleType:
    torch = types.ModuleType("torch")
    torch.cuda = types.SimpleNamespace(
        is_available=lambda: devices > 0,
        device_count=lambda: devices,
        set_per_process_memory_fraction=lambda fraction, device=None: calls.append(("cap", fraction, device)),
    )
    return torch


def _fake_tf(gpus: int, calls: list) -> types.ModuleType:
    tf = types.ModuleType("tensorflow")

    class LogicalDeviceConfiguration:
        def __init__(self, memory_limit=None):
            self.memory_limit = memory_limit

    tf.config = types.SimpleNamespace(
        list_physical_devices=lambda kind: [f"/physical_device:{kind}:{i}" for i in range(gpus)],
        LogicalDeviceConfiguration=LogicalDeviceConfiguration,
        set_logical_device_configuration=lambda device, configs: calls.append(
            ("limit", device, [c.memory_limit for c in configs])
        ),
    )
    return tf


def _script(tmp_path: Path) -> Path:
    """A training script that records its argv and what had been capped when it started."""
    script = tmp_path / "train.py"
    script.write_text(
        "import sys\n"
        "RECORD.append(('script', list(sys.argv), len(RECORD)))\n"
    )
    return script


@pytest.fixture
def torch_cap(monkeypatch):
    calls: list = []
    monkeypatch.setitem(sys.modules, "torch", _fake_torch(2, calls))
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    monkeypatch.setattr(sys, "path", list(sys.path))
    return _load("torch_memory_cap"), calls


@pytest.fixture
def tf_cap(monkeypatch):
    calls: list = []
    monkeypatch.setitem(sys.modules, "tensorflow", _fake_tf(1, calls))
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    monkeypatch.setattr(sys, "path", list(sys.path))
    return _load("tf_memory_cap"), calls


def _run_with_record(module, script: Path, calls: list, environ: dict, *args: str) -> int:
    import builtins

    builtins.RECORD = calls  # the script appends to the same list the stand-ins record into
    try:
        return module.main([str(script), *args], environ)
    finally:
        del builtins.RECORD


def test_torch_launcher_caps_every_device_before_the_script_runs(torch_cap, tmp_path: Path):
    module, calls = torch_cap
    script = _script(tmp_path)
    code = _run_with_record(module, script, calls, {"MLPLATFORM_GPU_MEMORY_FRACTION": "0.25"}, "--lr=1e-4")
    assert code == 0
    assert calls == [("cap", 0.25, 0), ("cap", 0.25, 1), ("script", [str(script), "--lr=1e-4"], 2)]
    assert sys.path[0] == str(tmp_path)  # the script's siblings import as under `python train.py`


def test_tf_launcher_limits_every_gpu_before_the_script_runs(tf_cap, tmp_path: Path):
    module, calls = tf_cap
    script = _script(tmp_path)
    code = _run_with_record(module, script, calls, {"MLPLATFORM_GPU_MEMORY_LIMIT_MB": "10240"}, "--epochs=3")
    assert code == 0
    assert calls == [("limit", "/physical_device:GPU:0", [10240]), ("script", [str(script), "--epochs=3"], 1)]


@pytest.mark.parametrize(
    ("value", "complaint"),
    [
        (None, "MLPLATFORM_GPU_MEMORY_FRACTION is not set"),
        ("", "MLPLATFORM_GPU_MEMORY_FRACTION is not set"),
        ("quarter", "is not a number"),
        ("0", "must be a fraction in (0, 1]"),
        ("1.5", "must be a fraction in (0, 1]"),
        ("nan", "must be a fraction in (0, 1]"),
    ],
)
def test_torch_launcher_refuses_to_start_the_trainer_uncapped(torch_cap, tmp_path, capsys, value, complaint):
    module, calls = torch_cap
    environ = {} if value is None else {"MLPLATFORM_GPU_MEMORY_FRACTION": value}
    assert _run_with_record(module, _script(tmp_path), calls, environ) == 2
    assert calls == []  # neither capped nor started
    err = capsys.readouterr().err
    assert err.startswith("torch_memory_cap: ") and complaint in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("value", "complaint"), [(None, "is not set"), ("10G", "not a whole number"), ("0", "positive")]
)
def test_tf_launcher_refuses_to_start_the_trainer_uncapped(tf_cap, tmp_path, capsys, value, complaint):
    module, calls = tf_cap
    environ = {} if value is None else {"MLPLATFORM_GPU_MEMORY_LIMIT_MB": value}
    assert _run_with_record(module, _script(tmp_path), calls, environ) == 2
    assert calls == []
    assert complaint in capsys.readouterr().err


def test_without_a_visible_gpu_the_launchers_stop(monkeypatch, tmp_path, capsys):
    calls: list = []
    monkeypatch.setitem(sys.modules, "torch", _fake_torch(0, calls))
    monkeypatch.setitem(sys.modules, "tensorflow", _fake_tf(0, calls))
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    script = _script(tmp_path)
    assert _run_with_record(_load("torch_memory_cap"), script, calls, {"MLPLATFORM_GPU_MEMORY_FRACTION": "0.5"}) == 2
    assert _run_with_record(_load("tf_memory_cap"), script, calls, {"MLPLATFORM_GPU_MEMORY_LIMIT_MB": "1024"}) == 2
    assert calls == []
    err = capsys.readouterr().err
    assert "PyTorch sees no CUDA device" in err and "TensorFlow sees no GPU" in err


def test_launcher_as_a_process_runs_the_script_with_its_arguments(tmp_path: Path):
    """`python torch_memory_cap.py train.py ARGS` the way torchrun starts it, with a stand-in torch package."""
    fake = tmp_path / "site"
    (fake / "torch").mkdir(parents=True)
    (fake / "torch" / "__init__.py").write_text(
        "import os\n"
        "class cuda:\n"
        "    is_available = staticmethod(lambda: True)\n"
        "    device_count = staticmethod(lambda: 1)\n"
        "    @staticmethod\n"
        "    def set_per_process_memory_fraction(fraction, device=None):\n"
        "        os.environ['CAPPED'] = f'{fraction}@{device}'\n"
    )
    work = tmp_path / "train"
    work.mkdir()
    (work / "helper.py").write_text("VALUE = 'sibling imported'\n")
    (work / "train.py").write_text(
        "import os, sys, helper\n"
        "print(os.environ['CAPPED'], helper.VALUE, sys.argv[1:], __name__)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(fake), "MLPLATFORM_GPU_MEMORY_FRACTION": "0.5"}
    proc = subprocess.run(
        [sys.executable, str(LAUNCHERS / "torch_memory_cap.py"), str(work / "train.py"), "--steps=2"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "0.5@0 sibling imported ['--steps=2'] __main__"
    assert "capped at 0.5 of each of 1 device(s)" in proc.stderr


def _training_containers():
    """(file, container) of every container in apps/base/training that runs a memory cap launcher."""
    found = []
    for path in sorted((REPO_ROOT / "apps/base/training").rglob("*.yaml")):
        for doc in load_documents(path):
            if not isinstance(doc.data, dict) or "kind" not in doc.data:
                continue
            manifest = Manifest("production", plain(doc.data), Provenance(str(path), doc.line))
            for tpl in pod_templates(manifest):
                for container in tpl.pod_spec.get("containers") or []:
                    text = " ".join(container.get("command") or []) + " " + " ".join(container.get("args") or [])
                    if MOUNT in text:
                        found.append((path.relative_to(REPO_ROOT).as_posix(), tpl.pod_spec, container))
    return found


def test_every_trainer_that_runs_a_launcher_mounts_it_from_the_configmap():
    found = _training_containers()
    files = {f for f, _, _ in found}
    assert {
        "apps/base/training/llm-finetune-h100/pytorchjob.yaml",
        "apps/base/training/llm-pretrain-spot/pytorchjob.yaml",
        "apps/base/training/recsys-tfjob/tfjob.yaml",
        "apps/base/training/hpo-katib/experiment.yaml",
    } <= files
    for file, spec, container in found:
        mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts") or []}
        assert MOUNT in mounts, (file, container["name"])
        volume = next(v for v in spec["volumes"] if v["name"] == mounts[MOUNT])
        assert volume.get("configMap", {}).get("name") == "gpu-memory-cap", file


def test_configmap_ships_the_launchers(kustomize_bin: str):
    """The real kustomize renders the ConfigMap the trainers mount, unhashed (they are custom resources)."""
    import yaml

    tool = find_kustomize(REPO_ROOT, Config(repo=REPO_ROOT, kustomize=kustomize_bin))
    out = subprocess.run(
        tool.command(REPO_ROOT / "apps/base/training/shared"), capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    docs = [d for d in yaml.safe_load_all(out.stdout) if d]
    maps = [d for d in docs if d["kind"] == "ConfigMap" and "gpu-memory-cap" in d["metadata"]["name"]]
    assert [m["metadata"]["name"] for m in maps] == ["gpu-memory-cap"]
    assert maps[0]["metadata"]["namespace"] == "training"
    for name in ("torch_memory_cap.py", "tf_memory_cap.py"):
        assert maps[0]["data"][name] == (LAUNCHERS / name).read_text()
