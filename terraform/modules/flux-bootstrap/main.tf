# Installs Flux and points it at this repository, once. What Flux syncs comes from the committed
# clusters/<cluster>/flux-system/gotk-sync.yaml (read here, not repeated); from the first reconciliation on,
# Flux keeps that file's objects in sync itself and everything else in the cluster follows from git.

locals {
  # gotk-sync.yaml holds two documents: the GitRepository, then the Kustomization.
  sync_documents = [for doc in split("\n---\n", file(var.gotk_sync_path)) : yamldecode(doc)]
  git_repository = one([for doc in local.sync_documents : doc if doc.kind == "GitRepository"])
  kustomization  = one([for doc in local.sync_documents : doc if doc.kind == "Kustomization"])
}

# The deploy key Flux pulls with; its public half goes into the repository's deploy keys, read-only.
resource "tls_private_key" "flux" {
  algorithm = "ED25519"
}

resource "helm_release" "flux" {
  name             = "flux2"
  repository       = "https://fluxcd-community.github.io/helm-charts"
  chart            = "flux2"
  version          = var.flux_chart_version
  namespace        = local.git_repository.metadata.namespace
  create_namespace = true
  atomic           = true
  timeout          = 600

  # Without StrictPostBuildSubstitutions, kustomize-controller replaces a ${var} that has no value and no
  # default with an empty string and applies the result; with it, that Kustomization fails to build and nothing
  # of the revision is applied (fluxcd/kustomize-controller v1.8.3 docs/spec/v1/kustomizations.md,
  # internal/features/features.go: opt-in, off by default). The flux2 chart 2.18.3 appends
  # kustomizeController.container.additionalArgs to the controller's arguments. The rule
  # flux-strict-substitutions checks that this flag stays here.
  values = [yamlencode({
    kustomizeController = {
      container = {
        additionalArgs = ["--feature-gates=StrictPostBuildSubstitutions=true"]
      }
    }
  })]
}

resource "helm_release" "sync" {
  name       = local.git_repository.metadata.name
  repository = "https://fluxcd-community.github.io/helm-charts"
  chart      = "flux2-sync"
  version    = var.flux_sync_chart_version
  namespace  = local.git_repository.metadata.namespace
  atomic     = true

  values = [yamlencode({
    secret = {
      create = true
      data = {
        identity       = tls_private_key.flux.private_key_openssh
        "identity.pub" = tls_private_key.flux.public_key_openssh
        known_hosts    = var.git_known_hosts
      }
    }
    gitRepository = {
      spec = {
        url      = local.git_repository.spec.url
        ref      = local.git_repository.spec.ref
        interval = local.git_repository.spec.interval
      }
    }
    kustomization = {
      spec = {
        path     = local.kustomization.spec.path
        prune    = local.kustomization.spec.prune
        interval = local.kustomization.spec.interval
      }
    }
  })]

  depends_on = [helm_release.flux]
}
