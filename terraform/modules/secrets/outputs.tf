output "secret_arns" {
  description = "Secret name (below the prefix) -> ARN."
  value = merge(
    {
      wandb-api-key      = aws_secretsmanager_secret.wandb_api_key.arn
      mlflow-db-password = aws_secretsmanager_secret.mlflow_db_password.arn
    },
    { for name, secret in aws_secretsmanager_secret.mlflow_user : name => secret.arn },
  )
}
