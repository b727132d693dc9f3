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

# MLflow's own users: the admin of the tracking server and the client identity training jobs log in with.
# Both are JSON {username, password}, generated at apply and written write-only like the database password.
locals {
  mlflow_users = {
    mlflow-admin           = { username = "admin", description = "MLflow tracking server admin user" }
    mlflow-training-client = { username = "training", description = "MLflow user that training jobs log in with" }
  }
}

resource "aws_secretsmanager_secret" "mlflow_user" {
  for_each = local.mlflow_users
  #checkov:skip=CKV2_AWS_57:Rotated by bumping mlflow_users_password_version together with the MLflow user; no rotation Lambda owns MLflow's user store.
  name                    = "${var.prefix}/${each.key}"
  description             = each.value.description
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = 7
  tags                    = var.tags
}

ephemeral "random_password" "mlflow_user" {
  for_each         = local.mlflow_users
  length           = 32
  special          = true
  override_special = "-_.~"
}

resource "aws_secretsmanager_secret_version" "mlflow_user" {
  for_each  = local.mlflow_users
  secret_id = aws_secretsmanager_secret.mlflow_user[each.key].id
  secret_string_wo = jsonencode({
    username = each.value.username
    password = ephemeral.random_password.mlflow_user[each.key].result
  })
  secret_string_wo_version = var.mlflow_users_password_version
}
