variable "gotk_sync_path" {
  description = "Path of clusters/<cluster>/flux-system/gotk-sync.yaml: the GitRepository and Kustomization Flux starts from."
  type        = string
}

variable "git_known_hosts" {
  description = "known_hosts line(s) of the git server, so Flux verifies the host it pulls from."
  type        = string
}

variable "flux_chart_version" {
  description = "Version of the fluxcd-community flux2 chart (the Flux controllers)."
  type        = string
  default     = "2.18.3"
}

variable "flux_sync_chart_version" {
  description = "Version of the fluxcd-community flux2-sync chart (the first GitRepository and Kustomization)."
  type        = string
  default     = "1.14.5"
}
