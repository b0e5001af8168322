"""Every console answer carries the Content-Security-Policy, and nothing that it forbids (inline
styles, inline scripts, on… handlers) is in a template or on a rendered page to be blocked."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import resolve, reverse

import bastion
from bastion.console import urls as console_urls
from tests.console.pages import build_scene, console_pages

POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
}
TAG = re.compile(r"<[a-zA-Z][^<>]*>")
INLINE = {
    "a <style> block": re.compile(r"<style\b", re.IGNORECASE),
    "an inline <script>": re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE),
    "a javascript: link": re.compile(r"javascript:", re.IGNORECASE),
}
IN_A_TAG = {
    "a style= attribute": re.compile(r"\sstyle\s*=", re.IGNORECASE),
    "an on… handler": re.compile(r"\son[a-z]+\s*=", re.IGNORECASE),
}
TEMPLATES = sorted(Path(bastion.__file__).parent.glob("*/templates/**/*.html"))


def directives(header: str) -> dict[str, str]:
    return dict(part.strip().split(" ", 1) for part in header.split(";") if part.strip())


def inline(html: str) -> list[str]:
    """What a page or template holds that the policy would block."""
    found = [what for what, pattern in INLINE.items() if pattern.search(html)]
    for tag in TAG.findall(html):
        found += [f"{what}: {tag[:80]}" for what, pattern in IN_A_TAG.items() if pattern.search(tag)]
    return found


def test_the_templates_hold_no_inline_style_or_script() -> None:
    assert len(TEMPLATES) > 40
    offending = {str(path.relative_to(path.parents[3])): inline(path.read_text()) for path in TEMPLATES}
    assert {path: found for path, found in offending.items() if found} == {}


def test_the_inline_check_sees_each_kind() -> None:
    assert inline('<p style="color:red">') == ['a style= attribute: <p style="color:red">']
    assert inline('<button onclick="go()">') == ['an on… handler: <button onclick="go()">']
    assert inline("<style>p{}</style>") == ["a <style> block"]
    assert inline("<script>go()</script>") == ["an inline <script>"]
    assert inline('<script src="/static/x.js" defer></script> {% blocktranslate with one=n %}') == []


@pytest.mark.django_db
def test_every_console_page_answers_with_the_policy_and_nothing_inline(
    city: dict[str, Any], make_user: Callable[..., User], client: Client
) -> None:
    scene = build_scene(city, make_user)
    client.force_login(scene["centre"])
    seen = set()
    for url in console_pages(scene):
        response = client.get(url)
        assert response.status_code == 200, url
        assert directives(response["Content-Security-Policy"]) == POLICY, url
        assert inline(response.content.decode()) == [], url
        seen.add(resolve(url.split("?")[0]).url_name)
    # The console's other routes (forms' targets, the CSV export, the login) answer with it too.
    for pattern in console_urls.urlpatterns:
        if pattern.name in seen:
            continue
        url = reverse(f"console:{pattern.name}", kwargs=dict.fromkeys(pattern.pattern.converters, 1))
        response = client.get(url)
        assert response.status_code < 500, url
        assert directives(response["Content-Security-Policy"]) == POLICY, url


@pytest.mark.django_db
def test_the_error_pages_and_the_api_answer_with_the_policy(client: Client) -> None:
    for url in ("/login/", "/no-such-page/", "/api/v1/city/figures"):
        response = client.get(url)
        assert directives(response["Content-Security-Policy"]) == POLICY, url


@pytest.mark.django_db
def test_the_api_docs_alone_may_draw_data_images(client: Client) -> None:
    docs = directives(client.get("/api/v1/docs")["Content-Security-Policy"])
    assert docs == {**POLICY, "img-src": "'self' data:"}
