"""Reads of the core's own tables that the interfaces show."""

from __future__ import annotations

from bastion.core.models import WorkerHeartbeat


def last_heartbeat(name: str = "worker") -> WorkerHeartbeat | None:
    """The worker's last sign of life, if it ever ran (the home page shows it to staff)."""
    return WorkerHeartbeat.objects.filter(name=name).first()
