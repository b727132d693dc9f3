"""Flux postBuild substitution: the envsubst dialect, where variables come from, and the rendered result."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mlplatform.check import render_cluster
from mlplatform.config import load_config
from mlplatform.model import Severity
from mlplatform.substitute import SubstitutionError, Variables, collect_variables, envsubst

FIXTURE = Path(__file__).parent / "fixtures" / "repos" / "flux-basic"
VARS = {"name": "web", "empty": "", "Mixed": "hello World", "path": "a/b/c.tar.gz"}


def sub(text: str, values: dict[str, str] | None = None) -> str:
    values = VARS if values is None else values
    return envsubst(text, values.get)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x: ${name}", "x: web"),
        ("x: ${unset:=fallback}", "x: fallback"),
        ("x: ${name:=fallback}", "x: web"),
        ("x: ${empty:=fallback}", "x: fallback"),  # Flux's defaults apply to empty values too
        ("x: ${unset:-dash}", "x: dash"),
        ("x: ${unset=eq}", "x: eq"),
        ("x: ${unset:=}", "x: "),
        ("x: ${unset:=${name}-1}", "x: web-1"),  # a default may hold an expression
        ("x: $${name}", "x: ${name}"),  # the escape
        ("x: $$", "x: $"),
        ("x: $name and $ alone", "x: $name and $ alone"),  # only ${...} is an expression
        ("x: ${#name}", "x: 3"),
        ("x: ${Mixed^^}", "x: HELLO WORLD"),
        ("x: ${Mixed,,}", "x: hello world"),
        ("x: ${Mixed,}", "x: hello World"),
        ("x: ${name^}", "x: Web"),
        ("x: ${path:2}", "x: b/c.tar.gz"),
        ("x: ${path:2:3}", "x: b/c"),
        ("x: ${path#*/}", "x: b/c.tar.gz"),
        ("x: ${path##*/}", "x: c.tar.gz"),
        ("x: ${path%.*}", "x: a/b/c.tar"),
        ("x: ${path%%.*}", "x: a/b/c"),
        ("x: ${path/\\//_}", "x: a_b/c.tar.gz"),
        ("x: ${path//\\//_}", "x: a_b_c.tar.gz"),
        ("x: ${path/#a/z}", "x: z/b/c.tar.gz"),
        ("x: ${path/%gz/bz2}", "x: a/b/c.tar.bz2"),
        ("no dollar at all", "no dollar at all"),
    ],
)
def test_envsubst(text: str, expected: str) -> None:
    assert sub(text) == expected


def test_unset_variable_without_default_is_an_error() -> None:
    with pytest.raises(SubstitutionError) as info:
        sub("a: 1\nb: ${missing}\n")
    assert info.value.variable == "missing"
    assert info.value.offset == len("a: 1\nb: ")


@pytest.mark.parametrize("text", ["${name", "${}", "${name-dash}", "${name+x}", "${1a b}"])
def test_malformed_expressions_are_errors(text: str) -> None:
    # Flux's parser (fluxcd/pkg/envsubst) rejects these; `-` and `+` need the `:` form
    with pytest.raises(SubstitutionError):
        sub(text)


def _collect(post_build: dict, objects: dict[tuple[str, str, str], dict]):
    return collect_variables(
        post_build, "flux-system", lambda k, ns, n: objects.get((k, ns, n)), lambda keys: ("f.yaml", 7), "c"
    )


def test_inline_substitute_wins_and_newlines_are_removed() -> None:
    objects = {("ConfigMap", "flux-system", "vars"): {"data": {"a": "from-map\n", "b": "map"}}}
    variables, findings = _collect(
        {"substituteFrom": [{"kind": "ConfigMap", "name": "vars"}], "substitute": {"b": "inline"}}, objects
    )
    assert findings == []
    assert variables.values == {"a": "from-map", "b": "inline"}


def test_missing_configmap_is_an_error_unless_optional() -> None:
    _, findings = _collect({"substituteFrom": [{"kind": "ConfigMap", "name": "nope"}]}, {})
    assert [f.rule for f in findings] == ["flux/substitute-from-missing"]
    assert findings[0].severity is Severity.ERROR and findings[0].line == 7
    variables, findings = _collect(
        {"substituteFrom": [{"kind": "ConfigMap", "name": "nope", "optional": True}]}, {}
    )
    assert findings == [] and not variables.active()


def test_secret_values_are_never_read() -> None:
    secret = {"data": {"token": "c2VjcmV0"}, "stringData": {"password": "hunter2"}}
    variables, findings = _collect(
        {"substituteFrom": [{"kind": "Secret", "name": "creds"}]},
        {("Secret", "flux-system", "creds"): secret},
    )
    assert findings == []
    assert variables.values == {"token": "placeholder-token", "password": "placeholder-password"}


def test_secret_outside_the_repository_gives_placeholders() -> None:
    variables, findings = _collect({"substituteFrom": [{"kind": "Secret", "name": "external"}]}, {})
    assert [f.severity for f in findings] == [Severity.INFO]
    assert envsubst("${db_password}", variables.lookup) == "placeholder-db-password"


def test_invalid_variable_name() -> None:
    _, findings = _collect({"substitute": {"bad-name": "x", "good": "y"}}, {})
    assert [f.rule for f in findings] == ["flux/substitute-invalid-name"]


def test_no_variables_means_no_substitution() -> None:
    assert not Variables().active()


# ---- the rendered fixture


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    target = tmp_path / "flux-basic"
    shutil.copytree(FIXTURE, target)
    return target


def _objects(repo: Path):
    result = render_cluster(repo, load_config(repo), "demo")
    return result, {(m.obj["kind"], m.obj["metadata"]["name"]): m.obj for m in result.manifests}


def test_rendered_objects_are_substituted(repo: Path) -> None:
    result, objects = _objects(repo)
    assert [f for f in result.findings if f.severity is Severity.ERROR] == []
    web = objects[("Deployment", "demo-web")]
    assert web["spec"]["replicas"] == 3  # postBuild.substitute, and YAML typing after substitution
    container = web["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.example.com/demo/web:1.0.0"  # from the cluster-vars ConfigMap
    assert {e["name"]: e["value"] for e in container["env"]} == {
        "CACHE_DIR": "${HOME}/cache",
        "TIER": "standard",
    }
    assert web["metadata"]["labels"]["cluster"] == "demo"
    scripts = objects[("ConfigMap", "demo-scripts")]
    assert scripts["data"]["run.sh"] == 'echo "${PATH} ${undefined_in_flux}"\n'  # annotated: disabled
    release = objects[("HelmRelease", "gadget-controller")]
    assert release["spec"]["values"]["region"] == "eu-west-1"


def test_unset_variable_points_at_the_source_line(repo: Path) -> None:
    path = repo / "apps/base/deployment.yaml"
    path.write_text(path.read_text().replace('value: "${tier:=standard}"', 'value: "${tier}"'))
    result, _ = _objects(repo)
    [finding] = [f for f in result.findings if f.rule == "flux/substitute-unset"]
    assert (finding.file, finding.line) == ("apps/base/deployment.yaml", 32)
    assert "'tier'" in finding.message and finding.object.name == "demo-web"


def _unset_tier_message(repo: Path) -> str:
    path = repo / "apps/base/deployment.yaml"
    path.write_text(path.read_text().replace('value: "${tier:=standard}"', 'value: "${tier}"'))
    result, _ = _objects(repo)
    [finding] = [f for f in result.findings if f.rule == "flux/substitute-unset"]
    assert finding.severity is Severity.ERROR
    return finding.message


def _bootstrap(repo: Path, gate: str) -> None:
    """A Terraform Flux bootstrap for cluster demo (the flux2 chart), with the given kustomize-controller gates."""
    env, module = repo / "terraform/environments/demo", repo / "terraform/modules/flux-bootstrap"
    env.mkdir(parents=True)
    module.mkdir(parents=True)
    (env / "main.tf").write_text('module "flux_bootstrap" {\n  source = "../../modules/flux-bootstrap"\n}\n')
    (module / "main.tf").write_text(
        'resource "helm_release" "flux" {\n  chart = "flux2"\n  values = [yamlencode({ kustomizeController = '
        f'{{ container = {{ additionalArgs = ["--feature-gates={gate}"] }} }} }})]\n}}\n'
    )


def test_unset_variable_with_the_gate_on_fails_the_build(repo: Path) -> None:
    _bootstrap(repo, "StrictPostBuildSubstitutions=true")
    message = _unset_tier_message(repo)
    assert "runs with StrictPostBuildSubstitutions (terraform/modules/flux-bootstrap/main.tf:3)" in message
    assert "fails to build and applies nothing of this revision" in message and "empty string" not in message


def test_unset_variable_with_the_gate_off_becomes_an_empty_string(repo: Path) -> None:
    _bootstrap(repo, "GroupChangeLog=true")
    message = _unset_tier_message(repo)
    assert "runs without StrictPostBuildSubstitutions (terraform/modules/flux-bootstrap/main.tf:1)" in message
    assert "Flux applies an empty string here" in message and "fails to build" not in message


def test_unset_variable_without_a_known_bootstrap_says_both(repo: Path) -> None:
    message = _unset_tier_message(repo)  # the fixture has no Terraform
    assert "empty string" in message and "StrictPostBuildSubstitutions=true" in message
    assert "fails to build" in message and "${tier:=value}" in message


def test_value_that_breaks_yaml_is_a_clean_finding(repo: Path) -> None:
    path = repo / "clusters/demo/apps.yaml"
    path.write_text(path.read_text().replace('replicas: "3"', 'replicas: "[3"'))
    result, objects = _objects(repo)
    [finding] = [f for f in result.findings if f.rule == "flux/substitute-invalid"]
    assert finding.severity is Severity.ERROR
    assert finding.file == "apps/base/deployment.yaml" and finding.object.kind == "Deployment"
    assert objects[("Deployment", "demo-web")]["spec"]["replicas"] == "${replicas:=1}"  # left as built


def test_label_disables_substitution_too(repo: Path) -> None:
    path = repo / "apps/base/widget.yaml"
    path.write_text(
        path.read_text().replace(
            "  name: big\n",
            "  name: big\n  labels:\n    kustomize.toolkit.fluxcd.io/substitute: disabled\n"
            "    raw: ${not_set}\n",
        )
    )
    result, objects = _objects(repo)
    assert objects[("Widget", "demo-big")]["metadata"]["labels"]["raw"] == "${not_set}"
    assert not [f for f in result.findings if f.rule.startswith("flux/substitute")]


def test_value_with_an_explicit_tag_is_a_clean_finding(repo: Path) -> None:
    path = repo / "clusters/demo/apps.yaml"
    path.write_text(path.read_text().replace('replicas: "3"', 'replicas: "!!int"'))
    result, _ = _objects(repo)
    [finding] = [f for f in result.findings if f.rule == "flux/substitute-invalid"]
    assert finding.object.kind == "Deployment" and "not valid YAML" in finding.message


def test_variables_without_postbuild_are_reported(repo: Path) -> None:
    path = repo / "clusters/demo/apps.yaml"
    text = path.read_text()
    path.write_text(text[: text.index("  postBuild:")])
    result, objects = _objects(repo)
    warnings = [f for f in result.findings if f.rule == "flux/substitution-not-enabled"]
    assert [(f.object.kind, f.file, f.line, f.severity) for f in warnings] == [
        ("Deployment", "apps/base/deployment.yaml", 8, Severity.WARNING)  # `cluster: ${cluster_name}`
    ]
    assert objects[("Deployment", "demo-web")]["metadata"]["labels"]["cluster"] == "${cluster_name}"
