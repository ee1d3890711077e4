"""Preflight: release invariants checked on the config before anything is registered.

Pure functions over the validated config and the traffic layer's pure manifest builders, so what is
checked is exactly what would be rendered. Called from __main__.py right after load_config(); a failure
is a ConfigError (the plan exits 2, `pulumi up` stops before touching anything).
"""

from __future__ import annotations

from typing import Any

from components.config import ConfigError, DocRagConfig, ReleaseConfig
from components.traffic import (
    canary_ingress_manifest,
    destination_rule_manifest,
    main_ingress_manifest,
    main_route,
    traffic_state,
    virtual_service_manifest,
)


def check_receiving_colours(release: ReleaseConfig) -> list[str]:
    """Every colour with a share of traffic can serve it, and a canary is a different build."""
    state = traffic_state(release)
    problems = []
    for color in state.receiving:
        share = state.weights[color]
        cfg = release.color(color)
        why = f"{color} receives {share}% of traffic (activeColor {state.active}, canaryWeight {state.weight})"
        if cfg.replicas <= 0:
            problems.append(f"release.{color}.replicas = {cfg.replicas}: {why}; allowed: replicas > 0")
        # Defence in depth: config already refuses an empty image; DESIGN.md lists it as a preflight invariant.
        if not cfg.image:
            problems.append(f"release.{color}.image = {cfg.image!r}: {why}; allowed: a pinned image")
    if state.weight > 0 and release.color(state.canary).image == release.color(state.active).image:
        problems.append(
            f"release.{state.canary}.image = {release.color(state.canary).image!r}: the same image as the active "
            f"colour {state.active} while canaryWeight is {state.weight}; allowed: a different image "
            "(a canary of the serving build tests nothing)"
        )
    return problems


def _paths(ingress: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {
        (rule.get("host", ""), path.get("path", ""), path.get("pathType", ""))
        for rule in ingress["spec"].get("rules", [])
        for path in rule.get("http", {}).get("paths", [])
    }


def check_routes(main: dict[str, Any], canary: dict[str, Any]) -> list[str]:
    """ingress-nginx applies a canary only to a main Ingress with the same host, path and pathType."""
    problems = []
    main_paths, canary_paths = _paths(main), _paths(canary)
    if not canary_paths or canary_paths != main_paths:
        problems.append(
            f"canary Ingress {canary['metadata']['name']} routes {sorted(canary_paths)}: allowed: exactly the main "
            f"Ingress {main['metadata']['name']} routes {sorted(main_paths)} (ingress-nginx drops a mismatched canary)"
        )
    if main["spec"].get("ingressClassName") != canary["spec"].get("ingressClassName"):
        problems.append(
            f"canary Ingress ingressClassName = {canary['spec'].get('ingressClassName')!r}: allowed: the main "
            f"Ingress' {main['spec'].get('ingressClassName')!r}"
        )
    return problems


def check_subsets(destination_rule: dict[str, Any], virtual_service: dict[str, Any]) -> list[str]:
    """Every (host, subset) a route names is defined, and each route's weights sum to 100."""
    host = destination_rule["spec"]["host"]
    defined = {subset["name"] for subset in destination_rule["spec"].get("subsets", [])}
    problems = []
    for index, http in enumerate(virtual_service["spec"].get("http", [])):
        for destination in (entry["destination"] for entry in http.get("route", [])):
            subset = destination.get("subset")
            if subset is not None and (destination["host"] != host or subset not in defined):
                allowed = sorted(f"{host}/{name}" for name in defined)
                problems.append(
                    f"VirtualService http[{index}] subset {destination['host']}/{subset}: not defined; allowed: "
                    f"{allowed} (DestinationRule {destination_rule['metadata']['name']})"
                )
        total = sum(entry.get("weight", 0) for entry in http.get("route", []))
        if len(http.get("route", [])) > 1 and total != 100:
            problems.append(f"VirtualService http[{index}] weights sum to {total}: allowed: exactly 100")
    return problems


def preflight(config: DocRagConfig) -> None:
    """Raise ConfigError listing every broken release invariant; return None when the release is safe."""
    route = main_route(config)
    problems = [
        *check_receiving_colours(config.release),
        *check_routes(main_ingress_manifest(config, route), canary_ingress_manifest(config, route)),
        *check_subsets(destination_rule_manifest(), virtual_service_manifest(config)),
    ]
    if problems:
        raise ConfigError(problems)
