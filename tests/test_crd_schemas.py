"""The vendored CRD schemas (schemas/crds/) and scripts/crd_schemas.py, which checks and regenerates them."""

from __future__ import annotations

import importlib.util
import io
import json
import shutil
import sys
import tarfile
from pathlib import Path

import yaml

from helpers import REPO_ROOT, crd_schema_dir

SCRIPT = REPO_ROOT / "scripts" / "crd_schemas.py"
_spec = importlib.util.spec_from_file_location("crd_schemas", SCRIPT)
assert _spec and _spec.loader
crd_schemas_script = importlib.util.module_from_spec(_spec)
sys.modules["crd_schemas"] = crd_schemas_script
_spec.loader.exec_module(crd_schemas_script)

# A CRD as a chart ships it inside templates/: Helm directives around it and in its labels.
WIDGET_CRD = """\
{{- if .Values.crds.enabled }}
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
  labels:
    {{- include "chart.labels" . | nindent 4 }}
spec:
  group: example.com
  names: {kind: Widget, plural: widgets}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                size: {type: integer}
                port: {x-kubernetes-int-or-string: true}
    - name: v0
      served: false
      storage: false
{{- end }}
"""


def test_the_vendored_schemas_match_their_sources_and_pins() -> None:
    assert crd_schema_dir() == REPO_ROOT / "schemas" / "crds"
    assert crd_schemas_script.check_sources() == []


def test_a_chart_bump_without_regenerating_is_reported(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "schemas").mkdir(parents=True)
    shutil.copytree(REPO_ROOT / "schemas" / "crds", repo / "schemas" / "crds")
    shutil.copytree(REPO_ROOT / "infrastructure", repo / "infrastructure")
    shutil.copytree(REPO_ROOT / "terraform" / "modules", repo / "terraform" / "modules")
    release = repo / "infrastructure/controllers/base/keda/helmrelease.yaml"
    release.write_text(release.read_text().replace("version: 2.20.2", "version: 2.21.0"))
    problems = crd_schemas_script.check_sources(repo)
    assert problems == [
        "keda.sh: SOURCES.yaml says keda 2.20.2, the repository pins 2.21.0; run "
        "`python scripts/crd_schemas.py fetch --group keda.sh`"
    ]


def test_convert_blanks_helm_directives_and_makes_the_schema_strict(tmp_path: Path) -> None:
    source = tmp_path / "crds.yaml"
    source.write_text(WIDGET_CRD)
    assert crd_schemas_script.main(["convert", str(source), "--out", str(tmp_path / "out")]) == 0
    # only the served version is written
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.json")) == [
        "example.com/widget_v1.json"
    ]
    schema = json.loads((tmp_path / "out/example.com/widget_v1.json").read_text())
    assert schema["additionalProperties"] is False
    assert schema["properties"]["spec"]["additionalProperties"] is False
    assert schema["properties"]["spec"]["properties"]["port"]["anyOf"] == [{"type": "integer"}, {"type": "string"}]


def test_fetch_reads_the_pinned_chart_through_its_index(tmp_path: Path) -> None:
    """The download path, offline: a chart repository on file:// with index.yaml and the chart archive."""
    charts = tmp_path / "charts"
    charts.mkdir()
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        data = WIDGET_CRD.encode()
        info = tarfile.TarInfo("widgets/templates/crds.yaml")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    (charts / "widgets-1.2.3.tgz").write_bytes(archive.getvalue())
    (charts / "index.yaml").write_text(yaml.safe_dump(
        {"apiVersion": "v1", "entries": {"widgets": [{"version": "1.2.3", "urls": ["widgets-1.2.3.tgz"]}]}}))
    out = tmp_path / "schemas"
    (out / "example.com").mkdir(parents=True)
    (out / "example.com/widget_v1.json").write_text("{}\n")  # vendored before: rewritten
    (out / "SOURCES.yaml").write_text(yaml.safe_dump({"groups": {"example.com": {
        "upstream": "example/widgets", "licence": "Apache-2.0",
        "chart": {"name": "widgets", "version": "1.2.3", "repository": charts.as_uri()}}}}))
    assert crd_schemas_script.main(["fetch", "--out", str(out)]) == 0
    assert json.loads((out / "example.com/widget_v1.json").read_text())["additionalProperties"] is False
    # a version the index does not have is a download error (exit 2), and nothing is written
    (out / "SOURCES.yaml").write_text((out / "SOURCES.yaml").read_text().replace("1.2.3", "9.9.9"))
    assert crd_schemas_script.main(["fetch", "--out", str(out)]) == 2
