"""What the local control plane needs before the stack can deploy on it: kubeconfigs, kwok's Stages, the
CRDs of the kinds we render, a storage class that binds claims, and three nodes of the production
instance type (m6i.xlarge: 4 CPU, 16 GiB)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import yaml

from components import prometheus_rules as rules
from ops.checks.crd_schema import schemas
from ops.local.cluster import (
    API_URL,
    CLUSTER_DIR,
    EDGE_METRICS_PATH,
    KUBECONFIG,
    PKI_DIR,
    RULES_DIR,
    TRAFFIC_PORT,
    kubeconfig_for,
)

# kwok's own Stages (read from the engine's copy of the kwok module, see ops/engine/build.py): nodes
# become Ready and keep a lease, pods run and become Ready, claims of class kwok-volume get a bound volume.
UPSTREAM_STAGES = (
    "node/fast/node-initialize.yaml", "node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "pod/fast/pod-ready.yaml", "pod/fast/pod-complete.yaml", "pod/fast/pod-delete.yaml",
    "volume/fast/pvc-provision.yaml", "volume/fast/pv-bind.yaml", "volume/fast/pvc-delete.yaml",
    "volume/fast/pv-delete.yaml",
)
STORAGE_CLASS = "volume/fast/storage-class.yaml"  # kwok-volume, the local stack's storage class
# Ours: the addresses a cloud would give (the NLB's hostname), which the Kubernetes provider awaits.
OUR_STAGES = Path(__file__).with_name("stages.yaml")

NODES = ("local-node-a", "local-node-b", "local-node-c")
ZONES = ("local-1a", "local-1b", "local-1c")
NODE_CAPACITY = {"cpu": "4", "memory": "16Gi", "pods": "110", "ephemeral-storage": "100Gi"}  # m6i.xlarge
CLUSTER_SCOPED_KINDS = {"ClusterIssuer"}


def write_kubeconfigs() -> None:
    for identity in ("admin", "controller-manager", "scheduler", "kwok"):
        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": "doc-rag-local",
            "clusters": [{"name": "doc-rag-local", "cluster": {
                "server": API_URL, "certificate-authority": str(PKI_DIR / "ca.crt")}}],
            "users": [{"name": identity, "user": {
                "client-certificate": str(PKI_DIR / f"{identity}.crt"),
                "client-key": str(PKI_DIR / f"{identity}.key")}}],
            "contexts": [{"name": "doc-rag-local", "context": {"cluster": "doc-rag-local", "user": identity}}],
        }
        path = KUBECONFIG if identity == "admin" else kubeconfig_for(identity)
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        path.chmod(0o600)


def write_kwok_stages(kwok_stage_dir: Path) -> Path:
    documents = [(kwok_stage_dir / name).read_text() for name in UPSTREAM_STAGES]
    documents.append(OUR_STAGES.read_text())
    path = CLUSTER_DIR / "kwok-stages.yaml"
    path.write_text("\n---\n".join(documents))
    return path


def write_prometheus_config() -> None:
    """The local Prometheus: the traffic source scraped as the API's and the edge's jobs, the deployed rules evaluated,
    both every 2 s so a short soak sees several points."""
    RULES_DIR.mkdir(parents=True, exist_ok=True)
    traffic = [{"targets": [f"127.0.0.1:{TRAFFIC_PORT}"]}]
    config = {
        "global": {"scrape_interval": "2s", "evaluation_interval": "2s"},
        "rule_files": [str(RULES_DIR / "*.yml")],
        "scrape_configs": [
            {"job_name": rules.JOB, "static_configs": traffic},
            # The traffic source is the edge too (ops/local/traffic.py): ingress-nginx's counters.
            {"job_name": rules.EDGE_JOB, "metrics_path": EDGE_METRICS_PATH, "static_configs": traffic},
        ],
    }
    (CLUSTER_DIR / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))


def _structural(schema: Any, defs: dict[str, Any]) -> Any:
    """A CRD's structural OpenAPI schema from one of our JSON Schemas: local $refs inlined, const as a
    one-value enum, `additionalProperties: false` dropped (the API server prunes unknown fields), and the
    combinators the webhook rules use (allOf/anyOf/not/if) left to the offline T3 check."""
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        ref = schema["$ref"]
        if not ref.startswith("#/$defs/"):
            return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        return _structural(defs[ref[len("#/$defs/"):]], defs)
    kept: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "properties":
            kept[key] = {name: _structural(sub, defs) for name, sub in value.items()}
        elif key == "items":
            kept[key] = _structural(value, defs)
        elif key == "additionalProperties":
            if isinstance(value, dict):
                kept[key] = _structural(value, defs)
        elif key == "const":
            kept["enum"] = [value]
        elif key == "type" and isinstance(value, list):
            kept["type"] = next(t for t in value if t != "null")
            kept["nullable"] = "null" in value
        elif key in ("type", "required", "enum", "minimum", "maximum", "minLength", "maxLength", "pattern",
                     "minItems", "maxItems", "minProperties", "maxProperties", "description"):
            kept[key] = value
    if "type" not in kept:
        if "allOf" in schema and len(schema) == 1:  # a wrapper around one $ref plus extra rules
            return _structural(schema["allOf"][0], defs)
        kept = {"x-kubernetes-preserve-unknown-fields": True}
    return kept


# Groups under k8s.io and kubernetes.io are protected: the API server refuses their CRDs without the approval
# annotation upstream's own CRDs carry (kubernetes/enhancements#1111).
API_APPROVALS = {"gateway.networking.k8s.io": "https://github.com/kubernetes-sigs/gateway-api/pull/3328"}


def custom_resource_definitions() -> list[dict[str, Any]]:
    """One CRD per kind that ops/checks/crd_schemas has a closed schema for."""
    crds = []
    for (api_version, kind), path in sorted(schemas().items()):
        group, version = api_version.split("/")
        document = json.loads(path.read_text())
        defs = document.get("$defs", {})
        properties = {name: _structural(sub, defs) for name, sub in document["properties"].items()
                      if name not in ("apiVersion", "kind", "metadata")}
        plural = kind.lower() + "s"
        crds.append({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.{group}", **({"annotations": {
                "api-approved.kubernetes.io": API_APPROVALS[group]}} if group in API_APPROVALS else {})},
            "spec": {
                "group": group,
                "scope": "Cluster" if kind in CLUSTER_SCOPED_KINDS else "Namespaced",
                "names": {"kind": kind, "plural": plural, "singular": kind.lower(), "listKind": f"{kind}List"},
                "versions": [{"name": version, "served": True, "storage": True,
                              "subresources": {"status": {}},
                              "schema": {"openAPIV3Schema": {
                                  "type": "object",
                                  "properties": {**properties,
                                                 "status": {"type": "object",
                                                            "x-kubernetes-preserve-unknown-fields": True}},
                              }}}],
            },
        })
    return crds


def nodes() -> list[dict[str, Any]]:
    return [{
        "apiVersion": "v1", "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {"type": "kwok", "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                       "kubernetes.io/arch": "amd64", "node.kubernetes.io/instance-type": "m6i.xlarge",
                       "topology.kubernetes.io/zone": zone, "topology.kubernetes.io/region": "local"},
        },
        "status": {"capacity": NODE_CAPACITY, "allocatable": NODE_CAPACITY},
    } for name, zone in zip(NODES, ZONES, strict=True)]


def kubectl(bin_dir: Path, *args: str, stdin: str = "", timeout: float = 120) -> str:
    done = subprocess.run([str(bin_dir / "kubectl"), f"--kubeconfig={KUBECONFIG}", *args], input=stdin,
                          capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def apply_objects(bin_dir: Path, kwok_stage_dir: Path) -> None:
    objects = [*custom_resource_definitions(), *nodes()]
    documents = [yaml.safe_dump(obj, sort_keys=False) for obj in objects]
    documents.append((kwok_stage_dir / STORAGE_CLASS).read_text())
    kubectl(bin_dir, "apply", "--server-side", "--field-manager=doc-rag-local", "-f", "-",
            stdin="\n---\n".join(documents))
    kubectl(bin_dir, "wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    kubectl(bin_dir, "wait", "--for=condition=Ready", "node", *NODES, "--timeout=90s")
