"""Facts about a cluster's nodes that live in Terraform, not in the pool file: zones and the pod limit.

- Zones: a pool's `zones` in the pool file; otherwise every zone of the cluster, which Terraform takes from
  `availability_zone_ids` (terraform.tfvars of the environment, else the variable's default). The platform
  module requires exactly three, so a repository without that value plans with three unnamed zones.
  Explicit pool zones are names (us-east-1a), the Terraform default is zone ids (use1-az1): the plan compares
  zones by text only, so a cluster that mixes both treats them as different zones (docs/capacity.md).
- Pod limit: whether the VPC CNI add-on runs with prefix delegation (ENABLE_PREFIX_DELEGATION in the
  add-on's configuration) and whether nodes come from EKS managed node groups without a custom AMI (EKS then
  caps maxPods); allocatable.pod_limit turns these into a number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ..model import Pool
from ..terraform import load_terraform

PLATFORM_ZONE_COUNT = 3  # terraform/modules/platform/variables.tf: availability_zone_ids has exactly three
ASSUMED_ZONES = tuple(f"zone-{n}" for n in range(1, PLATFORM_ZONE_COUNT + 1))
_PREFIX_DELEGATION = re.compile(r'ENABLE_PREFIX_DELEGATION\W+"?(true|false)', re.IGNORECASE)


@dataclass(frozen=True)
class ClusterFacts:
    zones: tuple[str, ...] = ASSUMED_ZONES
    zones_source: str = "assumed: three zones, as the platform module requires"
    prefix_delegation: bool | None = None  # None: unknown, the plan uses the ENI formula
    managed_node_groups: bool = False

    def pool_zones(self, pool: Pool) -> tuple[tuple[str, ...], str]:
        """The pool's zones and where they come from."""
        raw = pool.extra.get("zones")
        if isinstance(raw, list) and raw and all(isinstance(z, str) and z for z in raw):
            return tuple(dict.fromkeys(raw)), "pool file"
        return self.zones, self.zones_source


def _tfvars_zones(env: Path) -> tuple[str, ...] | None:
    import hcl2  # python-hcl2; parses terraform.tfvars as HCL

    for name, key in (("terraform.tfvars", None), ("variables.tf", "variable")):
        path = env / name
        if not path.is_file():
            continue
        try:
            data = hcl2.loads(path.read_text(encoding="utf-8", errors="replace"))
        except Exception:  # noqa: BLE001 - a file python-hcl2 cannot parse is reported by the Terraform rules
            continue
        value = None
        if key is None:
            value = data.get("availability_zone_ids")
        else:
            for block in data.get("variable") or []:
                body = block.get('"availability_zone_ids"') or block.get("availability_zone_ids")
                if isinstance(body, dict):
                    value = body.get("default")
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            return tuple(v.strip('"') for v in value)
    return None


def read_facts(repo: Path, cluster: str) -> ClusterFacts:
    """The cluster's facts from terraform/environments/<cluster>; defaults where Terraform is absent."""
    env = repo / "terraform" / "environments" / cluster
    zones = _tfvars_zones(env) if env.is_dir() else None
    try:
        tf = load_terraform(repo, cluster)
    except InputError:
        tf = None  # the Terraform rules report a file that does not parse, with its line
    prefix: bool | None = None
    managed = False
    if tf is not None:
        hits = [m.group(1).lower() for f in tf.files.values() for m in _PREFIX_DELEGATION.finditer(f.text)]
        prefix = "true" in hits
        custom_ami = any("image_id" in lt.body for lt in tf.resources("aws_launch_template"))
        managed = bool(tf.resources("aws_eks_node_group")) and not custom_ami
    if zones:
        where = f"terraform/environments/{cluster} availability_zone_ids"
        return ClusterFacts(zones, where, prefix, managed)
    return ClusterFacts(prefix_delegation=prefix, managed_node_groups=managed)
