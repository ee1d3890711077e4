"""The PromQL of the system as data: recording rules, SLO burn-rate alerts, and the canary gate queries.

Pure functions (they register nothing): the observability component renders these into the `prometheus-rules`
ConfigMap, the dashboards reference the recorded series, and the operator CLI (`ops promote`) imports
`gate_queries()` so a canary step is judged by exactly the expressions Prometheus records.

Label contract (set by the scrape config's relabelling, see components/observability.py):
  job        "doc-rag-api" (the scrape job)
  version    the pod's colour label: "blue" | "green"
  component  the pod's app.kubernetes.io/component label ("api")
and by the API's own metrics:
  http_requests_total{method, status}           counter; `status` is the numeric HTTP code ("200", "503")
  http_request_duration_seconds_bucket{le, ...}  histogram buckets

The edge (job "ingress-nginx", the controller pods in doc-rag-ingress) is judged on ingress-nginx's own counter
  nginx_ingress_controller_requests{ingress, namespace, status, ...}
where `ingress`/`namespace` name the Ingress that matched and `status` is the code NGINX answered: it counts
what the API never sees (503 when a Service has no endpoints, 502/504 when the upstream fails or times out).

The image scanner (job "trivy-operator", components/scanner.py) exports, per scanned container and severity,
  trivy_image_vulnerabilities{namespace, resource_kind, resource_name, container_name, image_registry,
                              image_repository, image_tag, image_digest, severity}
a gauge (metric and label names of trivy-operator v0.32.0, pkg/metrics/collector.go), where `namespace` and
`resource_name` name the scanned workload (a Deployment's pods are scanned as its ReplicaSet) and `severity`
is "Critical", "High", "Medium", "Low" or "Unknown". Its rule group is rendered in every stack: without the
scanner there is no series and the alert stays silent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional

import yaml

from components.routers import REGISTRY

JOB = "doc-rag-api"
COLOR_LABEL = "version"
COMPONENT_LABEL = "component"
REQUESTS = "http_requests_total"
DURATION_BUCKETS = "http_request_duration_seconds_bucket"
ERROR_STATUS = "5.."  # server errors count against the SLO; 4xx are the client's

RULES_FILE = "doc-rag.yml"  # key in the prometheus-rules ConfigMap, matched by rule_files "*.yml"

# SLO: 99.9 % of requests succeed over 30 days, so the error budget is 0.1 % of requests.
SLO_TARGET = 0.999
ERROR_BUDGET = round(1 - SLO_TARGET, 6)
SLO_PERIOD = "30d"

# Each alert's runbook is a section of RUNBOOK_DOC, the file that ships in this repository, headed by the
# alert's name (its anchor is the lower-cased name). RUNBOOK_BASE is where that file is read in a browser: the
# one place the address is written. tests/ops/checks/test_promtool.py checks that RUNBOOK_DOC has a heading for every
# alert and that the promtool unit tests expect exactly these URLs.
RUNBOOK_DOC = "docs/observability.md"
REPOSITORY_URL = "https://github.com/doc-rag/doc-rag-infra"  # this repository's web address, branch main
RUNBOOK_BASE = f"{REPOSITORY_URL}/blob/main/{RUNBOOK_DOC}"

# Rate window of the per-colour series (dashboards and canary gates).
GATE_WINDOW = "5m"

# The edge: what clients get from NGINX for its router's objects (the main and canary Ingress in doc-rag-prod),
# named by the router itself.
EDGE_JOB = "ingress-nginx"
EDGE_REQUESTS = "nginx_ingress_controller_requests"
EDGE_INGRESSES = REGISTRY["nginx"].object_names
EDGE_INGRESS_NAMESPACE = "doc-rag-prod"

# The running API image, as the scanner names it: the API container (components/api.py) in doc-rag-prod.
SCANNER_JOB = "trivy-operator"
IMAGE_VULNERABILITIES = "trivy_image_vulnerabilities"
API_NAMESPACE = "doc-rag-prod"
API_CONTAINER = "api"


Matchers = Mapping[str, str]


def _selector(matchers: Optional[Matchers] = None) -> str:
    """`{job="doc-rag-api",version="green"}`; a value starting with `~` becomes a regex matcher."""
    parts = [f'job="{JOB}"']
    for name, value in (matchers or {}).items():
        parts.append(f'{name}=~"{value[1:]}"' if value.startswith("~") else f'{name}="{value}"')
    return "{" + ",".join(parts) + "}"


def request_rate_expr(window: str = GATE_WINDOW, by: tuple[str, ...] = (COLOR_LABEL,),
                      matchers: Optional[Matchers] = None) -> str:
    return f"sum by ({', '.join(by)}) (rate({REQUESTS}{_selector(matchers)}[{window}]))"


def error_ratio_expr(window: str = GATE_WINDOW, by: tuple[str, ...] = (COLOR_LABEL,),
                     matchers: Optional[Matchers] = None) -> str:
    """5xx responses / all responses.

    A colour that never answered 5xx has no 5xx series at all; `or ... * 0` makes its ratio 0 instead of
    absent, so a clean canary reads as 0 % rather than as "no data". No traffic at all stays absent."""
    error_matchers = {"status": "~" + ERROR_STATUS, **(matchers or {})}
    errors = f"sum by ({', '.join(by)}) (rate({REQUESTS}{_selector(error_matchers)}[{window}]))"
    total = request_rate_expr(window, by, matchers)
    return f"(\n  {errors}\n  or\n  {total} * 0\n)\n/\n{total}"


def p95_latency_expr(window: str = GATE_WINDOW, by: tuple[str, ...] = (COLOR_LABEL,),
                     matchers: Optional[Matchers] = None) -> str:
    grouping = ", ".join((*by, "le"))
    return f"histogram_quantile(0.95, sum by ({grouping}) (rate({DURATION_BUCKETS}{_selector(matchers)}[{window}])))"


def request_count_expr(window: str, by: tuple[str, ...] = (COLOR_LABEL,), matchers: Optional[Matchers] = None) -> str:
    """Requests served in `window`: a gate needs enough of them before a ratio means anything."""
    return f"sum by ({', '.join(by)}) (increase({REQUESTS}{_selector(matchers)}[{window}]))"


# Recorded series, named level:metric:operations as the Prometheus naming guide suggests.
RECORD_REQUEST_RATE = "version:http_requests:rate5m"
RECORD_ERROR_RATIO = "version:http_requests_errors:ratio_rate5m"
RECORD_P95_LATENCY = "version:http_request_duration_seconds:p95_5m"
RECORD_TRAFFIC_SHARE = "version:http_requests:share_rate5m"
RECORD_CANARY_WEIGHT = "doc_rag:canary_weight:percent"

# Windows of the multi-window multi-burn-rate alerts (Google SRE workbook, chapter 5).
SLO_WINDOWS = ("5m", "30m", "1h", "6h", "3d")


def slo_ratio_record(window: str) -> str:
    return f"job:slo_errors_per_request:ratio_rate{window}"


def edge_ratio_record(window: str) -> str:
    return f"job:edge_errors_per_request:ratio_rate{window}"


def _edge_selector(matchers: Optional[Matchers] = None) -> str:
    parts = [f'job="{EDGE_JOB}"', f'namespace="{EDGE_INGRESS_NAMESPACE}"', f'ingress=~"{"|".join(EDGE_INGRESSES)}"']
    parts += [f'{name}=~"{value[1:]}"' if value.startswith("~") else f'{name}="{value}"'
              for name, value in (matchers or {}).items()]
    return "{" + ",".join(parts) + "}"


def edge_error_ratio_expr(window: str) -> str:
    """5xx answered by NGINX / all requests, over both Ingresses together (a canary's share included)."""
    total = f"sum by (job) (rate({EDGE_REQUESTS}{_edge_selector()}[{window}]))"
    errors = f"sum by (job) (rate({EDGE_REQUESTS}{_edge_selector({'status': '~' + ERROR_STATUS})}[{window}]))"
    return f"(\n  {errors}\n  or\n  {total} * 0\n)\n/\n{total}"


@dataclass(frozen=True)
class Slo:
    """One availability objective: which job's requests, the recorded ratio per window, the words for humans."""

    label: str  # the alerts' `slo` label
    job: str
    record: Callable[[str], str]
    subject: str  # "<subject> is spending its error budget ..."
    requests: str  # "... more than x % of <requests> failed with 5xx"


API_SLO = Slo("availability", JOB, slo_ratio_record, JOB, "{{ $labels.job }} requests")
EDGE_SLO = Slo("edge-availability", EDGE_JOB, edge_ratio_record, "The edge (ingress-nginx)",
               f"requests through the Ingresses {' and '.join(EDGE_INGRESSES)}")


@dataclass(frozen=True)
class BurnRateAlert:
    name: str
    long_window: str
    short_window: str
    factor: float  # how many times faster than "exactly on budget" the budget is being spent
    severity: str  # page | ticket
    for_: str
    budget_spent: str  # share of the 30-day budget spent once the long window fires
    slo: Slo = API_SLO

    @property
    def threshold(self) -> float:
        return round(self.factor * ERROR_BUDGET, 6)

    def expr(self) -> str:
        # Both windows must burn: the long one proves it is significant, the short one that it still
        # happens (so the alert resolves minutes after a fix instead of hours).
        job = self.slo.job
        return (
            f"{self.slo.record(self.long_window)}{{job=\"{job}\"}} > {self.threshold}\n"
            f"and\n"
            f"{self.slo.record(self.short_window)}{{job=\"{job}\"}} > {self.threshold}"
        )


def _burn_rate_alerts(prefix: str, slo: Slo) -> tuple[BurnRateAlert, ...]:
    return (
        BurnRateAlert(f"{prefix}Fast", "1h", "5m", 14.4, "page", "2m", "2 %", slo),
        BurnRateAlert(f"{prefix}Medium", "6h", "30m", 6, "page", "15m", "5 %", slo),
        BurnRateAlert(f"{prefix}Slow", "3d", "6h", 1, "ticket", "1h", "10 %", slo),
    )


BURN_RATE_ALERTS = _burn_rate_alerts("DocRagErrorBudgetBurn", API_SLO)
# The same windows and thresholds for what clients get from NGINX: an API outage fires both sets, a failure
# NGINX adds (no endpoints behind a Service, upstream timeouts) only these.
EDGE_BURN_RATE_ALERTS = _burn_rate_alerts("DocRagEdgeErrorBudgetBurn", EDGE_SLO)
METRICS_ABSENT_ALERT = "DocRagApiMetricsAbsent"
CRITICAL_VULNERABILITIES_ALERT = "DocRagApiCriticalVulnerabilities"
EDGE_METRICS_ABSENT_ALERT = "DocRagEdgeMetricsAbsent"
ALERT_SEVERITIES = ("page", "ticket")
REQUIRED_ANNOTATIONS = ("summary", "description", "runbook_url")


def runbook_anchor(alert: str) -> str:
    """The anchor GitHub gives the heading `#### <alert>` (alert names are letters only)."""
    return alert.lower()


def runbook_url(alert: str) -> str:
    return f"{RUNBOOK_BASE}#{runbook_anchor(alert)}"


def _burn_rate_rule(alert: BurnRateAlert) -> dict[str, Any]:
    return {
        "alert": alert.name,
        "expr": alert.expr(),
        "for": alert.for_,
        "labels": {"severity": alert.severity, "slo": alert.slo.label},
        "annotations": {
            "summary": f"{alert.slo.subject} is spending its error budget at {alert.factor:g}x the sustainable rate",
            "description": (
                f"Over the last {alert.long_window} and the last {alert.short_window} more than "
                f"{alert.threshold * 100:g} % of {alert.slo.requests} failed with 5xx "
                f"({alert.factor:g}x the {ERROR_BUDGET * 100:g} % budget of the {SLO_TARGET * 100:g} % SLO). "
                f"At this rate {alert.budget_spent} of the {SLO_PERIOD} error budget is gone within "
                f"{alert.long_window}."
            ),
            "runbook_url": runbook_url(alert.name),
        },
    }


def _metrics_absent_rule() -> dict[str, Any]:
    # Burn-rate alerts are silent without data: this one says the SLO is not being measured at all.
    return {
        "alert": METRICS_ABSENT_ALERT,
        "expr": f'absent(up{{job="{JOB}"}} == 1)',
        "for": "5m",
        "labels": {"severity": "page", "slo": "availability"},
        "annotations": {
            "summary": f"No {JOB} target has been scraped successfully for 5 minutes",
            "description": (
                f"Prometheus finds no healthy {JOB} target, so the availability SLO is not measured and the "
                "burn-rate alerts cannot fire. Either the API is down or the Services lost their "
                "prometheus.io annotations."
            ),
            "runbook_url": runbook_url(METRICS_ABSENT_ALERT),
        },
    }


def _edge_metrics_absent_rule() -> dict[str, Any]:
    # No controller scraped: the edge SLO is blind, and if the controllers are down so is every client request.
    return {
        "alert": EDGE_METRICS_ABSENT_ALERT,
        "expr": f'absent(up{{job="{EDGE_JOB}"}} == 1)',
        "for": "5m",
        "labels": {"severity": "page", "slo": EDGE_SLO.label},
        "annotations": {
            "summary": f"No {EDGE_JOB} controller has been scraped successfully for 5 minutes",
            "description": (
                f"Prometheus finds no healthy {EDGE_JOB} controller pod in doc-rag-ingress, so the edge SLO is not "
                "measured and its burn-rate alerts cannot fire. Either the controllers are down (and with them "
                "every request from outside), or their metrics port 10254 is not reachable."
            ),
            "runbook_url": runbook_url(EDGE_METRICS_ABSENT_ALERT),
        },
    }


def critical_vulnerabilities_expr() -> str:
    """Critical findings per scanned API image (one series per colour's current ReplicaSet)."""
    selector = (f'{{job="{SCANNER_JOB}",namespace="{API_NAMESPACE}",container_name="{API_CONTAINER}",'
                f'severity="Critical"}}')
    by = "namespace, resource_name, image_registry, image_repository, image_tag, image_digest"
    return f"sum by ({by}) ({IMAGE_VULNERABILITIES}{selector}) > 0"


def _critical_vulnerabilities_rule() -> dict[str, Any]:
    # A ticket, not a page: the fix is a new image through a release, in working hours. `for` rides out the
    # minutes a rollout has two ReplicaSets of the same colour.
    return {
        "alert": CRITICAL_VULNERABILITIES_ALERT,
        "expr": critical_vulnerabilities_expr(),
        "for": "15m",
        "labels": {"severity": "ticket"},
        "annotations": {
            "summary": "The running API image {{ $labels.image_repository }}:{{ $labels.image_tag }} has "
                       "{{ $value }} critical vulnerabilities",
            "description": (
                "Trivy Operator's latest scan of {{ $labels.resource_name }} in {{ $labels.namespace }} (container "
                f"{API_CONTAINER}, image {{{{ $labels.image_registry }}}}/{{{{ $labels.image_repository }}}}:"
                "{{ $labels.image_tag }}) reports {{ $value }} vulnerabilities of severity Critical. The "
                "VulnerabilityReport of that ReplicaSet lists them with the fixed versions."
            ),
            "runbook_url": runbook_url(CRITICAL_VULNERABILITIES_ALERT),
        },
    }


def security_alerting_rules() -> list[dict[str, Any]]:
    return [_critical_vulnerabilities_rule()]


def recording_rules() -> list[dict[str, str]]:
    """Per-colour series for dashboards and gates, and the SLO error ratios per window."""
    per_color = [
        {"record": RECORD_REQUEST_RATE, "expr": request_rate_expr()},
        {"record": RECORD_ERROR_RATIO, "expr": error_ratio_expr()},
        {"record": RECORD_P95_LATENCY, "expr": p95_latency_expr()},
        # The measured traffic split: what the routers actually send to each colour.
        {"record": RECORD_TRAFFIC_SHARE,
         "expr": f"{RECORD_REQUEST_RATE}\n/ ignoring ({COLOR_LABEL}) group_left\nsum({RECORD_REQUEST_RATE})"},
    ]
    slo = [{"record": slo_ratio_record(window), "expr": error_ratio_expr(window, by=("job",))}
           for window in SLO_WINDOWS]
    return per_color + slo


def release_rules(canary_color: str, canary_weight: int) -> list[dict[str, Any]]:
    """The configured canary weight as a series, so dashboards set it against the measured split.

    It comes from the stack (release.canaryWeight): each `pulumi up` that moves a step rewrites this
    rule and the config reloader makes Prometheus pick it up."""
    return [{"record": RECORD_CANARY_WEIGHT, "expr": f"vector({int(canary_weight)})",
             "labels": {COLOR_LABEL: canary_color}}]


def edge_recording_rules() -> list[dict[str, str]]:
    return [{"record": edge_ratio_record(window), "expr": edge_error_ratio_expr(window)} for window in SLO_WINDOWS]


def api_alerting_rules() -> list[dict[str, Any]]:
    return [_burn_rate_rule(alert) for alert in BURN_RATE_ALERTS] + [_metrics_absent_rule()]


def edge_alerting_rules() -> list[dict[str, Any]]:
    return [_burn_rate_rule(alert) for alert in EDGE_BURN_RATE_ALERTS] + [_edge_metrics_absent_rule()]


def alerting_rules() -> list[dict[str, Any]]:
    return api_alerting_rules() + edge_alerting_rules() + security_alerting_rules()


def page_alerts() -> tuple[str, ...]:
    """Our alerts that page: while one fires the error budget burns, and `ops promote` holds every step."""
    return tuple(rule["alert"] for rule in alerting_rules() if rule["labels"]["severity"] == "page")


def rule_groups(canary_color: str, canary_weight: int) -> dict[str, Any]:
    return {
        "groups": [
            {"name": "doc-rag-api.recording", "rules": recording_rules()},
            {"name": "doc-rag-release", "rules": release_rules(canary_color, canary_weight)},
            {"name": "doc-rag-api.slo-alerts", "rules": api_alerting_rules()},
            {"name": "doc-rag-edge.recording", "rules": edge_recording_rules()},
            {"name": "doc-rag-edge.slo-alerts", "rules": edge_alerting_rules()},
            {"name": "doc-rag-security.alerts", "rules": security_alerting_rules()},
        ]
    }


class _BlockDumper(yaml.SafeDumper):
    """Multi-line PromQL as YAML literal blocks, so the ConfigMap reads like a hand-written rules file."""


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _str_representer)


def render_rules(canary_color: str, canary_weight: int) -> str:
    return yaml.dump(rule_groups(canary_color, canary_weight), Dumper=_BlockDumper, sort_keys=False, width=1000)


@dataclass(frozen=True)
class GateQueries:
    """What `ops promote` asks Prometheus before each step, for one colour (the canary)."""

    error_ratio: str
    p95_latency_seconds: str
    request_count: str
    error_ratio_record: str  # the same value, as recorded (cheaper to query, 1 evaluation behind)
    p95_latency_record: str
    request_rate_record: str


def gate_queries(color: str, window: str = GATE_WINDOW) -> GateQueries:
    """The raw PromQL the recording rules use, restricted to one colour, over `window` (`ops promote` narrows
    it to the current step's age, so traffic from before the step cannot dilute the step's own)."""
    matcher = f'{{{COLOR_LABEL}="{color}"}}'
    only = {COLOR_LABEL: color}
    return GateQueries(
        error_ratio=error_ratio_expr(window, matchers=only),
        p95_latency_seconds=p95_latency_expr(window, matchers=only),
        request_count=request_count_expr(window, matchers=only),
        error_ratio_record=RECORD_ERROR_RATIO + matcher,
        p95_latency_record=RECORD_P95_LATENCY + matcher,
        request_rate_record=RECORD_REQUEST_RATE + matcher,
    )
