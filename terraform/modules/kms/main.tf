# The platform's customer-managed key: S3 buckets, EFS, Secrets Manager and CloudWatch Logs encrypt with it,
# so one key policy and one CloudTrail trail show every use of platform data.

resource "aws_kms_key" "this" {
  description             = "${var.name}: S3, EFS, Secrets Manager and CloudWatch Logs of the platform"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  # Account principals get access through IAM policies (each controller role names this key); CloudWatch
  # Logs cannot use IAM and needs its own statement, limited to this account's log groups.
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministersThroughIAM"
        Effect    = "Allow"
        Principal = { AWS = "arn:aws:iam::${var.aws_account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchLogsOfThisAccount"
        Effect    = "Allow"
        Principal = { Service = "logs.${var.aws_region}.amazonaws.com" }
        Action    = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
        Resource  = "*"
        Condition = {
          ArnLike = { "kms:EncryptionContext:aws:logs:arn" = "arn:aws:logs:${var.aws_region}:${var.aws_account_id}:log-group:*" }
        }
      },
    ]
  })
  tags = var.tags
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.this.key_id
}
