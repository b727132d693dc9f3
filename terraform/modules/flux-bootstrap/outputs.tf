output "deploy_key_public" {
  description = "Add this public key to the git repository as a read-only deploy key."
  value       = tls_private_key.flux.public_key_openssh
}

output "git_url" {
  description = "The repository Flux pulls (from gotk-sync.yaml)."
  value       = local.git_repository.spec.url
}
