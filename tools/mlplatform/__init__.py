"""mlplatform: checks, GPU-sharing policies and capacity plans for this GitOps repository."""

__version__ = "0.1.0"
