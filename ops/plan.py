"""`python -m ops plan`: run the program offline, render and check what it registered (DESIGN.md, plan contract).

Writes DIR/manifests/ (one YAML file per Kubernetes object) and DIR/plan.json (secrets redacted, with the
monthly `cost`), prints a summary, with `--compare` also the cost change against a base plan.json (and
DIR/cost-diff.md), and returns 0 (all mandatory checks pass), 1 (a mandatory check failed) or 2 (bad config/usage).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml
from rich.console import Console
from rich.table import Table

from components.config import ConfigError
from components.config.secret_keys import set_secret_command
from components.deploy_gate import deploy_blockers
from components.routers import REGISTRY
from components.routers.base import ACTIVE_SERVICE, CANARY_SERVICE
from ops.checks import ALL_CHECKS
from ops.checks.base import Check, CheckResult, PlanContext
from ops.console import make_console
from ops.cost.compare import compare_costs, load_base_cost
from ops.cost.estimate import estimate
from ops.cost.price_table import DEFAULT_PRICE_TABLE, PriceTable, load_price_table
from ops.cost.report import cost_change_markdown, print_cost, print_cost_change
from ops.exit_codes import EXIT_CHECK_FAILED, EXIT_OK, EXIT_USAGE
from ops.manifests import clean, manifest_id, manifests
from ops.runner import Registered, RunResult, run_program
from ops.stackconfig import PROJECT_DIR, UsageError, load_stack_config

COST_DIFF_FILE = "cost-diff.md"  # the cost change as Markdown, for the pull request comment


@dataclass
class PlanOutcome:
    exit_code: int
    out_dir: Path
    run: Optional[RunResult] = None
    manifests: list[dict[str, Any]] = field(default_factory=list)
    checks: dict[str, tuple[Check, CheckResult]] = field(default_factory=dict)
    document: dict[str, Any] = field(default_factory=dict)
    error: str = ""


def manifest_filename(manifest: dict[str, Any]) -> str:
    slug = re.sub(r"[^a-z0-9.-]+", "-", manifest_id(manifest).lower().replace("/", "--"))
    return f"{slug}.yaml"


def write_manifests(objects: list[dict[str, Any]], directory: Path) -> None:
    if directory.exists():
        shutil.rmtree(directory)  # stale objects from an earlier plan must not be validated or shipped
    directory.mkdir(parents=True)
    for manifest in objects:
        path = directory / manifest_filename(manifest)
        if path.exists():
            raise RuntimeError(f"two objects render to {path.name}: {manifest_id(manifest)}")
        path.write_text(yaml.safe_dump(manifest, sort_keys=False))


def component_of(resource: Registered, by_urn: dict[str, Registered]) -> str:
    """The top component's child a resource belongs to (its layer), e.g. `cluster`, `namespaces`."""
    chain = [resource]
    while chain[-1].parent in by_urn:
        chain.append(by_urn[chain[-1].parent])
    return chain[-2].name if len(chain) >= 2 else chain[-1].name


def _find(objects: list[dict[str, Any]], kind: str, name: str) -> Optional[dict[str, Any]]:
    for manifest in objects:
        if manifest.get("kind") == kind and (manifest.get("metadata") or {}).get("name") == name:
            return manifest
    return None


def traffic_as_rendered(objects: list[dict[str, Any]], run: RunResult) -> dict[str, Any]:
    """Traffic as rendered (not as configured): what each router would actually do."""
    release = run.config.model().release
    state: dict[str, Any] = {
        "activeColor": release.activeColor,
        "canaryColor": release.canary_color,
        "canaryWeight": release.canaryWeight,
        "steps": release.steps,
    }
    for router in REGISTRY.values():
        state.update(router.rendered_state(lambda kind: [m for m in objects if m.get("kind") == kind]))
    for service in (ACTIVE_SERVICE, CANARY_SERVICE):
        manifest = _find(objects, "Service", service)
        if manifest:
            state.setdefault("selectors", {})[service] = manifest.get("spec", {}).get("selector")
    return state


def kept_options(resource: Registered) -> dict[str, bool]:
    """`protect` / `retainOnDelete` where set: what a mistaken `pulumi destroy` must leave in place."""
    options = {"protect": resource.protect, "retainOnDelete": resource.retain_on_delete}
    return {key: True for key, value in options.items() if value}


def plan_document(run: RunResult, objects: list[dict[str, Any]],
                  checks: dict[str, tuple[Check, CheckResult]], prices: PriceTable) -> dict[str, Any]:
    by_urn = {resource.urn: resource for resource in run.resources}
    document = {
        "stack": run.stack,
        "preview": run.preview,
        "placeholders": run.config.placeholders,
        # What `pulumi up` refuses in this config although it plans (components/deploy_gate.py).
        "blockers": deploy_blockers(run.config.model()),
        # Sorted: registrations arrive in whatever order the program's Outputs resolve, and two plans of
        # the same config must diff empty.
        "resources": sorted((
            {
                "type": resource.type,
                "name": resource.name,
                "parent": by_urn[resource.parent].name if resource.parent in by_urn else None,
                "component": component_of(resource, by_urn),
                "inputs": clean(resource.inputs),
                **kept_options(resource),
            }
            for resource in run.resources
        ), key=lambda item: (item["component"], item["type"], item["name"])),
        "outputs": clean(run.outputs),
        "traffic": traffic_as_rendered(objects, run),
        "checks": {
            name: {
                "tier": check.tier,
                "mandatory": check.mandatory,
                "status": result.status,
                "summary": result.summary,
                "findings": [finding.as_dict() for finding in result.findings],
            }
            for name, (check, result) in checks.items()
        },
    }
    # Priced from the inputs as written to plan.json, so anyone can check a line against its resource.
    document["cost"] = estimate(document["resources"], run.config.foreign.get("aws:region"), prices,
                                run.config.model().costAssumptions)
    return document


def _timed(check: Check, context: PlanContext) -> tuple[CheckResult, float]:
    started = time.monotonic()
    try:
        result = check.run(context)
    except Exception as error:  # a crashing check is a failed check, reported, never a pass
        result = CheckResult("fail", f"check crashed: {type(error).__name__}: {error}")
    return result, time.monotonic() - started


def run_checks(context: PlanContext, selected: list[Check], console: Console) -> dict[str, tuple[Check, CheckResult]]:
    """Checks are independent and mostly wait on tools (checkov, promtool), so they run side by side;
    results are reported in tier order."""
    results = {}
    with console.status(f"running {len(selected)} checks …"), ThreadPoolExecutor(max(1, len(selected))) as pool:
        futures = [(check, pool.submit(_timed, check, context)) for check in selected]
        for check, future in futures:
            result, seconds = future.result()
            note = f"; {result.note}" if result.note else ""
            console.print(f"  {check.tier} {check.name}: {result.status} ({seconds:.1f}s{note})", highlight=False)
            results[check.name] = (check, result)
    return results


def print_summary(console: Console, outcome: PlanOutcome) -> None:
    document = outcome.document
    layers = Counter(item["component"] for item in document["resources"])
    table = Table(title=f"resources per component ({document['stack']})")
    table.add_column("component")
    table.add_column("resources", justify="right")
    for layer, count in sorted(layers.items()):
        table.add_row(layer, str(count))
    table.add_row("[bold]total[/bold]", str(len(document["resources"])))
    console.print(table)

    traffic = Table(title="traffic")
    traffic.add_column("key")
    traffic.add_column("value")
    for key, value in document["traffic"].items():
        traffic.add_row(key, json.dumps(value))
    console.print(traffic)

    checks = Table(title="checks")
    for column in ("tier", "check", "status", "summary"):
        checks.add_column(column)
    for name, (check, result) in outcome.checks.items():
        colour = {"pass": "green", "fail": "red", "skip": "yellow"}[result.status]
        label = result.status if check.mandatory else f"{result.status} (advisory)"
        checks.add_row(check.tier, name, f"[{colour}]{label}[/{colour}]", result.summary)
    console.print(checks)
    print_cost(console, document["cost"])
    for name, (check, result) in outcome.checks.items():
        for finding in result.findings[:50]:
            console.print(f"  [{check.tier} {name}] {finding.level} {finding.subject}: {finding.message}",
                          markup=False, highlight=False)
    for key in document["placeholders"]:
        console.print(
            f"note: {key} is not set (or is encrypted); the plan used a redacted placeholder. "
            f"`pulumi up` refuses until `{set_secret_command(key, document['stack'])}`.", highlight=False
        )
    for blocker in document["blockers"]:
        console.print(f"blocker for `pulumi up`: {blocker}", markup=False, highlight=False)


def _staging_dir(out: Path) -> Path:
    """DIR, and inside it the directory this plan is written to before it is moved into DIR."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        # Not hidden: checkov skips dot directories.
        return Path(tempfile.mkdtemp(prefix="staging-", dir=out))
    except OSError as error:
        raise UsageError(f"--out {out}: cannot create the output directory ({error.strerror})") from None


PLAN_ENTRIES = ("manifests", "work", "plan.json", COST_DIFF_FILE)  # what a plan writes into DIR


def _publish(staging: Path, out: Path) -> None:
    """Move a finished plan from its staging directory into DIR, one rename per entry: the previous plan
    stays whole until this plan is complete, and an entry this plan does not write (cost-diff.md without
    --compare) goes, so nothing from an earlier run passes for this one's."""
    for name in PLAN_ENTRIES:
        target, fresh = out / name, staging / name
        old = staging / f"{name}.previous"
        if target.exists():
            target.rename(old)
        if fresh.exists():
            fresh.rename(target)
    shutil.rmtree(staging)


def plan_command(args: argparse.Namespace) -> int:
    return plan(args.stack, args.set, args.out, preview=args.preview, compare=args.compare).exit_code


def plan(stack: str, overrides: list[str] | tuple[str, ...] = (), out_dir: Optional[Path] = None, *,
         preview: bool = False, checks: Optional[list[Check]] = None,
         console: Optional[Console] = None, compare: Optional[Path] = None,
         price_table: Path = DEFAULT_PRICE_TABLE) -> PlanOutcome:
    console = console or make_console()
    out = Path(out_dir) if out_dir else PROJECT_DIR / "build" / "plan" / stack
    try:
        # Read before the program runs: a bad table or base plan stops the plan with nothing written.
        prices = load_price_table(price_table)
        base_cost = load_base_cost(compare) if compare is not None else None
        stack_config = load_stack_config(stack, overrides)
        with console.status(f"running the program for stack {stack} under the SDK monitor …"):
            run = run_program(stack, preview=preview, stack_config=stack_config)
        model = run.config.model()
        staging = _staging_dir(out)
    except (UsageError, ConfigError) as error:
        console.print(f"error: {error}", markup=False, highlight=False)
        if (out / "plan.json").exists():
            console.print(f"the previous plan in {out} is left as it was", highlight=False)
        return PlanOutcome(EXIT_USAGE, out, error=str(error))

    # Written aside and moved in whole at the end: a plan that stops half-way leaves the previous one intact.
    try:
        outcome = _write_plan(stack, run, model, staging, checks, console, prices)
        if compare is not None:
            change = compare_costs(base_cost, outcome.document["cost"])
            print_cost_change(console, change, str(compare))
            (staging / COST_DIFF_FILE).write_text(cost_change_markdown(change, outcome.document["cost"]))
        _publish(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    outcome.out_dir = out
    console.print(f"plan written to {out}: exit {outcome.exit_code}", highlight=False)
    return outcome


def _write_plan(stack: str, run: RunResult, model: Any, staging: Path, checks: Optional[list[Check]],
                console: Console, prices: PriceTable) -> PlanOutcome:
    objects = manifests(run.resources)
    write_manifests(objects, staging / "manifests")
    work_dir = staging / "work"
    work_dir.mkdir(parents=True, exist_ok=True)
    context = PlanContext(stack, run, model, objects, staging / "manifests", work_dir)
    console.print(f"{len(run.resources)} resources registered, {len(objects)} Kubernetes objects written")
    results = run_checks(context, ALL_CHECKS if checks is None else checks, console)
    outcome = PlanOutcome(EXIT_OK, staging, run, objects, results)
    outcome.document = plan_document(run, objects, results, prices)
    (staging / "plan.json").write_text(json.dumps(outcome.document, indent=2, sort_keys=False) + "\n")
    print_summary(console, outcome)
    if any(result.failed and check.mandatory for check, result in results.values()):
        outcome.exit_code = EXIT_CHECK_FAILED
    return outcome
