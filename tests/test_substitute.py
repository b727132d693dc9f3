"""Flux postBuild substitution: the envsubst dialect, where variables come from, and the rendered result."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from mlplatform.cluster_render import render_cluster
from mlplatform.config import load_config
from mlplatform.model import Severity
from mlplatform.render import PlainLoader
from mlplatform.substitute import (
    Substituted,
    SubstitutionError,
    Variables,
    collect_variables,
    disabled,
    envsubst,
    line_of_offset,
    substitute_text,
)

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


# ---------------------------------------------------------------- issue 19: forms no test pinned down
# Expected values follow fluxcd/pkg envsubst (parse/parse.go, parse/scan.go, funcs.go, path/match.go and
# template.go at e2cfd1a, 2026-07), which departs from bash in places: those places are marked.

SHA = "3f9a1c2b7d4e5f60718293a4b5c6d7e8f9012345"


@pytest.mark.parametrize(
    ("text", "values", "expected"),
    [
        # the common image-tag trim: toSubstr(s, "0", "7")
        ("${SHA:0:7}", {"SHA": SHA}, "3f9a1c2"),
        ("${SHA:0:7}", {"SHA": "abc"}, "abc"),  # shorter than 7: the rest of it
        ("${SHA:40}", {"SHA": SHA}, ""),  # an offset at the end: nothing
        ("${SHA:38:9}", {"SHA": SHA}, "45"),
        ("${SHA:-3}", {"SHA": ""}, "3"),  # `:-` is the default operator, not a negative offset
        ("${v:${n}}", {"v": "abcdef", "n": "-2"}, "ef"),  # a negative offset counts from the end
        ("${v:${n}}", {"v": "abc", "n": "-9"}, "abc"),  # past the start: from the start
        ("${v:1:-1}", {"v": "abcdef"}, "bcde"),  # a negative length drops from the end
        ("${v:4:-3}", {"v": "abcdef"}, ""),  # end before start
        ("${v:+2}", {"v": "abcdef"}, "abcdef"),  # `:+` is a default operator (value kept when set)
        ("${v:1:+2}", {"v": "abcdef"}, "bc"),  # strconv.Atoi accepts a sign
        # Go's Atoi rejects spaces and `_`, and then Flux returns the value whole (bash would cut it)
        ("${v: -3}", {"v": "abcdef"}, "abcdef"),
        ("${v:1: 2}", {"v": "abcdef"}, "abcdef"),
        ("${v:1_0}", {"v": "abcdefghijkl"}, "abcdefghijkl"),
        ("${v:99999999999999999999}", {"v": "abc"}, "abc"),  # out of int range: Atoi fails
        # `$$` is an escape in a replacement's pattern and text (scanned with scanEscape) ...
        ("${P//$$/USD}", {"P": "$5 and $6"}, "USD5 and USD6"),
        ("${P/x/$$}", {"P": "axbx"}, "a$bx"),
        ("${P/\\//$$}", {"P": "a/b"}, "a$b"),
        # ... but not in a trim pattern, which reaches the glob match as written
        ("${P#$$}", {"P": "$$rest"}, "rest"),
        ("${P#$$}", {"P": "$rest"}, "$rest"),
        ("${P%$$}", {"P": "cost$$"}, "cost"),
        ("${P#\\/}", {"P": "/abs"}, "abs"),  # path.Match reads \/ as /
        # nor in a default: `$$` stays, `$${x}` is a `$` and then the value of x
        ("${X:=$$}", {}, "$$"),
        ("${X:=$${v}}", {"v": "w"}, "$w"),
        # `{` inside a default is text; the default ends at the first `}`, the second is text after it
        ("${RE:=[0-9]{3}}", {}, "[0-9]{3}"),
        ("${RE:=[0-9]{3}}", {"RE": "x"}, "x}"),
        # Flux's trimShortest tries prefixes from the whole value down to one character, never the empty
        # one: `*` removes one character (bash removes none); the longest forms remove everything.
        ("${P#*}", {"P": "hello"}, "ello"),
        ("${P%*}", {"P": "hello"}, "hell"),
        ("${P##*}", {"P": "hello"}, ""),
        ("${P%%*}", {"P": "hello"}, ""),
        ("${P#*}", {"P": ""}, ""),
        ("${P#?l}", {"P": "hello"}, "hello"),  # `?l` matches no prefix
        ("${P#h?}", {"P": "hello"}, "llo"),
        ("${P#x*}", {"P": "hello"}, "hello"),
        ("${P%l*}", {"P": "hello"}, "hel"),
        ("${P%%l*}", {"P": "hello"}, "he"),
        ("${P#*/}", {"P": "a/b/c"}, "b/c"),  # `*` crosses `/` in Flux's fork of path.Match
        # default operators: each gives the value when it is set and not empty, else the default (toDefault)
        ("${v:+alt}", {"v": "set"}, "set"),  # bash would give "alt"
        ("${v:+alt}", {}, "alt"),
        ("${v:?oops}", {}, "oops"),  # no error in Flux
        ("${v=eq}", {"v": ""}, "eq"),
        ("${v:=a${w}b}", {"w": "W"}, "aWb"),
        ("${v:=}", {"v": "kept"}, "kept"),
        # replace forms
        ("${P/#/x}", {"P": "ab"}, "xab"),  # empty pattern: a prefix
        ("${P/%/x}", {"P": "ab"}, "abx"),  # empty pattern: a suffix
        ("${P/%a/x}", {"P": "aba"}, "abx"),
        ("${P/%b/x}", {"P": "aba"}, "aba"),
        ("${P/#b/x}", {"P": "aba"}, "aba"),
        ("${P/a/}", {"P": "aba"}, "ba"),
        ("${P//a/}", {"P": "aba"}, "b"),
        ("${P/a/x}", {"P": "aaa"}, "xaa"),
        ("${P//\\\\/x}", {"P": "a\\b"}, "axb"),
        # length in bytes (Go's len), casing of the first character only
        ("${#P}", {"P": "héllo"}, "6"),
        ("${P^}", {"P": "élan vital"}, "Élan vital"),
        ("${P,}", {"P": "ÉLAN"}, "éLAN"),
        ("${P^}", {"P": ""}, ""),
        ("a$", {}, "a$"),
        ("$", {}, "$"),
        ("$$$", {}, "$$"),
        ("$x${v}$", {"v": "1"}, "$x1$"),
    ],
)
def test_flux_forms(text: str, values: dict[str, str], expected: str) -> None:
    assert envsubst(text, values.get) == expected


@pytest.mark.parametrize(
    ("text", "message", "offset"),
    [
        ("a ${v:}", "unable to parse substitution within function", 6),  # Flux's parseParam: empty argument
        ("a ${v::2}", "unable to parse substitution within function", 6),
        ("a ${v:1:}", "unable to parse substitution within function", 8),
        ("a ${v#}", "unable to parse substitution within function", 6),
        ("a ${v%%}", "unable to parse substitution within function", 7),
        ("a ${v:", "unable to parse substitution within function", 6),
        ("a ${#}", "bad substitution", 5),
        ("a ${#v", "bad substitution", 6),
        ("a ${}", "unable to parse variable name", 4),
        ("a ${v/x}", "bad substitution", 7),
        ("a ${v^x}", "bad substitution", 6),
        ("a ${v!}", "missing closing brace", 5),
    ],
)
def test_malformed_expression_messages_and_offsets(text: str, message: str, offset: int) -> None:
    with pytest.raises(SubstitutionError) as info:
        envsubst(text, {"v": "value"}.get)
    assert (info.value.message, info.value.offset, info.value.variable) == (message, offset, None)


@pytest.mark.parametrize("text", ["${#unset}", "${unset^^}", "${unset,}", "${unset:1}", "${unset#x}", "${unset/a/b}"])
def test_strict_mode_covers_transformations(text: str) -> None:
    # template.go (fluxcd/pkg 8c54c729): only the default operators may read an unset variable
    with pytest.raises(SubstitutionError) as info:
        envsubst("x: " + text, {}.get)
    assert info.value.variable == "unset" and info.value.offset == 3
    assert info.value.message == "variable not set (strict mode): 'unset'"


def test_substitute_from_keeps_reading_after_a_missing_secret() -> None:
    objects = {
        ("ConfigMap", "flux-system", "vars"): {"data": {"a": "1", "shared": "from-map", "nothing": None}},
        ("Secret", "flux-system", "creds"): {"stringData": {"shared": "hunter2", "token": "t"}},
    }
    post_build = {
        "substituteFrom": [
            {"kind": "Secret", "name": "external"},
            {"kind": "Secret", "name": "creds"},
            {"kind": "ConfigMap", "name": "vars"},
        ]
    }
    variables, findings = _collect(post_build, objects)
    assert variables.opaque_secrets == ["external"]
    # later entries override earlier ones; a Secret's keys get placeholders, never its values
    assert variables.values == {"shared": "from-map", "token": "placeholder-token", "a": "1", "nothing": ""}
    assert [(f.rule, f.severity, f.message) for f in findings] == [
        (
            "flux/substitute-from-secret",
            Severity.INFO,
            "substituteFrom Secret flux-system/external is not in the repository: variables it may hold get "
            "placeholder values",
        )
    ]
    assert variables.lookup("a") == "1"
    assert variables.lookup("DB_PASSWORD") == "placeholder-db-password"
    assert variables.active()


def test_substitute_from_keeps_reading_after_a_missing_configmap_and_bad_entries() -> None:
    objects = {("ConfigMap", "flux-system", "vars"): {"data": {"a": "1"}}}
    post_build = {
        "substituteFrom": [
            "vars",
            {"kind": "Deployment", "name": "x"},
            {"kind": "ConfigMap"},
            {"kind": "ConfigMap", "name": "gone"},
            {"kind": "ConfigMap", "name": "vars"},
        ],
        "substitute": {"n": 3, "none": None, "multi": "a\nb"},
    }
    findings: list = []
    variables, findings = collect_variables(
        post_build,
        "apps",
        lambda k, ns, n: objects.get((k, "flux-system" if ns == "apps" else ns, n)),
        lambda keys: ("ks.yaml", 10 + (keys[1] if len(keys) > 1 else 100)),
        "prod",
    )
    assert variables.values == {"a": "1", "n": "3", "none": "", "multi": "ab"}
    assert [(f.rule, f.line, f.cluster, f.file) for f in findings] == [
        ("flux/substitute-from-invalid", 10, "prod", "ks.yaml"),
        ("flux/substitute-from-invalid", 11, "prod", "ks.yaml"),
        ("flux/substitute-from-invalid", 12, "prod", "ks.yaml"),
        ("flux/substitute-from-missing", 13, "prod", "ks.yaml"),
    ]
    assert findings[0].message == "substituteFrom[0] needs kind ConfigMap or Secret and a name"
    assert findings[2].message == "substituteFrom[2] needs kind ConfigMap or Secret and a name"
    assert findings[3].message == (
        "substituteFrom ConfigMap apps/gone is not rendered by any Flux Kustomization of this cluster "
        "(Flux fails the reconciliation; mark it optional: true if intended)"
    )
    assert all(f.severity is Severity.ERROR for f in findings)


def test_odd_post_build_shapes() -> None:
    assert _collect(None, {}) == (Variables(), [])
    variables, findings = _collect({"substituteFrom": {"kind": "ConfigMap"}, "substitute": ["a"]}, {})
    assert (variables.values, findings) == ({}, [])
    variables, _ = _collect(
        {"substituteFrom": [{"kind": "ConfigMap", "name": "m"}]}, {("ConfigMap", "flux-system", "m"): {"data": ["x"]}}
    )
    assert variables.values == {}


def test_invalid_variable_names_are_dropped_with_the_rule_pattern() -> None:
    variables, findings = _collect({"substitute": {"bad-name": "x", "1st": "y", "_ok": "z", "Ok2": "w"}}, {})
    assert variables.values == {"_ok": "z", "Ok2": "w"}
    assert [f.message for f in findings] == [
        "variable name 'bad-name' is invalid (Flux requires ^[_A-Za-z][_A-Za-z0-9]*$)",
        "variable name '1st' is invalid (Flux requires ^[_A-Za-z][_A-Za-z0-9]*$)",
    ]
    assert {f.line for f in findings} == {7}


def test_disabled_by_label_or_annotation_only_with_the_exact_value() -> None:
    key = "kustomize.toolkit.fluxcd.io/substitute"
    assert disabled({"metadata": {"labels": {key: "disabled"}}})
    assert disabled({"metadata": {"annotations": {key: "disabled"}}})
    assert disabled({"metadata": {"labels": {key: "enabled"}, "annotations": {key: "disabled"}}})
    assert not disabled({"metadata": {"labels": {key: "Disabled"}}})
    assert not disabled({"metadata": {"annotations": {key: "enabled"}}})
    assert not disabled({"metadata": {"labels": [key], "annotations": "disabled"}})
    assert not disabled({"metadata": "x"})
    assert not disabled({})


def test_variables_lookup_and_activity() -> None:
    assert not Variables().active() and Variables().lookup("x") is None
    assert Variables(values={"x": ""}).active() and Variables(values={"x": ""}).lookup("x") == ""
    opaque = Variables(values={"x": "1"}, opaque_secrets=["s"])
    assert opaque.active() and opaque.lookup("x") == "1" and opaque.lookup("My_Var") == "placeholder-my-var"
    assert Variables(opaque_secrets=["s"]).active()


def test_substitute_text_reports_the_line_of_the_yaml_error() -> None:
    variables = Variables(values={"v": "x: y", "l": "- a", "t": '!!int ""', "n": "7"})
    # the value turns line 3 into `c: x: y`; nothing else moves, so line 3 of the source is the culprit
    outcome = substitute_text("a: 1\nb: 2\nc: ${v}\nd: 4\n", variables, yaml.SafeLoader)
    assert (outcome.obj, outcome.line, outcome.variable) == (None, 3, None)
    assert outcome.error == "after substitution the object is not valid YAML: mapping values are not allowed here"
    outcome = substitute_text("a: 1\n\nb: ${unset}\n", variables, yaml.SafeLoader)
    assert (outcome.line, outcome.variable) == (3, "unset")
    assert outcome.error == "variable not set (strict mode): 'unset'"
    outcome = substitute_text("${l}\n", variables, yaml.SafeLoader)
    assert (outcome.error, outcome.line) == ("after substitution the object is no longer a mapping", 1)
    outcome = substitute_text("a: 1\nb: ${t}\n", variables, yaml.SafeLoader)
    assert outcome.line == 1 and outcome.error.startswith("after substitution the object is not valid YAML: ")
    assert substitute_text("a: $x\n", variables, yaml.SafeLoader) == Substituted()  # nothing changed
    assert substitute_text("a: ${n}\n", variables, yaml.SafeLoader) == Substituted(obj={"a": 7})
    assert line_of_offset("a\nb\nc", 0) == 1 and line_of_offset("a\nb\nc", 2) == 2 and line_of_offset("a\nb\nc", 4) == 3


# ---------------------------------------------------------------- bounded evaluation (issue 16)


def test_hundreds_of_nested_defaults_are_an_error_not_a_crash() -> None:
    depth = 500
    text = "v: " + "${a:=" * depth + "x" + "}" * depth + "\n"
    with pytest.raises(SubstitutionError, match="nested more than 64 deep"):
        envsubst(text, lambda name: None)
    shallow = "v: " + "${a:=" * 60 + "x" + "}" * 60
    assert envsubst(shallow, lambda name: None) == "v: x"  # nesting a person writes still works


def test_a_value_repeated_into_a_bomb_is_refused_before_it_is_built() -> None:
    value = "x" * (1024 * 1024)
    text = "data:\n" + "".join(f"  k{i}: ${{big}}\n" for i in range(10))
    with pytest.raises(SubstitutionError, match="more than 4 MiB") as caught:
        envsubst(text, {"big": value}.get)
    assert line_of_offset(text, caught.value.offset) == 6  # the expression that crossed the limit
    with pytest.raises(SubstitutionError, match="more than 4 MiB"):
        envsubst("v: ${big//x/yyyyyyyy}", {"big": value}.get)  # checked before the replacement is built


def test_an_alias_bomb_carried_by_a_variable_is_refused_after_substitution() -> None:
    bomb = "{a: &a [x,x,x,x,x,x,x,x,x,x], " + ", ".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 10) + "]" for i in range(7)
    ) + "}"
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: ${payload}\n"
    outcome = substitute_text(text, Variables(values={"payload": bomb}), PlainLoader)
    assert outcome.obj is None and "alias bomb" in (outcome.error or "")
