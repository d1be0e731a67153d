"""Issue 16, scale out: the stack driver's replica table, names, nginx upstreams and Prometheus
targets (scripts/devstack/table.py, commands.expand, nginx.nginx_conf, prometheus.config): pure,
no processes."""

from __future__ import annotations

import re

import pytest

from tests.unit.support import devstack_module

table = devstack_module("table")
commands = devstack_module("commands")
nginx = devstack_module("nginx")
prometheus = devstack_module("prometheus")
common = devstack_module("common")

SERVICES = ("application", "submission", "status", "customs", "signer", "stats")


def _stack(replicas: int) -> object:
    return table.Stack("test-unit-replicas", 22000, replicas)


def test_one_replica_is_the_table_as_before() -> None:
    st = _stack(1)
    assert st.apps == table.APPS
    assert [a.name for a in st.replicas_of("submission")] == ["submission"]


def test_two_replicas_add_a_second_process_of_each_service_with_its_own_port_and_files() -> None:
    st = _stack(2)
    extra = [a for a in st.apps if a.replica == 2]
    assert [a.name for a in extra] == [f"{s}-2" for s in SERVICES]
    ports = [st.port(a.name) for a in st.apps] + [st.port(n) for n in table.PORT_OFFSETS]
    ports.append(st.port("prometheus") + 1)  # Prometheus itself, behind its wrapper
    assert len(ports) == len(set(ports)), "two processes on one port"
    assert st.port("submission-2") == 22112 and st.port("submission") == 22102
    assert st.pidfile("submission-2") != st.pidfile("submission")
    assert st.logfile("submission-2").name == "submission-2.log"
    second = table.ALL_APPS_BY_NAME["submission-2"]
    # The copy is the same service: its consumer groups, metrics job and traces are the service's.
    assert second.module == "ail_submission" and second.service_name == "submission"
    assert second.url_var == "AIL_SUBMISSION_URL_2"
    # The sandboxes, the lag exporter, Prometheus and the trace store stay single.
    assert [a.name for a in st.replicas_of("sandbox-mofcom")] == ["sandbox-mofcom"]


def test_every_possible_replica_has_a_free_port_of_its_own() -> None:
    st = _stack(table.MAX_REPLICAS)
    ports = [st.port(a.name) for a in st.apps] + [st.port(n) for n in table.PORT_OFFSETS]
    ports.append(st.port("prometheus") + 1)
    assert len(ports) == len(set(ports))
    assert max(ports) - st.base < 300  # the range Stack checks the base against


def test_a_service_name_means_every_replica_and_name_k_one_of_them() -> None:
    st = _stack(2)
    assert commands.expand(st, ["submission"]) == ["submission", "submission-2"]
    assert commands.expand(st, ["submission-1"]) == ["submission"]
    assert commands.expand(st, ["submission-2", "kafka"]) == ["submission-2", "kafka"]
    assert commands.expand(st, ["sandbox-mofcom"]) == ["sandbox-mofcom"]
    assert commands.expand(_stack(1), ["stats"]) == ["stats"]
    with pytest.raises(common.StackError, match="stats-2"):
        commands._check_components(_stack(1), ["stats-2"])  # noqa: SLF001 - the name check


def test_the_replica_count_is_checked() -> None:
    assert table.parse_replicas("2") == 2
    for bad in ("0", "5", "two"):
        with pytest.raises(common.StackError, match="AIL_REPLICAS"):
            table.parse_replicas(bad)


def test_nginx_upstreams_list_every_replica_and_skip_one_that_refuses() -> None:
    two = "\n".join(nginx.upstream(_stack(2), "submission"))
    servers = re.findall(r"server 127\.0\.0\.1:(\d+)( max_fails=1 fail_timeout=2s)?;", two)
    assert [(int(p), bool(f)) for p, f in servers] == [(22102, True), (22112, True)]
    # One replica: the configuration of before (no reload of a running nginx for nothing).
    one = nginx.upstream(_stack(1), "submission")
    assert one == [
        "    upstream svc_submission {",
        "        server 127.0.0.1:22102;",
        "        keepalive 16;",
        "        keepalive_timeout 60s;",
        "    }",
    ]


def test_nginx_closes_an_idle_upstream_connection_before_the_service_does() -> None:
    """Otherwise nginx may send a request on a connection the service is closing: "connection
    reset by peer", a 502 it does not retry for a POST (CI, session 8)."""
    from ail_shared.http import KEEP_ALIVE_SECONDS

    conf = "\n".join(line for s in SERVICES for line in nginx.upstream(_stack(2), s))
    timeouts = [int(t) for t in re.findall(r"keepalive_timeout (\d+)s;", conf)]
    assert len(timeouts) == len(SERVICES) and max(timeouts) < KEEP_ALIVE_SECONDS, timeouts


def test_prometheus_has_one_job_per_service_with_every_replica_a_target() -> None:
    st = _stack(2)
    conf = prometheus.config(st, st.port("prometheus"))
    jobs = dict(re.findall(r"job_name: (\S+)\n.*?targets: \[(.*?)\]", conf, re.S))
    assert jobs["submission"] == "'127.0.0.1:22102', '127.0.0.1:22112'"
    assert jobs["sandbox-mofcom"] == "'127.0.0.1:22201'"
    assert "submission-2" not in jobs  # a replica is an instance of its service's job


def test_other_processes_call_a_replicated_service_through_nginx_in_front_of_its_replicas() -> None:
    assert _stack(1).service_urls() == {}  # one replica: each process's own URL, as before
    urls = _stack(2).service_urls()
    assert urls["AIL_APPLICATION_URL"] == "http://127.0.0.1:22151"
    assert urls["AIL_SUBMISSION_URL"] == "http://127.0.0.1:22152"
    fronts = "\n".join(nginx.internal_fronts(_stack(2), list(SERVICES)))
    assert "listen 127.0.0.1:22152;" in fronts and "proxy_pass http://svc_submission;" in fronts
    st = _stack(table.MAX_REPLICAS)
    taken = {st.port(a.name) for a in st.apps} | {st.port(n) for n in table.PORT_OFFSETS}
    assert not taken & {st.front_port(s) for s in SERVICES}


def test_only_up_and_test_read_ail_replicas_the_rest_act_on_the_stack_as_it_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A test run exports the env file of when it began; a `./dev scale 2` since must win.
    monkeypatch.setenv("AIL_REPLICAS", "2")
    assert table.Stack("test-unit-replicas-none", 22000).replicas == 1  # nothing recorded
    cli = devstack_module("cli")
    assert cli.requested_replicas() == 2
    assert cli.replicas_option(["--no-install", "--replicas", "3"]) == (3, ["--no-install"])
    assert cli.replicas_option(["--replicas=2"]) == (2, [])
