"""ObjectRef.of keeps one ref per distinct tuple of names, and never mixes up values that compare equal."""

from __future__ import annotations

import copy

from mlplatform import model
from mlplatform.model import Manifest, ObjectRef, Provenance


def _obj(name: object, namespace: object = "ml") -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace}}


def test_the_same_names_give_the_same_ref() -> None:
    first, second = ObjectRef.of(_obj("a")), ObjectRef.of(_obj("a"))
    assert first is second
    assert first == ObjectRef("v1", "ConfigMap", "ml", "a")


def test_a_number_is_not_the_string_it_equals_after_the_string_was_kept() -> None:
    # "1" is kept first; 1 and True must not be served the string's ref (1 == True, but "1" != 1)
    as_string = ObjectRef.of(_obj("1"))
    as_number = ObjectRef.of(_obj(1))
    as_bool = ObjectRef.of(_obj(True))
    assert as_string.name == "1" and as_number.name == "1" and as_bool.name == "True"
    assert as_number is not as_string
    assert all(value is None or type(value) is str for key in model._REFS for value in key)  # numbers never kept


def test_a_list_or_mapping_as_a_name_is_a_ref_not_a_crash() -> None:
    listed = ObjectRef.of(_obj(["x"]))
    mapped = ObjectRef.of(_obj("a", {"ns": 1}))
    assert listed.name == "['x']"
    assert mapped.namespace == {"ns": 1}


def test_the_kept_refs_stay_bounded(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(model, "_MAX_REFS", 3)
    monkeypatch.setattr(model, "_REFS", {})
    for i in range(10):
        ObjectRef.of(_obj(f"n{i}"))
    assert 1 <= len(model._REFS) <= 3


def test_a_manifest_keeps_its_ref_and_a_deep_copy_makes_its_own() -> None:
    manifest = Manifest("c", _obj("a"), Provenance("f.yaml", 1))
    assert manifest.ref is manifest.ref and manifest.ref.name == "a"
    edited = copy.deepcopy(manifest)
    edited.obj["metadata"]["name"] = "b"
    assert edited.ref.name == "b" and manifest.ref.name == "a"
    assert edited.source == manifest.source and edited.obj is not manifest.obj
