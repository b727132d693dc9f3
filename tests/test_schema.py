"""Schema validation: core kinds, shared CRD schemas, CRDs from rendered output, missing schemas, versions."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import kubernetes_validate
import pytest

from mlplatform.errors import ToolError
from mlplatform.model import Finding, Manifest, Provenance, Severity
from mlplatform.schema import (
    SchemaValidator,
    bundled_versions,
    json_path,
    make_strict,
    normalize_kubernetes_version,
    validate_manifests,
)
from mlplatform.yamlio import load_documents

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "schema"
VERSION = "1.34"


def manifests(*names: str, cluster: str = "production") -> list[Manifest]:
    """The documents of fixture files as rendered manifests, each pointing at its fixture file and line."""
    found = []
    for name in names:
        for doc in load_documents(FIXTURES / name):
            if doc.data is not None:
                found.append(
                    Manifest(cluster, doc.data, Provenance(f"tests/fixtures/schema/{name}", doc.line))
                )
    return found


def run(
    items: list[Manifest], crd_schemas: Path | None = None, *, strict: bool = False, version: str = VERSION
) -> list[Finding]:
    locations = [str(crd_schemas)] if crd_schemas else []
    return validate_manifests(items, kubernetes_version=version, schema_locations=locations, strict=strict)


def messages(findings: list[Finding]) -> list[str]:
    return [f.message for f in findings]


def deployment() -> dict:
    return next(d.data for d in load_documents(FIXTURES / "core-good.yaml") if d.data["kind"] == "Deployment")


# ---------------------------------------------------------------- core kinds


def test_valid_core_kinds_have_no_findings():
    assert run(manifests("core-good.yaml")) == []


def test_core_unknown_field_and_wrong_type_name_the_path_file_and_line():
    findings = run(manifests("core-bad.yaml"))
    assert messages(findings) == [
        'spec.replicas: wrong type: expected integer, got string "two"',
        "spec.template.spec.containers[0].resourcez: unknown field",
    ]
    for finding in findings:
        assert (finding.rule, finding.severity) == ("schema/invalid", Severity.ERROR)
        assert (finding.cluster, finding.file, finding.line) == (
            "production",
            "tests/fixtures/schema/core-bad.yaml",
            2,
        )
        assert (finding.object.kind, finding.object.namespace, finding.object.name) == (
            "Deployment",
            "demo",
            "web",
        )


def test_verdicts_agree_with_kubernetes_validate():
    """Our schemas are kubernetes-validate's own: the same object is valid or invalid in both."""
    for name, expect_valid in (("core-good.yaml", True), ("core-bad.yaml", False)):
        for manifest in manifests(name):
            ours = SchemaValidator(VERSION).validate_object(manifest.obj) == []
            try:
                kubernetes_validate.validate(json.loads(json.dumps(manifest.obj)), VERSION, strict=True)
                theirs = True
            except kubernetes_validate.ValidationError:
                theirs = False
            assert ours is theirs is expect_valid, (name, manifest.ref)


def test_int_or_string_and_quantity_accept_int_string_and_null_but_not_float():
    validator = SchemaValidator(VERSION)
    obj = deployment()
    probe = obj["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]
    for port in (8080, "http", None):
        probe["port"] = port
        assert validator.validate_object(obj) == [], port
    probe["port"] = 80.5
    assert validator.validate_object(obj) == [
        (
            "spec.template.spec.containers[0].livenessProbe.httpGet.port",
            "wrong type: expected integer or string, got number 80.5",
        )
    ]


def test_required_field_message():
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "s"},
        "spec": {"ports": [{"name": "p"}]},
    }
    assert SchemaValidator(VERSION).validate_object(service) == [
        ("spec.ports[0].port", "required field is missing")
    ]


def test_annotation_keys_with_dots_are_quoted_in_paths():
    obj = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c", "annotations": {"example.com/owner": 7}},
    }
    assert SchemaValidator(VERSION).validate_object(obj) == [
        ('metadata.annotations["example.com/owner"]', "wrong type: expected string, got integer 7")
    ]


def test_non_string_keys_are_converted_like_yaml_to_json():
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {1: "one", False: 2}}
    assert SchemaValidator(VERSION).validate_object(obj) == [
        ("data.false", "wrong type: expected string, got integer 2")
    ]


def test_list_items_are_validated_with_item_paths():
    assert messages(run(manifests("list.yaml"))) == [
        "items[1].data.count: wrong type: expected string, got integer 3"
    ]


def test_object_without_kind_or_not_a_mapping():
    validator = SchemaValidator(VERSION)
    assert validator.validate_object({"apiVersion": "v1", "metadata": {"name": "x"}}) == [
        ("kind", "required field is missing (or not a string)")
    ]
    assert validator.validate_object(["a"]) == [("", "expected an object (a mapping), got array")]


def test_problems_per_object_are_capped():
    obj = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c"},
        "data": {f"k{i:02d}": i for i in range(30)},
    }
    problems = SchemaValidator(VERSION).validate_object(obj)
    assert len(problems) == 21
    assert problems[-1] == ("", "... and 10 more schema problems")


def test_group_prefix_collision_is_not_taken_for_a_core_kind():
    """apps.example.com/v1 Deployment must not be validated as apps/v1 Deployment (same file prefix)."""
    result = SchemaValidator(VERSION).check(
        {
            "apiVersion": "apps.example.com/v1",
            "kind": "Deployment",
            "metadata": {"name": "x"},
            "spec": {"anything": 1},
        }
    )
    assert result.schema_found is False


# ---------------------------------------------------------------- CRDs from the shared schemas


def test_valid_custom_resources_under_shared_schemas(crd_schemas):
    assert run(manifests("crd-shared-good.yaml"), crd_schemas) == []


def test_custom_resource_errors_under_shared_schemas(crd_schemas):
    findings = run(manifests("crd-shared-bad.yaml"), crd_schemas)
    by_kind = {}
    for finding in findings:
        by_kind.setdefault(finding.object.kind, []).append((finding.line, finding.message))
    assert by_kind["ScaledObject"] == [
        (2, 'spec.maxReplicaCount: wrong type: expected integer, got string "many"'),
        (2, "spec.triggers: required field is missing"),
        (2, "spec.triggerz: unknown field"),
    ]
    # metadata of custom resources is checked as ObjectMeta, which the CRD schemas leave open
    assert by_kind["HelmRelease"] == [(13, "metadata.lables: unknown field")]


def test_url_template_location(crd_schemas):
    template = f"file://{crd_schemas}/{{{{ .Group }}}}/{{{{.ResourceKind}}}}_{{{{.ResourceAPIVersion}}}}.json"
    findings = validate_manifests(
        manifests("crd-shared-bad.yaml"), kubernetes_version=VERSION, schema_locations=[template], strict=True
    )
    assert "spec.triggerz: unknown field" in messages(findings)
    assert all(f.severity == Severity.ERROR for f in findings)


def test_unreachable_http_location_means_no_schema():
    """Connection refused on loopback (no real network): the kind has no schema, nothing crashes."""
    template = "http://127.0.0.1:9/{{.Group}}/{{.ResourceKind}}_{{.ResourceAPIVersion}}.json"
    result = SchemaValidator(VERSION, [template]).check(
        {"apiVersion": "example.com/v1", "kind": "Gizmo", "metadata": {"name": "g"}}
    )
    assert result.schema_found is False and "1 schema location(s)" in result.missing_reason


def test_bad_schema_locations_are_clean_tool_errors(tmp_path):
    with pytest.raises(ToolError, match="not a directory"):
        SchemaValidator(VERSION, [str(tmp_path / "nowhere")])
    with pytest.raises(ToolError, match="unknown template variable"):
        SchemaValidator(VERSION, [str(tmp_path) + "/{{.Kind}}.json"])
    (tmp_path / "example.com").mkdir()
    (tmp_path / "example.com" / "gizmo_v1.json").write_text("{not json", encoding="utf-8")
    validator = SchemaValidator(VERSION, [str(tmp_path)])
    with pytest.raises(ToolError, match="not valid JSON"):
        validator.validate_object(
            {"apiVersion": "example.com/v1", "kind": "Gizmo", "metadata": {"name": "g"}}
        )


def test_location_schemas_are_made_strict(tmp_path):
    """A non-strict schema from a location (e.g. a CRD's raw openAPIV3Schema) still rejects unknown fields."""
    (tmp_path / "example.com").mkdir()
    schema = {
        "type": "object",
        "properties": {"spec": {"type": "object", "properties": {"a": {"type": "string"}}}},
    }
    (tmp_path / "example.com" / "gizmo_v1.json").write_text(json.dumps(schema), encoding="utf-8")
    obj = {
        "apiVersion": "example.com/v1",
        "kind": "Gizmo",
        "metadata": {"name": "g"},
        "spec": {"a": "x", "b": 1},
    }
    assert SchemaValidator(VERSION, [str(tmp_path)]).validate_object(obj) == [("spec.b", "unknown field")]


def test_api_version_cannot_walk_out_of_a_schema_location(tmp_path):
    (tmp_path / "locations").mkdir()
    (tmp_path / "outside").mkdir()
    schema = {"type": "object", "properties": {"spec": {"type": "object"}}}
    (tmp_path / "outside" / "gizmo_v1.json").write_text(json.dumps(schema), encoding="utf-8")
    validator = SchemaValidator(VERSION, [str(tmp_path / "locations")])
    obj = {"apiVersion": "../outside/v1", "kind": "Gizmo", "metadata": {"name": "g"}}
    assert validator.check(obj).schema_found is False


# ---------------------------------------------------------------- CRDs found in the rendered output


def test_crd_in_rendered_output_validates_its_kind():
    assert run(manifests("crd-rendered.yaml", "widgets-good.yaml")) == []
    findings = run(manifests("crd-rendered.yaml", "widgets-bad.yaml"))
    assert [(f.object.name, f.message) for f in findings] == [
        ("bad", 'spec.colour: "blue" is not one of: "red", "green"'),
        ("bad", "spec.shape: unknown field"),
        ("bad", "spec.size: wrong type: expected integer or string, got number 1.5"),
        ("no-size", "spec.size: required field is missing"),
    ]


def test_rendered_crd_applies_only_to_its_own_cluster():
    items = manifests("crd-rendered.yaml", cluster="production") + manifests(
        "widgets-good.yaml", cluster="staging"
    )
    findings = run(items)
    assert {(f.cluster, f.severity) for f in findings} == {("staging", Severity.WARNING)}
    assert findings[0].message.startswith("no schema for Widget example.com/v1")


def test_rendered_crd_wins_over_schema_locations(tmp_path):
    (tmp_path / "example.com").mkdir()
    other = {"type": "object", "properties": {"spec": {"type": "object", "properties": {"other": {}}}}}
    (tmp_path / "example.com" / "widget_v1.json").write_text(json.dumps(other), encoding="utf-8")
    assert run(manifests("crd-rendered.yaml", "widgets-good.yaml"), tmp_path) == []
    assert "spec.size: unknown field" in messages(run(manifests("widgets-good.yaml"), tmp_path))


def test_crd_with_unusable_schema_is_reported_on_the_crd():
    crd = copy.deepcopy(manifests("crd-rendered.yaml")[0])
    props = crd.obj["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    props["colour"]["pattern"] = "(unclosed"
    findings = run([crd])
    assert len(findings) == 1 and findings[0].object.kind == "CustomResourceDefinition"
    assert findings[0].message.startswith(
        "spec.versions[0].schema.openAPIV3Schema: the schema of Widget v1 cannot"
    )


def test_make_strict_honours_preserve_unknown_fields_and_int_or_string():
    schema = make_strict(
        {
            "type": "object",
            "properties": {
                "open": {
                    "type": "object",
                    "x-kubernetes-preserve-unknown-fields": True,
                    "properties": {"a": {}},
                },
                "closed": {"type": "object", "properties": {"a": {}}},
                "port": {"x-kubernetes-int-or-string": True},
                "list": {"type": "array", "items": {"type": "object", "properties": {"b": {}}}},
            },
        }
    )
    props = schema["properties"]
    assert schema["additionalProperties"] is False
    assert "additionalProperties" not in props["open"]
    assert props["closed"]["additionalProperties"] is False
    assert props["port"]["anyOf"] == [{"type": "integer"}, {"type": "string"}]
    assert props["list"]["items"]["additionalProperties"] is False


# ---------------------------------------------------------------- missing schemas and versions


def test_missing_schema_is_a_warning_and_an_error_when_strict(crd_schemas):
    (warning,) = run(manifests("unknown-kind.yaml"), crd_schemas)
    assert warning.severity == Severity.WARNING
    assert warning.message.startswith("no schema for Gadget unknown.example.com/v1")
    (error,) = run(manifests("unknown-kind.yaml"), crd_schemas, strict=True)
    assert error.severity == Severity.ERROR


def test_custom_resources_without_locations_are_missing_schemas():
    findings = run(manifests("crd-shared-good.yaml"))
    assert [f.severity for f in findings] == [Severity.WARNING, Severity.WARNING]
    assert all("no schema locations configured" in f.message for f in findings)


def test_kubernetes_version_selects_the_bundled_schemas():
    flow_schema = {
        "apiVersion": "flowcontrol.apiserver.k8s.io/v1beta3",
        "kind": "FlowSchema",
        "metadata": {"name": "f"},
        "spec": {"priorityLevelConfiguration": {"name": "p"}},
    }
    assert SchemaValidator("1.28").check(flow_schema).schema_found is True
    assert SchemaValidator("1.33").check(flow_schema).schema_found is False  # v1beta3 removed in 1.32


def test_unbundled_or_malformed_kubernetes_version_is_a_clean_error():
    with pytest.raises(
        ToolError, match=r"Kubernetes version 1\.19 has no bundled schemas .*bundled: 1\.\d+ to"
    ):
        run(manifests("core-good.yaml"), version="1.19")
    with pytest.raises(ToolError, match="not a version like"):
        normalize_kubernetes_version("latest")
    assert normalize_kubernetes_version("v1.33.4") == "1.33"
    assert "1.34" in bundled_versions()


# ---------------------------------------------------------------- helpers, caching, speed


def test_json_path():
    assert json_path(["spec", "containers", 0, "image"]) == "spec.containers[0].image"
    assert (
        json_path(["metadata", "labels", "app.kubernetes.io/name"])
        == 'metadata.labels["app.kubernetes.io/name"]'
    )
    assert json_path([]) == ""


def test_compiled_validators_are_cached_per_kind():
    validator = SchemaValidator(VERSION)
    assert validator.lookup("apps/v1", "Deployment") is validator.lookup("apps/v1", "Deployment")
    cluster_view = validator.with_crds([])
    assert cluster_view.lookup("apps/v1", "Deployment") is validator.lookup("apps/v1", "Deployment")


def test_validation_is_fast_once_compiled():
    """A loose floor (the benchmark measures the real rate): recompiling per object would be ~100x slower."""
    obj = deployment()
    items = [Manifest("c", obj, Provenance("d.yaml", i)) for i in range(3000)]
    run(items[:1])  # warm imports
    start = time.perf_counter()
    assert run(items) == []
    rate = len(items) / (time.perf_counter() - start)
    assert rate > 1000, f"{rate:.0f} objects/s"
