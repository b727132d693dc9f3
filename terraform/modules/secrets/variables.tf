variable "prefix" {
  description = "Name prefix of the secrets (mlplatform/<cluster>); External Secrets may read only below it."
  type        = string
}

variable "kms_key_arn" {
  description = "Platform KMS key that encrypts the secrets."
  type        = string
}

variable "mlflow_db_password_version" {
  description = "Bump to generate and store a new MLflow database password (write-only: never in state)."
  type        = number
  default     = 1
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}

variable "mlflow_users_password_version" {
  description = "Bump to generate and store new passwords for the MLflow users (write-only: never in state)."
  type        = number
  default     = 1
}
