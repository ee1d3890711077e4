"""The local Kubernetes control plane the `local` stack deploys to (see cli.py)."""
