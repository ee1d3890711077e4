"""A small httpx client for Prometheus' HTTP API: instant queries, alerts and rules, the health endpoints.

An instant query answers a vector; the gates aggregate to one series per colour, so the answer is the
value of that series (NaN when the vector is empty or the value is NaN, e.g. 0/0 without traffic)
and how many series came back. Anything else (HTTP error, bad PromQL, a matrix) raises PrometheusError.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional

import httpx


class PrometheusError(Exception):
    pass


@dataclass(frozen=True)
class QueryResult:
    query: str
    value: float  # NaN when there is no data
    series: int  # number of series in the answer (0 = no data)
    error: str = ""  # set when the query was not answered (ops.gates turns PrometheusError into no data)

    @property
    def has_data(self) -> bool:
        return self.series > 0 and math.isfinite(self.value)


class PrometheusClient:
    def __init__(self, base_url: str, *, timeout: float = 10.0, transport: Optional[httpx.BaseTransport] = None):
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "PrometheusClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def query(self, promql: str, at: Optional[float] = None) -> QueryResult:
        """Instant query at `at` (epoch seconds; default: the server's now)."""
        params: dict[str, Any] = {"query": promql}
        if at is not None:
            params["time"] = f"{at:.3f}"
        return _first_value(promql, self._data("POST", "/api/v1/query", data=params))

    def alerts(self) -> list[dict[str, Any]]:
        """Every active alert (pending or firing) with its labels and state: /api/v1/alerts."""
        return list(self._data("GET", "/api/v1/alerts").get("alerts") or [])

    def alerting_rules(self) -> list[dict[str, Any]]:
        """The alerting rules Prometheus has loaded (name, labels, state): /api/v1/rules?type=alert."""
        groups = self._data("GET", "/api/v1/rules", params={"type": "alert"}).get("groups") or []
        return [rule for group in groups for rule in group.get("rules") or [] if rule.get("type") == "alerting"]

    def _data(self, method: str, path: str, **request: Any) -> dict[str, Any]:
        try:
            response = self._http.request(method, path, **request)
        except httpx.HTTPError as error:
            raise PrometheusError(f"{self.base_url}: {error}") from error
        try:
            body = response.json()
        except ValueError:
            raise PrometheusError(f"{self.base_url}: HTTP {response.status_code}, not JSON") from None
        if response.status_code != 200 or body.get("status") != "success":
            raise PrometheusError(f"{path} failed ({body.get('errorType', response.status_code)}): "
                                  f"{body.get('error', response.text[:200])}")
        return dict(body["data"])

    def healthy(self) -> tuple[bool, str]:
        return _probe(self._http, "/-/healthy")

    def ready(self) -> tuple[bool, str]:
        return _probe(self._http, "/-/ready")


def _first_value(promql: str, data: dict[str, Any]) -> QueryResult:
    kind, result = data.get("resultType"), data.get("result")
    if kind == "scalar" and isinstance(result, list):
        return QueryResult(promql, float(result[1]), 1)
    if kind != "vector" or not isinstance(result, list):
        raise PrometheusError(f"expected an instant vector, got {kind}: {promql}")
    if not result:
        return QueryResult(promql, math.nan, 0)
    # Prometheus encodes NaN/Inf as the strings "NaN", "+Inf": float() reads both.
    return QueryResult(promql, float(result[0]["value"][1]), len(result))


def _probe(http: httpx.Client, path: str) -> tuple[bool, str]:
    try:
        response = http.get(path)
    except httpx.HTTPError as error:
        return False, f"{http.base_url}{path}: {error}"
    return response.status_code == 200, f"{http.base_url}{path}: HTTP {response.status_code}"
