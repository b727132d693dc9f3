# Renders clusters/<cluster>/cluster-vars.yaml, the ConfigMap Flux substitutes into every Kustomization
# (postBuild.substituteFrom). Written by hand, in a fixed order, so the output is byte-stable and a
# diff against the committed file shows only changed values.

locals {
  # The order of docs/cluster-vars.md; tests/test_terraform.py compares it with the committed files.
  names = [
    "cluster_name", "aws_region", "aws_account_id", "kubernetes_version", "vpc_id", "vpc_cidr", "kms_key_arn",
    "efs_file_system_id", "s3_bucket_artifacts", "s3_bucket_model_registry", "s3_bucket_checkpoints",
    "s3_bucket_logs", "s3_bucket_backups", "cloudwatch_log_group", "certificate_arn", "base_domain",
    "secrets_prefix", "role_arn_cluster_autoscaler", "role_arn_aws_load_balancer_controller",
    "role_arn_external_secrets", "role_arn_ebs_csi", "role_arn_efs_csi", "role_arn_velero",
    "role_arn_fluent_bit", "role_arn_mlflow", "role_arn_training", "role_arn_model_sync", "role_arn_feast",
  ]

  header = [
    "# Values Flux substitutes into every Kustomization of this cluster (postBuild.substituteFrom).",
    "# Rendered by Terraform: `terraform -chdir=terraform/environments/${var.cluster_name} output -raw cluster_vars_yaml`",
    "# (variables and their meaning: docs/cluster-vars.md; when to refresh: docs/runbooks/create-cluster.md).",
    "# None of them is secret: secrets stay in AWS Secrets Manager and reach the cluster through External Secrets.",
    "apiVersion: v1",
    "kind: ConfigMap",
    "metadata:",
    "  name: cluster-vars",
    "  namespace: flux-system",
    "data:",
  ]

  yaml = join("\n", concat(local.header, [for name in local.names : "  ${name}: ${jsonencode(var.values[name])}"], [""]))
}
