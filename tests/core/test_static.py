"""Static files in production: WhiteNoise serves what `collectstatic` gathered (README)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management import call_command
from django.test import Client

CSS = "/static/console/console.css"


def test_production_serves_the_console_css_once_collected(settings: Any, tmp_path: Path) -> None:
    settings.DEBUG = False
    settings.WHITENOISE_USE_FINDERS = False  # production: no reading from the apps
    settings.STATIC_ROOT = tmp_path / "static"
    assert Client().get(CSS).status_code == 404  # the step the README names is needed
    call_command("collectstatic", interactive=False, verbosity=0)
    served = Client().get(CSS)
    assert served.status_code == 200
    assert b"".join(served.streaming_content).startswith(
        Path(settings.STATIC_ROOT, "console/console.css").read_bytes()[:20]
    )
