# Shared storage of the platform: EFS for ReadWriteMany volumes (datasets, notebooks) and the S3 buckets the
# controllers and jobs write to. Every bucket is versioned, encrypted with the platform key, closed to the
# public, TLS-only, access-logged, and has lifecycle rules that fit what it holds.

locals {
  # Lifecycle per purpose: checkpoints are scratch (a finished run keeps only its final model in the
  # registry); registered models keep old versions for rollback; logs move to cold storage.
  buckets = {
    artifacts = {
      expire_current_days     = null
      noncurrent_days         = 90
      transition_days         = 30
      transition_storage_type = "INTELLIGENT_TIERING"
    }
    model-registry = {
      expire_current_days     = null
      noncurrent_days         = 365
      transition_days         = null
      transition_storage_type = null
    }
    checkpoints = {
      expire_current_days     = 30
      noncurrent_days         = 7
      transition_days         = null
      transition_storage_type = null
    }
    logs = {
      expire_current_days     = 400
      noncurrent_days         = 30
      transition_days         = 90
      transition_storage_type = "GLACIER_IR"
    }
    # Previous versions are what recovers an overwritten or deleted object: the noncurrent_days below are the
    # windows the recovery targets in docs/layers/storage.md promise (artifacts 90, registry 365, backups 30).
    backups = {
      # Velero deletes backups past their TTL itself; versions guard against a deleted or overwritten backup.
      expire_current_days     = null
      noncurrent_days         = 30
      transition_days         = null
      transition_storage_type = null
    }
  }
}

resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_144:Recovery targets (docs/layers/storage.md) cover in-region failures with versioning and Velero; region loss has no target on this single-region platform, and cross-region copies of buckets, EBS snapshots and EFS recovery points are a separate decision with its own cost.
  #checkov:skip=CKV2_AWS_62:No consumer of S3 event notifications exists; an unused notification target would be dead configuration.
  for_each = local.buckets
  bucket   = "${var.name_prefix}-${each.key}-${var.aws_account_id}"
  tags     = merge(var.tags, { Purpose = each.key })
}

resource "aws_s3_bucket_versioning" "this" {
  for_each = local.buckets
  bucket   = aws_s3_bucket.this[each.key].id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  for_each = local.buckets
  bucket   = aws_s3_bucket.this[each.key].id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    # One data key per bucket instead of a KMS call per object: cheaper and far fewer throttled requests.
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  for_each                = local.buckets
  bucket                  = aws_s3_bucket.this[each.key].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "this" {
  for_each = local.buckets
  bucket   = aws_s3_bucket.this[each.key].id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_logging" "this" {
  for_each      = local.buckets
  bucket        = aws_s3_bucket.this[each.key].id
  target_bucket = aws_s3_bucket.access_logs.id
  target_prefix = "${each.key}/"
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  for_each = local.buckets
  bucket   = aws_s3_bucket.this[each.key].id

  rule {
    id     = "${each.key}-lifecycle"
    status = "Enabled"
    filter {}

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }

    noncurrent_version_expiration {
      noncurrent_days = local.buckets[each.key].noncurrent_days
    }

    dynamic "expiration" {
      for_each = local.buckets[each.key].expire_current_days == null ? [] : [local.buckets[each.key].expire_current_days]
      content {
        days = expiration.value
      }
    }

    dynamic "transition" {
      for_each = local.buckets[each.key].transition_days == null ? [] : [local.buckets[each.key].transition_days]
      content {
        days          = transition.value
        storage_class = local.buckets[each.key].transition_storage_type
      }
    }
  }
}

data "aws_iam_policy_document" "tls_only" {
  for_each = local.buckets
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.this[each.key].arn,
      "${aws_s3_bucket.this[each.key].arn}/*",
    ]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  for_each = local.buckets
  bucket   = aws_s3_bucket.this[each.key].id
  policy   = data.aws_iam_policy_document.tls_only[each.key].json
  # S3 rejects a bucket policy while the public access block is being created for the same bucket.
  depends_on = [aws_s3_bucket_public_access_block.this]
}

# ---- the target of S3 server access logs ----

resource "aws_s3_bucket" "access_logs" {
  #checkov:skip=CKV_AWS_18:This bucket is the access-log target; logging it to itself would log every log delivery, in a loop.
  #checkov:skip=CKV_AWS_144:Single-region platform by design; access logs are an audit aid, not data to recover.
  #checkov:skip=CKV2_AWS_62:No consumer of S3 event notifications exists for access logs.
  #checkov:skip=CKV_AWS_145:S3 server access log delivery supports only SSE-S3 on the target bucket, not SSE-KMS (AWS S3 User Guide, "Enabling Amazon S3 server access logging").
  bucket = "${var.name_prefix}-access-logs-${var.aws_account_id}"
  tags   = merge(var.tags, { Purpose = "access-logs" })
}

resource "aws_s3_bucket_versioning" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_public_access_block" "access_logs" {
  bucket                  = aws_s3_bucket.access_logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  rule {
    id     = "access-logs-expiry"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
    expiration {
      days = 365
    }
    noncurrent_version_expiration {
      noncurrent_days = 7
    }
  }
}

# With BucketOwnerEnforced, the logging service writes under a bucket policy instead of an ACL.
data "aws_iam_policy_document" "access_logs" {
  statement {
    sid       = "S3ServerAccessLogsFromOurBuckets"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.access_logs.arn}/*"]
    principals {
      type        = "Service"
      identifiers = ["logging.s3.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [var.aws_account_id]
    }
  }
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.access_logs.arn, "${aws_s3_bucket.access_logs.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "access_logs" {
  bucket     = aws_s3_bucket.access_logs.id
  policy     = data.aws_iam_policy_document.access_logs.json
  depends_on = [aws_s3_bucket_public_access_block.access_logs]
}

# ---- EFS: ReadWriteMany volumes through the EFS CSI driver (dynamic provisioning with access points) ----

resource "aws_efs_file_system" "shared" {
  creation_token   = "${var.name_prefix}-shared"
  encrypted        = true
  kms_key_id       = var.kms_key_arn
  performance_mode = "generalPurpose"
  # Elastic throughput follows the load of many small training readers without provisioning for the peak.
  throughput_mode = "elastic"

  lifecycle_policy {
    transition_to_ia = "AFTER_30_DAYS"
  }
  lifecycle_policy {
    transition_to_primary_storage_class = "AFTER_1_ACCESS"
  }

  tags = merge(var.tags, { Name = "${var.name_prefix}-shared" })
}

resource "aws_efs_backup_policy" "shared" {
  file_system_id = aws_efs_file_system.shared.id
  backup_policy {
    status = "ENABLED"
  }
}

# Who may mount, and how. With this policy in effect EFS no longer applies its default policy, which lets any
# anonymous client that reaches a mount target in; a client must now sign its mount with IAM credentials (the
# `iam` mount option of efs-utils) as one of var.client_role_arns, the EFS CSI node role. An allow in the file
# system policy alone grants access (EFS User Guide, "Using IAM to control access to file systems"), so that
# role needs no permissions policy of its own. No ClientRootAccess: the CSI driver mounts every volume through
# an access point that enforces a non-root POSIX identity (its gid range, 50000-60000 in the StorageClass), and
# enforcing an identity needs root access only for uid or gid 0 (EFS User Guide, "Enforcing a user identity
# using an access point"). Only aws:SecureTransport, aws:SourceIp, elasticfilesystem:AccessPointArn and
# elasticfilesystem:AccessedViaMountTarget are evaluated for NFS clients, so the conditions stay among those.
# The cross-layer rule efs-mount-policy checks the `efs` StorageClass against this policy.
data "aws_iam_policy_document" "efs" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["*"]
    resources = [aws_efs_file_system.shared.arn]
    principals {
      type        = "AWS"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
  statement {
    sid = "MountFromTheCsiNodeThroughMountTargets"
    actions = [
      "elasticfilesystem:ClientMount",
      "elasticfilesystem:ClientWrite",
    ]
    resources = [aws_efs_file_system.shared.arn]
    principals {
      type        = "AWS"
      identifiers = var.client_role_arns
    }
    condition {
      test     = "Bool"
      variable = "elasticfilesystem:AccessedViaMountTarget"
      values   = ["true"]
    }
  }
}

resource "aws_efs_file_system_policy" "shared" {
  file_system_id = aws_efs_file_system.shared.id
  policy         = data.aws_iam_policy_document.efs.json
}

resource "aws_security_group" "efs" {
  name        = "${var.name_prefix}-efs"
  description = "NFS from the cluster nodes to the EFS mount targets"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name_prefix}-efs" })
}

resource "aws_vpc_security_group_ingress_rule" "efs_from_nodes" {
  for_each                     = var.client_security_group_ids
  security_group_id            = aws_security_group.efs.id
  description                  = "NFS from cluster nodes"
  ip_protocol                  = "tcp"
  from_port                    = 2049
  to_port                      = 2049
  referenced_security_group_id = each.value
}

resource "aws_efs_mount_target" "shared" {
  for_each        = var.subnet_ids_by_az
  file_system_id  = aws_efs_file_system.shared.id
  subnet_id       = each.value
  security_groups = [aws_security_group.efs.id]
}
