"""Doc-RAG on Kubernetes: load and validate the stack config, build the system, export its outputs."""

import pulumi

from components.config import load_config
from components.docrag import DocRag

# Raises ConfigError (naming key, value and what is allowed) before any resource is registered.
config, secrets = load_config()

system = DocRag("doc-rag", config, secrets)
for name, value in system.outputs.items():
    pulumi.export(name, value)
