# ECR repositories for the images we build ourselves (agents, trainers, the MLflow server). Tags are immutable,
# so a tag in a manifest always names the same image; images are scanned on push and encrypted with the
# platform key; untagged images expire.
locals {
  image_repositories = toset([
    "agents-crewai",
    "agents-langgraph",
    "agents-autogen",
    "mlflow-server",
    "trainer-pytorch",
    "trainer-tensorflow",
  ])
}

resource "aws_ecr_repository" "images" {
  for_each             = local.image_repositories
  name                 = "mlplatform/${each.key}"
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = module.kms.key_arn
  }

  tags = var.tags
}

resource "aws_ecr_lifecycle_policy" "images" {
  for_each   = aws_ecr_repository.images
  repository = each.value.name
  policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "Expire untagged images after 14 days"
      selection = {
        tagStatus   = "untagged"
        countType   = "sinceImagePushed"
        countUnit   = "days"
        countNumber = 14
      }
      action = { type = "expire" }
    }]
  })
}
