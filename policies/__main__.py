"""The doc-rag policy pack, served over the Analyzer protocol: `pulumi preview --policy-pack policies`.

The CLI runs `python -u -m pulumi.policy <engine> policies`, which executes this file; PolicyPack prints
its port and serves until stopped. The rules themselves live in rules.py and its modules.
"""

import sys
from pathlib import Path

# The pack's modules import as `policies.*` whatever directory the CLI starts us in.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import EnforcementLevel, PolicyPack  # noqa: E402

from policies.crossguard import to_policy  # noqa: E402
from policies.rules import ALL_RULES  # noqa: E402

PolicyPack(
    name="doc-rag",
    description="Doc-RAG on Kubernetes: pinned images, resources, probes, Pod Security restricted, one edge, TLS, "
                "current APIs, PDBs and replicas per colour, node and IOPS floors, NetworkPolicies, canary routes.",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[to_policy(rule) for rule in ALL_RULES],
)
