"""Helm rendering (issue 18): a HelmRelease of a fixture repository rendered with the real helm and kustomize,
values composed as helm-controller composes them, and each way a release cannot render reported at its line."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import pytest

from helpers import edit_copy, run_cli
from mlplatform import helm
from mlplatform.cluster_render import render_cluster
from mlplatform.config import load_config
from mlplatform.model import Severity

FIXTURE = Path(__file__).parent / "fixtures" / "repos" / "helm-local"
CHART = FIXTURE / "charts" / "node-agent"
RELEASE = "apps/release.yaml"


@pytest.fixture(scope="module", autouse=True)
def helm_binary() -> helm.Helm:
    found = helm.find_helm()
    if found is None:
        pytest.fail("no helm: run `make test`, which provides the pinned one (scripts/ensure-helm.sh)")
    return found


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    target = tmp_path / "helm-local"
    shutil.copytree(FIXTURE, target)
    monkeypatch.setenv(helm.CACHE_ENV, str(tmp_path / "empty-cache"))
    return target


def render(repo: Path):
    return render_cluster(repo, load_config(repo), "demo")


def objects(result) -> dict[tuple[str, str | None, str], object]:
    return {(m.ref.kind, m.ref.namespace, m.ref.name): m for m in result.manifests}


def by_rule(result, rule: str):
    return [f for f in result.findings if f.rule == rule]


# ---------------------------------------------------------------- the fixture release


def test_release_renders_with_values_from_config_map_secret_and_substitution(repo: Path) -> None:
    result = render(repo)
    assert [f for f in result.findings if f.severity is not Severity.INFO] == []
    found = objects(result)
    chart_objects = {k for k, m in found.items() if isinstance(m.source, helm.HelmProvenance)}
    assert chart_objects == {
        ("CustomResourceDefinition", None, "gizmos.agent.example.com"),
        ("DaemonSet", "agents", "node-agent"),
        ("Deployment", "agents", "node-agent-controller"),
        ("Gizmo", "agents", "node-agent"),
    }
    container = found[("DaemonSet", "agents", "node-agent")].obj["spec"]["template"]["spec"]["containers"][0]
    # spec.values (Flux-substituted ${agent_tag}) wins over the ConfigMap's values file, which wins over the
    # chart's defaults; the Secret's key lands at targetPath `token`.
    assert container["image"] == "registry.example.com/node-agent:1.2.3"
    assert container["args"] == ["--log-level=debug"]
    assert container["env"] == [{"name": "TOKEN", "value": "not-a-real-token"}]
    assert container["resources"]["requests"] == {"cpu": "50m", "memory": "64Mi"}


def test_chart_objects_carry_provenance_post_renderer_and_origin_labels(repo: Path) -> None:
    found = objects(render(repo))
    deployment = found[("Deployment", "agents", "node-agent-controller")]
    source = deployment.source
    assert (source.file, source.line, source.flux_kustomization) == (RELEASE, 1, "apps")
    assert source.release == "agents/node-agent"
    assert source.template == "node-agent/templates/deployment.yaml"
    assert "this repository" in source.chart and "./charts/node-agent" in source.chart
    meta = deployment.obj["metadata"]
    assert meta["annotations"] == {"example.com/post-rendered": "true"}  # the kustomize post-renderer's patch
    assert meta["labels"]["helm.toolkit.fluxcd.io/name"] == "node-agent"
    assert meta["labels"]["helm.toolkit.fluxcd.io/namespace"] == "agents"
    # the patch targets Deployments only; origin labels stay off selectors and pod templates
    assert "annotations" not in found[("DaemonSet", "agents", "node-agent")].obj["metadata"]
    assert deployment.obj["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": "node-agent-controller"}
    assert found[("CustomResourceDefinition", None, "gizmos.agent.example.com")].source.template == (
        "node-agent/crds/gizmos.yaml"
    )


def test_chart_crds_join_the_kustomization_output_and_skip_leaves_them_out(repo: Path) -> None:
    result = render(repo)
    apps = result.by_kustomization[("flux-system", "apps")]
    assert "CustomResourceDefinition" in {m.ref.kind for m in apps}
    # the Gizmo needs the chart's CRD, which the same Kustomization now provides: no ordering finding
    assert not [f for f in result.findings if f.rule.endswith("crd-not-installed-first")]

    edit_copy(repo, RELEASE, "    crds: CreateReplace\n", "    crds: Skip\n")
    kinds = {m.ref.kind for m in render(repo).manifests}
    assert "CustomResourceDefinition" not in kinds and {"Gizmo", "DaemonSet"} <= kinds


def test_target_namespace_and_release_name(repo: Path) -> None:
    edit_copy(repo, RELEASE, "  interval: 1h\n", "  interval: 1h\n  targetNamespace: agents\n")
    found = objects(render(repo))
    # helm-controller: release `[targetNamespace-]name`; objects go to the target namespace
    assert ("DaemonSet", "agents", "agents-node-agent") in found


# ---------------------------------------------------------------- what stops a release


def test_missing_values_from_is_an_error_at_its_line_and_optional_is_not(repo: Path) -> None:
    line = edit_copy(repo, RELEASE, "      name: agent-values\n", "      name: agent-values-typo\n")
    result = render(repo)
    (finding,) = by_rule(result, helm.VALUES_FROM_MISSING)
    assert finding.severity is Severity.ERROR
    assert (finding.file, finding.line) == (RELEASE, line - 1)  # the `- kind: ConfigMap` item
    assert "ConfigMap agents/agent-values-typo" in finding.message and "optional" in finding.message
    assert "DaemonSet" not in {m.ref.kind for m in result.manifests}

    edit_copy(repo, RELEASE, "      name: agent-values-typo\n", "      name: agent-values-typo\n      optional: true\n")
    result = render(repo)
    assert by_rule(result, helm.VALUES_FROM_MISSING) == []
    container = objects(result)[("DaemonSet", "agents", "node-agent")].obj["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["--log-level=info"]  # the chart's default: the optional file is skipped


def test_missing_secret_key_is_an_error(repo: Path) -> None:
    edit_copy(repo, RELEASE, "      valuesKey: token\n", "      valuesKey: tokn\n")
    (finding,) = by_rule(render(repo), helm.VALUES_FROM_MISSING)
    assert "has no key 'tokn'" in finding.message


def test_chart_that_fails_to_template_is_an_error_naming_helms_message(repo: Path) -> None:
    edit_copy(repo, RELEASE, "    image:\n      tag: ${agent_tag}\n",
              "    image:\n      repository: \"\"\n      tag: ${agent_tag}\n")
    (finding,) = by_rule(render(repo), helm.TEMPLATE_FAILED)
    assert finding.severity is Severity.ERROR and (finding.file, finding.line) == (RELEASE, 1)
    assert "image.repository is required" in finding.message


def test_post_renderer_kustomize_error_is_reported(repo: Path) -> None:
    edit_copy(repo, RELEASE, "                path: /metadata/annotations\n",
              "                path: /no/such/path\n")
    (finding,) = by_rule(render(repo), helm.POST_RENDER_FAILED)
    assert finding.severity is Severity.ERROR and "kustomize" in finding.message


def test_chart_from_helm_repository_needs_the_cache(repo: Path, tmp_path: Path, monkeypatch) -> None:
    edit_copy(repo, RELEASE, "      chart: ./charts/node-agent\n      sourceRef:\n        kind: GitRepository\n"
              "        name: flux-system\n        namespace: flux-system\n",
              "      chart: node-agent\n      version: 0.1.0\n      sourceRef:\n        kind: HelmRepository\n"
              "        name: agents\n")
    (repo / "apps" / "repository.yaml").write_text(
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata:\n  name: agents\n"
        "  namespace: agents\nspec:\n  url: https://charts.example.com/stable\n")
    edit_copy(repo, "apps/kustomization.yaml", "  - release.yaml\n", "  - release.yaml\n  - repository.yaml\n")

    result = render(repo)
    (finding,) = by_rule(result, helm.CHART_UNAVAILABLE)
    assert finding.severity is Severity.INFO and (finding.file, finding.line) == (RELEASE, 1)
    assert "node-agent 0.1.0 from HelmRepository agents/agents" in finding.message
    assert "mlplatform charts pull" in finding.message
    assert "DaemonSet" not in {m.ref.kind for m in result.manifests}

    cache = tmp_path / "cache"
    shutil.copytree(CHART, helm.cache_path(cache, "https://charts.example.com/stable", "node-agent", "0.1.0"))
    monkeypatch.setenv(helm.CACHE_ENV, str(cache))
    result = render(repo)
    assert by_rule(result, helm.CHART_UNAVAILABLE) == []
    daemonset = objects(result)[("DaemonSet", "agents", "node-agent")]
    assert "HelmRepository agents/agents" in daemonset.source.chart


def test_without_helm_releases_are_infos(repo: Path, monkeypatch) -> None:
    monkeypatch.setattr(helm, "find_helm", lambda: None)
    result = render(repo)
    (finding,) = by_rule(result, helm.HELM_MISSING)
    assert finding.severity is Severity.INFO and "agents/node-agent" in finding.message


def test_render_cli_prints_chart_objects(repo: Path, kustomize_bin: str) -> None:
    proc = run_cli("render", "--repo", str(repo), "--cluster", "demo", env={"MLPLATFORM_KUSTOMIZE": kustomize_bin})
    assert proc.returncode == 0, proc.stderr
    assert "kind: DaemonSet" in proc.stdout and "registry.example.com/node-agent:1.2.3" in proc.stdout


# ---------------------------------------------------------------- helm-controller's value composition


def lookup_of(*objs: dict):
    table = {(o["kind"], o["metadata"]["namespace"], o["metadata"]["name"]): o for o in objs}
    return lambda kind, ns, name: table.get((kind, ns, name))


def release(**spec) -> dict:
    return {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
            "metadata": {"name": "r", "namespace": "ns"}, "spec": spec}


def test_values_from_merge_in_order_then_values_last() -> None:
    first = {"kind": "ConfigMap", "metadata": {"namespace": "ns", "name": "a"},
             "data": {"values.yaml": "x: {a: 1, b: 1}\nlist: [1, 2]\n"}}
    second = {"kind": "Secret", "metadata": {"namespace": "ns", "name": "b"},
              "data": {"v": base64.b64encode(b"x: {b: 2}\nlist: [3]\n").decode()}}
    values, problems = helm.compose_values(
        release(valuesFrom=[{"kind": "ConfigMap", "name": "a"}, {"kind": "Secret", "name": "b", "valuesKey": "v"}],
                values={"x": {"c": 3}}),
        lookup_of(first, second),
    )
    assert problems == []
    # maps merge key by key, lists are replaced (fluxcd/pkg transform.MergeMaps)
    assert values == {"x": {"a": 1, "b": 2, "c": 3}, "list": [3]}


def test_target_path_types_like_helm_set() -> None:
    values: dict = {}
    helm.set_path(values, "a.b[1].c", "42")
    helm.set_path(values, "flag", "true")
    helm.set_path(values, "quoted", "'42'")
    helm.set_path(values, r"annotations.example\.com/x", "v")
    assert values == {"a": {"b": [None, {"c": 42}]}, "flag": True, "quoted": "42",
                      "annotations": {"example.com/x": "v"}}
    with pytest.raises(ValueError, match="cannot be read"):
        helm.set_path({}, "a..b", "1")


def test_encrypted_and_external_secrets_are_placeholders() -> None:
    sops = {"kind": "Secret", "metadata": {"namespace": "ns", "name": "enc"},
            "stringData": {"password": "ENC[AES256_GCM,data:abc,type:str]"}, "sops": {"version": "3.9.0"}}
    external = {"kind": "ExternalSecret", "metadata": {"namespace": "ns", "name": "ext"}}
    values, problems = helm.compose_values(
        release(valuesFrom=[
            {"kind": "Secret", "name": "enc", "valuesKey": "password", "targetPath": "db.password"},
            {"kind": "Secret", "name": "ext", "valuesKey": "token", "targetPath": "token"},
            {"kind": "Secret", "name": "enc", "valuesKey": "values.yaml", "optional": True},
        ]),
        lambda kind, ns, name: {"enc": sops, "ext": external}.get(name) if kind == "Secret" else None,
    )
    assert problems == []
    assert values == {"db": {"password": helm.PLACEHOLDER}, "token": helm.PLACEHOLDER}


def test_values_from_that_is_not_a_map_is_invalid() -> None:
    cm = {"kind": "ConfigMap", "metadata": {"namespace": "ns", "name": "a"}, "data": {"values.yaml": "- 1\n"}}
    _, problems = helm.compose_values(release(valuesFrom=[{"kind": "ConfigMap", "name": "a"}]), lookup_of(cm))
    assert [(p.rule, p.index) for p in problems] == [(helm.VALUES_INVALID, 0)]


def test_release_name_shortened_like_helm_controller() -> None:
    long = "a" * 60
    name = helm.release_name(release(targetNamespace="team") | {"metadata": {"name": long, "namespace": "ns"}})
    assert len(name) == 53 and name.startswith("team-aaaa") and name[40] == "-"
    assert helm.release_name(release(releaseName="fixed", targetNamespace="t")) == "fixed"
    assert helm.release_namespace(release(targetNamespace="t")) == "t"


def test_template_args_follow_the_crds_policy_and_hooks() -> None:
    args = helm.template_args(release(install={"crds": "Skip", "disableHooks": True}), Path("/c"), Path("/v"),
                              "1.34", ["example.com/v1"])
    assert "--skip-crds" in args and "--no-hooks" in args and "--include-crds" not in args
    assert args[args.index("--api-versions") + 1] == "example.com/v1"
    assert "--include-crds" in helm.template_args(release(), Path("/c"), Path("/v"), "1.34", [])


def test_charts_pull_dry_run_lists_remote_charts_only(repo: Path, kustomize_bin: str, tmp_path: Path) -> None:
    proc = run_cli("charts", "pull", "--repo", str(repo), "--dry-run", "--cache", str(tmp_path / "c"),
                   env={"MLPLATFORM_KUSTOMIZE": kustomize_bin})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""  # the fixture's chart is in the repository: nothing to pull


def test_json_of_plan_keeps_field_when_nothing_is_missing() -> None:
    from mlplatform import helm_cluster
    from mlplatform.model import Finding, ObjectRef

    ref = ObjectRef("helm.toolkit.fluxcd.io/v2", "HelmRelease", "ns", "r")
    findings = [Finding(helm.CHART_UNAVAILABLE, Severity.INFO, "m", file="f.yaml", line=3, object=ref),
                Finding(helm.CHART_UNAVAILABLE, Severity.INFO, "m", file="f.yaml", line=3, object=ref),
                Finding("other/rule", Severity.ERROR, "m", object=ref)]
    assert json.loads(json.dumps(helm_cluster.not_rendered(findings))) == [
        {"release": "ns/r", "file": "f.yaml", "line": 3, "rule": helm.CHART_UNAVAILABLE, "reason": "m"}
    ]


def test_chart_whose_dependencies_are_not_vendored_is_an_info(repo: Path) -> None:
    with (repo / "charts" / "node-agent" / "Chart.yaml").open("a") as chart:
        chart.write("dependencies:\n  - name: common\n    version: 1.0.0\n    repository: https://charts.example.com\n")
    result = render(repo)
    (finding,) = by_rule(result, helm.CHART_UNAVAILABLE)
    assert finding.severity is Severity.INFO and "not vendored" in finding.message
    assert [f for f in result.findings if f.severity is Severity.ERROR] == []


def test_malformed_release_fields_are_findings_not_tracebacks(repo: Path) -> None:
    edit_copy(repo, RELEASE, "  postRenderers:\n", "  commonMetadata: 7\n  postRenderers:\n")
    edit_copy(repo, RELEASE, "  install:\n    crds: CreateReplace\n", "  install: [1]\n")
    result = render(repo)
    assert "DaemonSet" in {m.ref.kind for m in result.manifests}  # odd optional fields are ignored, as defaults
    edit_copy(repo, RELEASE, "  chart:\n    spec:\n", "  chart: oops\n  chartX:\n    spec:\n")
    (finding,) = by_rule(render(repo), helm.CHART_UNAVAILABLE)
    assert "names no chart" in finding.message


def test_values_files_replace_the_charts_values_yaml(repo: Path) -> None:
    (repo / "apps" / "agent-defaults.yaml").write_text(
        "image:\n  repository: registry.example.com/other\n  tag: x\nlogLevel: warn\n"
        "resources:\n  requests:\n    cpu: 70m\n    memory: 80Mi\n")
    edit_copy(repo, RELEASE, "      chart: ./charts/node-agent\n",
              "      chart: ./charts/node-agent\n      valuesFiles:\n        - ./apps/agent-defaults.yaml\n")
    edit_copy(repo, RELEASE, "    - kind: ConfigMap\n      name: agent-values\n", "")
    result = render(repo)
    container = objects(result)[("DaemonSet", "agents", "node-agent")].obj["spec"]["template"]["spec"]["containers"][0]
    # the file replaces the chart's values.yaml; the release's own values still win over it
    assert container["image"] == "registry.example.com/other:1.2.3"
    assert container["args"] == ["--log-level=warn"] and container["resources"]["requests"]["cpu"] == "70m"

    edit_copy(repo, RELEASE, "        - ./apps/agent-defaults.yaml\n", "        - ./apps/nothing.yaml\n")
    (finding,) = by_rule(render(repo), helm.VALUES_INVALID)
    assert "nothing.yaml does not exist" in finding.message and finding.severity is Severity.ERROR
    edit_copy(repo, RELEASE, "      valuesFiles:\n", "      ignoreMissingValuesFiles: true\n      valuesFiles:\n")
    assert by_rule(render(repo), helm.VALUES_INVALID) == []


def test_oci_sources_resolve_to_their_cache_folders(tmp_path: Path) -> None:
    oci_repo = {"kind": "HelmRepository", "metadata": {"namespace": "ns", "name": "oci"},
                "spec": {"type": "oci", "url": "oci://ghcr.io/example/charts"}}
    oci_artifact = {"kind": "OCIRepository", "metadata": {"namespace": "ns", "name": "art"},
                    "spec": {"url": "oci://ghcr.io/example/charts/agent", "ref": {"tag": "2.0.0"}}}
    lookup = lookup_of(oci_repo, oci_artifact)
    by_repo = helm.resolve_chart(tmp_path, release(chart={"spec": {"chart": "agent", "version": "1.0.0",
                                                                    "sourceRef": {"kind": "HelmRepository",
                                                                                  "name": "oci"}}}),
                                 lookup, set(), tmp_path)
    assert by_repo.pull_ref == "oci://ghcr.io/example/charts/agent" and by_repo.pull_repo == ""
    assert by_repo.directory is None and "charts pull" in by_repo.reason
    by_ref = helm.resolve_chart(tmp_path, release(chartRef={"kind": "OCIRepository", "name": "art"}), lookup, set(),
                                tmp_path)
    assert (by_ref.chart, by_ref.version, by_ref.pull_ref) == ("agent", "2.0.0", "oci://ghcr.io/example/charts/agent")
    assert helm.cache_path(tmp_path, by_ref.url, "agent", "2.0.0") == (
        tmp_path / "ghcr.io_example_charts_agent" / "agent" / "2.0.0")


def test_chart_with_a_symlink_out_of_the_repository_is_not_rendered(repo: Path, tmp_path: Path) -> None:
    secret = tmp_path / "outside.txt"
    secret.write_text("not for the chart\n")
    (repo / "charts" / "node-agent" / ".hidden-link").symlink_to(secret)
    (finding,) = by_rule(render(repo), "render/outside-repository")
    assert finding.severity is Severity.ERROR and ".hidden-link" in finding.message
    assert (finding.file, finding.line) == (RELEASE, 1)


def test_chart_sees_the_clusters_kubernetes_version_and_rendered_crds(repo: Path) -> None:
    annotations = objects(render(repo))[("Gizmo", "agents", "node-agent")].obj["metadata"]["annotations"]
    # the default version (no pool file here), and the chart's own CRD, rendered in the cluster, is served
    assert annotations["agent.example.com/kube-version"] == "v1.34.0"
    assert annotations["agent.example.com/gizmo-api"] == "true"

    edit_copy(repo, ".mlplatform.yaml", "strict: false\n", "strict: false\nkubernetes_version: \"1.31\"\n")
    edit_copy(repo, RELEASE, "    crds: CreateReplace\n", "    crds: Skip\n")
    annotations = objects(render(repo))[("Gizmo", "agents", "node-agent")].obj["metadata"]["annotations"]
    assert annotations["agent.example.com/kube-version"] == "v1.31.0"
    assert annotations["agent.example.com/gizmo-api"] == "false"  # nothing installs the CRD now
