output "cluster_name" {
  description = "EKS cluster name."
  value       = module.eks.cluster_name
}

output "cluster_endpoint" {
  description = "EKS API endpoint."
  value       = module.eks.cluster_endpoint
}

output "cluster_certificate_authority_data" {
  description = "Base64 CA certificate of the EKS API."
  value       = module.eks.cluster_certificate_authority_data
}

output "oidc_provider_arn" {
  description = "IAM OIDC provider of the cluster (IRSA)."
  value       = module.eks.oidc_provider_arn
}

output "node_groups" {
  description = "Node groups created from the pool file."
  value       = module.node_pools.node_groups
}

output "autoscaler_node_template_tags" {
  description = "Scale-from-zero tags per pool."
  value       = module.node_pools.autoscaler_node_template_tags
}

output "secret_arns" {
  description = "Secrets Manager entries."
  value       = module.secrets.secret_arns
}

output "cluster_vars" {
  description = "Name -> value of every cluster variable (docs/cluster-vars.md)."
  value       = local.cluster_vars
}

output "cluster_vars_yaml" {
  description = "clusters/<cluster>/cluster-vars.yaml, complete."
  value       = module.cluster_vars.yaml
}
