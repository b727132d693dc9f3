variable "cluster_name" {
  description = "Cluster whose clusters/<cluster>/cluster-vars.yaml this renders."
  type        = string
}

variable "values" {
  description = "Variable name -> value; exactly the names of local.names (docs/cluster-vars.md)."
  type        = map(string)
}
