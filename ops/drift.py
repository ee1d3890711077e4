"""The stack config against what the last `up` deployed: a StackView and its Drift.

Pure: a StackView holds what a driver read (the config as it stands, the plain stack outputs, the result of
the newest update) and derives from it, without I/O, whether the config is deployed, was interrupted on
its way or diverged, and the ReleaseState a promote or rollback decides from. Changes made in the cluster
outside Pulumi are a different comparison: ops/live_drift.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Optional

from components.config import COLORS, DocRagConfig, ReleaseConfig, Verdict
from ops.release_state import ReleaseState


@dataclass(frozen=True)
class Deployed:
    """What the last successful `up` deployed, from the stack outputs."""

    active_color: str
    weight: int
    history: tuple[Verdict, ...]
    images: dict[str, str] = field(default_factory=dict)  # colour -> image; {} when the outputs predate `images`


DriftKind = Literal["in_sync", "interrupted", "diverged", "undeployed"]


@dataclass(frozen=True)
class Drift:
    """The stack config (the checkout's Pulumi.<stack>.yaml) against the outputs of the last `up`.

    in_sync      activeColor, canaryWeight and history are what was deployed
    interrupted  config = deployed + exactly one new verdict, decided from the deployed state, whose target
                 is the config: a promote/rollback wrote it and was killed before its `up` finished; or config
                 equals the outputs but the last update did not succeed (the engine may register outputs of a
                 failed update, pulumi/pulumi#15754): the outputs do not prove the config is deployed; or
                 config = deployed minus its history (history_cleared): a new release's config write is two CLI
                 calls (`config rm` the history, then `config set-all`), killed between them. The deployed
                 history stands in for the removed one, and the next write puts the whole history back
    diverged     anything else, e.g. a stale clone: re-applying it would move production backwards
    undeployed   the stack has no outputs
    """

    kind: DriftKind
    detail: str = ""
    stack: str = ""
    history_cleared: bool = False  # interrupted between removing the history and writing the new release's

    @property
    def message(self) -> str:
        if self.kind != "diverged":
            return self.detail
        stack = self.stack or "<stack>"
        return (f"local stack config differs from the deployed stack ({self.detail}): pull/commit "
                f"Pulumi.{stack}.yaml, or run `pulumi config refresh -s {stack}` to take the config of the last update")


def _one_new_decision(config: tuple[Verdict, ...], deployed: tuple[Verdict, ...]) -> Optional[Verdict]:
    if config[:-1] == deployed and len(config) == len(deployed) + 1:
        return config[-1]
    if len(config) == 1 and config[0].decision == "start":  # a start replaces the previous release's history
        return config[0]
    return None


def _last(history: tuple[Verdict, ...]) -> str:
    return f"last {history[-1].decision} at {history[-1].time}" if history else "empty"


@dataclass
class StackView:
    config: DocRagConfig  # desired: the stack config as it stands
    outputs: dict[str, Any]  # plain values of the stack outputs ({} when never deployed or unknown)
    stack: str = ""
    # The result of the stack's newest update ("succeeded", "failed", "in-progress"); "" when unknown or none.
    last_update: str = ""

    @property
    def last_update_ok(self) -> bool:
        return self.last_update in ("", "succeeded")

    @property
    def release(self) -> ReleaseConfig:
        return self.config.release

    @property
    def deployed(self) -> Optional[Deployed]:
        if "activeColor" not in self.outputs:
            return None
        history = tuple(Verdict.model_validate(item) for item in self.outputs.get("releaseHistory") or [])
        images = self.outputs.get("images")
        return Deployed(str(self.outputs["activeColor"]), int(self.outputs.get("canaryWeight") or 0), history,
                        {str(k): str(v) for k, v in images.items()} if isinstance(images, dict) else {})

    @property
    def drift(self) -> Drift:
        deployed, release = self.deployed, self.release
        if deployed is None:
            return Drift("undeployed", "the stack has no outputs", self.stack)
        config = (release.activeColor, release.canaryWeight, tuple(release.history))
        if config == (deployed.active_color, deployed.weight, deployed.history):
            if not self.last_update_ok:
                return Drift("interrupted", f"the last update of the stack did not succeed ({self.last_update}): "
                                            f"its outputs may not be deployed, re-applying the config", self.stack)
            return Drift("in_sync", "", self.stack)
        if (not config[2] and deployed.history and config[:2] == (deployed.active_color, deployed.weight)
                and deployed.images.get(release.activeColor) in (None, release.color(release.activeColor).image)):
            return Drift("interrupted", f"release.history was removed from config but nothing was written after "
                                        f"it (deployed: {_last(deployed.history)}): the next promote or rollback "
                                        f"writes the history back", self.stack, history_cleared=True)
        new = _one_new_decision(config[2], deployed.history)
        if (new is not None and (new.activeColor, new.weight) == (deployed.active_color, deployed.weight)
                and (new.targetColor, new.targetWeight) == (release.activeColor, release.canaryWeight)):
            return Drift("interrupted", f"{new.decision} to {release.activeColor} at {release.canaryWeight}% is in "
                                        f"config but its up did not finish", self.stack)
        parts = [f"{key}: config {mine}, deployed {theirs}" for key, mine, theirs in (
            ("activeColor", release.activeColor, deployed.active_color),
            ("canaryWeight", release.canaryWeight, deployed.weight)) if mine != theirs]
        if config[2] != deployed.history:
            parts.append(f"history: config {len(config[2])} verdicts ({_last(config[2])}), deployed "
                         f"{len(deployed.history)} ({_last(deployed.history)})")
        return Drift("diverged", "; ".join(parts), self.stack)

    @property
    def image_drift(self) -> list[str]:
        deployed = self.deployed
        known = deployed.images if deployed is not None else {}
        return [f"release.{color}.image: config {self.release.color(color).image}, deployed {known[color]}"
                for color in COLORS if color in known and known[color] != self.release.color(color).image]

    @property
    def in_sync(self) -> bool:
        """Everything a promote writes or checks is deployed: colour, weight, history and both images."""
        return self.drift.kind == "in_sync" and not self.image_drift

    def state(self) -> ReleaseState:
        release, deployed, drift = self.release, self.deployed, self.drift
        # History removed and nothing else written: decide from the deployed history. Every write then puts
        # the complete history into config (config_write writes from index 0 when config has none), so no
        # re-applying `up` is needed: colour and weight are already the deployed ones.
        history = deployed.history if drift.history_cleared and deployed is not None else tuple(release.history)
        return ReleaseState(
            active_color=release.activeColor, weight=release.canaryWeight, steps=tuple(release.steps),
            history=history, images=(("blue", release.blue.image), ("green", release.green.image)),
            replicas=(("blue", release.blue.replicas), ("green", release.green.replicas)),
            in_sync=drift.kind == "in_sync" or drift.history_cleared,
            deployed_images=tuple(sorted(deployed.images.items())) if deployed is not None else (),
        )


def release_outputs(config: DocRagConfig) -> dict[str, Any]:
    """The release outputs the program exports (components/docrag.py), for stand-ins that skip the program."""
    release = config.release
    return {"activeColor": release.activeColor, "canaryWeight": release.canaryWeight,
            "releaseHistory": [verdict.model_dump(exclude_none=True) for verdict in release.history],
            "images": {color: release.color(color).image for color in COLORS}}
