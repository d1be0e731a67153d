"""Writes deploy/k8s/90-monitoring.yaml from deploy/prometheus/alerts.yml (the one rules file):
the same rule groups as a PrometheusRule, and a ServiceMonitor per service (a PodMonitor for
the signer DaemonSet, which has no Service), and one for the consumer-lag exporter. Run ``.venv/bin/python -m
scripts.devstack.k8s_monitoring`` after changing the rules; tests/unit/test_monitoring.py fails
while the two differ. (Run with the project's .venv: it needs PyYAML.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .common import REPO

RULES = REPO / "deploy" / "prometheus" / "alerts.yml"
OUT = REPO / "deploy" / "k8s" / "90-monitoring.yaml"
SERVICES = ("application", "submission", "status", "customs", "stats")
# The consumer-lag exporter (ail_shared.lag): a Deployment and Service like the services.
EXPORTERS = ("lag",)
HEADER = (
    "# Generated from deploy/prometheus/alerts.yml by `python -m scripts.devstack.k8s_monitoring`;\n"
    "# do not edit (tests/unit/test_monitoring.py checks the rules are the same).\n"
    "# Prometheus (the prometheus-operator's, release label `ail`) scrapes /metrics on port 8000 of\n"
    "# every service; /metrics is not behind the API key and not routed by the Ingress.\n"
)


def documents(rules: dict[str, Any]) -> list[dict[str, Any]]:
    meta = {"namespace": "ail", "labels": {"release": "ail"}}
    docs: list[dict[str, Any]] = [
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "PrometheusRule",
            "metadata": {"name": "ail-alerts", **meta},
            "spec": {"groups": rules["groups"]},
        }
    ]
    for name in (*SERVICES, *EXPORTERS):
        docs.append(
            {
                "apiVersion": "monitoring.coreos.com/v1",
                "kind": "ServiceMonitor",
                "metadata": {"name": name, **meta},
                "spec": {
                    "selector": {"matchLabels": {"app": name}},
                    "jobLabel": "app",
                    "endpoints": [{"targetPort": 8000, "path": "/metrics", "interval": "15s"}],
                },
            }
        )
    docs.append(
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "PodMonitor",
            "metadata": {"name": "signer", **meta},
            "spec": {
                "selector": {"matchLabels": {"app": "signer"}},
                "jobLabel": "app",
                "podMetricsEndpoints": [{"targetPort": 8000, "path": "/metrics", "interval": "15s"}],
            },
        }
    )
    # Prometheus (namespace monitoring) may reach port 8000 of every service: the namespace
    # denies ingress by default (80-network-policies.yaml); these add to its policies.
    for name in (*SERVICES, "signer", *EXPORTERS):
        docs.append(
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": f"monitoring-{name}", "namespace": "ail"},
                "spec": {
                    "podSelector": {"matchLabels": {"app": name}},
                    "policyTypes": ["Ingress"],
                    "ingress": [
                        {
                            "from": [
                                {
                                    "namespaceSelector": {
                                        "matchLabels": {"kubernetes.io/metadata.name": "monitoring"}
                                    }
                                }
                            ],
                            "ports": [{"port": 8000}],
                        }
                    ],
                },
            }
        )
    return docs


def render(rules_path: Path = RULES) -> str:
    rules = yaml.safe_load(rules_path.read_text())
    return HEADER + yaml.safe_dump_all(documents(rules), sort_keys=False, allow_unicode=True, width=110)


def main() -> None:
    OUT.write_text(render())
    print(f"wrote {OUT.relative_to(REPO)}")


if __name__ == "__main__":
    main()
