output "bucket_names" {
  description = "Purpose (artifacts, model-registry, checkpoints, logs, backups) -> bucket name."
  value       = { for purpose, bucket in aws_s3_bucket.this : purpose => bucket.bucket }
}

output "bucket_arns" {
  description = "Purpose -> bucket ARN."
  value       = { for purpose, bucket in aws_s3_bucket.this : purpose => bucket.arn }
}

output "access_logs_bucket" {
  description = "Target bucket of S3 server access logs."
  value       = aws_s3_bucket.access_logs.bucket
}

output "efs_file_system_id" {
  description = "Id of the shared EFS file system."
  value       = aws_efs_file_system.shared.id
}
