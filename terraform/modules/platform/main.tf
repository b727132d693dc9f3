# One cluster of the platform: network, EKS, node pools from the pool file, storage, IAM roles for the
# in-cluster controllers, secrets and the values the cluster's manifests need (cluster-vars).

locals {
  cluster = var.pool_file.cluster
  region  = var.pool_file.region
  prefix  = "mlplatform-${local.cluster}"
  azs     = data.aws_availability_zones.selected.names
  # One private /18 per zone for nodes and pods, a public /24 per zone (load balancers, NAT) out of the fourth /18.
  private_subnets  = [for i in range(3) : cidrsubnet(var.vpc_cidr, 2, i)]
  public_subnets   = [for i in range(3) : cidrsubnet(var.vpc_cidr, 8, 192 + i)]
  subnet_ids_by_az = zipmap(local.azs, module.vpc.private_subnets)
  # The same subnets keyed by zone id, the way the pool files name zones (a name is a different physical zone
  # in every account). The data source's names and zone_ids list the same zones in the same order (hashicorp/aws
  # 6.28.0, pinned in versions.tf; data source aws_availability_zones: "the indexes of Availability Zone names
  # and IDs correspond"), and the VPC module creates one private subnet per entry of azs, in that order.
  # subnet_ids_by_az stays keyed by name for storage: its EFS mount targets are keyed by it, and new keys
  # would replace them.
  subnet_ids_by_zone_id = zipmap(data.aws_availability_zones.selected.zone_ids, module.vpc.private_subnets)
  secrets_prefix        = "mlplatform/${local.cluster}"
}

# Zones by id (use1-az1...), which name the same physical zone in every account; GPU capacity differs by
# zone, so the choice is deliberate and does not grow when AWS adds a zone.
data "aws_availability_zones" "selected" {
  state = "available"
  filter {
    name   = "zone-id"
    values = var.availability_zone_ids
  }
}

module "kms" {
  source         = "../kms"
  name           = local.prefix
  aws_account_id = var.aws_account_id
  aws_region     = local.region
  tags           = var.tags
}

module "vpc" {
  # v6.6.0, pinned by commit: a registry version resolves to a git tag, which can be moved; a commit cannot.
  source = "git::https://github.com/terraform-aws-modules/terraform-aws-vpc.git?ref=82d1929e669efef4e2ad00611b8a68e7a56e049c"

  name            = local.prefix
  cidr            = var.vpc_cidr
  azs             = local.azs
  private_subnets = local.private_subnets
  public_subnets  = local.public_subnets

  enable_dns_hostnames = true
  enable_nat_gateway   = true
  # One NAT gateway per zone: a zone outage does not cut the other zones' nodes off from ECR and S3.
  one_nat_gateway_per_az        = true
  manage_default_security_group = true

  enable_flow_log                                 = true
  create_flow_log_cloudwatch_log_group            = true
  create_flow_log_cloudwatch_iam_role             = true
  flow_log_max_aggregation_interval               = 60
  flow_log_cloudwatch_log_group_retention_in_days = var.log_retention_days
  flow_log_cloudwatch_log_group_kms_key_id        = module.kms.key_arn

  public_subnet_tags  = { "kubernetes.io/role/elb" = "1" }
  private_subnet_tags = { "kubernetes.io/role/internal-elb" = "1" }

  tags = var.tags
}

module "eks" {
  # v21.19.0, pinned by commit.
  source = "git::https://github.com/terraform-aws-modules/terraform-aws-eks.git?ref=bef29c4d9523523e57fe898643fde2895106b339"

  name               = local.cluster
  kubernetes_version = var.pool_file.kubernetes_version
  vpc_id             = module.vpc.vpc_id
  subnet_ids         = module.vpc.private_subnets

  # Private endpoint for nodes; the public one only from the listed CIDRs (none = private only).
  endpoint_private_access      = true
  endpoint_public_access       = length(var.endpoint_public_access_cidrs) > 0
  endpoint_public_access_cidrs = var.endpoint_public_access_cidrs

  # Secrets are envelope-encrypted with a key the module creates (rotation on).
  encryption_config                      = { resources = ["secrets"] }
  enabled_log_types                      = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
  cloudwatch_log_group_retention_in_days = var.log_retention_days
  cloudwatch_log_group_kms_key_id        = module.kms.key_arn
  deletion_protection                    = true

  # Access entries only (no aws-auth ConfigMap); admins are named, the creator gets nothing implicit.
  authentication_mode                      = "API"
  enable_cluster_creator_admin_permissions = false
  access_entries = {
    for name, arn in var.cluster_admin_role_arns : name => {
      principal_arn = arn
      policy_associations = {
        admin = {
          policy_arn   = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
          access_scope = { type = "cluster" }
        }
      }
    }
  }

  # Add-ons nodes need before they can become Ready; the rest follow the node pools (below).
  addons = {
    vpc-cni = {
      before_compute           = true
      service_account_role_arn = module.role_vpc_cni.arn
      # Prefix delegation: a /28 per ENI slot instead of one IP, so GPU nodes reach their pod limit.
      # enableNetworkPolicy: without it the network-policy agent in aws-node enforces nothing and every
      # NetworkPolicy in the cluster (default-deny, the IMDS exclusion, namespace isolation) is decoration.
      # Key and string value as the EKS add-on schema takes them (EKS User Guide, cni-network-policy-configure;
      # aws/amazon-vpc-cni-k8s charts/aws-vpc-cni/values.yaml, default "false"); needs VPC CNI >= 1.14, and the
      # module installs the newest add-on version for the cluster's Kubernetes version (most_recent defaults to
      # true in terraform-aws-eks v21.19.0 variables.tf). The rule networkpolicy-not-enforced checks this line.
      configuration_values = jsonencode({
        enableNetworkPolicy = "true"
        env                 = { ENABLE_PREFIX_DELEGATION = "true", WARM_PREFIX_TARGET = "1" }
      })
    }
    kube-proxy             = { before_compute = true }
    eks-pod-identity-agent = { before_compute = true }
  }

  tags = var.tags
}

module "node_pools" {
  source                = "../node-pools"
  cluster_name          = module.eks.cluster_name
  kubernetes_version    = var.pool_file.kubernetes_version
  pools                 = var.pool_file.pools
  subnet_ids_by_zone_id = local.subnet_ids_by_zone_id
  security_group_ids    = [module.eks.cluster_primary_security_group_id, module.eks.node_security_group_id]
  vpc_id                = module.vpc.vpc_id
  tags                  = var.tags
}

# Add-ons whose pods need nodes: created after the node pools, so they do not time out waiting for them.
data "aws_eks_addon_version" "after_nodes" {
  for_each           = toset(["coredns", "aws-ebs-csi-driver", "aws-efs-csi-driver"])
  addon_name         = each.value
  kubernetes_version = module.eks.cluster_version
  most_recent        = true
}

resource "aws_eks_addon" "after_nodes" {
  for_each                    = data.aws_eks_addon_version.after_nodes
  cluster_name                = module.eks.cluster_name
  addon_name                  = each.key
  addon_version               = each.value.version
  resolve_conflicts_on_create = "OVERWRITE"
  resolve_conflicts_on_update = "OVERWRITE"
  service_account_role_arn = lookup({
    aws-ebs-csi-driver = module.role_ebs_csi.arn
    aws-efs-csi-driver = module.role_efs_csi.arn
  }, each.key, null)
  tags = var.tags
  # The EFS CSI node pods must start with their Pod Identity credentials (injected when a pod is created):
  # the association exists before the add-on creates its DaemonSet.
  depends_on = [module.node_pools, aws_eks_pod_identity_association.efs_csi_node]
}

module "storage" {
  source                    = "../storage"
  name_prefix               = local.prefix
  aws_account_id            = var.aws_account_id
  kms_key_arn               = module.kms.key_arn
  vpc_id                    = module.vpc.vpc_id
  subnet_ids_by_az          = local.subnet_ids_by_az
  client_security_group_ids = { nodes = module.eks.node_security_group_id, cluster = module.eks.cluster_primary_security_group_id }
  client_role_arns          = [aws_iam_role.efs_csi_node.arn]
  tags                      = var.tags
}

module "secrets" {
  source      = "../secrets"
  prefix      = local.secrets_prefix
  kms_key_arn = module.kms.key_arn
  tags        = var.tags
}

resource "aws_cloudwatch_log_group" "containers" {
  name              = "/mlplatform/${local.cluster}/containers"
  retention_in_days = var.log_retention_days
  kms_key_id        = module.kms.key_arn
  tags              = var.tags
}

# ---- TLS certificate for the ALB ingresses ----

data "aws_route53_zone" "base" {
  name         = var.base_domain
  private_zone = false
}

resource "aws_acm_certificate" "ingress" {
  domain_name               = var.base_domain
  subject_alternative_names = ["*.${var.base_domain}"]
  validation_method         = "DNS"
  tags                      = var.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_route53_record" "certificate_validation" {
  for_each = {
    for option in aws_acm_certificate.ingress.domain_validation_options : option.domain_name => option
  }
  zone_id         = data.aws_route53_zone.base.zone_id
  name            = each.value.resource_record_name
  type            = each.value.resource_record_type
  records         = [each.value.resource_record_value]
  ttl             = 300
  allow_overwrite = true
}

resource "aws_acm_certificate_validation" "ingress" {
  certificate_arn         = aws_acm_certificate.ingress.arn
  validation_record_fqdns = [for record in aws_route53_record.certificate_validation : record.fqdn]
}
