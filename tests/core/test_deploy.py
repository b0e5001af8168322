"""Production settings pass Django's deployment checklist, and plain http is sent to https."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# Nothing of the suite's own environment (DJANGO_ALLOW_ASYNC_UNSAFE, DEBUG, BASTION_DEV…): the
# machine's basics only (OpenBLAS's settings keep numpy working on this processor).
BARE = {
    name: value
    for name, value in os.environ.items()
    if name in ("PATH", "HOME", "LANG", "TMPDIR") or name.startswith("OPENBLAS_")
}
# A key as `secrets.token_urlsafe(50)` makes one: long, varied, not Django's insecure prefix.
STRONG_KEY = "q7Vt2mZk9Rw4Xb8Ns1Lc6Hd3Jf0Pg5Yu-Ea_Tr7Ko2Wi9Bz4Mx8Qn1Cv6Sl3Dh0Fj5"


def check_deploy(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`bastion check --deploy` in production settings: no BASTION_DEV, no DEBUG."""
    clean = dict(BARE)
    clean.update(
        SECRET_KEY=STRONG_KEY,
        ALLOWED_HOSTS="bastion.example.org",
        DATABASE_URL=f"sqlite:///{tmp_path}/deploy.db",
        BASTION_HOME=str(tmp_path),
        **env,
    )
    bastion = Path(sys.executable).with_name("bastion")
    return subprocess.run(
        [str(bastion), "check", "--deploy", "--fail-level", "WARNING"],
        env=clean,
        capture_output=True,
        text=True,
        check=False,
    )


def test_production_settings_pass_the_deployment_checklist(tmp_path: Path) -> None:
    done = check_deploy(tmp_path)
    assert done.returncode == 0, done.stderr
    assert "System check identified no issues" in done.stdout


@pytest.mark.parametrize(
    ("switch", "warning"),
    [("SECURE_SSL_REDIRECT", "security.W008"), ("HSTS_INCLUDE_SUBDOMAINS", "security.W005")],
)
def test_turning_a_defence_off_is_reported_by_the_checklist(
    tmp_path: Path, switch: str, warning: str
) -> None:
    done = check_deploy(tmp_path, **{switch: "false"})
    assert done.returncode != 0
    assert warning in done.stderr


def production(tmp_path: Path, code: str, **env: str) -> str:
    """What `code` prints in production settings (a process of its own: settings load once)."""
    clean = dict(BARE)
    clean.update(
        SECRET_KEY=STRONG_KEY,
        ALLOWED_HOSTS="testserver",
        DATABASE_URL=f"sqlite:///{tmp_path}/deploy.db",
        BASTION_HOME=str(tmp_path),
        DJANGO_SETTINGS_MODULE="bastion.settings",
        **env,
    )
    done = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        env=clean,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


ANSWERS = (
    "from django.test import Client; c = Client();"
    "plain = c.get('/login/'); proxied = c.get('/login/', headers={'X-Forwarded-Proto': 'https'});"
    "print(plain.status_code, plain.get('Location'), proxied.status_code, proxied.get('Location'))"
)


def test_production_sends_plain_http_to_https(tmp_path: Path) -> None:
    assert production(tmp_path, ANSWERS) == "301 https://testserver/login/ 301 https://testserver/login/"


def test_behind_a_proxy_its_word_that_the_request_came_over_https_is_taken(tmp_path: Path) -> None:
    answers = production(tmp_path, ANSWERS, BEHIND_PROXY="true")
    assert answers == "301 https://testserver/login/ 200 None"


def test_the_redirect_can_be_turned_off_for_plain_http_on_purpose(tmp_path: Path) -> None:
    assert production(tmp_path, ANSWERS, SECURE_SSL_REDIRECT="false") == "200 None 200 None"


HSTS = (
    "from django.test import Client; print(Client().get('/login/', secure=True)['Strict-Transport-Security'])"
)


def test_hsts_covers_the_platforms_subdomains_and_asks_for_preloading_only_when_told(tmp_path: Path) -> None:
    assert production(tmp_path, HSTS) == "max-age=31536000; includeSubDomains"
    assert production(tmp_path, HSTS, HSTS_PRELOAD="true") == "max-age=31536000; includeSubDomains; preload"
    assert production(tmp_path, HSTS, HSTS_INCLUDE_SUBDOMAINS="false") == "max-age=31536000"
    assert check_deploy(tmp_path, HSTS_PRELOAD="true").returncode == 0
