"""Availability zones as the pool files, Terraform and the plan name them: by zone id (use1-az1), never by name.

AWS maps zone names (us-east-1a) to physical zones differently in every account; a zone id names the same
physical zone in every account (AWS RAM User Guide, "Availability Zone IDs for your AWS resources"). The
platform module picks the cluster's zones by id (`availability_zone_ids`), so a pool names its zones by id
too: then the repository can tell offline whether a pool's zone is one of the cluster's, and the capacity plan
compares like with like.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .terraform import TerraformConfig

# A zone name: region and a letter (us-east-1a, us-gov-west-1a). Only to recognise the mistake and say so.
ZONE_NAME = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d[a-z]$")
# A zone id: the region's short code and the zone's number (use1-az1, apne1-az4, usgw1-az1).
ZONE_ID = re.compile(r"^[a-z]{2,}\d-az\d+$")
# The platform module's input that selects the cluster's zones (terraform/modules/platform/variables.tf).
CLUSTER_ZONES_VARIABLE = "availability_zone_ids"


def cluster_zone_ids(repo: Path, cluster: str) -> tuple[str, ...] | None:
    """The cluster's zone ids from terraform/environments/<cluster>; None when there is no such value or the
    Terraform does not parse (the Terraform rules report that, with its line)."""
    from .errors import InputError
    from .terraform import load_terraform

    try:
        tf = load_terraform(repo, cluster)
    except InputError:
        return None
    return zone_ids_of(tf) if tf is not None else None


def zone_ids_of(tf: TerraformConfig) -> tuple[str, ...] | None:
    """`availability_zone_ids` of an environment (terraform.tfvars, else the variable's default), or None."""
    from .terraform import unquote

    value = tf.variable_value(CLUSTER_ZONES_VARIABLE)
    if not (isinstance(value, list) and value and all(isinstance(v, str) for v in value)):
        return None
    return tuple(str(unquote(v)) for v in value)
