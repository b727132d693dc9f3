variable "pool_file" {
  description = "The decoded pool file (yamldecode of terraform/environments/<cluster>/node-pools.yaml)."
  type        = any
}

variable "aws_account_id" {
  description = "Account the cluster lives in."
  type        = string
}

variable "availability_zone_ids" {
  description = "Zone ids (use1-az1, ...) of the three zones, chosen where the pools' GPU instance types are offered."
  type        = list(string)

  validation {
    condition     = length(var.availability_zone_ids) == 3
    error_message = "The platform spreads over exactly three zones."
  }
}

variable "vpc_cidr" {
  description = "CIDR of the cluster VPC; a /16 gives each private node subnet a /18 (GPU nodes use many pod IPs)."
  type        = string
}

variable "endpoint_public_access_cidrs" {
  description = "CIDRs allowed to reach the public EKS API endpoint (office and CI egress); empty = private endpoint only."
  type        = list(string)
}

variable "cluster_admin_role_arns" {
  description = "Name -> IAM role ARN given cluster-admin through an EKS access entry (platform team, break-glass)."
  type        = map(string)
}

variable "base_domain" {
  description = "DNS zone (a Route 53 public hosted zone) under which ingresses live; the ALB certificate covers *.<base_domain>."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the container and control-plane log groups."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
