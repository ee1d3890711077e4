"""The real engine (pulumi, its Python host, the Kubernetes provider) and a Kubernetes control plane,
built from Go modules: see build.py."""
