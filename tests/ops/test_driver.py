"""Drivers: the config writes both drivers make, the release config they refuse, and the real Automation API
driver (against a fake `pulumi`, and the real one where it is on PATH); the live parts of `ops check`."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from components.config import SECRET_KEYS, ConfigError, GateVerdict, Verdict, parse_config
from ops.drift import release_outputs
from ops.driver import AutomationDriver, config_write
from ops.engine.build import pulumi_home
from ops.release_state import Target, Up
from ops.stackconfig import UsageError, load_stack_config, set_path
from tests.conftest import FIXTURES as ALL_FIXTURES
from tests.conftest import PROJECT_DIR
from tests.e2e_helpers import engine_bin

FIXTURES = ALL_FIXTURES / "ops"
QUERY = 'sum by (version) (rate(http_requests_total{job="doc-rag-api",status=~"5..",version="green"}[5m]))\n/\nx'


def verdict(decision: str, weight: int, value: float | None = 0.0042) -> Verdict:
    return Verdict(time="2025-01-31T12:00:00Z", activeColor="blue", weight=weight, decision=decision,  # type: ignore
                   image="doc-rag/api:v1.1.0", reason=f"{decision} at {weight}%", extensions=1,
                   gates=[GateVerdict(gate="errorRatio", status="pass", query=QUERY, value=value, threshold=0.01,
                                      samples=812.0)])


def up(kind: str, weight: int, history: tuple[Verdict, ...]) -> Up:
    return Up(kind, Target("blue", weight), history[-1], history)  # type: ignore[arg-type]


def apply(values: dict, current: tuple[Verdict, ...], action: Up) -> dict:
    values = copy.deepcopy(values)
    write = config_write(current, action)
    if write.remove_history:
        values["release"].pop("history", None)
    for path, text in write.assignments:
        set_path(values, path, text)
    return values


def prod_values() -> dict:
    return load_stack_config("prod").values


def with_release(release: dict) -> dict:
    """prod's plain config with `release` replaced: only the release keys under test can be wrong."""
    return {**{k: v for k, v in prod_values().items() if k not in SECRET_KEYS}, "release": release}


def test_config_writes_append_only_the_new_verdict_and_round_trip_through_the_model():
    first = (verdict("start", 0),)
    second = (*first, verdict("advance", 5, value=1e-05))
    write = config_write(first, up("advance", 25, second))
    paths = [path for path, _ in write.assignments]
    assert not write.remove_history
    assert paths[:2] == ["release.activeColor", "release.canaryWeight"]
    assert all(p.startswith("release.history[1].") for p in paths[2:])  # history[0] is already in config
    assert ("release.history[1].gates[0].value", "1e-05") in write.assignments  # floats travel as text
    values = apply(apply(prod_values(), (), up("start", 5, first)), first, up("advance", 25, second))
    model = parse_config({k: v for k, v in values.items() if k not in SECRET_KEYS}).release
    assert model.canaryWeight == 25 and tuple(model.history) == second  # the query with its newlines and `=`


def test_a_new_release_replaces_the_previous_history():
    old = (verdict("start", 0), verdict("rollback", 5))
    new = (verdict("start", 0),)
    write = config_write(old, up("start", 5, new))
    assert write.remove_history and {p for p, _ in write.assignments if "history" in p} == {
        p for p, _ in config_write((), up("start", 5, new)).assignments if "history" in p}


def test_set_path_appends_like_the_cli_and_refuses_gaps():
    values: dict = {"release": {}}
    set_path(values, "release.history[0].gates[0].value", "0.5")
    set_path(values, "release.history[0].weight", "25")
    assert values == {"release": {"history": [{"gates": [{"value": "0.5"}], "weight": 25}]}}
    with pytest.raises(UsageError):
        set_path(values, "release.history[5].weight", "1")


def test_broken_history_fixture_is_rejected_with_key_path_value_and_allowed():
    broken = yaml.safe_load((FIXTURES / "bad-history.yaml").read_text())
    with pytest.raises(ConfigError) as error:
        parse_config(with_release(broken["release"]))
    message = str(error.value)
    assert "release.history.0.time = 'yesterday': allowed: an ISO 8601 UTC time" in message
    assert "release.history.1.decision = 'maybe'" in message
    assert "release.gates.minRequests = 0" in message
    assert "release.soak = '5 minutes': allowed: a duration" in message


BAD_DURATIONS = yaml.safe_load((FIXTURES / "bad-durations.yaml").read_text())


@pytest.mark.parametrize("case", sorted(BAD_DURATIONS))
def test_release_timings_that_would_spin_are_rejected(case):
    fixture = BAD_DURATIONS[case]
    with pytest.raises(ConfigError) as error:
        parse_config(with_release(fixture["release"]))
    assert fixture["expect"] in str(error.value)


def test_release_timings_at_the_limits_are_accepted():
    images = {"blue": {"image": "doc-rag/api:v1.0.0"}, "green": {"image": "doc-rag/api:v1.1.0"}}
    release = parse_config(with_release({**images, "soak": "1s", "stabilization": "1s",
                                         "gates": {"interval": "1s"}})).release
    assert release.soak == release.stabilization == release.gates.interval == "1s"


# -- the real Automation API driver ---------------------------------------------------------------

@pytest.fixture
def local_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A copy of the project with a file backend and a stack that renders YAML instead of needing a cluster,
    driven by the real `pulumi` that `make engine` built (tier T7)."""
    engine = engine_bin()
    pulumi = str(engine / "pulumi")
    project = tmp_path / "project"
    project.mkdir()
    for name in ("Pulumi.yaml", "__main__.py", "requirements.txt"):
        shutil.copy(PROJECT_DIR / name, project / name)
    shutil.copytree(PROJECT_DIR / "components", project / "components")
    (project / ".venv").symlink_to(PROJECT_DIR / ".venv")
    stack_doc = yaml.safe_load((PROJECT_DIR / "Pulumi.dev.yaml").read_text())
    stack_doc["config"]["doc-rag:cluster"]["renderYamlTo"] = str(tmp_path / "rendered")
    stack_doc["config"]["doc-rag:release"]["green"]["replicas"] = 3
    (project / "Pulumi.optest.yaml").write_text(yaml.safe_dump(stack_doc))
    (tmp_path / "state").mkdir()
    settings = {"PULUMI_BACKEND_URL": f"file://{tmp_path / 'state'}", "PULUMI_CONFIG_PASSPHRASE": "test",
                "PATH": f"{engine}{os.pathsep}{os.environ['PATH']}", "PULUMI_HOME": str(pulumi_home()),
                "PULUMI_SKIP_UPDATE_CHECK": "true", "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true"}
    for key, value in settings.items():  # the Automation API inherits them
        monkeypatch.setenv(key, value)
    env = {**os.environ, **settings}
    subprocess.run([pulumi, "stack", "init", "optest", "--non-interactive"], cwd=project, env=env, check=True)
    for key in SECRET_KEYS:  # through stdin, as a user would (never on the command line)
        subprocess.run([pulumi, "config", "set", "--secret", key, "-s", "optest", "--non-interactive"],
                       cwd=project, env=env, check=True, input="not-used-offline", text=True)
    subprocess.run([pulumi, "up", "--yes", "-s", "optest", "--non-interactive"], cwd=project, env=env, check=True)
    return project


@pytest.mark.e2e
def test_automation_driver_moves_one_step_and_reads_it_back(local_stack: Path):
    driver = AutomationDriver("optest", work_dir=local_stack, echo=lambda line: None)
    view = driver.read()
    assert view.in_sync and view.release.canaryWeight == 0
    first = (verdict("start", 0),)
    outcome = driver.up(up("start", 5, first))
    assert outcome.ok, outcome.error
    after = driver.read()
    assert after.release.canaryWeight == 5 and after.outputs["canaryWeight"] == 5
    assert after.deployed is not None and after.deployed.history == first and after.in_sync
    assert driver.preview().ok


# -- ops check: the live parts ---------------------------------------------------------------------

def test_check_reports_not_ready_nodes_and_unreachable_health_endpoints(tmp_path: Path):
    import io
    import socket

    from rich.console import Console

    from ops.check import Probe, check, http_health, node_readiness

    nodes = node_readiness(str(FIXTURES / "kubectl-not-ready"))
    assert nodes.status == "fail" and "1/2 nodes Ready" in nodes.summary and "ip-10-0-2-20" in nodes.summary
    assert http_health("Grafana", None, ("/api/health",), "GRAFANA_URL").status == "skip"
    in_cluster = http_health("Grafana", "http://grafana.doc-rag-monitoring.svc:3000", ("/api/health",), "GRAFANA_URL")
    assert in_cluster.status == "skip" and "--grafana-url or set $GRAFANA_URL" in in_cluster.summary
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    down = http_health("Prometheus", f"http://127.0.0.1:{port}", ("/-/healthy",), "PROMETHEUS_URL", timeout=1)
    assert down.status == "fail" and "not reachable" in down.summary

    out = io.StringIO()
    console = Console(file=out, width=200, highlight=False)
    probes = [Probe("node readiness", lambda: nodes), Probe("prometheus health", lambda: down)]
    assert check("prod", [], tmp_path / "plan", probes, console, plan_checks=[]) == 1
    assert "FAILED: node readiness, prometheus health" in out.getvalue()
    assert check("prod", [], tmp_path / "plan", [], console, plan_checks=[]) == 0
    assert check("prod", ["release.canaryWeight=7"], tmp_path / "plan", [], console, plan_checks=[]) == 2


def test_check_in_which_no_live_probe_ran_says_so_and_exits_1(tmp_path: Path):
    import io

    from rich.console import Console

    from ops.check import Probe, check
    from ops.checks.base import CheckResult

    out = io.StringIO()
    console = Console(file=out, width=200, highlight=False)
    skipped = [Probe("node readiness", lambda: CheckResult("skip", "not run: nothing names the stack's cluster")),
               Probe("api health", lambda: CheckResult("skip", "no API URL"))]
    assert check("prod", [], tmp_path / "plan", skipped, console, plan_checks=[]) == 1
    assert "check: no live probe ran" in out.getvalue() and "run with --offline" in out.getvalue()
    assert "running 2 live probes against stack prod" in out.getvalue()  # progress while they run
    assert "  node readiness: skip (" in out.getvalue() and "  api health: skip (" in out.getvalue()
    one_ran = [*skipped, Probe("prometheus health", lambda: CheckResult("pass", "HTTP 200"))]
    assert check("prod", [], tmp_path / "plan", one_ran, console, plan_checks=[]) == 0


# -- the Automation API driver against a fake `pulumi` (the real CLI is not installed here) ---------------------

@dataclass
class FakePulumi:
    log: Path
    state_file: Path

    def set(self, **state: object) -> None:
        self.state_file.write_text(json.dumps(state))

    def calls(self) -> list[list[str]]:
        return [json.loads(line) for line in self.log.read_text().splitlines()] if self.log.exists() else []


@pytest.fixture
def fake_pulumi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakePulumi:
    """tests/fixtures/ops/fake-pulumi first on PATH, answering from a state file, logging every call."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "pulumi").symlink_to(FIXTURES / "fake-pulumi")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    fake = FakePulumi(tmp_path / "pulumi-calls.log", tmp_path / "pulumi-state.json")
    monkeypatch.setenv("FAKE_PULUMI_LOG", str(fake.log))
    monkeypatch.setenv("FAKE_PULUMI_STATE", str(fake.state_file))
    monkeypatch.delenv("FAKE_PULUMI_FAIL", raising=False)
    fake.set()
    return fake


@pytest.mark.parametrize("command", ["promote", "rollback", "status"])
def test_cli_exits_2_with_the_cli_error_when_the_stack_cannot_be_selected(fake_pulumi, monkeypatch, capsys, command):
    from ops.__main__ import main

    monkeypatch.setenv("FAKE_PULUMI_FAIL", "error: passphrase must be set with PULUMI_CONFIG_PASSPHRASE or "
                                           "PULUMI_CONFIG_PASSPHRASE_FILE environment variables")
    assert main([command, "-s", "prod"]) == 2
    printed = " ".join(capsys.readouterr().out.split())
    assert "error: pulumi could not select stack 'prod'" in printed, printed
    assert "passphrase must be set with PULUMI_CONFIG_PASSPHRASE" in printed
    assert "Traceback" not in printed


@pytest.mark.parametrize("command", ["promote", "rollback"])
def test_set_without_dry_run_is_refused(capsys, command):
    from ops.__main__ import main

    assert main([command, "-s", "prod", "--set", "release.canaryWeight=25"]) == 2
    printed = " ".join(capsys.readouterr().out.split())
    assert "--set applies only with --dry-run" in printed and "pulumi config set --path" in printed


def _fake_stack(fake: FakePulumi) -> None:
    stack = load_stack_config("prod")
    config = {f"doc-rag:{key}": value for key, value in stack.values.items() if key not in stack.secret_keys}
    config.update({**{f"doc-rag:{key}": "not-for-reading" for key in SECRET_KEYS}, "aws:region": "eu-west-1"})
    outputs = {**release_outputs(stack.model()), "kubeconfig": {"apiVersion": "v1"}}
    fake.set(config=config, secret_config=[f"doc-rag:{key}" for key in SECRET_KEYS], outputs=outputs,
             secret_outputs=["kubeconfig"])


def test_automation_driver_reads_plain_keys_one_by_one_and_decrypts_nothing(fake_pulumi, tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(PROJECT_DIR / "Pulumi.yaml", project / "Pulumi.yaml")
    _fake_stack(fake_pulumi)
    driver = AutomationDriver("prod", work_dir=project, echo=lambda line: None)
    view = driver.read()
    assert view.release == load_stack_config("prod").model().release and view.stack == "prod"
    assert view.drift.kind == "in_sync" and "kubeconfig" not in view.outputs  # secret outputs are not read
    calls = fake_pulumi.calls()
    assert ["stack", "select", "--stack", "prod"] in calls
    assert ["config", "get", "doc-rag:release", "--json", "--stack", "prod"] in calls
    assert not [call for call in calls if "--show-secrets" in call], calls
    assert not [call for call in calls for key in SECRET_KEYS if f"doc-rag:{key}" in call]

    fake_pulumi.log.write_text("")
    first = (verdict("start", 0),)
    assert driver.up(up("start", 5, first)).ok
    calls = fake_pulumi.calls()
    (set_all,) = [call for call in calls if call[:2] == ["config", "set-all"]]
    assert "--path" in set_all and "doc-rag:release.canaryWeight=5" in set_all
    assert [call for call in calls if call[:1] == ["up"]]
    # the update summary is read without decrypting config (the SDK's own output read still decrypts outputs)
    assert [call for call in calls if call[:2] == ["stack", "history"] and "--show-secrets" not in call]
    assert not [call for call in calls if call[:1] == ["config"] and "--show-secrets" in call]


def test_an_up_refused_by_the_stack_lock_changes_nothing_and_names_pulumi_cancel(fake_pulumi, tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(PROJECT_DIR / "Pulumi.yaml", project / "Pulumi.yaml")
    stack_file = project / "Pulumi.prod.yaml"
    stack_file.write_text("config: {}\n")
    _fake_stack(fake_pulumi)
    driver = AutomationDriver("prod", work_dir=project, echo=lambda line: None)
    assert driver.up(up("start", 5, (verdict("start", 0),))).ok
    assert "# set-all" in stack_file.read_text()  # the fake writes config as the CLI does

    stack_file.write_text("config: {}\n")
    state = json.loads(fake_pulumi.state_file.read_text())
    fake_pulumi.set(**state, up_error="error: the stack is currently locked by 1 lock(s). Either wait for the other "
                                      "process(es) to end or delete the lock file with `pulumi cancel`.\n  file:///"
                                      "state/.pulumi/locks/x.json: created by root@vm (pid 17486) at 2026-12-03")
    outcome = driver.up(up("start", 5, (verdict("start", 0),)))
    assert not outcome.ok and outcome.locked
    assert "created by root@vm (pid 17486)" in outcome.error and "`pulumi cancel --stack prod --yes`" in outcome.error
    assert stack_file.read_text() == "config: {}\n"  # the config it wrote is taken back: nothing changed

    state["up_error"] = "error: update failed: the API server said no"
    fake_pulumi.set(**state)
    failed = driver.up(up("start", 5, (verdict("start", 0),)))
    assert not failed.ok and not failed.locked and "the API server said no" in failed.error


def test_check_previews_with_the_policy_pack_and_points_kubectl_at_the_stack(fake_pulumi, tmp_path, monkeypatch):
    import argparse

    from ops.check import live_probes

    (tmp_path / "bin" / "kubectl").symlink_to(FIXTURES / "kubectl-stack-only")
    kubectl_log = tmp_path / "kubectl.log"
    monkeypatch.setenv("FAKE_KUBECTL_LOG", str(kubectl_log))
    _fake_stack(fake_pulumi)
    state = json.loads(fake_pulumi.state_file.read_text())
    state["outputs"]["kubeconfig"] = json.dumps({"clusters": [{"name": "doc-rag-prod"}]})  # eks: a JSON string
    state["preview_error"] = "error: preview failed: policy violation (fake)"
    fake_pulumi.set(**state)
    args = argparse.Namespace(stack="prod", api_url=None, prometheus_url=None, grafana_url=None, kubeconfig=None,
                              context=None)
    results = {probe.name: probe.run() for probe in live_probes(args)}

    nodes = results["node readiness"]
    assert nodes.status == "pass" and "via the stack's kubeconfig output" in nodes.summary, nodes.summary
    (given,) = kubectl_log.read_text().split()
    assert not Path(given).exists()  # the decrypted kubeconfig is deleted after use
    preview = [call for call in fake_pulumi.calls() if call[:1] == ["preview"]]
    assert preview and preview[0][preview[0].index("--policy-pack") + 1] == str(PROJECT_DIR / "policies")
    assert results["pulumi preview"].status == "fail" and "policy violation" in results["pulumi preview"].summary

    assert results["live drift"].status == "pass"
    state["refresh_preview"] = json.loads((FIXTURES / "refresh-preview-drift.json").read_text())
    fake_pulumi.set(**state)
    drift = {probe.name: probe for probe in live_probes(args)}["live drift"].run()
    assert drift.status == "fail" and "2 field(s) changed outside Pulumi" in drift.summary
    assert "stack '0', live '30'" in drift.summary and "`pulumi up --refresh --stack prod`" in drift.summary
    assert [call for call in fake_pulumi.calls() if call[:1] == ["refresh"]][-1][1:3] == ["--preview-only", "--json"]

    # without a kubeconfig output and without cluster.kubeconfig nothing names the stack's cluster: kubectl is
    # not run at all, so the current context (maybe another cluster) can never pass for the stack
    del state["outputs"]["kubeconfig"]
    fake_pulumi.set(**state)
    calls_before = kubectl_log.read_text()
    nodes = {probe.name: probe for probe in live_probes(args)}["node readiness"].run()
    assert nodes.status == "skip", nodes.summary
    assert "not run: nothing names the stack's cluster" in nodes.summary
    assert "pass --kubeconfig PATH or --context NAME" in nodes.summary
    assert kubectl_log.read_text() == calls_before
    # an explicit --kubeconfig is the operator naming the cluster
    chosen = tmp_path / "prod-kubeconfig"
    chosen.write_text("clusters: [{name: doc-rag-prod}]\n")
    chosen.chmod(0o600)
    explicit = argparse.Namespace(**{**vars(args), "kubeconfig": str(chosen)})
    nodes = {probe.name: probe for probe in live_probes(explicit)}["node readiness"].run()
    assert nodes.status == "pass" and f"via --kubeconfig {chosen}" in nodes.summary, nodes.summary
    # an existing cluster whose config names its kubeconfig is asked through that file, never the context
    monkeypatch.setattr("ops.check.PROJECT_DIR", tmp_path)
    local_args = argparse.Namespace(stack="local", api_url=None, prometheus_url=None, grafana_url=None,
                                    kubeconfig=None, context=None)
    missing = {probe.name: probe for probe in live_probes(local_args)}["node readiness"].run()
    assert missing.status == "fail" and "build/local/cluster/kubeconfig, which does not exist" in missing.summary
    named = tmp_path / "build/local/cluster/kubeconfig"
    named.parent.mkdir(parents=True)
    named.write_text("clusters: [{name: doc-rag-prod}]\n")
    local = {probe.name: probe for probe in live_probes(local_args)}["node readiness"].run()
    assert local.status == "pass" and "via cluster.kubeconfig (build/local/cluster/kubeconfig)" in local.summary
