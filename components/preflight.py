"""Preflight: release invariants checked on the config before anything is registered.

Pure functions over the validated config and the routers' pure manifest builders (each router judges its
own objects, components/routers/), so what is checked is exactly what would be rendered. Called from
__main__.py right after load_config(); a failure is a ConfigError (the plan exits 2, `pulumi up` stops
before touching anything).
"""

from __future__ import annotations

from components.config import ConfigError, DocRagConfig, ReleaseConfig
from components.routers import REGISTRY
from components.routers.base import release_split


def check_receiving_colours(release: ReleaseConfig) -> list[str]:
    """Every colour with a share of traffic can serve it, and a canary is a different build."""
    state = release_split(release)
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


def check_edge(edge: str) -> list[str]:
    """`traffic.edge` names a router of the registry."""
    if edge in REGISTRY:
        return []
    return [f"traffic.edge = {edge!r}: allowed: {' | '.join(REGISTRY)} (the router whose pods the public NLB fronts)"]


def preflight(config: DocRagConfig) -> None:
    """Raise ConfigError listing every broken release invariant; return None when the release is safe."""
    edge = check_edge(config.traffic.edge)
    if edge:  # nothing below can be judged without knowing which routers render
        raise ConfigError(edge)
    problems = [
        *check_receiving_colours(config.release),
        *(problem for router in REGISTRY.values() if router.renders(config.traffic.edge)
          for problem in router.preflight(config)),
    ]
    if problems:
        raise ConfigError(problems)
