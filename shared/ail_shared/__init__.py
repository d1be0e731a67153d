"""ail_shared: the platform's own library (config, events, Kafka helpers, outbox, inbox, database,
telemetry, auth, and the rules every service shares: lifecycle, calendar, unit of work).

Import from the submodules (``from ail_shared.events import envelope_for``): the package itself
re-exports nothing, so importing one submodule does not load the others. A submodule that
declares ``__all__`` promises exactly those names; ``tests/unit/shared/test_exported_members.py``
holds it to that."""
