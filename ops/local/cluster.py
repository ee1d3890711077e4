"""The local cluster's processes on 127.0.0.1, no containers: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler, kwok, Debian's Prometheus and the traffic source. Each is started by `up` with its pid (and
binary) in a pid file and stopped by `down` through that pid only (never by name); a process that dies
while starting stops the rest.
"""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from ops.stackconfig import PROJECT_DIR

LOCAL_DIR = PROJECT_DIR / "build" / "local"
CLUSTER_DIR = LOCAL_DIR / "cluster"  # everything `down` removes
PKI_DIR = CLUSTER_DIR / "pki"
PID_DIR = CLUSTER_DIR / "pids"
LOG_DIR = CLUSTER_DIR / "logs"
KUBECONFIG = CLUSTER_DIR / "kubeconfig"

def _port_base() -> int:
    text = os.environ.get("DOC_RAG_LOCAL_PORT_BASE", "16379")
    if not text.isdigit() or not 1024 <= int(text) <= 65533:
        print(f"error: DOC_RAG_LOCAL_PORT_BASE = {text!r}: allowed: a port number from 1024 to 65533", file=sys.stderr)
        raise SystemExit(2)
    return int(text)


# Consecutive ports from DOC_RAG_LOCAL_PORT_BASE (etcd, etcd peer, kube-apiserver, the traffic source,
# Prometheus): the tests run their cluster on another base, so `make up` and `make test` do not collide.
PORT_BASE = _port_base()
ETCD_PORT, ETCD_PEER_PORT, APISERVER_PORT = PORT_BASE, PORT_BASE + 1, PORT_BASE + 2
TRAFFIC_PORT, PROMETHEUS_PORT = PORT_BASE + 3, PORT_BASE + 4
EDGE_METRICS_PATH = "/edge/metrics"  # where the traffic source serves the edge's (ingress-nginx's) counters
PROMETHEUS_URL = f"http://127.0.0.1:{PROMETHEUS_PORT}"
PROMETHEUS_BINARY = "/usr/bin/prometheus"  # Debian's package (make setup installs it)
TRAFFIC_CONTROL = CLUSTER_DIR / "traffic.json"  # what `ops local traffic` asks of each colour
RULES_DIR = CLUSTER_DIR / "rules"  # the rules the stack deployed, copied for the local Prometheus
SERVICE_CIDR, SERVICE_IP = "10.96.0.0/16", "10.96.0.1"  # virtual IPs in API objects only: nothing routes there
POD_CIDR = "10.244.0.1/16"  # kwok's fake pod IPs, likewise never dialled
API_URL = f"https://127.0.0.1:{APISERVER_PORT}"
ETCD_URL = f"https://127.0.0.1:{ETCD_PORT}"


class LocalClusterError(Exception):
    """The control plane could not be started or reached; the message names the process and its log."""


@dataclass(frozen=True)
class Component:
    name: str
    binary: str
    ports: tuple[int, ...]
    args: Callable[[], list[str]]

    @property
    def pid_file(self) -> Path:
        return PID_DIR / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return LOG_DIR / f"{self.name}.log"


def kubeconfig_for(identity: str) -> Path:
    return CLUSTER_DIR / f"{identity}.kubeconfig"


def _etcd_args() -> list[str]:
    # TLS with client certificates: etcd holds every Secret, so only the API server may read it.
    tls = [f"--cert-file={PKI_DIR / 'etcd.crt'}", f"--key-file={PKI_DIR / 'etcd.key'}",
           f"--trusted-ca-file={PKI_DIR / 'ca.crt'}", "--client-cert-auth=true",
           f"--peer-cert-file={PKI_DIR / 'etcd.crt'}", f"--peer-key-file={PKI_DIR / 'etcd.key'}",
           f"--peer-trusted-ca-file={PKI_DIR / 'ca.crt'}", "--peer-client-cert-auth=true"]
    return ["--name=doc-rag-local", f"--data-dir={CLUSTER_DIR / 'etcd'}", *tls,
            f"--listen-client-urls={ETCD_URL}", f"--advertise-client-urls={ETCD_URL}",
            f"--listen-peer-urls=https://127.0.0.1:{ETCD_PEER_PORT}",
            f"--initial-advertise-peer-urls=https://127.0.0.1:{ETCD_PEER_PORT}",
            f"--initial-cluster=doc-rag-local=https://127.0.0.1:{ETCD_PEER_PORT}",
            "--listen-metrics-urls=", "--quota-backend-bytes=2147483648", "--log-level=warn"]


def _apiserver_args() -> list[str]:
    # The default admission plugins stay on (PodSecurity, ServiceAccount, LimitRanger, ResourceQuota, ...);
    # privileged pods are valid API objects, as on EKS, so Pod Security admission is what refuses them.
    return ["--allow-privileged=true", f"--etcd-servers={ETCD_URL}", f"--etcd-cafile={PKI_DIR / 'ca.crt'}",
            f"--etcd-certfile={PKI_DIR / 'apiserver-etcd-client.crt'}",
            f"--etcd-keyfile={PKI_DIR / 'apiserver-etcd-client.key'}", "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1", f"--secure-port={APISERVER_PORT}",
            f"--tls-cert-file={PKI_DIR / 'apiserver.crt'}", f"--tls-private-key-file={PKI_DIR / 'apiserver.key'}",
            f"--client-ca-file={PKI_DIR / 'ca.crt'}", "--authorization-mode=Node,RBAC",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={PKI_DIR / 'sa.pub'}",
            f"--service-account-signing-key-file={PKI_DIR / 'sa.key'}",
            "--profiling=false", "--endpoint-reconciler-type=none", "--v=1"]


def _controller_manager_args() -> list[str]:
    return [f"--kubeconfig={kubeconfig_for('controller-manager')}", "--leader-elect=false", "--secure-port=0",
            f"--service-account-private-key-file={PKI_DIR / 'sa.key'}", f"--root-ca-file={PKI_DIR / 'ca.crt'}",
            "--use-service-account-credentials=true", "--v=1"]


def _scheduler_args() -> list[str]:
    return [f"--kubeconfig={kubeconfig_for('scheduler')}", "--leader-elect=false", "--secure-port=0", "--v=1"]


def _traffic_args() -> list[str]:
    return ["-m", "ops.local.traffic", f"--port={TRAFFIC_PORT}", f"--control={TRAFFIC_CONTROL}",
            f"--rules-dir={RULES_DIR}", f"--prometheus-url={PROMETHEUS_URL}"]


def _prometheus_args() -> list[str]:
    return [f"--config.file={CLUSTER_DIR / 'prometheus.yml'}", f"--storage.tsdb.path={CLUSTER_DIR / 'prometheus'}",
            f"--web.listen-address=127.0.0.1:{PROMETHEUS_PORT}", "--web.enable-lifecycle",
            "--storage.tsdb.retention.time=1d", "--log.level=warn"]


def _kwok_args() -> list[str]:
    return [f"--kubeconfig={kubeconfig_for('kwok')}", f"--config={CLUSTER_DIR / 'kwok-stages.yaml'}",
            "--manage-all-nodes=false", "--manage-nodes-with-label-selector=type=kwok", f"--cidr={POD_CIDR}",
            # Node leases, as a kubelet renews them: without them the node controller marks the nodes (and
            # so every pod) NotReady 40s after start, between two of the stages' status heartbeats.
            "--node-lease-duration-seconds=40", "--node-ip=10.243.0.1"]


COMPONENTS = (
    Component("etcd", "etcd", (ETCD_PORT, ETCD_PEER_PORT), _etcd_args),
    Component("kube-apiserver", "kube-apiserver", (APISERVER_PORT,), _apiserver_args),
    Component("kube-controller-manager", "kube-controller-manager", (), _controller_manager_args),
    Component("kube-scheduler", "kube-scheduler", (), _scheduler_args),
    Component("kwok", "kwok", (), _kwok_args),
    # Absolute paths: not from the engine (Path joins keep an absolute second part as it is).
    Component("prometheus", PROMETHEUS_BINARY, (PROMETHEUS_PORT,), _prometheus_args),
    Component("traffic", sys.executable, (TRAFFIC_PORT,), _traffic_args),
)


# -- pids ------------------------------------------------------------------------------------------------

def running_pid(component: Component, bin_dir: Optional[Path] = None) -> Optional[int]:
    """The pid in the component's pid file if that process is alive and still runs the binary recorded
    with it (a reused pid belongs to someone else: never signalled); with `bin_dir`, that binary's."""
    try:
        pid_text, _, recorded = component.pid_file.read_text().strip().partition(" ")
        pid = int(pid_text)
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
    except (OSError, ValueError):
        return None
    if command != recorded or (bin_dir is not None and command != str(bin_dir / component.binary)):
        return None
    return pid if process_alive(pid) else None


def start(component: Component, bin_dir: Path) -> int:
    PID_DIR.mkdir(parents=True, exist_ok=True)
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    binary = str(bin_dir / component.binary)
    with component.log_file.open("ab") as log:
        process = subprocess.Popen([binary, *component.args()], stdin=subprocess.DEVNULL,
                                   stdout=log, stderr=subprocess.STDOUT, cwd=PROJECT_DIR, start_new_session=True)
    component.pid_file.write_text(f"{process.pid} {binary}\n")
    # Until the child has exec'd, its /proc entry still shows this interpreter: wait for the binary, so
    # running_pid() (and a stop() right after a failure) recognises it.
    deadline = time.monotonic() + 10
    while running_pid(component, bin_dir) is None and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    return process.pid


def stop(component: Component, timeout: float = 15.0) -> Optional[int]:
    """SIGTERM the recorded pid, SIGKILL it after `timeout`; returns the pid stopped (None if none ran)."""
    pid = running_pid(component)
    if pid is not None:
        try:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while process_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if process_alive(pid):
                os.kill(pid, signal.SIGKILL)
                deadline = time.monotonic() + timeout
                while process_alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.05)
        except ProcessLookupError:
            pass  # it exited on its own meanwhile
        if process_alive(pid):
            raise LocalClusterError(f"{component.name} (pid {pid}) did not exit after SIGKILL")
    component.pid_file.unlink(missing_ok=True)
    return pid


def process_alive(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our child
    except ChildProcessError:
        pass
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


# -- ports and readiness ---------------------------------------------------------------------------------

def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def log_tail(component: Component, lines: int = 15) -> str:
    if not component.log_file.exists():
        return "(no log)"
    return "\n".join(component.log_file.read_text(errors="replace").splitlines()[-lines:])


def wait_until(component: Component, ready: Callable[[], bool], what: str, timeout: float) -> None:
    """Poll `ready` until it holds; fail naming the component and its log if it dies or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if running_pid(component) is None:
            raise LocalClusterError(f"{component.name} exited while starting; log: {component.log_file}\n"
                                    f"{log_tail(component)}")
        if ready():
            return
        time.sleep(0.25)
    raise LocalClusterError(f"{component.name}: {what} not reached within {timeout:.0f}s; log: {component.log_file}\n"
                            f"{log_tail(component)}")


def client_tls(identity: str) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(PKI_DIR / "ca.crt"))
    context.load_cert_chain(str(PKI_DIR / f"{identity}.crt"), str(PKI_DIR / f"{identity}.key"))
    return context


def https_get(url: str, identity: str) -> bytes:
    """The body of a 200 answer to a client-certificate request, b"" for anything else."""
    try:
        with urllib.request.urlopen(url, timeout=3, context=client_tls(identity)) as response:
            return response.read() if response.status == 200 else b""
    except (OSError, urllib.error.URLError, ssl.SSLError):
        return b""


def etcd_healthy() -> bool:
    return b'"health":"true"' in https_get(f"{ETCD_URL}/health", "apiserver-etcd-client")


def apiserver_ready() -> bool:
    return https_get(f"{API_URL}/readyz", "admin") == b"ok"


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (OSError, urllib.error.URLError):
        return False
