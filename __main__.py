"""Doc-RAG on Kubernetes: load and validate the stack config, build the system, export its outputs."""

import pulumi

from components.config import load_config
from components.deploy_gate import refuse_undeployable
from components.docrag import DocRag
from components.preflight import preflight

# Raises ConfigError (naming key, value and what is allowed) before any resource is registered.
config, secrets = load_config()
preflight(config)  # release invariants (weights, colours, routes, subsets); ConfigError before anything registers
refuse_undeployable(config)  # placeholders a plan may hold but `pulumi up` must not deploy (components/deploy_gate.py)

system = DocRag("doc-rag", config, secrets)
for name, value in system.outputs.items():
    pulumi.export(name, value)
