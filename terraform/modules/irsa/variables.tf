variable "name" {
  description = "IAM role name (<cluster>-<controller>); the ARN is predictable, which cluster-vars relies on."
  type        = string
}

variable "oidc_provider_arn" {
  description = "ARN of the cluster's IAM OIDC provider."
  type        = string
}

variable "namespace" {
  description = "Namespace of the only service account that may assume the role."
  type        = string
}

variable "service_account" {
  description = "Name of the only service account that may assume the role."
  type        = string
}

variable "policy_json" {
  description = "Inline policy of the role: exactly what the controller needs."
  type        = string
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
