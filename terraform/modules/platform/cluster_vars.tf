# The values the cluster's manifests substitute (docs/cluster-vars.md), rendered as the committed ConfigMap.

locals {
  cluster_vars = {
    cluster_name                          = module.eks.cluster_name
    aws_region                            = local.region
    aws_account_id                        = var.aws_account_id
    kubernetes_version                    = var.pool_file.kubernetes_version
    vpc_id                                = module.vpc.vpc_id
    vpc_cidr                              = module.vpc.vpc_cidr_block
    kms_key_arn                           = module.kms.key_arn
    efs_file_system_id                    = module.storage.efs_file_system_id
    s3_bucket_artifacts                   = module.storage.bucket_names["artifacts"]
    s3_bucket_model_registry              = module.storage.bucket_names["model-registry"]
    s3_bucket_checkpoints                 = module.storage.bucket_names["checkpoints"]
    s3_bucket_logs                        = module.storage.bucket_names["logs"]
    s3_bucket_backups                     = module.storage.bucket_names["backups"]
    cloudwatch_log_group                  = aws_cloudwatch_log_group.containers.name
    certificate_arn                       = aws_acm_certificate_validation.ingress.certificate_arn
    base_domain                           = var.base_domain
    secrets_prefix                        = local.secrets_prefix
    role_arn_cluster_autoscaler           = module.role_cluster_autoscaler.arn
    role_arn_aws_load_balancer_controller = module.role_aws_load_balancer_controller.arn
    role_arn_external_secrets             = module.role_external_secrets.role_arn
    role_arn_ebs_csi                      = module.role_ebs_csi.arn
    role_arn_efs_csi                      = module.role_efs_csi.arn
    role_arn_velero                       = module.role_velero.arn
    role_arn_fluent_bit                   = module.role_fluent_bit.role_arn
    role_arn_mlflow                       = module.role_mlflow.role_arn
    role_arn_training                     = module.role_training.role_arn
    role_arn_model_sync                   = module.role_model_sync.role_arn
    role_arn_feast                        = module.role_feast.role_arn
  }
}

module "cluster_vars" {
  source       = "../cluster-vars"
  cluster_name = local.cluster
  values       = local.cluster_vars
}
