# Secrets Manager entries the cluster reads through External Secrets. Terraform creates the entries;
# values it can generate are written write-only (never stored in Terraform state), values from outside
# (the W&B API key) are put by a person once (docs/runbooks/create-cluster.md).

resource "aws_secretsmanager_secret" "wandb_api_key" {
  #checkov:skip=CKV2_AWS_57:A W&B API key is issued by W&B, not by AWS; a rotation Lambda cannot mint one. It is rotated in W&B and put here by hand.
  name                    = "${var.prefix}/wandb-api-key"
  description             = "Weights & Biases API key for training and MLflow integrations"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = 7
  tags                    = var.tags
}

resource "aws_secretsmanager_secret" "mlflow_db_password" {
  #checkov:skip=CKV2_AWS_57:Rotated by bumping mlflow_db_password_version (a new write-only value) in the same change that updates the database user; no rotation Lambda owns this database.
  name                    = "${var.prefix}/mlflow-db-password"
  description             = "Password of the MLflow backend database user"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = 7
  tags                    = var.tags
}

# Ephemeral: generated during apply and passed on write-only, so neither plan nor state ever holds it.
ephemeral "random_password" "mlflow_db" {
  length           = 32
  special          = true
  override_special = "-_.~"
}

resource "aws_secretsmanager_secret_version" "mlflow_db_password" {
  secret_id                = aws_secretsmanager_secret.mlflow_db_password.id
  secret_string_wo         = ephemeral.random_password.mlflow_db.result
  secret_string_wo_version = var.mlflow_db_password_version
}
