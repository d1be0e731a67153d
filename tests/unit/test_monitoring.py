"""Issue 14, items 1-3: the metrics module, the alert rules (promtool), the k8s copy of the
rules, and the dashboards' queries against the metrics the services really expose."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from typing import Any

import httpx
import pytest
import yaml
from aiokafka import TopicPartition
from fastapi import FastAPI
from prometheus_client import REGISTRY

from ail_shared import metrics, retry
from ail_shared.consumer import EventConsumer
from scripts.devstack import k8s_monitoring
from tests.support import REPO

PROM = REPO / "deploy" / "prometheus"
GRAFANA = REPO / "deploy" / "grafana"


def _promtool() -> str:
    found = shutil.which("promtool")
    assert found, "promtool is missing: ./dev install (Debian package prometheus)"
    return found


def test_promtool_check_rules() -> None:
    cp = subprocess.run(
        [_promtool(), "check", "rules", str(PROM / "alerts.yml")], capture_output=True, text=True
    )
    assert cp.returncode == 0, cp.stdout + cp.stderr


def test_promtool_test_rules_with_a_case_per_alert() -> None:
    cp = subprocess.run(
        [_promtool(), "test", "rules", "alerts_test.yml"], cwd=PROM, capture_output=True, text=True
    )
    assert cp.returncode == 0, cp.stdout + cp.stderr
    alerts = {
        r["alert"] for g in yaml.safe_load((PROM / "alerts.yml").read_text())["groups"] for r in g["rules"]
    }
    tests = yaml.safe_load((PROM / "alerts_test.yml").read_text())["tests"]
    tested = {a["alertname"] for t in tests for a in t["alert_rule_test"] if a.get("exp_alerts")}
    assert tested == alerts, f"alerts without a firing case: {alerts - tested}"
    runbook = (REPO / "docs" / "runbook.md").read_text()
    for alert in alerts:
        assert f"## {alert}" in runbook, f"docs/runbook.md has no section for {alert}"


def test_k8s_prometheus_rule_is_the_rules_file() -> None:
    generated = (REPO / "deploy" / "k8s" / "90-monitoring.yaml").read_text()
    assert generated == k8s_monitoring.render(), (
        "deploy/k8s/90-monitoring.yaml is stale: .venv/bin/python -m scripts.devstack.k8s_monitoring"
    )
    docs = [d for d in yaml.safe_load_all(generated) if d]
    (rule,) = [d for d in docs if d["kind"] == "PrometheusRule"]
    assert rule["spec"]["groups"] == yaml.safe_load((PROM / "alerts.yml").read_text())["groups"]
    monitored = {
        d["spec"]["selector"]["matchLabels"]["app"]
        for d in docs
        if d["kind"] in ("ServiceMonitor", "PodMonitor")
    }
    assert monitored == {"application", "submission", "status", "customs", "stats", "signer", "lag"}


def test_every_service_monitor_selects_a_service_of_a_deployment() -> None:
    """A ServiceMonitor selects Services by their labels (not pods'), and names the job after the
    Service's ``app`` label: without it Prometheus scrapes nothing. The lag exporter is one of
    them, so AilConsumerLagGrowing has data in the cluster too."""
    docs = [
        d
        for f in sorted((REPO / "deploy" / "k8s").glob("*.yaml"))
        for d in yaml.safe_load_all(f.read_text())
        if d
    ]
    services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] in ("Deployment", "StatefulSet")}
    # One Service per app label: a second (stats' headless stats-peers) would be scraped twice.
    labelled = [d["metadata"].get("labels", {}).get("app") for d in services.values()]
    assert len([a for a in labelled if a]) == len({a for a in labelled if a}), labelled
    for monitor in (d for d in docs if d["kind"] == "ServiceMonitor"):
        app = monitor["spec"]["selector"]["matchLabels"]["app"]
        service = services[app]
        assert service["metadata"].get("labels", {}).get("app") == app, app
        assert service["spec"]["selector"] == {"app": app}
        (container,) = deployments[app]["spec"]["template"]["spec"]["containers"]
        assert {"containerPort": 8000} in container["ports"], app
    (lag,) = deployments["lag"]["spec"]["template"]["spec"]["containers"]
    assert lag["command"] == ["python", "-m", "ail_shared.lag"]


# A PromQL identifier that is a metric name: not a function, keyword or label (labels are
# inside braces or by/without lists, removed first).
_PROMQL_WORDS = {
    "sum", "max", "min", "avg", "count", "rate", "increase", "delta", "deriv", "irate",
    "histogram_quantile", "by", "without", "and", "or", "unless", "on", "ignoring", "group_left",
    "group_right", "bool", "offset", "abs", "clamp_min", "clamp_max", "label_values",
}  # fmt: skip


def metric_names(expr: str) -> set[str]:
    text = re.sub(r"label_values\(\s*([a-zA-Z_:][\w:]*)[^)]*\)", r"\1", expr)  # Grafana's
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", text)  # grouping labels
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges
    text = re.sub(r'"[^"]*"', "", text)
    names = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", text))
    return {n for n in names if n not in _PROMQL_WORDS and not re.fullmatch(r"\d.*|e\d+", n)}


def _exposed() -> set[str]:
    return metrics.all_metric_names() | {"up"}  # up: Prometheus' own, per target


def _dashboard_exprs() -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for path in sorted(GRAFANA.glob("*.json")):
        dash: dict[str, Any] = json.loads(path.read_text())
        for panel in dash["panels"]:
            for target in panel.get("targets", []):
                out.append((f"{path.name}: {panel['title']}", target["expr"]))
        for var in dash["templating"]["list"]:
            if var.get("type") == "query":
                out.append((f"{path.name}: ${var['name']}", var["query"]["query"]))
    return out


def test_dashboards_exist_and_query_only_metrics_the_services_expose() -> None:
    exprs = _dashboard_exprs()
    assert {p.name for p in GRAFANA.glob("*.json")} == {"event-flow.json", "services.json"}
    assert len(exprs) >= 15
    exposed = _exposed()
    for where, expr in exprs:
        names = metric_names(expr)
        assert names, f"{where}: no metric in {expr!r}"
        assert names <= exposed, f"{where}: {names - exposed} is not exposed by any service"


def test_alert_rules_query_only_exposed_metrics() -> None:
    exposed = _exposed()
    for group in yaml.safe_load((PROM / "alerts.yml").read_text())["groups"]:
        for rule in group["rules"]:
            names = metric_names(rule["expr"])
            assert names and names <= exposed, (rule["alert"], names - exposed)


def test_metric_name_extraction_sees_through_functions_and_labels() -> None:
    expr = 'histogram_quantile(0.95, sum by (le, job) (rate(ail_x_bucket{job=~"a|b"}[5m]))) / on (job) up'
    assert metric_names(expr) == {"ail_x_bucket", "up"}


# -- the metrics module ---------------------------------------------------------------------------
def _value(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_http_requests_are_labelled_by_route_template_and_status() -> None:
    app = FastAPI()
    metrics.instrument(app)

    @app.get("/api/v1/things/{thing_id}")
    async def thing(thing_id: str) -> dict[str, str]:
        return {"id": thing_id}

    labels = {"method": "GET", "route": "/api/v1/things/{thing_id}", "status": "200"}
    before = _value("ail_http_requests_total", labels)
    unmatched = {"method": "GET", "route": "<unmatched>", "status": "404"}
    before_404 = _value("ail_http_requests_total", unmatched)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc") as client:
        assert (await client.get("/api/v1/things/T-1")).status_code == 200
        assert (await client.get("/api/v1/things/T-2")).status_code == 200
        assert (await client.get("/nowhere/T-3")).status_code == 404
        text = (await client.get("/metrics")).text
    assert _value("ail_http_requests_total", labels) == before + 2
    assert _value("ail_http_requests_total", unmatched) == before_404 + 1
    assert 'route="/api/v1/things/{thing_id}"' in text and "T-1" not in text
    assert _value("ail_http_request_duration_seconds_count", {"method": "GET", "route": labels["route"]}) >= 2


def test_dead_letter_reason_is_a_bounded_code() -> None:
    assert metrics.dead_letter_reason("handler_refused: ValueError('x')") == "handler_refused"
    assert metrics.dead_letter_reason("handler_failed after 2 attempts: boom") == "handler_failed"
    assert metrics.dead_letter_reason("undecodable: not JSON") == "undecodable"
    assert metrics.dead_letter_reason("") == "unknown"


async def _no_sleep(_: float) -> None:
    return None


async def test_external_calls_are_counted_by_outcome_with_retries() -> None:
    policy = retry.RetryPolicy(attempts=3, sleep=_no_sleep)
    answers = iter([503, 503, 200])

    async def flaky() -> httpx.Response:
        return httpx.Response(next(answers))

    ok = {"target": "mofcom", "outcome": "ok"}
    before_ok = _value("ail_external_calls_total", ok)
    before_retries = _value("ail_external_call_retries_total", {"target": "mofcom"})
    await retry.call_http(flaky, policy=policy, what="MOFCOM POST /x")
    assert _value("ail_external_calls_total", ok) == before_ok + 1
    assert _value("ail_external_call_retries_total", {"target": "mofcom"}) == before_retries + 2

    async def down() -> httpx.Response:
        raise httpx.ConnectError("refused")

    gone = {"target": "customs", "outcome": "unavailable"}
    before_gone = _value("ail_external_calls_total", gone)
    with pytest.raises(retry.Unavailable):
        await retry.call_http(down, policy=policy, what="Customs GET /feed")
    assert _value("ail_external_calls_total", gone) == before_gone + 1

    refused = {"target": "customs", "outcome": "refused"}
    before_refused = _value("ail_external_calls_total", refused)

    async def no() -> httpx.Response:
        return httpx.Response(422)

    await retry.call_http(no, policy=policy, what="Customs POST /licenses")
    assert _value("ail_external_calls_total", refused) == before_refused + 1


class _FakeKafka:
    """What _commit_positions uses of AIOKafkaConsumer: a partition whose last event is at 9,
    its transaction marker at 10, so the fetch position (and the last stable offset) is 11."""

    def __init__(self) -> None:
        self.tp = TopicPartition("ail.test", 0)
        self.commits: list[dict[TopicPartition, int]] = []

    def assignment(self) -> set[TopicPartition]:
        return {self.tp}

    def last_stable_offset(self, tp: TopicPartition) -> int:
        return 11

    async def position(self, tp: TopicPartition) -> int:
        return 11

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(dict(offsets))


async def test_consumer_commits_the_position_past_a_transaction_marker_and_exports_lag_0() -> None:
    consumer = EventConsumer(
        name="unit-lag",
        topics=["ail.test"],
        handlers={},
        pool=None,
        schema="s",
        bootstrap="x",  # type: ignore[arg-type]
    )
    fake = _FakeKafka()
    consumer._committed[fake.tp] = 10  # the last event's offset + 1: the marker's offset
    await consumer._commit_positions(fake)
    assert fake.commits == [{fake.tp: 11}]
    assert _value("ail_consumer_lag", {"group": "unit-lag", "topic": "ail.test", "partition": "0"}) == 0
    await consumer._commit_positions(fake)
    assert len(fake.commits) == 1, "nothing new: no second commit"


def test_a_batch_counts_applied_duplicates_and_dead_letters_by_reason() -> None:
    group, topic = "unit-batch", "ail.test"
    labels = {"group": group, "topic": topic}
    metrics.consumer_batch(
        group,
        topic,
        applied=3,
        duplicates=1,
        ignored=0,
        dead_letters=[
            (topic, "handler_refused: x"),
            (topic, "undecodable: y"),
            (topic, "handler_refused: z"),
        ],
    )
    assert _value("ail_consumer_events_total", {**labels, "outcome": "applied"}) == 3
    assert _value("ail_consumer_events_total", {**labels, "outcome": "duplicate"}) == 1
    assert _value("ail_consumer_events_total", {**labels, "outcome": "dead_lettered"}) == 3
    assert _value("ail_consumer_dead_letters_total", {**labels, "reason": "handler_refused"}) == 2
    assert _value("ail_consumer_dead_letters_total", {**labels, "reason": "undecodable"}) == 1
