variable "name_prefix" {
  description = "Prefix of bucket and file system names (mlplatform-<cluster>)."
  type        = string
}

variable "aws_account_id" {
  description = "Account id, appended to bucket names to make them globally unique."
  type        = string
}

variable "kms_key_arn" {
  description = "Platform KMS key for S3 and EFS."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the EFS mount targets."
  type        = string
}

variable "subnet_ids_by_az" {
  description = "Private subnet per availability zone, one EFS mount target in each (static keys for for_each)."
  type        = map(string)
}

variable "client_security_group_ids" {
  description = "Security groups allowed to mount EFS (the nodes), by a static name."
  type        = map(string)
}

variable "client_role_arns" {
  description = "IAM roles that may mount the EFS file system (the EFS CSI node role); the file system policy admits no one else."
  type        = list(string)
  validation {
    condition     = length(var.client_role_arns) > 0
    error_message = "Name at least one role: with a file system policy in effect, an anonymous client cannot mount."
  }
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
