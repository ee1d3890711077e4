"""Every rule of the pack, in report order. Add a rule to its concern's module and list it here."""

from __future__ import annotations

from policies import (
    api_rules,
    backup_rules,
    digest_rules,
    edge_rules,
    infra_rules,
    isolation_rules,
    network_rules,
    release_rules,
    workload_rules,
)
from policies.model import AnyRule, ResourceRule, StackRule

RESOURCE_RULES: list[ResourceRule] = [
    *workload_rules.RULES, *digest_rules.RULES, *network_rules.RULES, *api_rules.RULES, *infra_rules.RULES,
]
STACK_RULES: list[StackRule] = [*isolation_rules.RULES, *release_rules.RULES, *edge_rules.RULES,
                                *backup_rules.RULES]
ALL_RULES: list[AnyRule] = [*RESOURCE_RULES, *STACK_RULES]
BY_NAME: dict[str, AnyRule] = {rule.name: rule for rule in ALL_RULES}

assert len(BY_NAME) == len(ALL_RULES), "rule names must be unique"
