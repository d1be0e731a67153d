"""The deployment descriptions stay in step with the code and the entry routes."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ROUTES = json.loads((REPO / "deploy" / "nginx" / "routes.json").read_text())["routes"]


def _k8s_docs() -> list[dict]:
    docs = []
    for f in sorted((REPO / "deploy" / "k8s").glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(f.read_text()) if d]
    return docs


def test_every_route_is_in_the_compose_entry_and_the_ingress_in_the_same_order() -> None:
    conf = (REPO / "deploy" / "docker" / "nginx.conf").read_text()
    compose = re.findall(r'location ~ "([^"]+)" \{ proxy_pass http://([a-z-]+):8000', conf)
    assert compose == [(r["match"], r["service"]) for r in ROUTES]
    ingress = next(d for d in _k8s_docs() if d["kind"] == "Ingress")
    paths = ingress["spec"]["rules"][0]["http"]["paths"]
    assert [(p["path"], p["backend"]["service"]["name"]) for p in paths] == [
        (r["match"][1:], r["service"]) for r in ROUTES
    ]


def test_manifests_parse_and_run_modules_that_exist() -> None:
    docs = _k8s_docs()
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "StatefulSet", "DaemonSet", "Job", "Kafka", "Cluster", "Ingress"} <= kinds
    for d in docs:
        if d["kind"] in ("Deployment", "StatefulSet", "DaemonSet"):
            for c in d["spec"]["template"]["spec"]["containers"]:
                module = c["command"][2]
                assert importlib.util.find_spec(module.split(".")[0]) is not None, module
    signer = next(d for d in docs if d["kind"] == "DaemonSet")
    assert signer["spec"]["template"]["spec"]["nodeSelector"]


def test_kafka_topics_match_the_topic_table() -> None:
    from ail_shared.topics import all_topic_names

    declared = {d["metadata"]["name"] for d in _k8s_docs() if d["kind"] == "KafkaTopic"}
    assert set(all_topic_names()) <= declared


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose not installed")
def test_compose_file_validates() -> None:
    result = subprocess.run(
        ["docker-compose", "config", "-q"], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_the_broker_message_limit_is_one_value_everywhere() -> None:
    """The producers, the local broker, docker-compose and the k8s Kafka all use MAX_MESSAGE_BYTES:
    a broker that accepts less than the producers send refuses events at run time."""
    from ail_shared.kafka import MAX_MESSAGE_BYTES, PRODUCER_DEFAULTS

    assert PRODUCER_DEFAULTS["max_request_size"] == MAX_MESSAGE_BYTES
    assert PRODUCER_DEFAULTS["max_batch_size"] < MAX_MESSAGE_BYTES

    from tests.unit.support import devstack_module

    kafka = devstack_module("kafka")
    table = devstack_module("table")
    assert kafka.max_message_bytes() == MAX_MESSAGE_BYTES
    assert f"\nmessage.max.bytes={MAX_MESSAGE_BYTES}\n" in kafka.kafka_properties(
        table.Stack("test-deploy-check", 19500)
    )

    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    assert int(compose["services"]["kafka"]["environment"]["KAFKA_MESSAGE_MAX_BYTES"]) == MAX_MESSAGE_BYTES

    kafka = next(d for d in _k8s_docs() if d["kind"] == "Kafka")
    assert int(kafka["spec"]["kafka"]["config"]["message.max.bytes"]) == MAX_MESSAGE_BYTES
    for topic in (d for d in _k8s_docs() if d["kind"] == "KafkaTopic"):
        # a topic-level override would quietly lower (or raise) the limit for that topic
        assert "max.message.bytes" not in (topic["spec"].get("config") or {}), topic["metadata"]["name"]


# ---------------------------------------------------------------- issue 10, item 4: no door open

SERVICES = ("application", "submission", "status", "customs", "signer", "stats")
PLATFORM = {*SERVICES, "migrate"}
# The consumer-lag exporter (ail_shared.lag): reads Kafka's offsets, no database, no credential.
EXPORTERS = {"lag"}
# Who may call each workload, and why (80-network-policies.yaml carries the same table).
CALLERS: dict[str, set[str]] = {
    "application": {"ns:ingress-nginx", "app:submission"},  # public API; revoke's status lookup
    "submission": {"ns:ingress-nginx", "ns:mofcom-gateway", "ns:ail-ops"},  # API, callbacks, ops
    "status": {"ns:ingress-nginx"},
    "customs": {"ns:ingress-nginx"},
    "stats": {"ns:ingress-nginx", "app:stats"},  # public API; the other replicas' shard requests
    "signer": {"ns:ail-ops"},  # /api/v1/signer/keys, internal
    "kafka": {*(f"app:{a}" for a in PLATFORM | EXPORTERS), "pods:strimzi.io/cluster=ail", "ns:strimzi"},
    "postgres": {*(f"app:{a}" for a in PLATFORM), "pods:cnpg.io/cluster=ail-db", "ns:cnpg-system"},
}
# Prometheus (namespace monitoring) scrapes /metrics of every service (90-monitoring.yaml).
for _service in SERVICES:
    CALLERS[_service] = CALLERS[_service] | {"ns:monitoring"}
CALLERS["lag"] = {"ns:monitoring"}  # only Prometheus
# The callers of each service's internal routes (every route the entry point does not route).
INTERNAL_CALLERS = {
    "submission": {"ns:mofcom-gateway", "ns:ail-ops"},
    "signer": {"ns:ail-ops"},
    "stats": {"app:stats"},  # POST /internal/stats/shards
}


def _policies() -> list[dict]:
    return [d for d in _k8s_docs() if d["kind"] == "NetworkPolicy"]


def _target(selector: dict) -> str:
    labels = selector.get("matchLabels", {})
    if "app" in labels:
        return str(labels["app"])
    if labels.get("strimzi.io/cluster") == "ail":
        return "kafka"
    if labels.get("cnpg.io/cluster") == "ail-db":
        return "postgres"
    raise AssertionError(f"a NetworkPolicy selects pods nobody knows: {selector}")


def _peers(peer: dict) -> set[str]:
    assert "ipBlock" not in peer, "address ranges are not callers we can check; name a namespace"
    if "namespaceSelector" in peer:
        assert "podSelector" not in peer, peer
        return {"ns:" + peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]}
    selector = peer["podSelector"]
    if "matchExpressions" in selector:
        (expr,) = selector["matchExpressions"]
        assert expr["key"] == "app" and expr["operator"] == "In", expr
        return {f"app:{a}" for a in expr["values"]}
    labels = selector["matchLabels"]
    if set(labels) == {"app"}:
        return {f"app:{labels['app']}"}
    return {"pods:" + ",".join(f"{k}={v}" for k, v in sorted(labels.items()))}


def _allowed() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for p in _policies():
        spec = p["spec"]
        if not spec["podSelector"]:
            continue
        assert spec["policyTypes"] == ["Ingress"], p["metadata"]["name"]
        callers = out.setdefault(_target(spec["podSelector"]), set())
        for rule in spec.get("ingress", []):
            assert rule.get("from"), f"{p['metadata']['name']}: a rule without 'from' lets everyone in"
            for peer in rule["from"]:
                callers |= _peers(peer)
    return out


def test_namespace_denies_ingress_by_default() -> None:
    deny = [p for p in _policies() if p["spec"]["podSelector"] == {}]
    assert len(deny) == 1 and deny[0]["metadata"]["namespace"] == "ail"
    assert deny[0]["spec"]["policyTypes"] == ["Ingress"] and not deny[0]["spec"].get("ingress")


def test_every_workload_has_a_policy_and_only_its_callers_get_in() -> None:
    workloads = {
        d["spec"]["template"]["metadata"]["labels"]["app"]
        for d in _k8s_docs()
        if d["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job")
    }
    assert workloads == PLATFORM | EXPORTERS
    allowed = _allowed()
    assert set(allowed) == set(CALLERS), "every service, Kafka and PostgreSQL have a policy"
    for target, callers in CALLERS.items():
        assert allowed[target] == callers, target


def test_service_ports_only() -> None:
    for p in _policies():
        target = _target(p["spec"]["podSelector"]) if p["spec"]["podSelector"] else None
        for rule in p["spec"].get("ingress", []):
            ports = {pt["port"] for pt in rule.get("ports", [])}
            if target in SERVICES:
                assert ports == {8000}, p["metadata"]["name"]
            elif target == "kafka" and any("app:" in c for peer in rule["from"] for c in _peers(peer)):
                assert ports == {9092}
            elif target == "postgres" and any("app:" in c for peer in rule["from"] for c in _peers(peer)):
                assert ports == {5432}


def test_every_internal_route_caller_is_allowed() -> None:
    allowed = _allowed()
    for service, callers in INTERNAL_CALLERS.items():
        assert callers <= allowed[service], service


def test_strimzi_listener_admits_only_the_platform() -> None:
    kafka = next(d for d in _k8s_docs() if d["kind"] == "Kafka")
    (listener,) = kafka["spec"]["kafka"]["listeners"]
    peers = set().union(*(_peers(p) for p in listener["networkPolicyPeers"]))
    assert peers == {f"app:{a}" for a in PLATFORM | EXPORTERS}


def test_every_service_gets_the_internal_credential() -> None:
    for d in _k8s_docs():
        if d["kind"] in ("Deployment", "StatefulSet", "DaemonSet") and d["metadata"]["name"] not in EXPORTERS:
            (c,) = d["spec"]["template"]["spec"]["containers"]
            assert {"secretRef": {"name": "ail-internal"}} in c["envFrom"], d["metadata"]["name"]
    # the lag exporter calls no service: it gets no credential (nor the database's)
    for d in _k8s_docs():
        if d["kind"] == "Deployment" and d["metadata"]["name"] in EXPORTERS:
            (c,) = d["spec"]["template"]["spec"]["containers"]
            assert c["envFrom"] == [{"configMapRef": {"name": "ail-config"}}] and "env" in c
            assert not any("valueFrom" in e for e in c["env"]), d["metadata"]["name"]


INTERNAL_PATHS = [
    "/internal/mofcom/results",
    "/internal/mofcom/license-cancellations",
    "/internal/submissions",
    "/internal/ekey-bindings",
    "/internal/x",
]


@pytest.mark.parametrize("path", INTERNAL_PATHS)
def test_the_entry_point_does_not_route_internal(path: str) -> None:
    assert not any(re.search(r["match"], path) for r in ROUTES), path
    conf = (REPO / "deploy" / "docker" / "nginx.conf").read_text()
    assert "/internal" not in conf


def _apps() -> dict[str, object]:
    from ail_application.bootstrap import bootstrap as application
    from ail_customs.bootstrap import bootstrap as customs
    from ail_signer.bootstrap import bootstrap as signer
    from ail_stats.bootstrap import bootstrap as stats
    from ail_status.bootstrap import bootstrap as status
    from ail_submission.bootstrap import bootstrap as submission

    factories = {
        "application": application,
        "submission": submission,
        "status": status,
        "customs": customs,
        "signer": signer,
        "stats": stats,
    }
    return {name: f() for name, f in factories.items()}


async def test_every_route_the_entry_point_does_not_route_requires_a_credential() -> None:
    """Read from each app's own OpenAPI, so a new internal route is covered by itself: it is
    reached through the entry point (then the API key), or it refuses a request without the
    service credential (or, MOFCOM's callback, without MOFCOM's signature) with 401."""
    import httpx

    seen = set()
    for name, app in _apps().items():
        # ASGITransport runs no lifespan: no pool is needed to be refused.
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
            for path, ops in app.openapi()["paths"].items():  # type: ignore[attr-defined]
                concrete = re.sub(r"\{[^}]+\}", "00000000-0000-0000-0000-000000000000", path)
                target = next((r["service"] for r in ROUTES if re.search(r["match"], concrete)), None)
                if target == name:
                    continue
                for method in ops:
                    body = {} if method != "get" else None
                    resp = await client.request(method.upper(), concrete, json=body)
                    assert resp.status_code == 401, (name, method, path, resp.status_code)
                    seen.add((name, path))
    assert {("submission", "/internal/mofcom/results"), ("signer", "/api/v1/signer/keys")} <= seen
