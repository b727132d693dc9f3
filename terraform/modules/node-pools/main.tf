# One EKS managed node group per pool of the pool file. Nothing here names a pool, an instance type, a label
# or a taint: they all come from var.pools, so the pool file stays the one place these facts live
# (tests/test_terraform.py proves it).

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
      instance_types = pool.instance_types
      capacity_type  = local.capacity_types[try(pool.capacity_type, "on-demand")]
      min_size       = pool.min_size
      max_size       = pool.max_size
      desired_size   = pool.desired_size
      labels         = { for k, v in try(pool.labels, {}) : k => tostring(v) }
      taints         = try(pool.taints, [])
      gpu            = try(pool.gpu, null)
      disk_size_gib  = try(pool.disk_size_gib, 100)
      subnet_ids     = [for az, id in var.subnet_ids_by_az : id if contains(try(pool.zones, keys(var.subnet_ids_by_az)), az)]
      # EKS-optimized AL2023 AMIs: the NVIDIA variant ships the driver and the container toolkit, so the GPU
      # Operator runs with driver and toolkit disabled.
      ami_type = try(pool.gpu, null) == null ? "AL2023_x86_64_STANDARD" : "AL2023_x86_64_NVIDIA"
    }
  }
  gpu_pools = { for name, pool in local.pools : name => pool if pool.gpu != null }
}

# GPUs per node from AWS itself (the planning shape, first instance type), not from a table copied here.
data "aws_ec2_instance_type" "planning_shape" {
  for_each      = local.gpu_pools
  instance_type = each.value.instance_types[0]
}

locals {
  gpus_per_node = { for name, it in data.aws_ec2_instance_type.planning_shape : name => sum([for g in it.gpus : g.count]) }

  # What a node of each GPU pool advertises once the GPU Operator has configured it, for the
  # cluster-autoscaler's scale-from-zero template: time-slicing multiplies nvidia.com/gpu by the replicas;
  # MIG (mixed strategy) advertises one resource per profile, instances per GPU times GPUs.
  gpu_resources = {
    for name, pool in local.gpu_pools : name => (
      pool.gpu.sharing == "mig"
      ? tomap({ for profile, count in try(pool.gpu.mig_layout, {}) : "nvidia.com/mig-${profile}" => local.gpus_per_node[name] * count })
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
  vpc_security_group_ids = var.security_group_ids

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
