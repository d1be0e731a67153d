"""The deployment descriptions stay in step with the code and the entry routes."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
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
    assert {"Deployment", "DaemonSet", "Job", "Kafka", "Cluster", "Ingress"} <= kinds
    for d in docs:
        if d["kind"] in ("Deployment", "DaemonSet"):
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

    spec = importlib.util.spec_from_file_location("devstack", REPO / "scripts" / "devstack.py")
    assert spec is not None and spec.loader is not None
    devstack = importlib.util.module_from_spec(spec)
    sys.modules["devstack"] = devstack  # its dataclasses look their module up
    try:
        spec.loader.exec_module(devstack)
    finally:
        del sys.modules["devstack"]
    assert devstack.max_message_bytes() == MAX_MESSAGE_BYTES
    assert f"\nmessage.max.bytes={MAX_MESSAGE_BYTES}\n" in devstack.kafka_properties(
        devstack.Stack("test-deploy-check", 19500)
    )

    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    assert int(compose["services"]["kafka"]["environment"]["KAFKA_MESSAGE_MAX_BYTES"]) == MAX_MESSAGE_BYTES

    kafka = next(d for d in _k8s_docs() if d["kind"] == "Kafka")
    assert int(kafka["spec"]["kafka"]["config"]["message.max.bytes"]) == MAX_MESSAGE_BYTES
    for topic in (d for d in _k8s_docs() if d["kind"] == "KafkaTopic"):
        # a topic-level override would quietly lower (or raise) the limit for that topic
        assert "max.message.bytes" not in (topic["spec"].get("config") or {}), topic["metadata"]["name"]
