variable "aws_account_id" {
  description = "The only account this environment may be applied to (the provider refuses any other)."
  type        = string
}

variable "availability_zone_ids" {
  description = "Zone ids of the three zones (where the GPU instance types are offered)."
  type        = list(string)
}

variable "vpc_cidr" {
  description = "CIDR of the cluster VPC (/16)."
  type        = string
}

variable "endpoint_public_access_cidrs" {
  description = "CIDRs that may reach the public EKS API endpoint; empty keeps the endpoint private."
  type        = list(string)
}

variable "cluster_admin_role_arns" {
  description = "Name -> IAM role ARN with cluster-admin (EKS access entries)."
  type        = map(string)
}

variable "base_domain" {
  description = "Route 53 public zone the ingresses live under."
  type        = string
}

variable "git_known_hosts" {
  description = "known_hosts entry of the git server Flux pulls from."
  type        = string
}
