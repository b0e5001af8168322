"""The registry's timers, run by the worker."""

from __future__ import annotations

from datetime import datetime

from bastion.city.services import figures_refresh
from bastion.core import clock, worker


@worker.daily("city.figures")
def refresh_figures(now: datetime) -> None:
    """Ages move every day: the elderly and infant counts are recounted once a day (the
    households' profiles hold birth dates and stay as they are)."""
    figures_refresh(today=clock.local_date(now), profiles_too=False)
