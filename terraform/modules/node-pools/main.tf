# One EKS managed node group per pool of the pool file. Nothing here names a pool, an instance type, a label
# or a taint: they all come from var.pools, so the pool file stays the one place these facts live
# (tests/test_terraform.py proves it). EFA pools (`efa: true`) get an EFA on every network card, a cluster
# placement group and a self-referencing security group; `capacity_reservation` targets a reservation or a
# Capacity Block from the launch template.

locals {
  # The pool file writes Kubernetes effect names; the EKS API wants its own spelling.
  taint_effects = {
    NoSchedule       = "NO_SCHEDULE"
    PreferNoSchedule = "PREFER_NO_SCHEDULE"
    NoExecute        = "NO_EXECUTE"
  }
  capacity_types = {
    on-demand = "ON_DEMAND"
    spot      = "SPOT"
  }

  pools = {
    for name, pool in var.pools : name => {
      # A Capacity Block is launched from the instance type in the launch template; EKS rejects a node group
      # that names instance types as well (terraform-aws-eks v21.19.0 modules/eks-managed-node-group/main.tf).
      instance_types = try(pool.capacity_reservation.market_type, null) == "capacity-block" ? null : pool.instance_types
      capacity_type  = try(pool.capacity_reservation.market_type, null) == "capacity-block" ? "CAPACITY_BLOCK" : local.capacity_types[try(pool.capacity_type, "on-demand")]
      planning_type  = pool.instance_types[0]
      efa            = try(pool.efa, false) == true
      min_size       = pool.min_size
      max_size       = pool.max_size
      desired_size   = pool.desired_size
      labels         = { for k, v in try(pool.labels, {}) : k => tostring(v) }
      taints         = try(pool.taints, [])
      gpu            = try(pool.gpu, null)
      disk_size_gib  = try(pool.disk_size_gib, 100)
      subnet_ids     = [for zone_id, id in var.subnet_ids_by_zone_id : id if contains(try(pool.zones, keys(var.subnet_ids_by_zone_id)), zone_id)]
      # EKS-optimized AL2023 AMIs: the NVIDIA variant ships the driver and the container toolkit, so the GPU
      # Operator runs with driver and toolkit disabled.
      ami_type = try(pool.gpu, null) == null ? "AL2023_x86_64_STANDARD" : "AL2023_x86_64_NVIDIA"

      # On-Demand Capacity Reservation or Capacity Block the pool launches into: id or resource group ARN.
      capacity_reservation = try(pool.capacity_reservation, null)
      capacity_block       = try(pool.capacity_reservation.market_type, null) == "capacity-block"
    }
  }
  gpu_pools = { for name, pool in local.pools : name => pool if pool.gpu != null }
  efa_pools = { for name, pool in local.pools : name => pool if pool.efa }
  # A cluster placement group keeps an EFA pool's nodes on one network spine. Not for pools that launch into a
  # reservation: a Capacity Block is already placed together by AWS, and an On-Demand Capacity Reservation
  # lives where it was created (create it in a cluster placement group if it needs one).
  placement_pools = { for name, pool in local.efa_pools : name => pool if pool.capacity_reservation == null }
}

# EFA pools: what AWS says of the instance type (network cards, EFA count), not a table copied here.
data "aws_ec2_instance_type" "efa" {
  for_each      = local.efa_pools
  instance_type = each.value.planning_type
}

locals {
  # One EFA per network card, laid out as terraform-aws-eks v21.19.0 does for its managed node groups
  # (modules/eks-managed-node-group/main.tf, "EFA Support"): card 0 carries the node's primary interface as an
  # EFA with an IP; every other card an EFA-only interface, which takes no VPC address (needs VPC CNI >= 1.18.5,
  # EKS User Guide node-efa). Security groups go on the interfaces: a launch template cannot have both.
  efa_interfaces = {
    for name, it in data.aws_ec2_instance_type.efa : name => [
      for card in range(it.maximum_network_cards) : {
        network_card_index = card
        device_index       = card == 0 ? 0 : 1
        interface_type     = card == 0 ? "efa" : "efa-only"
      }
    ]
  }
}

resource "aws_placement_group" "efa" {
  for_each = local.placement_pools
  name     = "${var.cluster_name}-${each.key}"
  strategy = "cluster"
  tags     = var.tags
}

# EFA's OS-bypass traffic needs a security group that admits all traffic from and to itself (EC2 User Guide,
# "Prepare an EFA-enabled security group"); only the EFA pools' interfaces carry it.
resource "aws_security_group" "efa" {
  for_each    = local.efa_pools
  name_prefix = "${var.cluster_name}-${each.key}-efa-"
  description = "EFA traffic between the nodes of one EFA pool"
  vpc_id      = var.vpc_id
  tags        = var.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "efa_self" {
  for_each                     = local.efa_pools
  security_group_id            = aws_security_group.efa[each.key].id
  referenced_security_group_id = aws_security_group.efa[each.key].id
  ip_protocol                  = "-1"
  description                  = "All traffic from the same EFA pool"
}

resource "aws_vpc_security_group_egress_rule" "efa_self" {
  for_each                     = local.efa_pools
  security_group_id            = aws_security_group.efa[each.key].id
  referenced_security_group_id = aws_security_group.efa[each.key].id
  ip_protocol                  = "-1"
  description                  = "All traffic to the same EFA pool"
}

# GPUs per node from AWS itself (the planning shape, first instance type), not from a table copied here.
data "aws_ec2_instance_type" "planning_shape" {
  for_each      = local.gpu_pools
  instance_type = each.value.planning_type
}

locals {
  gpus_per_node = { for name, it in data.aws_ec2_instance_type.planning_shape : name => sum([for g in it.gpus : g.count]) }

  # What a node of each GPU pool advertises once the GPU Operator has configured it, for the
  # cluster-autoscaler's scale-from-zero template: time-slicing multiplies nvidia.com/gpu by the replicas;
  # MIG (mixed strategy) advertises one resource per profile, instances per GPU times GPUs, and no
  # nvidia.com/gpu: the autoscaler's template would otherwise take the instance type's GPU count for it
  # (kubernetes/autoscaler cluster-autoscaler-1.34.5, cloudprovider/aws/aws_manager.go buildNodeFromTemplate).
  gpu_resources = {
    for name, pool in local.gpu_pools : name => (
      pool.gpu.sharing == "mig"
      ? tomap(merge({ "nvidia.com/gpu" = 0 }, { for profile, count in try(pool.gpu.mig_layout, {}) : "nvidia.com/mig-${profile}" => local.gpus_per_node[name] * count }))
      : tomap({ "nvidia.com/gpu" = local.gpus_per_node[name] * (pool.gpu.sharing == "time-slicing" ? try(pool.gpu.replicas, 1) : 1) })
    )
  }

  # cluster-autoscaler reads these ASG tags to build a node of an empty group (scale from zero): without
  # them it cannot know that a pending pod's nodeSelector, toleration or GPU request fits the group.
  autoscaler_tags = merge([
    for name, pool in local.pools : merge(
      { for k, v in pool.labels : "${name}|k8s.io/cluster-autoscaler/node-template/label/${k}" => v },
      { for t in pool.taints : "${name}|k8s.io/cluster-autoscaler/node-template/taint/${t.key}" => format("%s:%s", try(coalesce(t.value), ""), t.effect) },
      { for r, n in try(local.gpu_resources[name], {}) : "${name}|k8s.io/cluster-autoscaler/node-template/resources/${r}" => tostring(n) },
      # The EFA device plugin advertises vpc.amazonaws.com/efa; a pod asking for it scales an empty pool up.
      { for n, it in data.aws_ec2_instance_type.efa : "${name}|k8s.io/cluster-autoscaler/node-template/resources/vpc.amazonaws.com/efa" => tostring(it.efa_maximum_interfaces) if n == name },
    )
  ]...)
}

data "aws_iam_policy_document" "node_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

# Nodes get only what kubelet and the image pull need; the VPC CNI has its own IRSA role, and every
# controller that calls AWS has its own role too, so nothing rides on the node's credentials.
resource "aws_iam_role" "node" {
  name               = "${var.cluster_name}-node"
  assume_role_policy = data.aws_iam_policy_document.node_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "node" {
  for_each = toset([
    "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPullOnly",
    "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
  ])
  role       = aws_iam_role.node.name
  policy_arn = each.value
}

resource "aws_launch_template" "pool" {
  for_each               = local.pools
  name_prefix            = "${var.cluster_name}-${each.key}-"
  update_default_version = true
  # EFA pools name their groups on each interface instead (the API takes one or the other).
  vpc_security_group_ids = each.value.efa ? null : var.security_group_ids
  # A Capacity Block needs its instance type here, not on the node group (EKS User Guide, capacity-blocks-mng).
  instance_type = each.value.capacity_block ? each.value.planning_type : null

  dynamic "network_interfaces" {
    for_each = try(local.efa_interfaces[each.key], [])
    content {
      network_card_index    = network_interfaces.value.network_card_index
      device_index          = network_interfaces.value.device_index
      interface_type        = network_interfaces.value.interface_type
      security_groups       = concat(var.security_group_ids, [aws_security_group.efa[each.key].id])
      delete_on_termination = true
    }
  }

  dynamic "placement" {
    for_each = contains(keys(local.placement_pools), each.key) ? [aws_placement_group.efa[each.key].name] : []
    content {
      group_name = placement.value
    }
  }

  # The pool's capacity_reservation (docs/pools.md): an On-Demand Capacity Reservation by id or resource group,
  # or a Capacity Block (market type capacity-block). With a target set, the preference stays unset
  # (aws provider launch_template docs: omit it or use capacity-reservations-only).
  dynamic "capacity_reservation_specification" {
    for_each = each.value.capacity_reservation == null ? [] : [each.value.capacity_reservation]
    content {
      capacity_reservation_target {
        capacity_reservation_id                 = try(capacity_reservation_specification.value.id, null)
        capacity_reservation_resource_group_arn = try(capacity_reservation_specification.value.resource_group_arn, null)
      }
    }
  }

  dynamic "instance_market_options" {
    for_each = each.value.capacity_block ? ["capacity-block"] : []
    content {
      market_type = instance_market_options.value
    }
  }

  # IMDSv2 only, one hop: pods cannot borrow the node's role through the metadata service.
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  block_device_mappings {
    device_name = "/dev/xvda"
    ebs {
      volume_size           = each.value.disk_size_gib
      volume_type           = "gp3"
      encrypted             = true
      delete_on_termination = true
    }
  }

  monitoring {
    enabled = true
  }

  tag_specifications {
    resource_type = "instance"
    tags          = merge(var.tags, { Name = "${var.cluster_name}-${each.key}" })
  }

  tags = var.tags
}

resource "aws_eks_node_group" "pool" {
  for_each        = local.pools
  cluster_name    = var.cluster_name
  node_group_name = each.key
  version         = var.kubernetes_version
  node_role_arn   = aws_iam_role.node.arn
  subnet_ids      = each.value.subnet_ids
  ami_type        = each.value.ami_type
  capacity_type   = each.value.capacity_type
  instance_types  = each.value.instance_types
  labels          = each.value.labels

  scaling_config {
    min_size     = each.value.min_size
    max_size     = each.value.max_size
    desired_size = each.value.desired_size
  }

  dynamic "taint" {
    for_each = each.value.taints
    content {
      key    = taint.value.key
      value  = try(taint.value.value, null)
      effect = local.taint_effects[taint.value.effect]
    }
  }

  launch_template {
    id      = aws_launch_template.pool[each.key].id
    version = aws_launch_template.pool[each.key].latest_version
  }

  # One node at a time: GPU nodes are few and expensive, and a MIG node takes minutes to come back.
  update_config {
    max_unavailable = 1
  }

  # The cluster-autoscaler owns the group's size between min and max; Terraform sets it only at creation.
  lifecycle {
    ignore_changes = [scaling_config[0].desired_size]

    # pool_rules.py checks a pool's zones against availability_zone_ids when it can read them offline
    # (pool/zone-id); it cannot see what AWS offers, nor a zone list it cannot read.
    precondition {
      condition     = length(each.value.subnet_ids) > 0
      error_message = "Pool ${each.key}: none of its zones is a zone of the cluster."
    }
    precondition {
      condition     = !each.value.efa || length(each.value.subnet_ids) == 1
      error_message = "Pool ${each.key}: an EFA pool (cluster placement group) must be in exactly one zone."
    }
    precondition {
      condition     = !each.value.efa || try(data.aws_ec2_instance_type.efa[each.key].efa_supported, false)
      error_message = "Pool ${each.key}: its instance type does not support EFA."
    }
  }

  tags       = var.tags
  depends_on = [aws_iam_role_policy_attachment.node]
}

# Managed node groups do not copy their tags to the Auto Scaling group, where the autoscaler reads them.
resource "aws_autoscaling_group_tag" "node_template" {
  for_each               = local.autoscaler_tags
  autoscaling_group_name = aws_eks_node_group.pool[split("|", each.key)[0]].resources[0].autoscaling_groups[0].name

  tag {
    key                 = split("|", each.key)[1]
    value               = each.value
    propagate_at_launch = false
  }
}
