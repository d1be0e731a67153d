"""``./dev kafka-groups [ARGS]``: Kafka's ``kafka-consumer-groups`` (the ConsumerGroupCommand of
the kafka-tools jar, installed by ``./dev install``) against the profile's broker. Without
arguments: ``--describe --all-groups`` (every group's committed offset, log end and lag per
partition). Any other arguments are passed as they are, e.g. ``--describe --group
status.projector`` or ``--list``."""

from __future__ import annotations

import os

from .common import StackError
from .install import find_java, kafka_tools_libs
from .kafka import kafka_pid
from .table import Stack

GROUPS_CLASS = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand"


def kafka_groups_argv(st: Stack, args: list[str]) -> list[str]:
    libs = kafka_tools_libs()
    if not libs.is_dir():
        raise StackError(f"the Kafka tools are not installed ({libs}): run ./dev install")
    return [
        find_java(),
        "-Xmx256m",
        "-cp",
        f"{libs}/*",
        GROUPS_CLASS,
        "--bootstrap-server",
        f"127.0.0.1:{st.port('kafka')}",
        *(args or ["--describe", "--all-groups"]),
    ]


def cmd_kafka_groups(st: Stack, args: list[str]) -> None:
    if kafka_pid(st) is None:
        raise StackError(f"Kafka of profile '{st.profile}' is not running: ./dev up")
    argv = kafka_groups_argv(st, args)
    os.execvp(argv[0], argv)
