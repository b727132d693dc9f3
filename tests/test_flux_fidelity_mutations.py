"""Issue 18's faults, reintroduced into a copy of this repository: `check` must report each at the file a
person changes, and no longer fail where Flux succeeds.

- an encrypted (SOPS) Secret read from another folder (`../base/<file>`, which Flux's LoadRestrictionsNone
  allows) by a Kustomization without spec.decryption: flux/decryption-missing at the Secret, no render error;
- the cert-manager HelmRelease without its declared CRDs: its certificates are an info naming the
  HelmRelease (flux/crd-unknown), not a flux/crd-not-installed-first error.

One `check` of one copy carries both mutations (a full check is most of this test's time).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import edit_copy, run_cli

pytestmark = pytest.mark.xdist_group("flux-mutations")

SECRET = "apps/base/db-credentials.yaml"
PRODUCTION = "apps/production/kustomization.yaml"
CERT_MANAGER = "infrastructure/controllers/base/cert-manager/helmrelease.yaml"
SOPS_SECRET = """apiVersion: v1
kind: Secret
metadata:
  name: db-credentials
  namespace: inference
type: Opaque
stringData:
  password: ENC[AES256_GCM,data:eA==,iv:aQ==,tag:dA==,type:str]
sops:
  lastmodified: "2025-10-01T00:00:00Z"
  mac: ENC[AES256_GCM,data:bQ==,iv:aQ==,tag:dA==,type:str]
  version: 3.10.2
"""


def test_flux_fidelity_faults_at_the_mutated_files(repo_copy: Path, crd_schemas: Path) -> None:
    (repo_copy / SECRET).write_text(SOPS_SECRET)
    edit_copy(repo_copy, PRODUCTION, "  - ../base/mlops\n", "  - ../base/mlops\n  - ../base/db-credentials.yaml\n")
    annotation = '  annotations:\n    mlplatform.example.com/provides-crds: "cert-manager.io,acme.cert-manager.io"\n'
    edit_copy(repo_copy, CERT_MANAGER, annotation, "")

    proc = run_cli("check", "--repo", str(repo_copy), "--format", "json", "--min-severity", "info",
                   "--schema-location", str(crd_schemas))
    assert proc.returncode == 1, proc.stderr + proc.stdout[-2000:]
    findings = json.loads(proc.stdout)["findings"]
    assert not [f for f in findings if f["rule"].startswith("render/")], [f for f in findings if "render/" in f["rule"]]

    [secret] = [f for f in findings if f["rule"] == "flux/decryption-missing"]
    assert (secret["file"], secret["line"], secret["severity"]) == (SECRET, 1, "error")
    assert "production" in (secret.get("clusters") or [secret.get("cluster")])
    assert "Kustomization flux-system/apps has no spec.decryption" in secret["message"]

    assert not [f for f in findings if f["rule"] == "flux/crd-not-installed-first"]
    unknown = [f for f in findings if f["rule"] == "flux/crd-unknown"]
    assert unknown and all(f["severity"] == "info" for f in unknown)
    assert all("cert-manager/cert-manager" in f["message"] for f in unknown)
