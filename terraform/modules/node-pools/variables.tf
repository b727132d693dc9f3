variable "cluster_name" {
  description = "EKS cluster the node groups join."
  type        = string
}

variable "kubernetes_version" {
  description = "Kubernetes minor version of the node groups (the pool file's kubernetes_version)."
  type        = string
}

variable "pools" {
  description = "The `pools` map of the pool file (yamldecode of node-pools.yaml). Every pool fact comes from here."
  type        = any
}

variable "subnet_ids_by_zone_id" {
  description = "Private subnet id per availability zone id (use1-az1, ...); a pool with `zones` (zone ids) uses only those zones."
  type        = map(string)
}

variable "security_group_ids" {
  description = "Security groups of the nodes (the cluster's primary group and the shared node group)."
  type        = list(string)
}

variable "vpc_id" {
  description = "VPC of the nodes; the EFA pools' security groups live in it."
  type        = string
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
