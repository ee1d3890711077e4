"""The stack config next to what the last `up` deployed (ops/drift.py): in sync, interrupted (exactly one
decision written and its `up` killed, or an update that did not succeed), diverged (a stale clone), or
undeployed; and the release state a promote or rollback decides from."""

from __future__ import annotations

from dataclasses import replace

import pytest

from components.config import Verdict
from ops.drift import StackView
from ops.driver import config_write
from ops.release_state import ReleaseState
from ops.stackconfig import load_stack_config


def test_view_in_sync_compares_config_with_the_outputs_of_the_last_up():
    config = load_stack_config("prod").model()
    deployed = {"activeColor": "blue", "canaryWeight": 0.0, "releaseHistory": []}  # engine numbers are floats
    assert StackView(config, deployed).in_sync
    assert not StackView(config, {**deployed, "canaryWeight": 5.0}).in_sync
    assert not StackView(config, {}).in_sync and StackView(config, {}).deployed is None
    state = StackView(config, deployed).state()
    assert isinstance(state, ReleaseState) and state.image("green") == "doc-rag/api:v1.1.0"


# -- what the stack config is, next to what the last `up` deployed ------------------------------------------

def _walk_histories() -> dict[str, tuple[Verdict, ...]]:
    """The history each up of a healthy release writes, by (kind, weight): start5, advance25, ..., flip, done."""
    from tests.ops.test_release_state import fresh, simulate

    return {f"{up.kind}{up.target.weight or ''}": up.history for up in simulate(fresh()).ups}


H = _walk_histories()
IMAGES = {"blue": "doc-rag/api:v1.0.0", "green": "doc-rag/api:v1.1.0"}


def view_of(active: str, weight: int, history: tuple[Verdict, ...], deployed: tuple[str, int, tuple[Verdict, ...]],
            deployed_images: dict | None = None) -> StackView:
    config = load_stack_config("prod").model()
    release = config.release.model_copy(update={"activeColor": active, "canaryWeight": weight, "history": history})
    outputs = {"activeColor": deployed[0], "canaryWeight": float(deployed[1]),  # engine numbers are floats
               "releaseHistory": [v.model_dump(exclude_none=True) for v in deployed[2]],
               "images": deployed_images or IMAGES}
    return StackView(config.model_copy(update={"release": release}), outputs, stack="prod")


@pytest.mark.parametrize("config, deployed, kind", [
    (("blue", 5, "start5"), ("blue", 5, "start5"), "in_sync"),
    (("blue", 25, "advance25"), ("blue", 5, "start5"), "interrupted"),  # advance written, its up killed
    (("blue", 5, "start5"), ("blue", 0, None), "interrupted"),  # the first release's start
    (("blue", 5, "start5"), ("blue", 0, "done"), "interrupted"),  # a start replaces the last release's history
    (("green", 0, "flip"), ("blue", 100, "advance100"), "interrupted"),
    (("green", 0, "done"), ("green", 0, "flip"), "interrupted"),
    # a stale clone: its Pulumi.prod.yaml is behind what was deployed from another checkout
    (("blue", 5, "start5"), ("blue", 25, "advance25"), "diverged"),
    (("blue", 25, "advance25"), ("green", 0, "done"), "diverged"),
    (("blue", 0, None), ("green", 0, "done"), "diverged"),
    (("blue", 50, "advance50"), ("blue", 5, "start5"), "diverged"),  # two verdicts ahead: not one interrupted up
    (("blue", 50, "advance25"), ("blue", 5, "start5"), "diverged"),  # the verdict sends 25 %, config says 50
    (("blue", 25, "advance25"), ("blue", 25, "start5"), "diverged"),  # the verdict was not decided from here
])
def test_drift_reconciles_only_one_interrupted_decision(config, deployed, kind):
    view = view_of(config[0], config[1], H.get(config[2], ()), (deployed[0], deployed[1], H.get(deployed[2], ())))
    drift = view.drift
    assert drift.kind == kind, drift.detail
    assert view.state().in_sync == (kind == "in_sync")
    if kind == "diverged":
        assert drift.message.startswith("local stack config differs from the deployed stack")
        assert "pull/commit Pulumi.prod.yaml, or run `pulumi config refresh -s prod`" in drift.message


@pytest.mark.parametrize("result, kind", [("succeeded", "in_sync"), ("", "in_sync"), ("failed", "interrupted"),
                                          ("in-progress", "interrupted")])
def test_outputs_of_an_update_that_did_not_succeed_do_not_prove_the_config_is_deployed(result, kind):
    """pulumi/pulumi#15754: a failed update may still register its outputs, so config == outputs is not enough."""
    view = view_of("blue", 0, H["done"], ("blue", 0, H["done"]))
    view.last_update = result
    assert view.drift.kind == kind and view.state().in_sync == (kind == "in_sync")
    if kind == "interrupted":
        assert f"the last update of the stack did not succeed ({result})" in view.drift.detail


def test_a_config_write_killed_between_removing_the_history_and_writing_the_start_is_interrupted_not_diverged():
    """A new release's write is `config rm release.history` then `config set-all`; a kill between them leaves
    the deployed colour and weight with no history. The deployed history stands in until the next write."""
    from tests.ops.test_release_state import simulate

    view = view_of("green", 0, (), ("green", 0, H["done"]))
    assert view.drift.kind == "interrupted" and view.drift.history_cleared, view.drift.detail
    state = view.state()
    assert state.history == H["done"] and state.in_sync  # decided as the deployed stack: nothing to re-apply
    # the start it goes on with writes its whole history into the emptied config, without another `rm`
    start = simulate(replace(state, images=(("blue", "doc-rag/api:v1.2.0"), ("green", "doc-rag/api:v1.1.0")))).ups[0]
    assert start.kind == "start"
    write = config_write(tuple(view.release.history), start)
    assert not write.remove_history and ("release.history[0].decision", "start") in write.assignments
    # a stale clone stays diverged: another colour or weight, or another image on the active colour
    assert view_of("blue", 0, (), ("green", 0, H["done"])).drift.kind == "diverged"
    other_image = view_of("green", 0, (), ("green", 0, H["done"]), {**IMAGES, "green": "doc-rag/api:v0.9.0"})
    assert other_image.drift.kind == "diverged"


def test_in_sync_compares_the_images_too():
    view = view_of("blue", 0, (), ("blue", 0, ()), {"blue": "doc-rag/api:v1.0.0", "green": "doc-rag/api:v0.9.0"})
    assert view.drift.kind == "in_sync" and not view.in_sync
    assert "release.green.image: config doc-rag/api:v1.1.0, deployed doc-rag/api:v0.9.0" in view.image_drift
    assert dict(view.state().deployed_images) == {"blue": "doc-rag/api:v1.0.0", "green": "doc-rag/api:v0.9.0"}
    assert view_of("blue", 0, (), ("blue", 0, ())).in_sync
