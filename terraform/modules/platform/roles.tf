# IAM roles of the in-cluster controllers (IRSA). Each trusts exactly one namespace:serviceaccount
# (docs/cluster-vars.md lists them). Controllers with a well-known upstream policy use the maintained
# policy of terraform-aws-modules/iam (v6.5.0, pinned by commit); our own workloads get policies written here, scoped to their buckets,
# log group, secrets and key.

locals {
  oidc = module.eks.oidc_provider_arn
  # Roles are named, not prefixed: their ARNs are predictable, and cluster-vars.yaml holds them.
  role_name = { for controller in [
    "cluster-autoscaler", "aws-load-balancer-controller", "external-secrets", "ebs-csi", "efs-csi", "velero",
    "fluent-bit", "mlflow", "training", "model-sync", "feast", "vpc-cni",
  ] : controller => "${local.cluster}-${controller}" }
  buckets = module.storage.bucket_arns
}

module "role_vpc_cni" {
  source                = "git::https://github.com/terraform-aws-modules/terraform-aws-iam.git//modules/iam-role-for-service-accounts?ref=981121bcd17618b8ed032223c0d9e647b9277ef9"
  name                  = local.role_name["vpc-cni"]
  use_name_prefix       = false
  attach_vpc_cni_policy = true
  vpc_cni_enable_ipv4   = true
  oidc_providers        = { this = { provider_arn = local.oidc, namespace_service_accounts = ["kube-system:aws-node"] } }
  tags                  = var.tags
}

module "role_cluster_autoscaler" {
  source                           = "git::https://github.com/terraform-aws-modules/terraform-aws-iam.git//modules/iam-role-for-service-accounts?ref=981121bcd17618b8ed032223c0d9e647b9277ef9"
  name                             = local.role_name["cluster-autoscaler"]
  use_name_prefix                  = false
  attach_cluster_autoscaler_policy = true
  # Scaling and termination only for ASGs tagged as this cluster's (the policy conditions on the tag).
  cluster_autoscaler_cluster_names = [local.cluster]
  oidc_providers                   = { this = { provider_arn = local.oidc, namespace_service_accounts = ["kube-system:cluster-autoscaler"] } }
  tags                             = var.tags
}

module "role_aws_load_balancer_controller" {
  source                                 = "git::https://github.com/terraform-aws-modules/terraform-aws-iam.git//modules/iam-role-for-service-accounts?ref=981121bcd17618b8ed032223c0d9e647b9277ef9"
  name                                   = local.role_name["aws-load-balancer-controller"]
  use_name_prefix                        = false
  attach_load_balancer_controller_policy = true
  oidc_providers                         = { this = { provider_arn = local.oidc, namespace_service_accounts = ["kube-system:aws-load-balancer-controller"] } }
  tags                                   = var.tags
}

module "role_ebs_csi" {
  source                = "git::https://github.com/terraform-aws-modules/terraform-aws-iam.git//modules/iam-role-for-service-accounts?ref=981121bcd17618b8ed032223c0d9e647b9277ef9"
  name                  = local.role_name["ebs-csi"]
  use_name_prefix       = false
  attach_ebs_csi_policy = true
  ebs_csi_kms_cmk_arns  = [module.kms.key_arn]
  oidc_providers        = { this = { provider_arn = local.oidc, namespace_service_accounts = ["kube-system:ebs-csi-controller-sa"] } }
  tags                  = var.tags
}

module "role_efs_csi" {
  source                = "git::https://github.com/terraform-aws-modules/terraform-aws-iam.git//modules/iam-role-for-service-accounts?ref=981121bcd17618b8ed032223c0d9e647b9277ef9"
  name                  = local.role_name["efs-csi"]
  use_name_prefix       = false
  attach_efs_csi_policy = true
  oidc_providers        = { this = { provider_arn = local.oidc, namespace_service_accounts = ["kube-system:efs-csi-controller-sa"] } }
  tags                  = var.tags
}

module "role_velero" {
  source                = "git::https://github.com/terraform-aws-modules/terraform-aws-iam.git//modules/iam-role-for-service-accounts?ref=981121bcd17618b8ed032223c0d9e647b9277ef9"
  name                  = local.role_name["velero"]
  use_name_prefix       = false
  attach_velero_policy  = true
  velero_s3_bucket_arns = [local.buckets["backups"]]
  # The backups bucket is SSE-KMS: writing and reading it needs the platform key too.
  policies       = { kms = aws_iam_policy.use_platform_key.arn }
  oidc_providers = { this = { provider_arn = local.oidc, namespace_service_accounts = ["velero:velero"] } }
  tags           = var.tags
}

data "aws_iam_policy_document" "use_platform_key" {
  statement {
    sid       = "UsePlatformKeyForS3"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [module.kms.key_arn]
  }
}

resource "aws_iam_policy" "use_platform_key" {
  name        = "${local.prefix}-use-platform-key"
  description = "Encrypt and decrypt S3 objects with the platform key"
  policy      = data.aws_iam_policy_document.use_platform_key.json
  tags        = var.tags
}

# ---- our own policies ----

data "aws_iam_policy_document" "external_secrets" {
  statement {
    sid       = "ReadPlatformSecrets"
    actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret", "secretsmanager:ListSecretVersionIds"]
    resources = ["arn:aws:secretsmanager:${local.region}:${var.aws_account_id}:secret:${local.secrets_prefix}/*"]
  }
  statement {
    sid       = "DecryptPlatformSecrets"
    actions   = ["kms:Decrypt"]
    resources = [module.kms.key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${local.region}.amazonaws.com"]
    }
  }
}

module "role_external_secrets" {
  source            = "../irsa"
  name              = local.role_name["external-secrets"]
  oidc_provider_arn = local.oidc
  namespace         = "external-secrets"
  service_account   = "external-secrets"
  policy_json       = data.aws_iam_policy_document.external_secrets.json
  tags              = var.tags
}

data "aws_iam_policy_document" "fluent_bit" {
  statement {
    sid       = "WriteContainerLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = [aws_cloudwatch_log_group.containers.arn, "${aws_cloudwatch_log_group.containers.arn}:log-stream:*"]
  }
  statement {
    sid       = "ArchiveLogsToS3"
    actions   = ["s3:PutObject"]
    resources = ["${local.buckets["logs"]}/*"]
  }
  statement {
    sid       = "EncryptWithPlatformKey"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [module.kms.key_arn]
  }
}

module "role_fluent_bit" {
  source            = "../irsa"
  name              = local.role_name["fluent-bit"]
  oidc_provider_arn = local.oidc
  namespace         = "logging"
  service_account   = "fluent-bit"
  policy_json       = data.aws_iam_policy_document.fluent_bit.json
  tags              = var.tags
}

data "aws_iam_policy_document" "mlflow" {
  statement {
    sid       = "ListModelBuckets"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [local.buckets["artifacts"], local.buckets["model-registry"]]
  }
  statement {
    sid       = "ReadWriteModelObjects"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${local.buckets["artifacts"]}/*", "${local.buckets["model-registry"]}/*"]
  }
  statement {
    sid       = "EncryptWithPlatformKey"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [module.kms.key_arn]
  }
}

module "role_mlflow" {
  source            = "../irsa"
  name              = local.role_name["mlflow"]
  oidc_provider_arn = local.oidc
  namespace         = "mlops"
  service_account   = "mlflow"
  policy_json       = data.aws_iam_policy_document.mlflow.json
  tags              = var.tags
}

data "aws_iam_policy_document" "training" {
  statement {
    sid       = "ListTrainingBuckets"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [local.buckets["artifacts"], local.buckets["model-registry"], local.buckets["checkpoints"]]
  }
  statement {
    sid       = "ReadDatasetsAndModels"
    actions   = ["s3:GetObject"]
    resources = ["${local.buckets["artifacts"]}/*", "${local.buckets["model-registry"]}/*"]
  }
  statement {
    # Spot training resumes from here after an interruption.
    sid       = "ReadWriteCheckpoints"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = ["${local.buckets["checkpoints"]}/*"]
  }
  statement {
    sid       = "EncryptWithPlatformKey"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [module.kms.key_arn]
  }
}

module "role_training" {
  source            = "../irsa"
  name              = local.role_name["training"]
  oidc_provider_arn = local.oidc
  namespace         = "training"
  service_account   = "training-job"
  policy_json       = data.aws_iam_policy_document.training.json
  tags              = var.tags
}

data "aws_iam_policy_document" "model_sync" {
  statement {
    sid       = "ListReleasedModels"
    actions   = ["s3:ListBucket"]
    resources = [local.buckets["model-registry"]]
  }
  statement {
    # Inference reads released models only; nothing in its namespace can write the registry.
    sid       = "ReadModels"
    actions   = ["s3:GetObject"]
    resources = ["${local.buckets["model-registry"]}/*"]
  }
  statement {
    sid       = "DecryptWithPlatformKey"
    actions   = ["kms:Decrypt"]
    resources = [module.kms.key_arn]
  }
}

module "role_model_sync" {
  source            = "../irsa"
  name              = local.role_name["model-sync"]
  oidc_provider_arn = local.oidc
  namespace         = "inference"
  service_account   = "model-sync"
  policy_json       = data.aws_iam_policy_document.model_sync.json
  tags              = var.tags
}

data "aws_iam_policy_document" "feast" {
  statement {
    sid       = "ListFeastRegistry"
    actions   = ["s3:ListBucket"]
    resources = [local.buckets["artifacts"]]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["feast/*"]
    }
  }
  statement {
    sid       = "ReadWriteFeastRegistry"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${local.buckets["artifacts"]}/feast/*"]
  }
  statement {
    # The online store: DynamoDB tables that feast creates with the feast-<cluster>- prefix.
    sid = "FeastOnlineStoreTables"
    actions = [
      "dynamodb:DescribeTable", "dynamodb:CreateTable", "dynamodb:DeleteTable", "dynamodb:GetItem",
      "dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:BatchWriteItem", "dynamodb:UpdateItem",
      "dynamodb:DeleteItem", "dynamodb:Query",
    ]
    resources = ["arn:aws:dynamodb:${local.region}:${var.aws_account_id}:table/feast-${local.cluster}-*"]
  }
  statement {
    sid       = "EncryptWithPlatformKey"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [module.kms.key_arn]
  }
}

module "role_feast" {
  source            = "../irsa"
  name              = local.role_name["feast"]
  oidc_provider_arn = local.oidc
  namespace         = "mlops"
  service_account   = "feast"
  policy_json       = data.aws_iam_policy_document.feast.json
  tags              = var.tags
}
