"""`ops local up|down|status`: bring the local control plane up (idempotently), report it, tear it down."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Callable

from ops.engine.build import kwok_stage_dir, version_mismatches
from ops.local import bootstrap, cluster, pki, stack
from ops.local.cluster import (
    CLUSTER_DIR,
    COMPONENTS,
    PKI_DIR,
    PROMETHEUS_BINARY,
    PROMETHEUS_URL,
    SERVICE_IP,
    TRAFFIC_PORT,
    LocalClusterError,
    apiserver_ready,
    etcd_healthy,
    http_ok,
    running_pid,
)

Echo = Callable[[str], None]

# What "started" means for each process before the next one starts.
READINESS: dict[str, tuple[Callable[[], bool], str, float]] = {
    "etcd": (etcd_healthy, "/health", 60),
    "kube-apiserver": (apiserver_ready, "/readyz", 120),
    "prometheus": (lambda: http_ok(f"{PROMETHEUS_URL}/-/ready"), "/-/ready", 60),
    "traffic": (lambda: http_ok(f"http://127.0.0.1:{TRAFFIC_PORT}/metrics"), "/metrics", 30),
}


def check_engine(bin_dir: Path) -> None:
    problems = version_mismatches(bin_dir)
    if not Path(PROMETHEUS_BINARY).exists():
        problems.append(f"{PROMETHEUS_BINARY}: missing (Debian's prometheus package, which `make setup` installs)")
    if problems:
        raise LocalClusterError("the engine is not built or not the recipe's (run `make engine`):\n  "
                                + "\n  ".join(problems))


def up(bin_dir: Path, echo: Echo = print) -> None:
    """Start whatever is not running, in order; return when the API server and the nodes are Ready.
    On failure, everything this call started is stopped again."""
    check_engine(bin_dir)
    CLUSTER_DIR.mkdir(parents=True, exist_ok=True)
    if not (PKI_DIR / "ca.crt").exists():
        pki.generate(PKI_DIR, SERVICE_IP)
        bootstrap.write_kubeconfigs()
    bootstrap.write_kwok_stages(kwok_stage_dir(bin_dir.parent))
    bootstrap.write_prometheus_config()

    missing = [c for c in COMPONENTS if running_pid(c, bin_dir) is None]
    taken = [f"{port} ({c.name})" for c in missing for port in c.ports if cluster.port_in_use(port)]
    if taken:
        raise LocalClusterError(f"port already in use on 127.0.0.1: {', '.join(taken)}; stop what holds it "
                                "(or `python -m ops local down` if it is an earlier cluster)")
    started: list[cluster.Component] = []
    try:
        for component in missing:
            began = time.monotonic()
            pid = cluster.start(component, bin_dir)
            started.append(component)
            ready, what, timeout = READINESS.get(component.name, (lambda: True, "", 0))
            if what:
                cluster.wait_until(component, ready, what, timeout)
            echo(f"local: {component.name} started (pid {pid}, log {component.log_file}) "
                 f"in {time.monotonic() - began:.1f}s")
        bootstrap.apply_objects(bin_dir, kwok_stage_dir(bin_dir.parent))
        stack.prepare(bin_dir, echo)
        dead = [c for c in COMPONENTS if running_pid(c, bin_dir) is None]
        if dead:  # a process that died after starting shows here, not later in a test
            raise LocalClusterError(_died(dead))
    except BaseException as error:  # Ctrl-C and timeouts too: nothing this call started is left running
        dead = [c for c in started if running_pid(c, bin_dir) is None]
        for component in reversed(started):
            try:
                cluster.stop(component)
            except LocalClusterError as stop_error:
                echo(f"local: {stop_error}")
        if not isinstance(error, Exception) or isinstance(error, LocalClusterError):
            raise
        raise LocalClusterError(f"{error}\n{_died(dead)}" if dead else str(error)) from None
    if not missing:
        echo("local: already up")


def _died(components: list[cluster.Component]) -> str:
    return "\n".join(f"{c.name} is not running; log: {c.log_file}\n{cluster.log_tail(c)}" for c in components)


def down(echo: Echo = print) -> None:
    """Stop exactly the processes `up` started (by pid file) and remove the cluster's state."""
    for component in reversed(COMPONENTS):
        pid = cluster.stop(component)
        if pid is not None:
            echo(f"local: stopped {component.name} (pid {pid})")
    busy = [str(port) for c in COMPONENTS for port in c.ports if cluster.port_in_use(port)]
    if busy:
        raise LocalClusterError(f"ports still in use after stopping the cluster: {', '.join(busy)}")
    if CLUSTER_DIR.exists():
        shutil.rmtree(CLUSTER_DIR)
        echo(f"local: removed {CLUSTER_DIR}")


def status_rows() -> list[tuple[str, str, str, str]]:
    """(process, pid or 'stopped', ports, log) per component."""
    rows = []
    for component in COMPONENTS:
        pid = running_pid(component)
        ports = ", ".join(str(p) for p in component.ports) or "-"
        rows.append((component.name, str(pid) if pid else "stopped", ports, str(component.log_file)))
    return rows
