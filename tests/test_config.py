"""Typed settings (.mlplatform.yaml): every problem is a finding at its line, the environment wins over the
file, a CLI flag over both."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import REPO_ROOT
from mlplatform.config import MAX_KUSTOMIZE_TIMEOUT_SECONDS, SETTINGS, Config, load_config
from mlplatform.errors import ToolError
from mlplatform.render import timeout_of


def settings(tmp_path: Path, text: str, environ: dict[str, str] | None = None, **overrides: object) -> Config:
    (tmp_path / "clusters").mkdir(exist_ok=True)
    (tmp_path / "schemas").mkdir(exist_ok=True)
    (tmp_path / ".mlplatform.yaml").write_text(text)
    return load_config(tmp_path, environ={} if environ is None else environ, **overrides)


def found(config: Config) -> list[tuple[str, str | None, int | None]]:
    return [(f.rule, f.file, f.line) for f in config.findings]


def test_the_repositorys_own_settings_are_clean() -> None:
    config = load_config(REPO_ROOT, environ={})
    assert config.findings == []
    assert config.schema_locations == ["schemas/crds"] and config.strict is True
    assert config.kubernetes_version is None


def test_every_setting_is_typed(tmp_path: Path) -> None:
    config = settings(tmp_path, "schema_locations: [schemas]\nkubernetes_version: '1.34'\nstrict: true\njobs: 3\n"
                                "kustomize_timeout: 30\npreinstalled_crd_groups: [vpcresources.k8s.aws]\n")
    assert config.findings == []
    assert (config.schema_locations, config.kubernetes_version, config.strict, config.jobs) == (
        ["schemas"], "1.34", True, 3)
    assert config.kustomize_timeout == 30.0 and timeout_of(config) == 30.0
    assert config.preinstalled_crd_groups == ["vpcresources.k8s.aws"]


def test_an_unquoted_version_is_read_as_written(tmp_path: Path) -> None:
    assert settings(tmp_path, "kubernetes_version: 1.34\n").kubernetes_version == "1.34"


def test_unknown_key_is_a_finding_with_a_suggestion(tmp_path: Path) -> None:
    config = settings(tmp_path, "strict: true\nscheam_locations: [schemas]\n")
    assert found(config) == [("config/unknown-key", ".mlplatform.yaml", 2)]
    assert "did you mean 'schema_locations'" in config.findings[0].message
    assert config.schema_locations == []  # nothing taken from the misspelt key


@pytest.mark.parametrize(
    ("text", "line", "attr", "default"),
    [
        ("strict: 'yes'\n", 1, "strict", False),
        ("strict: true\njobs: [1, 2]\n", 2, "jobs", 0),
        ("jobs: 100000\n", 1, "jobs", 0),
        ("jobs: true\n", 1, "jobs", 0),
        ("kustomize_timeout: 600\n", 1, "kustomize_timeout", MAX_KUSTOMIZE_TIMEOUT_SECONDS),
        ("kustomize_timeout: .nan\n", 1, "kustomize_timeout", MAX_KUSTOMIZE_TIMEOUT_SECONDS),
        ("kubernetes_version: '1.2'\n", 1, "kubernetes_version", None),
        ("kubernetes_version: [1]\n", 1, "kubernetes_version", None),
        ("schema_locations: not-a-list\n", 1, "schema_locations", []),
        ('schema_locations: ["crd\\0schemas"]\n', 1, "schema_locations", []),
        ("preinstalled_crd_groups: {a: b}\n", 1, "preinstalled_crd_groups", []),
    ],
)
def test_wrong_value_is_a_finding_and_the_default_stays(
    tmp_path: Path, text: str, line: int, attr: str, default: object
) -> None:
    config = settings(tmp_path, text)
    assert found(config) == [("config/invalid-value", ".mlplatform.yaml", line)]
    assert "expected" in config.findings[0].message
    assert getattr(config, attr) == default


@pytest.mark.parametrize(
    ("location", "why"),
    [("https://example.com/{{.Group}}.json", "URL"), ("/etc", "absolute"), ("../elsewhere", "leaves"),
     ("missing", "not a directory"), ("schemas/{{.Nope}}", "unknown template variable")],
)
def test_schema_locations_stay_in_the_repository(tmp_path: Path, location: str, why: str) -> None:
    config = settings(tmp_path, f"schema_locations:\n  - schemas\n  - '{location}'\n")
    assert found(config) == [("config/invalid-value", ".mlplatform.yaml", 3)]
    assert why in config.findings[0].message
    assert config.schema_locations == ["schemas"]


@pytest.mark.parametrize("key", ["kustomize", "promtool", "helm_binary", "render-command"])
def test_a_setting_that_names_a_program_is_a_finding(tmp_path: Path, key: str) -> None:
    config = settings(tmp_path, f"strict: false\n{key}: ./render-nothing.sh\n")
    assert found(config) == [("config/names-a-binary", ".mlplatform.yaml", 2)]
    assert config.kustomize is None


@pytest.mark.parametrize(("text", "line"), [("- strict\n", 1), ("strict: [true\n", 2), ("a: 1\n---\nb: 2\n", 3)])
def test_an_unreadable_file_is_a_finding(tmp_path: Path, text: str, line: int) -> None:
    config = settings(tmp_path, text)
    assert [(f.rule, f.line) for f in config.findings][:1] == [("config/settings-unreadable", line)]


def test_environment_wins_over_the_file_and_flags_over_both(tmp_path: Path) -> None:
    text = "jobs: 8\nkustomize_timeout: 60\n"
    assert settings(tmp_path, text).jobs == 8
    env = {"MLPLATFORM_JOBS": "2", "MLPLATFORM_KUSTOMIZE_TIMEOUT": "5.5"}
    config = settings(tmp_path, text, env)
    assert (config.jobs, config.kustomize_timeout) == (2, 5.5)
    assert settings(tmp_path, text, env, jobs=4).jobs == 4


def test_a_bad_environment_variable_is_a_tool_error(tmp_path: Path) -> None:
    with pytest.raises(ToolError, match="MLPLATFORM_JOBS='many'"):
        settings(tmp_path, "", {"MLPLATFORM_JOBS": "many"})


def test_settings_are_declared_once() -> None:
    assert set(SETTINGS) == {"schema_locations", "kubernetes_version", "strict", "jobs", "kustomize_timeout",
                             "preinstalled_crd_groups", "rules", "exclude", "cluster_locations", "helm_crds",
                             "sources"}
    for setting in SETTINGS.values():
        assert hasattr(Config(repo=Path(".")), setting.attr)


def test_a_missing_schema_directory_matters_only_when_the_files_list_is_used(tmp_path: Path) -> None:
    text = "schema_locations: [schemas, not-here]\n"
    assert found(settings(tmp_path, text)) == [("config/invalid-value", ".mlplatform.yaml", 1)]
    overridden = settings(tmp_path, text, schema_locations=[str(tmp_path / "schemas")])
    assert overridden.findings == [] and overridden.schema_locations == [str(tmp_path / "schemas")]
    # a command that validates no schemas (gen, plan, render) is not stopped by it
    (tmp_path / ".mlplatform.yaml").write_text(text)
    assert load_config(tmp_path, environ={}, validates_schemas=False).findings == []


def test_a_settings_file_linked_out_of_the_repository_is_not_read(tmp_path: Path) -> None:
    repo, outside = tmp_path / "repo", tmp_path / "outside.yaml"
    (repo / "clusters").mkdir(parents=True)
    outside.write_text("strict: true\njobs: 7\n")
    (repo / ".mlplatform.yaml").symlink_to(outside)
    config = load_config(repo, environ={})
    assert found(config) == [("config/settings-unreadable", ".mlplatform.yaml", 1)]
    assert (config.strict, config.jobs) == (False, 0)
