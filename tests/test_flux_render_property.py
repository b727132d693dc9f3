"""Issue 18's property: for a repository with no Flux substitution and no Helm, `render` gives for each Flux
Kustomization exactly what `kustomize build --load-restrictor LoadRestrictionsNone` gives for its path
with the Kustomization's own fields (targetNamespace, patches) applied by an overlay, as
kustomize-controller does (fluxcd/pkg kustomize/kustomize_generator.go).

The repositories are generated: ConfigMaps spread over a base folder and an overlay that reads some of them
as files of another folder (`../base/<file>`, which only LoadRestrictionsNone allows), a Flux Kustomization
with or without targetNamespace and a label patch. The expected output is built here, by running kustomize
on an overlay this test writes, never by the code under test."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlplatform.cluster_render import render_cluster
from mlplatform.config import Config, load_config

BOOTSTRAP = """apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: flux-system
  namespace: flux-system
spec:
  url: https://example.com/repo.git
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: flux-system
  namespace: flux-system
spec:
  path: ./clusters/demo
  sourceRef:
    kind: GitRepository
    name: flux-system
"""
KUST = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"

names = st.lists(st.from_regex(r"[a-z][a-z0-9]{0,8}", fullmatch=True), min_size=1, max_size=5, unique=True)


@st.composite
def repositories(draw) -> dict:
    base = draw(names)
    overlay_own = [f"own-{n}" for n in draw(names)]  # never empty: kustomize refuses an empty kustomization
    read_across = draw(st.lists(st.sampled_from(base), unique=True))
    return {
        "base": base,
        "own": overlay_own,
        "across": read_across,
        "use_base_dir": draw(st.booleans()) and not read_across,
        "namespace": draw(st.one_of(st.none(), st.sampled_from(["team-a", "ml"]))),
        "label": draw(st.one_of(st.none(), st.from_regex(r"[a-z]{1,6}", fullmatch=True))),
    }


def _cm(name: str) -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  key: {name}-value\n"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _make_repo(root: Path, spec: dict) -> dict:
    for name in spec["base"]:
        _write(root / f"base/{name}.yaml", _cm(name))
    _write(root / "base/kustomization.yaml", KUST + "resources:\n" + "".join(f"  - {n}.yaml\n" for n in spec["base"]))
    resources = [f"{n}.yaml" for n in spec["own"]] + [f"../base/{n}.yaml" for n in spec["across"]]
    if spec["use_base_dir"]:
        resources.append("../base")
    for name in spec["own"]:
        _write(root / f"overlay/{name}.yaml", _cm(name))
    _write(root / "overlay/kustomization.yaml", KUST + "resources:\n" + "".join(f"  - {r}\n" for r in resources))
    flux_spec: dict = {"path": "./overlay", "sourceRef": {"kind": "GitRepository", "name": "flux-system"}}
    patches = []
    if spec["namespace"]:
        flux_spec["targetNamespace"] = spec["namespace"]
    if spec["label"]:
        patches = [{"patch": yaml.safe_dump([{"op": "add", "path": "/metadata/labels",
                                              "value": {"patched": spec["label"]}}]),
                    "target": {"kind": "ConfigMap"}}]
        flux_spec["patches"] = patches
    app = {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
           "metadata": {"name": "app", "namespace": "flux-system"}, "spec": flux_spec}
    _write(root / "clusters/demo/flux-system/gotk-sync.yaml", BOOTSTRAP)
    _write(root / "clusters/demo/flux-system/kustomization.yaml", KUST + "resources:\n  - gotk-sync.yaml\n")
    _write(root / "clusters/demo/app.yaml", yaml.safe_dump(app, sort_keys=False))
    _write(root / "clusters/demo/kustomization.yaml", KUST + "resources:\n  - flux-system\n  - app.yaml\n")
    return {"namespace": spec["namespace"], "patches": patches}


def _kustomize_directly(kustomize: str, root: Path, flux: dict) -> list[dict]:
    """kustomize build --load-restrictor LoadRestrictionsNone of the path, Flux's fields as an overlay."""
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        overlay: dict = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                         "resources": ["../overlay"]}
        if flux["namespace"]:
            overlay["namespace"] = flux["namespace"]
        if flux["patches"]:
            overlay["patches"] = flux["patches"]
        Path(tmp, "kustomization.yaml").write_text(yaml.safe_dump(overlay))
        sub = ["kustomize"] if "kubectl" in Path(kustomize).name else ["build"]
        out = subprocess.run([kustomize, *sub, "--load-restrictor", "LoadRestrictionsNone", tmp],
                             capture_output=True, text=True, check=True, timeout=120).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def _key(obj: dict) -> tuple:
    return (obj["kind"], obj["metadata"].get("namespace") or "", obj["metadata"]["name"])


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=repositories())
def test_render_equals_kustomize_with_load_restrictions_none(spec: dict, kustomize_bin: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        flux = _make_repo(root, spec)
        config: Config = load_config(root)
        config.kustomize = kustomize_bin
        result = render_cluster(root, config, "demo")
        assert [f for f in result.findings if f.severity.value == "error"] == []
        rendered = sorted((m.obj for m in result.by_kustomization[("flux-system", "app")]), key=_key)
        expected = sorted(_kustomize_directly(kustomize_bin, root, flux), key=_key)
        assert rendered == expected
        # every ConfigMap the overlay names is there, the ones read across folders included
        assert {o["metadata"]["name"] for o in rendered} >= set(spec["own"]) | set(spec["across"])
