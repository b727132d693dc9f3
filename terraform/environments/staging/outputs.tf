output "cluster_name" {
  description = "EKS cluster name."
  value       = module.platform.cluster_name
}

output "cluster_endpoint" {
  description = "EKS API endpoint."
  value       = module.platform.cluster_endpoint
}

output "node_groups" {
  description = "Node groups created from node-pools.yaml."
  value       = module.platform.node_groups
}

output "autoscaler_node_template_tags" {
  description = "Scale-from-zero tags the cluster-autoscaler reads, per pool."
  value       = module.platform.autoscaler_node_template_tags
}

output "secret_arns" {
  description = "Secrets Manager entries (put the W&B key by hand once)."
  value       = module.platform.secret_arns
}

output "flux_deploy_key_public" {
  description = "Add to the git repository as a read-only deploy key before Flux's first sync."
  value       = module.flux_bootstrap.deploy_key_public
}

output "cluster_vars_yaml" {
  description = "clusters/<cluster>/cluster-vars.yaml; write it with terraform output -raw cluster_vars_yaml."
  value       = module.platform.cluster_vars_yaml
}

output "cluster_vars" {
  description = "Name -> value of every cluster variable: terraform output -json cluster_vars | jq -r .vpc_id"
  value       = module.platform.cluster_vars
}
