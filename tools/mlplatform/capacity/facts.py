"""Facts about a cluster's nodes that live in Terraform, not in the pool file: zones and the pod limit.

- Zones: a pool's `zones` in the pool file; otherwise every zone of the cluster, which Terraform takes from
  `availability_zone_ids` (terraform.tfvars of the environment, else the variable's default). The platform
  module requires exactly three, so a repository without that value plans with three unnamed zones.
  Both are zone ids (use1-az1; zones.py says why not names, and pool/zone-id refuses a name), so the plan
  compares them as text: a pool in use1-az1 shares that zone with the pools that span the cluster's zones.
- Scale from zero: whether the node groups carry cluster-autoscaler's node-template resource tags.
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
from ..zones import zone_ids_of

PLATFORM_ZONE_COUNT = 3  # terraform/modules/platform/variables.tf: availability_zone_ids has exactly three
ASSUMED_ZONES = tuple(f"zone-{n}" for n in range(1, PLATFORM_ZONE_COUNT + 1))
# cluster-autoscaler's tag for what a node of an empty group would offer (kubernetes/autoscaler
# cluster-autoscaler/cloudprovider/aws/README.md, "Auto-Discovery Setup" / scaling from 0).
NODE_TEMPLATE_RESOURCES_TAG = "k8s.io/cluster-autoscaler/node-template/resources/"
_PREFIX_DELEGATION = re.compile(r'ENABLE_PREFIX_DELEGATION\W+"?(true|false)', re.IGNORECASE)


@dataclass(frozen=True)
class ClusterFacts:
    zones: tuple[str, ...] = ASSUMED_ZONES
    zones_source: str = "assumed: three zones, as the platform module requires"
    prefix_delegation: bool | None = None  # None: unknown, the plan uses the ENI formula
    managed_node_groups: bool = False
    # The node groups carry cluster-autoscaler's node-template resource tags, so time-sliced and MIG pools
    # scale from zero with the GPU units pods request (no warning needed).
    scale_from_zero_tags: bool = False

    def pool_zones(self, pool: Pool) -> tuple[tuple[str, ...], str]:
        """The pool's zones and where they come from."""
        raw = pool.extra.get("zones")
        if isinstance(raw, list) and raw and all(isinstance(z, str) and z for z in raw):
            return tuple(dict.fromkeys(raw)), "pool file"
        return self.zones, self.zones_source


def read_facts(repo: Path, cluster: str) -> ClusterFacts:
    """The cluster's facts from terraform/environments/<cluster>; defaults where Terraform is absent."""
    try:
        tf = load_terraform(repo, cluster)
    except InputError:
        tf = None  # the Terraform rules report a file that does not parse, with its line
    prefix: bool | None = None
    managed = tagged = False
    zones: tuple[str, ...] | None = None
    if tf is not None:
        zones = zone_ids_of(tf)
        tagged = bool(tf.search(re.escape(NODE_TEMPLATE_RESOURCES_TAG)))
        hits = [m.group(1).lower() for f in tf.files.values() for m in _PREFIX_DELEGATION.finditer(f.text)]
        prefix = "true" in hits
        custom_ami = any("image_id" in lt.body for lt in tf.resources("aws_launch_template"))
        managed = bool(tf.resources("aws_eks_node_group")) and not custom_ami
    if zones:
        where = f"terraform/environments/{cluster} availability_zone_ids"
        return ClusterFacts(zones, where, prefix, managed, tagged)
    return ClusterFacts(prefix_delegation=prefix, managed_node_groups=managed, scale_from_zero_tags=tagged)
