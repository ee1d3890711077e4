"""`python -m ops rollback -s STACK [--dry-run]`: put all traffic back on the stable colour with one `up`.

During a canary that is weight 0; after a flip (stabilizing or completed) it is the previous colour; when the
release retired that colour, one `up` revives it first (and waits for its pods), then one moves traffic back.
The rollback verdict is appended to the stack's release history like any other decision.
Exit codes: 0 rolled back or nothing to undo, 2 usage/config, 3 the rollback `up` failed.
"""

from __future__ import annotations

import argparse

from rich.console import Console

from components.config import ConfigError
from ops.cli_common import Clock, SystemClock, make_driver
from ops.console import make_console
from ops.driver import Driver
from ops.exit_codes import EXIT_OK, EXIT_ROLLBACK_FAILED, EXIT_USAGE
from ops.release_state import Finish, Up, manual_rollback, reconcile
from ops.stackconfig import UsageError


def rollback(driver: Driver, clock: Clock, console: Console, reason: str) -> int:
    view = driver.read()
    drift = view.drift
    if drift.kind in ("diverged", "undeployed"):  # a stale config would move production, not back
        console.print(f"error: {drift.message}", markup=False)
        return EXIT_USAGE
    state = view.state()
    action = manual_rollback(state, clock.now(), reason)
    if isinstance(action, Finish):
        console.print(f"error: {action.message}", markup=False)
        return action.exit_code
    if action is None and drift.kind == "interrupted":
        action = reconcile(state, clock.now())  # e.g. a rollback whose `up` was killed: finish it
        console.print(f"rollback: re-applying the config ({drift.detail})", markup=False)
    elif action is None:
        console.print(f"nothing to roll back: {state.active_color} is active with canary weight 0")
        return EXIT_OK
    if isinstance(action, Up) and action.kind == "revive":
        # The release retired the colour traffic goes back to: its pods first (the `up` waits for them).
        console.print(f"rollback: up reviving {action.replicas[0][0]} with {action.replicas[0][1]} replicas "
                      f"({action.verdict.reason})", markup=False)
        outcome = driver.up(action)
        if not outcome.ok:
            console.print(f"ROLLBACK FAILED while reviving: {outcome.error}", markup=False)
            return EXIT_ROLLBACK_FAILED
        state = driver.read().state()
        action = manual_rollback(state, clock.now(), reason)
        if not isinstance(action, Up):
            console.print("ROLLBACK FAILED: after the revive there is nothing to roll back (please report it)")
            return EXIT_ROLLBACK_FAILED
    console.print(f"rollback: up with activeColor={action.target.active_color}, canaryWeight=0 "
                  f"(was {state.active_color} at {state.weight}%, phase {state.phase})")
    outcome = driver.up(action)
    if not outcome.ok:
        console.print(f"ROLLBACK FAILED: {outcome.error}", markup=False)
        return EXIT_ROLLBACK_FAILED
    console.print(f"[green]rolled back: {action.target.active_color} "
                  f"{state.image(action.target.active_color)} serves all traffic[/]")
    return EXIT_OK


def rollback_command(args: argparse.Namespace) -> int:
    console = make_console()
    try:
        driver = make_driver(args.stack, args.dry_run, args.set, console)
        return rollback(driver, SystemClock(), console, args.reason)
    except (UsageError, ConfigError) as error:
        console.print(f"error: {error}", markup=False)
        return EXIT_USAGE

