variable "name" {
  description = "Alias name of the key (alias/<name>)."
  type        = string
}

variable "aws_account_id" {
  description = "Account that owns the key."
  type        = string
}

variable "aws_region" {
  description = "Region of the key (the CloudWatch Logs service principal is regional)."
  type        = string
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
