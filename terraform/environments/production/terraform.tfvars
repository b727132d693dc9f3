aws_account_id = "111122223333"
# GPU instance types are not offered in every zone: check each pool's types with
# aws ec2 describe-instance-type-offerings --location-type availability-zone-id --filters Name=instance-type,Values=<type>
availability_zone_ids = ["use1-az1", "use1-az2", "use1-az4"]
vpc_cidr              = "10.10.0.0/16"
# Office and CI egress; nodes and in-VPC tooling use the private endpoint.
endpoint_public_access_cidrs = ["203.0.113.0/24", "198.51.100.10/32"]
cluster_admin_role_arns = {
  platform-team = "arn:aws:iam::111122223333:role/platform-admin"
  break-glass   = "arn:aws:iam::111122223333:role/break-glass-admin"
}
base_domain = "ml.example.com"
# GitHub's published SSH host key (https://docs.github.com/en/authentication/keeping-your-account-and-data-secure/githubs-ssh-key-fingerprints).
git_known_hosts = "github.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
