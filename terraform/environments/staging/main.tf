# The cluster of this environment. Its node pools, region and Kubernetes version come from node-pools.yaml,
# the file the mlplatform tools read too; the rest of the environment's choices are in terraform.tfvars.

locals {
  pool_file = yamldecode(file("${path.module}/node-pools.yaml"))
  tags = {
    Project     = "mlplatform"
    Cluster     = local.pool_file.cluster
    ManagedBy   = "terraform"
    Repository  = "example-org/ml-platform-gitops"
    Environment = local.pool_file.cluster
  }
}

provider "aws" {
  region              = local.pool_file.region
  allowed_account_ids = [var.aws_account_id]
  default_tags {
    tags = local.tags
  }
}

module "platform" {
  source                       = "../../modules/platform"
  pool_file                    = local.pool_file
  aws_account_id               = var.aws_account_id
  availability_zone_ids        = var.availability_zone_ids
  vpc_cidr                     = var.vpc_cidr
  endpoint_public_access_cidrs = var.endpoint_public_access_cidrs
  cluster_admin_role_arns      = var.cluster_admin_role_arns
  base_domain                  = var.base_domain
  tags                         = local.tags
}

provider "helm" {
  kubernetes = {
    host                   = module.platform.cluster_endpoint
    cluster_ca_certificate = base64decode(module.platform.cluster_certificate_authority_data)
    exec = {
      api_version = "client.authentication.k8s.io/v1beta1"
      command     = "aws"
      args        = ["eks", "get-token", "--cluster-name", module.platform.cluster_name, "--region", local.pool_file.region]
    }
  }
}

module "flux_bootstrap" {
  source          = "../../modules/flux-bootstrap"
  gotk_sync_path  = "${path.module}/../../../clusters/${local.pool_file.cluster}/flux-system/gotk-sync.yaml"
  git_known_hosts = var.git_known_hosts
  # Flux's controllers need nodes, and its first sync needs the add-ons and roles in place.
  depends_on = [module.platform]
}
