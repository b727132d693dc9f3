terraform {
  # Write-only arguments (the MLflow database password) need Terraform 1.11.
  required_version = "~> 1.11.0"

  # State bucket and its KMS key are created once per account before the first apply
  # (docs/runbooks/create-cluster.md); S3 native locking (use_lockfile) replaces the DynamoDB table.
  backend "s3" {
    bucket       = "mlplatform-tfstate-444455556666"
    key          = "staging/terraform.tfstate"
    region       = "us-east-1"
    encrypt      = true
    kms_key_id   = "alias/mlplatform-tfstate"
    use_lockfile = true
  }

  # The upstream EKS module also needs time and cloudinit; pinned here so `init` cannot pick newer ones.
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "6.28.0"
    }
    helm = {
      source  = "hashicorp/helm"
      version = "3.0.2"
    }
    random = {
      source  = "hashicorp/random"
      version = "3.7.2"
    }
    tls = {
      source  = "hashicorp/tls"
      version = "4.1.0"
    }
    time = {
      source  = "hashicorp/time"
      version = "0.13.1"
    }
    cloudinit = {
      source  = "hashicorp/cloudinit"
      version = "2.3.7"
    }
  }
}
