"""Tier T7: the real engine on the local control plane (marker e2e; never skipped under CI=true).

First what `ops local up` does when it cannot start (a taken port, a process that dies), then one local
cluster in a throwaway copy of the project: `ops local up`, the real `pulumi` CLI with our Python host and
the Kubernetes provider built from Go modules, real admission (Pod Security "restricted"), the policy pack
inside the engine, `--expect-no-changes`, destroy, and `ops local down`. Everything here uses the
cluster's fixed ports, so it lives in this one file, which pytest-xdist (`--dist loadfile`, pyproject.toml)
runs in order on one worker.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import yaml

from components.config import Verdict
from components.config.secret_keys import SECRET_KEYS
from ops.engine import build
from ops.local.cluster import process_alive
from tests.e2e_helpers import PORTS, Project, copy_project, engine_bin, local_env, local_up

pytestmark = pytest.mark.e2e

NAMESPACE = "doc-rag-prod"


def started_pids(printed: str) -> list[int]:
    return [int(pid) for pid in re.findall(r"started \(pid (\d+),", printed)]


def test_up_refuses_a_taken_port_and_starts_nothing(tmp_path: Path):
    engine_bin()
    project = copy_project(tmp_path / "project")
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", PORTS[2]))
        squatter.listen()
        done = local_up(project)
    assert done.returncode == 1
    assert f"port already in use on 127.0.0.1: {PORTS[2]} (kube-apiserver)" in done.stderr
    assert not list((project / "build/local/cluster").glob("pids/*.pid"))


def test_a_process_dying_while_starting_is_named_with_its_log_and_the_rest_stopped(tmp_path: Path):
    real = engine_bin()
    home = tmp_path / "engine"
    fake = home / build.recipe_hash() / "bin"
    fake.mkdir(parents=True)
    for binary in real.iterdir():
        (fake / binary.name).symlink_to(binary)
    (fake.parent / "pulumi-home").symlink_to(real.parent / "pulumi-home")
    (fake.parent / "share").symlink_to(real.parent / "share")
    # An apiserver that reports the right version but dies at start: etcd is already up by then.
    (fake / "kube-apiserver").unlink()
    (fake / "kube-apiserver").write_text(
        f"#!/bin/sh\ncase \"$1\" in --version) exec {real / 'kube-apiserver'} --version;; esac\n"
        "echo 'E1203 simulated: failed to listen' >&2\nexit 1\n")
    (fake / "kube-apiserver").chmod(0o755)
    project = copy_project(tmp_path / "project")
    done = local_up(project, DOC_RAG_ENGINE_HOME=str(home))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "kube-apiserver exited while starting; log: " in done.stderr
    assert "simulated: failed to listen" in done.stderr  # the log's tail
    pids = started_pids(done.stdout)
    assert len(pids) == 1 and "local: etcd started" in done.stdout  # and stopped again:
    assert not any(process_alive(pid) for pid in pids)
    assert not list((project / "build/local/cluster").glob("pids/*.pid"))


PLAIN_SENTINEL = "Zq7-plain-sentinel-do-not-leak"


def flat(text: str) -> str:
    return " ".join(text.split())  # the engine and rich wrap long messages


def found_in(value: str, texts: dict[str, str]) -> list[str]:
    """Where `value` occurs, by name only: a failing assertion never prints the value."""
    return [name for name, text in texts.items() if value in text]


def state_files(backend_url: str) -> dict[str, str]:
    """Every file of a file:// backend: checkpoints, their backups and the update history."""
    root = Path(backend_url.removeprefix("file://"))
    return {str(path): path.read_text(errors="replace") for path in root.rglob("*") if path.is_file()}


def stack_without_cluster(root: Path) -> Project:
    """The project copy's `local` stack in its own file backend, no cluster: enough for what the engine and the
    program decide before any resource is registered."""
    project = Project(root, local_env(root))
    Path(project.env["PULUMI_BACKEND_URL"].removeprefix("file://")).mkdir(parents=True)
    Path(project.env["PULUMI_CONFIG_PASSPHRASE_FILE"]).write_text("e2e-passphrase")
    project.pulumi("stack", "init", "local", "--secrets-provider", "passphrase")
    return project


def test_a_plain_secret_is_refused_by_the_real_preview_and_up_and_never_echoed(tmp_path: Path):
    """A password in clear in the stack file (an editor, or `pulumi config set --plaintext`; without either flag
    this CLI refuses a value that looks like a secret): preview and up refuse it (the CLI, from Pulumi.yaml's
    `secret: true`) before any update is recorded, ops commands through the real CLI exit 2, and the value is
    nowhere in their output or the backend."""
    engine_bin()
    project = stack_without_cluster(copy_project(tmp_path / "project"))
    project.pulumi("config", "set", "--plaintext", "postgresPassword", PLAIN_SENTINEL, "--stack", "local")
    project.run("pulumi", "config", "set", "--secret", "grafanaAdminPassword", "--stack", "local",
                "--non-interactive", stdin="Zq7-encrypted-sentinel")
    assert yaml.safe_load((project.root / "Pulumi.local.yaml").read_text())["config"][
        "doc-rag:postgresPassword"] == PLAIN_SENTINEL  # what the CLI wrote: the value in clear
    outputs: dict[str, str] = {}
    for command in (("preview",), ("up", "--yes", "--skip-preview")):
        done = project.pulumi(*command, "--stack", "local", check=False)
        outputs.update({f"{command[0]} stdout": done.stdout, f"{command[0]} stderr": done.stderr})
        assert done.returncode != 0
        assert "configuration key 'postgresPassword' must be encrypted as it's secret" in flat(done.stderr), \
            done.stdout[-2000:] + done.stderr[-2000:]
    for command in (("status", "-s", "local"), ("promote", "-s", "local"), ("rollback", "-s", "local")):
        done = project.ops(*command, check=False)  # the Automation API path: the real CLI is on PATH
        outputs.update({f"ops {command[0]} stdout": done.stdout, f"ops {command[0]} stderr": done.stderr})
        assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
        assert "postgresPassword: a plain, unencrypted value in Pulumi.local.yaml" in flat(done.stdout)
    exported = project.pulumi("stack", "export", "--stack", "local").stdout
    assert json.loads(exported)["deployment"].get("resources") in (None, [])  # nothing created
    assert found_in(PLAIN_SENTINEL, {**outputs, "stack export": exported,
                                     **state_files(project.env["PULUMI_BACKEND_URL"])}) == []


def test_the_program_refuses_a_secret_key_the_engine_does_not_pass_as_secret(tmp_path: Path):
    """Where the CLI does not know a key is secret (here: Pulumi.yaml without its `secret: true`), the program
    refuses it: the engine's PULUMI_CONFIG_SECRET_KEYS does not name it, so it stops before registering anything,
    naming the key, the stack file and the fix."""
    engine_bin()
    root = copy_project(tmp_path / "project")
    project_file = yaml.safe_load((root / "Pulumi.yaml").read_text())
    project_file["config"]["postgresPassword"].pop("secret")
    (root / "Pulumi.yaml").write_text(yaml.safe_dump(project_file, sort_keys=False))
    project = stack_without_cluster(root)
    project.pulumi("config", "set", "--plaintext", "postgresPassword", PLAIN_SENTINEL, "--stack", "local")
    project.run("pulumi", "config", "set", "--secret", "grafanaAdminPassword", "--stack", "local",
                "--non-interactive", stdin="Zq7-encrypted-sentinel")
    outputs: dict[str, str] = {}
    for command in (("preview",), ("up", "--yes")):
        done = project.pulumi(*command, "--stack", "local", check=False)
        outputs.update({f"{command[0]} stdout": done.stdout, f"{command[0]} stderr": done.stderr})
        printed = flat(done.stdout + done.stderr)
        assert done.returncode != 0
        assert "postgresPassword: a plain, unencrypted value in Pulumi.local.yaml" in printed, printed[-3000:]
        assert "pulumi config rm postgresPassword -s local" in printed
        assert "pulumi config set --secret postgresPassword -s local" in printed
    exported = project.pulumi("stack", "export", "--stack", "local").stdout
    assert [r["type"] for r in json.loads(exported)["deployment"].get("resources") or []
            if r["type"] != "pulumi:pulumi:Stack"] == []
    assert found_in(PLAIN_SENTINEL, {**outputs, "stack export": exported}) == []


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    engine_bin()
    root = copy_project(tmp_path_factory.mktemp("e2e") / "doc-rag")
    project = Project(root, local_env(root))
    try:
        up = project.ops("local", "up")
        assert "kube-apiserver started" in up.stdout and "local: ready" in up.stdout, up.stdout
        yield project
    finally:
        project.ops("local", "down", check=False)


@pytest.fixture(scope="module")
def planned(project: Project) -> list[Path]:
    """What `make plan STACK=local` renders: one manifest file per object."""
    out = project.root / "build" / "plan-local"
    project.ops("plan", "--stack", "local", "--out", str(out))
    return sorted((out / "manifests").glob("*.yaml"))


def existing(project: Project, manifests: list[Path]) -> list[str]:
    """The planned objects that exist live (looked up by the manifest's own apiVersion, kind and name)."""
    return [path.stem for path in manifests
            if project.kubectl("get", "-f", str(path), "-o", "name", check=False).returncode == 0]


def live(project: Project, kind: str, namespace: str = NAMESPACE) -> list[dict]:
    return json.loads(project.kubectl("get", kind, "-n", namespace, "-o", "json").stdout)["items"]


def test_up_is_idempotent_and_status_names_every_process(project: Project):
    again = project.ops("local", "up")
    assert "local: already up" in again.stdout, again.stdout
    status = project.ops("local", "status").stdout
    processes = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "prometheus", "traffic")
    for name in processes:
        line = next(line for line in status.splitlines() if line.startswith(name + " "))
        assert "stopped" not in line and "log " in line, status
    nodes = json.loads(project.kubectl("get", "nodes", "-o", "json").stdout)["items"]
    assert len(nodes) == 3
    zones = {n["metadata"]["labels"]["topology.kubernetes.io/zone"] for n in nodes}
    assert zones == {"local-1a", "local-1b", "local-1c"}
    assert all(n["status"]["allocatable"]["cpu"] == "4" for n in nodes)


def test_the_local_stack_holds_every_secret_key_encrypted(project: Project):
    stack_file = yaml.safe_load((project.root / "Pulumi.local.yaml").read_text())
    for key in SECRET_KEYS:
        secret = stack_file["config"][f"doc-rag:{key}"]
        assert set(secret) == {"secure"} and secret["secure"].startswith("v1:"), key
    assert "encryptionsalt" in stack_file


def test_preview_then_up_with_the_real_engine(project: Project):
    preview = project.pulumi("preview", "--stack", "local")
    assert re.search(r"\+ \d{2} to create", preview.stdout), preview.stdout
    up = project.pulumi("up", "--stack", "local", "--yes", "--skip-preview", timeout=1200)
    assert "Resources:" in up.stdout, up.stdout


def test_the_backup_objects_exist_live_after_up(project: Project):
    """Pulumi.local.yaml backs up to an existing bucket: the API server holds the backup CronJobs, the pgBackRest
    ConfigMap pointing at that bucket and the Postgres service account (no roleArn: no IRSA annotation)."""
    jobs = {job["metadata"]["name"]: job for job in live(project, "cronjobs")}
    assert sorted(jobs) == ["postgres-backup-diff", "postgres-backup-full"]
    assert jobs["postgres-backup-full"]["spec"]["schedule"] == "0 3 * * 0"
    assert jobs["postgres-backup-diff"]["spec"]["schedule"] == "0 3 * * 1-6"
    for job in jobs.values():
        assert job["metadata"]["labels"]["doc-rag/backup-of"] == "postgres"
        pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] == "postgres-backup"
    config_map = json.loads(project.kubectl("get", "configmap", "postgres-backup-config", "-n", NAMESPACE,
                                            "-o", "json").stdout)
    conf = config_map["data"]["pgbackrest.conf"].splitlines()
    assert "repo1-s3-bucket=doc-rag-local-pg-backups-not-real" in conf
    assert "repo1-s3-region=eu-west-1" in conf
    account = json.loads(project.kubectl("get", "serviceaccount", "postgres", "-n", NAMESPACE, "-o", "json").stdout)
    assert "eks.amazonaws.com/role-arn" not in (account["metadata"].get("annotations") or {})
    statefulset = json.loads(project.kubectl("get", "statefulset", "postgres", "-n", NAMESPACE, "-o", "json").stdout)
    assert statefulset["spec"]["template"]["spec"]["serviceAccountName"] == "postgres"


def test_no_secret_value_in_clear_in_the_state_plan_output_or_logs(project: Project, planned: list[Path]):
    """Each secret key's value (decrypted here, held in memory, never printed) is absent from `pulumi stack export`
    (ciphertext only), the whole file backend, the stack file, `make plan STACK=local`'s output, what preview and
    status print, and every log of the local cluster; the live Secrets hold it."""
    values = {key: project.pulumi("config", "get", key, "--stack", "local").stdout.strip() for key in SECRET_KEYS}
    assert all(len(value) >= 24 for value in values.values())
    exported = project.pulumi("stack", "export", "--stack", "local").stdout
    assert '"ciphertext"' in exported
    preview = project.pulumi("preview", "--stack", "local", "--diff")
    status = project.ops("status", "-s", "local")
    places = {
        "stack export": exported,
        **state_files(project.env["PULUMI_BACKEND_URL"]),
        "Pulumi.local.yaml": (project.root / "Pulumi.local.yaml").read_text(),
        **{str(path): path.read_text() for path in planned[0].parent.parent.rglob("*") if path.is_file()},
        "preview": preview.stdout + preview.stderr,
        "status": status.stdout + status.stderr,
        **{str(path): path.read_text(errors="replace") for path in (project.root / "build" / "local").rglob("*.log")},
    }
    assert len(places) > 10
    for key, value in values.items():
        assert found_in(value, places) == [], f"{key} in clear"
    live = {"postgresPassword": ("doc-rag-prod", "doc-rag-secrets", "postgres-password"),
            "grafanaAdminPassword": ("doc-rag-monitoring", "grafana-admin", "admin-password")}
    for key, (namespace, secret, item) in live.items():
        encoded = project.kubectl("get", "secret", secret, "-n", namespace,
                                  "-o", f"jsonpath={{.data.{item}}}").stdout
        holds = base64.b64decode(encoded).decode() == values[key]  # compared, never shown
        assert holds, f"{namespace}/{secret} does not hold {key}"


def test_every_planned_object_exists_live(project: Project, planned: list[Path]):
    missing = sorted(set(path.stem for path in planned) - set(existing(project, planned)))
    assert len(planned) > 40 and not missing, missing


def test_workloads_become_available_and_hpas_hold_their_minimum(project: Project):
    hpas = live(project, "horizontalpodautoscalers")
    assert hpas
    for hpa in hpas:  # the HPA scales its Deployment (created without replicas) up to minReplicas
        target = hpa["spec"]["scaleTargetRef"]["name"]
        project.kubectl("wait", f"deployment/{target}", "-n", NAMESPACE,
                        f"--for=jsonpath={{.status.availableReplicas}}={hpa['spec']['minReplicas']}", "--timeout=120s")
    for kind in ("deployments", "statefulsets"):
        for workload in live(project, kind):
            name = f"{kind[:-1]}/{workload['metadata']['name']}"
            project.kubectl("rollout", "status", name, "-n", NAMESPACE, "--timeout=120s")
    for deployment in live(project, "deployments"):
        status = deployment["status"]
        assert status.get("availableReplicas", 0) == deployment["spec"]["replicas"] > 0, deployment["metadata"]["name"]
    for statefulset in live(project, "statefulsets"):
        assert statefulset["status"].get("readyReplicas", 0) == statefulset["spec"]["replicas"]


def test_every_pod_we_create_is_admitted_and_one_breaking_restricted_is_refused(project: Project):
    events = live(project, "events")
    refused = [e["message"] for e in events if e.get("reason") == "FailedCreate"]
    assert not refused, refused
    # Valid for the API server (privileged pods are allowed, as on EKS); only Pod Security admission refuses it.
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "breaks-restricted", "namespace": NAMESPACE},
           "spec": {"containers": [{"name": "c", "image": "busybox:1.36", "securityContext": {"privileged": True}}]}}
    done = project.run("kubectl", "apply", "-f", "-", stdin=json.dumps(pod), check=False)
    assert done.returncode != 0 and 'violates PodSecurity "restricted:' in done.stderr, done.stderr
    assert "privileged" in done.stderr


def test_no_perpetual_diff_after_up(project: Project):
    project.pulumi("preview", "--stack", "local", "--expect-no-changes", "--diff")


def test_policy_pack_runs_inside_the_engine(project: Project):
    done = project.pulumi("preview", "--stack", "local", "--policy-pack", "policies")
    assert "doc-rag@v1.0.0" in done.stdout and "mandatory" not in done.stdout, done.stdout


def test_policy_pack_violations_fail_the_preview(project: Project, tmp_path: Path):
    fixture = copy_violating_fixture(project, tmp_path)
    done = project.run("pulumi", "preview", "--stack", "e2e", "--policy-pack", str(project.root / "policies"),
                       "--non-interactive", cwd=fixture, check=False)
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert "images-pinned" in output and "mandatory" in output, output


def copy_violating_fixture(project: Project, tmp_path: Path) -> Path:
    fixture = tmp_path / "violating"
    shutil.copytree(project.root / "tests" / "fixtures" / "e2e" / "violating", fixture)
    (fixture / ".venv").symlink_to(project.root / ".venv")
    project.run("pulumi", "stack", "init", "e2e", "--non-interactive", cwd=fixture)
    return fixture


def prometheus_value(project: Project, promql: str) -> dict[str, float]:
    """version -> value of an instant query on the local Prometheus (PROMETHEUS_URL from `ops local env`)."""
    url = f"{project.env['PROMETHEUS_URL']}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(url, timeout=5) as response:
        result = json.loads(response.read())["data"]["result"]
    return {series["metric"].get("version", ""): float(series["value"][1]) for series in result}


def eventually(check, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not reached within {timeout:.0f}s"
        time.sleep(1)


class Sampled:
    """What `sample()` returns, every half second while a command runs (a sample that fails is skipped)."""

    def __init__(self, sample: Callable[[], Any]):
        self.sample, self.seen, self._stop = sample, [], threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.is_set():
            try:
                self.seen.append(self.sample())
            except AssertionError:  # a kubectl that failed (the object not there yet)
                pass
            self._stop.wait(0.5)

    def __enter__(self) -> "Sampled":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def weights_seen(project: Project) -> Sampled:
    """Every weight the live canary Ingress carries while a command runs."""
    return Sampled(lambda: live_weight(project))


def stack_history(project: Project) -> list[dict]:
    return yaml.safe_load((project.root / "Pulumi.local.yaml").read_text())["config"]["doc-rag:release"]["history"]


def test_promote_walks_every_step_with_real_ups_and_flips(project: Project):
    with weights_seen(project) as weights:
        done = project.ops("promote", "-s", "local", timeout=900)
    assert ("release complete: green doc-rag/api:v1.1.0 is active and stable; blue retired (scaled to 0) (exit 0)"
            in " ".join(done.stdout.split()))
    assert {"5", "25", "50", "100"} <= set(weights.seen), weights.seen  # each step reached the live Ingress
    selector = project.kubectl("get", "service", "api-service", "-n", NAMESPACE, "-o",
                               "jsonpath={.spec.selector.version}").stdout
    assert selector == "green"
    outputs = json.loads(project.pulumi("stack", "output", "--json", "--stack", "local").stdout)
    history = stack_history(project)
    assert history[-1]["decision"] == "done"
    # The stack holds the verdicts Pulumi.local.yaml holds (the file leaves defaults out).
    deployed = [Verdict.model_validate(v) for v in outputs["releaseHistory"]]
    assert deployed == [Verdict.model_validate(v) for v in history]
    assert outputs["activeColor"] == "green" and outputs["canaryWeight"] == 0
    # The previous colour is retired as the plan does: no pods, and its HPA and PDB gone with them.
    assert history[-1]["replicas"] == 3 and stack_file_release(project)["blue"]["replicas"] == 0
    assert live_ready(project, "blue") == ("0", "")
    eventually(lambda: not colour_pods(project, "blue"))
    names = {item["metadata"]["name"] for kind in ("hpa", "pdb") for item in live(project, kind)}
    assert {"api-hpa-green", "api-pdb-green"} <= names and not {"api-hpa-blue", "api-pdb-blue"} & names


def stack_file_release(project: Project) -> dict:
    return yaml.safe_load((project.root / "Pulumi.local.yaml").read_text())["config"]["doc-rag:release"]


def live_ready(project: Project, color: str) -> tuple[str, str]:
    """(spec.replicas, status.readyReplicas) of a colour's Deployment."""
    shown = project.kubectl("get", "deployment", f"api-deployment-{color}", "-n", NAMESPACE, "-o",
                            "jsonpath={.spec.replicas} {.status.readyReplicas}").stdout
    replicas, _, ready = shown.partition(" ")
    return replicas, ready


def colour_pods(project: Project, color: str) -> list[dict]:
    return [pod for pod in live(project, "pods") if pod["metadata"].get("labels", {}).get("version") == color]


def live_weight(project: Project) -> str:
    return project.kubectl("get", "ingress", "api-ingress", "-n", NAMESPACE, "-o",
                           r"jsonpath={.metadata.annotations.nginx\.ingress\.kubernetes\.io/canary-weight}").stdout


def live_selector(project: Project) -> str:
    return project.kubectl("get", "service", "api-service", "-n", NAMESPACE, "-o",
                           "jsonpath={.spec.selector.version}").stdout


def updates(project: Project) -> int:
    """How many updates the stack has run (a refused command must add none)."""
    return len(json.loads(project.pulumi("stack", "history", "--json", "--stack", "local").stdout))


def ups_run(printed: str) -> list[str]:
    return re.findall(r"^(start|advance|flip|done|rollback|reconcile): up with", printed, re.MULTILINE)


def set_image(project: Project, color: str, image: str) -> None:
    project.pulumi("config", "set", "--path", f"release.{color}.image", image, "--stack", "local")


def test_status_shows_the_live_colours_verdicts_gates_and_no_drift(project: Project):
    shown = " ".join(project.ops("status", "-s", "local").stdout.split())
    assert "stack config: green active, canary weight 0%" in shown and "; deployed" in shown
    assert "│ green │ active │ doc-rag/api:v1.1.0 │ 3 │ 100% │" in shown
    assert "│ blue │ retired │ doc-rag/api:v1.0.0 │ 0 │ 0% │" in shown
    assert "│ done │ doc-rag/api:v1.1.0 │" in shown  # the last verdict
    assert re.search(r"live gates for blue: \w+", shown) and 'version="blue"' in shown
    assert "live drift: none" in shown


def test_check_runs_its_live_probes_against_the_local_cluster(project: Project):
    done = project.ops("check", "-s", "local", "--out", str(project.root / "build" / "check-local"))
    rows = {match[0]: match[1] for match in re.findall(r"│ ([a-z0-9 -]+?) +│ (pass|fail|skip) +│", done.stdout)}
    for probe in ("pulumi preview", "live drift", "node readiness", "api health", "prometheus health"):
        assert rows.get(probe) == "pass", (probe, done.stdout[-3000:])
    assert "via cluster.kubeconfig (build/local/cluster/kubeconfig)" in done.stdout
    assert "check: passed" in done.stdout


def test_rollback_after_the_flip_revives_the_retired_colour_then_returns_live_traffic_to_it(project: Project):
    with Sampled(lambda: (live_selector(project), int(live_ready(project, "blue")[1] or 0))) as watch:
        done = project.ops("rollback", "-s", "local")
    printed = " ".join(done.stdout.split())
    assert "rollback: up reviving blue with 3 replicas" in printed
    assert "rolled back: blue doc-rag/api:v1.0.0 serves all traffic" in printed
    assert live_selector(project) == "blue" and live_weight(project) == "0"
    # Traffic moved only once blue had Ready pods again.
    first_on_blue = next(ready for selector, ready in watch.seen if selector == "blue")
    assert first_on_blue >= 1, watch.seen
    eventually(lambda: live_ready(project, "blue") == ("3", "3"), timeout=120)  # the HPA's minimum, all Ready
    assert [verdict["decision"] for verdict in stack_history(project)][-3:] == ["done", "revive", "rollback"]
    assert stack_history(project)[-1]["decision"] == "rollback"
    outputs = json.loads(project.pulumi("stack", "output", "--json", "--stack", "local").stdout)
    assert outputs["activeColor"] == "blue" and outputs["releaseHistory"][-1]["decision"] == "rollback"


def test_a_breaching_canary_is_rolled_back_with_one_up_and_the_report_names_the_gate(project: Project):
    """green served all traffic a minute ago: its new canary is judged on the step's own requests only."""
    set_image(project, "green", "doc-rag/api:v1.2.0")
    project.ops("local", "traffic", "--color", "green", "--error-share", "0.2")
    try:
        with weights_seen(project) as weights:
            done = project.ops("promote", "-s", "local", check=False)
    finally:
        project.ops("local", "traffic", "--reset")
    assert done.returncode == 1, done.stdout[-4000:]
    assert ups_run(done.stdout) == ["start", "rollback"]
    assert "5" in weights.seen and live_weight(project) == "0" and live_selector(project) == "blue"
    assert "rolled back to blue at weight 0: gate breached at 5%: errorRatio" in " ".join(done.stdout.split())
    row = re.search(r"│ errorRatio +│ fail +│ ([0-9.]+) +│ 0\.01 +│ ([0-9.]+) +│ \( ", done.stdout)
    # The value is the share the gate measured (a 20 % error share sampled over a few dozen requests): over the
    # threshold it names, with at least minRequests samples.
    assert row and 0.01 < float(row[1]) < 0.6 and float(row[2]) >= 25, done.stdout[-4000:]
    assert 'status=~"5..",version="green"' in done.stdout  # the query the gate asked
    last = stack_history(project)[-1]
    assert last["decision"] == "rollback" and "errorRatio" in {gate["gate"] for gate in last["gates"]}


def test_promote_refuses_bad_input_before_any_up(project: Project, tmp_path: Path):
    set_image(project, "green", "doc-rag/api:v1.3.0")
    before = updates(project)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    unreachable = project.run(sys.executable, "-m", "ops", "promote", "-s", "local", "--prometheus-url",
                              f"http://127.0.0.1:{closed}", check=False)
    assert unreachable.returncode == 2 and "is not usable" in unreachable.stdout, unreachable.stdout[-2000:]

    # A stack file behind the deployed one (a stale clone): its last verdict missing.
    stack_file = project.root / "Pulumi.local.yaml"
    current = stack_file.read_text()
    document = yaml.safe_load(current)
    document["config"]["doc-rag:release"]["history"] = document["config"]["doc-rag:release"]["history"][:-1]
    stack_file.write_text(yaml.safe_dump(document, sort_keys=False))
    try:
        stale = project.ops("promote", "-s", "local", check=False)
    finally:
        stack_file.write_text(current)
    printed = " ".join(stale.stdout.split())
    assert stale.returncode == 2 and "differs from the deployed stack" in printed, printed[-2000:]
    assert "pulumi config refresh -s local" in printed
    assert ups_run(unreachable.stdout + stale.stdout) == [] and updates(project) == before
    assert live_weight(project) == "0"


def test_a_weight_edited_with_kubectl_is_drift_that_promote_refuses(project: Project):
    before = updates(project)
    project.kubectl("annotate", "ingress", "api-ingress", "-n", NAMESPACE, "--overwrite",
                    "nginx.ingress.kubernetes.io/canary-weight=30")
    field = 'Ingress doc-rag-prod/api-ingress metadata.annotations["nginx.ingress.kubernetes.io/canary-weight"]: ' \
            "stack '0', live '30'"
    status = " ".join(project.ops("status", "-s", "local").stdout.split())
    assert "live drift: 1 field(s) changed outside Pulumi" in status and field in status
    check = project.ops("check", "-s", "local", "--out", str(project.root / "build" / "check-local"), check=False)
    assert check.returncode == 1 and re.search(r"│ live drift +│ fail +│", check.stdout)
    refused = project.ops("promote", "-s", "local", check=False)
    printed = " ".join(refused.stdout.split())
    assert refused.returncode == 2 and field in printed and "`pulumi up --refresh --stack local`" in printed
    assert ups_run(refused.stdout) == [] and updates(project) == before and live_weight(project) == "30"
    project.pulumi("up", "--refresh", "--stack", "local", "--yes", "--skip-preview")  # the named fix
    assert live_weight(project) == "0"
    assert "live drift: none" in project.ops("status", "-s", "local").stdout


class Promote:
    """`ops promote` in its own process group, so a test can SIGKILL it with every `pulumi` it started."""

    def __init__(self, project: Project, log: Path):
        self.log = log
        self.process = subprocess.Popen([sys.executable, "-m", "ops", "promote", "-s", "local"], cwd=project.root,
                                        env={**project.env, "PYTHONUNBUFFERED": "1"}, stdout=log.open("w"),
                                        stderr=subprocess.STDOUT, start_new_session=True)

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def wait_for(self, check, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            assert self.process.poll() is None, f"promote ended early:\n{self.log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"not reached:\n{self.log.read_text()[-3000:]}"
            time.sleep(0.05)


def test_a_promote_killed_during_a_soak_resumes_from_the_stack(project: Project, tmp_path: Path):
    """SIGKILL while soaking at 5 %: the next promote starts no second release and repeats no step."""
    promote = Promote(project, tmp_path / "promote.log")
    promote.wait_for(lambda: "gates for green (soaking at 5%;" in promote.log.read_text())
    promote.kill()
    assert live_weight(project) == "5"
    resumed = project.ops("promote", "-s", "local", timeout=900)
    assert "resuming the soak at 5%" in resumed.stdout
    assert ups_run(resumed.stdout) == ["advance", "advance", "advance", "flip", "done"]
    assert [verdict["decision"] for verdict in stack_history(project)] == [
        "start", "advance", "advance", "advance", "flip", "done"]
    assert live_selector(project) == "green" and live_weight(project) == "0"


def test_a_promote_killed_during_an_up_leaves_a_lock_that_is_named_then_resumes(project: Project, tmp_path: Path):
    """SIGKILL while its `up` runs: the lock it leaves stops the next promote (nothing changed, `pulumi cancel`
    named); after the cancel, promote finishes the interrupted step and the release, losing no verdict."""
    set_image(project, "blue", "doc-rag/api:v1.4.0")
    locks = project.root / "build" / "local" / "cluster" / "state"
    promote = Promote(project, tmp_path / "promote.log")
    promote.wait_for(lambda: "start: up with" in promote.log.read_text() and any(locks.rglob("locks/**/*.json")))
    promote.kill()
    assert any(locks.rglob("locks/**/*.json"))
    config_before = (project.root / "Pulumi.local.yaml").read_text()
    before = updates(project)
    locked = project.ops("promote", "-s", "local", check=False)
    printed = " ".join(locked.stdout.split())
    assert locked.returncode == 2 and "is locked by another update" in printed, printed[-3000:]
    assert "`pulumi cancel --stack local --yes`" in printed and "nothing changed" in printed
    assert "rollback: up" not in locked.stdout and updates(project) == before
    assert (project.root / "Pulumi.local.yaml").read_text() == config_before
    project.pulumi("cancel", "--stack", "local", "--yes")
    finished = project.ops("promote", "-s", "local", timeout=900)
    assert ups_run(finished.stdout)[0] == "reconcile" and "start" not in ups_run(finished.stdout)
    assert [verdict["decision"] for verdict in stack_history(project)] == [
        "start", "advance", "advance", "advance", "flip", "done"]
    assert live_selector(project) == "blue" and live_weight(project) == "0"


def firing_alerts(project: Project) -> set[str]:
    url = f"{project.env['PROMETHEUS_URL']}/api/v1/alerts"
    with urllib.request.urlopen(url, timeout=5) as response:
        alerts = json.loads(response.read())["data"]["alerts"]
    return {alert["labels"]["alertname"] for alert in alerts if alert["state"] == "firing"}


def test_no_step_advances_while_the_error_budget_burns(project: Project):
    """The active colour failing half its requests fires our fast-burn page alert (after its 2 minutes): a
    healthy canary is held at its first step, then rolled back fail-closed, the alert named and recorded."""
    traffic = json.loads(project.pulumi("stack", "output", "traffic", "--json", "--stack", "local").stdout)
    active, canary = traffic["activeColor"], traffic["canaryColor"]
    set_image(project, canary, "doc-rag/api:v1.5.0")
    project.ops("local", "traffic", "--color", active, "--error-share", "0.5")
    try:
        eventually(lambda: "DocRagErrorBudgetBurnFast" in firing_alerts(project), timeout=420)
        done = project.ops("promote", "-s", "local", check=False, timeout=900)
    finally:
        project.ops("local", "traffic", "--reset")
    printed = " ".join(done.stdout.split())
    assert done.returncode == 1, done.stdout[-4000:]
    assert ups_run(done.stdout) == ["start", "rollback"]  # never advanced
    assert "held by firing page alerts (pageAlerts" in printed and "extension 3/3" in printed
    assert "fail closed: held by firing page alerts after 3 extensions" in printed
    assert "DocRagErrorBudgetBurnFast" in printed
    last = stack_history(project)[-1]
    assert last["decision"] == "rollback"
    assert {gate["gate"]: gate["status"] for gate in last["gates"]}["pageAlerts"] == "hold"
    assert live_weight(project) == "0" and live_selector(project) == active


def test_traffic_follows_the_live_weight_and_the_colour_behaviour(project: Project):
    """The traffic source splits its requests by the live objects; Prometheus scrapes it and evaluates the
    rules the stack deployed; `ops local traffic` makes one colour fail. (After the releases above: their
    colours' history is still in Prometheus' 5-minute windows, so this test comes last.)"""
    rules = json.loads(urllib.request.urlopen(f"{project.env['PROMETHEUS_URL']}/api/v1/rules", timeout=5).read())
    recorded = {rule["name"] for group in rules["data"]["groups"] for rule in group["rules"]}
    assert "version:http_requests:rate5m" in recorded
    traffic = json.loads(project.pulumi("stack", "output", "traffic", "--json", "--stack", "local").stdout)
    active, canary = traffic["activeColor"], traffic["canaryColor"]
    rate = "sum by (version) (rate(http_requests_total[6s]))"
    # Weight 0: only the active colour gets requests (the canary's series, if any, rate 0).
    eventually(lambda: {color for color, value in prometheus_value(project, rate).items() if value > 0} == {active})
    project.pulumi("config", "set", "--path", "release.canaryWeight", "25", "--stack", "local")
    project.pulumi("up", "--stack", "local", "--yes", "--skip-preview")

    def canary_share_is_a_quarter() -> bool:
        rates = prometheus_value(project, rate)
        return canary in rates and 0.15 < rates[canary] / sum(rates.values()) < 0.35

    eventually(canary_share_is_a_quarter)
    project.ops("local", "traffic", "--color", canary, "--error-share", "0.5")
    errors = ('sum by (version) (rate(http_requests_total{status=~"5.."}[6s]))'
              " / sum by (version) (rate(http_requests_total[6s]))")
    eventually(lambda: 0.35 < prometheus_value(project, errors).get(canary, 0) < 0.65)
    assert prometheus_value(project, errors).get(active, 0) == 0
    project.ops("local", "traffic", "--reset")


def test_destroy_leaves_none_of_our_objects(project: Project, planned: list[Path]):
    project.pulumi("destroy", "--stack", "local", "--yes", "--skip-preview", timeout=1200)
    assert existing(project, planned) == []


def test_down_leaves_no_process_and_no_listener(project: Project):
    pids = [int(p.read_text().split()[0]) for p in (project.root / "build/local/cluster/pids").glob("*.pid")]
    assert len(pids) == 7
    project.ops("local", "down")
    assert not any(process_alive(pid) for pid in pids)
    for port in PORTS:
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still listening"
    assert not (project.root / "build/local/cluster").exists()
    assert (project.root / "build/local/passphrase").exists()
