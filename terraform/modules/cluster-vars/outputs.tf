output "yaml" {
  description = "The complete clusters/<cluster>/cluster-vars.yaml."
  value       = local.yaml

  precondition {
    condition     = length(setsubtract(keys(var.values), local.names)) == 0 && length(setsubtract(local.names, keys(var.values))) == 0
    error_message = "values must hold exactly the variables of docs/cluster-vars.md: add a new one there and to local.names first."
  }
}

output "names" {
  description = "The variable names, in file order."
  value       = local.names
}
