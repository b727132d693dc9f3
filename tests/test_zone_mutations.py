"""The newcomer's zone mix reintroduced into a copy of this repository: `check` fails at the pool file's lines.

Production's pool file gets a zone name (us-east-1a, which is some zone in every account but not knowably one of
the cluster's use1-az1/az2/az4) and a zone id Terraform does not give the cluster (use1-az3). One check of one
cluster carries both (a check is the slow part).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import run_cli

pytestmark = pytest.mark.xdist_group("mutated-copies")

POOLS = "terraform/environments/production/node-pools.yaml"


def test_zone_name_and_foreign_zone_id_fail_check(repo_copy: Path, crd_schemas: Path) -> None:
    text = (repo_copy / POOLS).read_text()
    # The EFA pools in file order: a100-timeslice gets the name, h100-timeslice the foreign id, the spot
    # pool keeps use1-az1.
    first = text.index("zones: [use1-az1]")
    second = text.index("zones: [use1-az1]", first + 1)
    mixed = text[:first] + "zones: [us-east-1a]" + text[first + len("zones: [use1-az1]"):second]
    (repo_copy / POOLS).write_text(mixed + "zones: [use1-az3]" + text[second + len("zones: [use1-az1]"):])
    lines = (repo_copy / POOLS).read_text().splitlines()
    name_line = lines.index("    zones: [us-east-1a]") + 1
    foreign_line = lines.index("    zones: [use1-az3]") + 1

    proc = run_cli("check", "--repo", str(repo_copy), "--cluster", "production", "--format", "json",
                   "--schema-location", str(crd_schemas))
    assert proc.returncode == 1, proc.stderr + proc.stdout[-2000:]
    ours = [f for f in json.loads(proc.stdout)["findings"] if f["rule"] == "pool/zone-id"]
    assert [(f["file"], f["line"], f["severity"]) for f in ours] == [
        (POOLS, name_line, "error"), (POOLS, foreign_line, "error")
    ], ours
    assert "'us-east-1a' is a zone name; use the zone id (one of the cluster's: use1-az1, use1-az2, use1-az4)" in (
        ours[0]["message"]
    )
    assert "'use1-az3' is not one of the cluster's zones (use1-az1, use1-az2, use1-az4" in ours[1]["message"]
