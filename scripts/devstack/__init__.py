"""Local stack driver behind ``./dev`` (standard library only; see README.md).

Runs the whole platform on one machine without Docker: Apache Kafka (KRaft, one node, from the
Maven Central jars), a private PostgreSQL cluster, SoftHSM2 tokens standing in for the USB e-keys,
every service, both sandboxes and an nginx entry point, kept running by a small supervisor.
Everything a profile owns lives in ``.devstack/<profile>/``; ports derive from ``AIL_PORT_BASE``.

One module per concern: ``table`` (the process table and a profile's paths and ports),
``common`` and ``procs`` (output, pid files, ports), ``install``, ``kafka``, ``postgres``,
``softhsm``, ``envfile``, ``apps``, ``nginx``, ``backoff`` and ``supervisor`` (restarts),
``commands`` (up, down, status ...) and ``cli`` (``./dev`` itself, and ``./dev test``).
"""
