# IAM roles of the in-cluster controllers (IRSA). Each trusts exactly one namespace:serviceaccount
# (docs/cluster-vars.md lists them). Controllers with a well-known upstream policy use the maintained
# policy of terraform-aws-modules/iam (v6.5.0, pinned by commit); our own workloads get policies written here, scoped to their buckets,
# log group, secrets and key.

locals {
  oidc = module.eks.oidc_provider_arn
  # Roles are named, not prefixed: their ARNs are predictable, and cluster-vars.yaml holds them.
  role_name = { for controller in [
    "cluster-autoscaler", "aws-load-balancer-controller", "external-secrets", "ebs-csi", "efs-csi", "velero",
    "fluent-bit", "mlflow", "training", "model-sync", "feast", "vpc-cni", "efs-csi-node",
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

# The EFS CSI node DaemonSet mounts every EFS volume with the `iam` option (StorageClass `efs`), and efs-utils
# signs the mount with the credentials of the pod's service account, kube-system:efs-csi-node-sa
# (aws-efs-csi-driver v3.4.1 docs/parameters.md: "iam: Use the CSI Node Pod's IAM identity"). That account
# belongs to the EKS add-on, which does not let us annotate it for IRSA from git, so it gets its role through
# an EKS Pod Identity association, the way the driver's docs/iam-policy-create.md recommends; efs-utils reads
# Pod Identity credentials first in its chain (aws/efs-utils v3.2.0 src/efs_utils_common/aws_credentials.py,
# since efs-utils 2.3.0). The role has no permissions policy: the EFS file system policy (modules/storage)
# names it, and that allow alone lets it mount and write. Without the association, efs-utils would fall back
# to the node instance role, which the file system policy does not admit, and the mount fails closed.
data "aws_iam_policy_document" "efs_csi_node_trust" {
  statement {
    sid     = "EksPodIdentityForTheEfsCsiNode"
    actions = ["sts:AssumeRole", "sts:TagSession"]
    principals {
      type        = "Service"
      identifiers = ["pods.eks.amazonaws.com"]
    }
    # Pod Identity sets these session tags; they confine the role to one service account of this cluster
    # (EKS User Guide, "Create IAM role with trust policy required by EKS Pod Identity").
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/eks-cluster-name"
      values   = [local.cluster]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/kubernetes-namespace"
      values   = ["kube-system"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/kubernetes-service-account"
      values   = ["efs-csi-node-sa"]
    }
  }
}

resource "aws_iam_role" "efs_csi_node" {
  name               = local.role_name["efs-csi-node"]
  description        = "EFS CSI node DaemonSet (kube-system:efs-csi-node-sa): mounts EFS with IAM authorization"
  assume_role_policy = data.aws_iam_policy_document.efs_csi_node_trust.json
  tags               = var.tags
}

resource "aws_eks_pod_identity_association" "efs_csi_node" {
  cluster_name    = module.eks.cluster_name
  namespace       = "kube-system"
  service_account = "efs-csi-node-sa"
  role_arn        = aws_iam_role.efs_csi_node.arn
  tags            = var.tags
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
