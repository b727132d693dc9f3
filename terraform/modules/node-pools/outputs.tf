output "node_role_arn" {
  description = "IAM role of every node."
  value       = aws_iam_role.node.arn
}

output "node_groups" {
  description = "Node group name -> ARN, capacity type and AMI type."
  value = {
    for name, group in aws_eks_node_group.pool : name => {
      arn           = group.arn
      capacity_type = group.capacity_type
      ami_type      = group.ami_type
    }
  }
}

output "autoscaler_node_template_tags" {
  description = "The scale-from-zero tags set on each Auto Scaling group, pool -> tag -> value."
  value = {
    for name in keys(local.pools) : name => {
      for k, v in local.autoscaler_tags : split("|", k)[1] => v if split("|", k)[0] == name
    }
  }
}
