"""Mass testing's own SQL: the fast way of a single scan, the turnaround's percentiles, the sites
over capacity, and the lock that orders single records against the bulk loads.

Dialect words, staging tables, prepared statements and the advisory-lock registry come from
`bastion.core.sql`; where the dialects differ, a statement is written out whole for each.
"""

from __future__ import annotations

from bastion.core.sql import Lock, advisory_lock


def bulk_loads_wait() -> None:
    """Inside a transaction: wait for a bulk chunk in progress, and keep the next from starting
    until this transaction ends (PostgreSQL; SQLite serialises writers anyway). The bulk loads
    (testing.ingest) take `Lock.INGEST` exclusively for each chunk they classify and move;
    single records take it shared, so that a device's scan or a lab's result never lands between
    a chunk's classification and its writes."""
    advisory_lock(Lock.INGEST, shared=True)
