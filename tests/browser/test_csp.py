"""The Content-Security-Policy in a real browser: every console page, the admin and the API docs
load under it with nothing refused, and still look as designed (their CSS came from the static
files, not from inline styles the policy would block)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User

from tests.browser.test_console import PASSWORD, log_in
from tests.console.pages import build_scene, console_pages

pytestmark = pytest.mark.browser

# Recorded before any page script runs (Playwright's init scripts are not subject to the page's
# policy): every refusal the browser reports, and every call of window.print.
WATCH = """
window.__refused = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__refused.push(e.violatedDirective + " " + e.blockedURI + " " + e.sourceFile + ":" + e.lineNumber);
});
window.__printed = 0;
window.print = () => { window.__printed += 1; };
"""


@pytest.fixture
def scene(city_live: dict[str, Any], login_user: Callable[..., User]) -> dict[str, Any]:
    """Ask for it before `browser`."""
    return build_scene(city_live, login_user)


class Watched:
    """A page whose policy refusals are collected, from the console and from the DOM's events."""

    def __init__(self, browser: Any) -> None:
        self.context = browser.new_context(locale="en-US")
        self.context.add_init_script(WATCH)
        self.page = self.context.new_page()
        self.console: list[str] = []
        self.page.on(
            "console",
            lambda message: (
                self.console.append(message.text) if "Content Security Policy" in message.text else None
            ),
        )

    def open(self, url: str) -> Any:
        response = self.page.goto(url)
        assert response is not None and response.status == 200, url
        assert "default-src 'self'" in response.headers["content-security-policy"], url
        return response

    def refused(self) -> list[str]:
        return [*self.console, *self.page.evaluate("window.__refused")]

    def style(self, selector: str, prop: str) -> str:
        return str(
            self.page.locator(selector).first.evaluate(
                f"(e) => getComputedStyle(e).getPropertyValue('{prop}')"
            )
        )


def test_every_console_page_loads_under_the_policy_and_keeps_its_styles(
    scene: dict[str, Any], site: str, browser: Any
) -> None:
    watched = Watched(browser)
    page = watched.page
    log_in(page, site, scene["centre"])
    for url in console_pages(scene):
        watched.open(site + url)
        assert watched.refused() == [], url

    # Styles that came from inline <style> blocks and style= attributes before.
    watched.open(f"{site}/cases/{scene['case'].pk}/")
    assert watched.style(".level-high", "background-color") == "rgb(198, 40, 40)"
    assert watched.style(".chain .depth-0", "padding-left") == "8px"
    assert watched.style(".chain .depth-1", "padding-left") == "24px"
    watched.open(f"{site}/zones/map/?community={scene['community'].pk}")
    assert watched.style(".legend .swatch-medium", "background-color") == "rgb(239, 108, 0)"
    assert watched.style(".legend .swatch-partly", "border-top-style") == "dashed"
    watched.open(f"{site}/bulletin/")
    assert watched.style(".table-wrap", "overflow-x") == "auto"

    # The print pages: their own faces and ruled tables; the print button prints and is not printed.
    watched.open(f"{site}/bulletin/print/")
    assert "Noto Serif CJK SC" in watched.style("body", "font-family")
    assert watched.style("table", "border-collapse") == "collapse"
    page.get_by_role("button", name="Print").click()
    assert page.evaluate("window.__printed") == 1
    page.emulate_media(media="print")
    assert not page.get_by_role("button", name="Print").is_visible()
    page.emulate_media(media="screen")
    watched.open(f"{site}/testing/{scene['round'].pk}/grids/{scene['grid'].pk}/print/")
    assert watched.style("td", "border-top-style") == "solid"
    assert watched.style("th.box", "width") == "72px"
    page.get_by_role("button", name="Print").click()
    assert page.evaluate("window.__printed") == 1
    watched.open(f"{site}/deliveries/print/?community={scene['community'].pk}")
    assert watched.style("td.mono", "font-family") == "monospace"
    assert watched.style("section", "break-after") == "page"

    # The behaviours that were inline handlers: the map's area picker and the language switch.
    watched.open(f"{site}/zones/map/")
    with page.expect_navigation():
        page.select_option("#place", f"community={scene['community'].pk}")
    assert page.url.endswith(f"/zones/map/?community={scene['community'].pk}")
    with page.expect_navigation():
        page.select_option("#language", "zh-hans")
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    assert watched.refused() == []
    watched.context.close()


def test_the_admin_and_the_api_docs_load_under_the_policy(
    city_live: dict[str, Any], login_user: Callable[..., User], site: str, browser: Any
) -> None:
    admin = login_user("command_centre")
    admin.is_staff = admin.is_superuser = True
    admin.save(update_fields=["is_staff", "is_superuser"])
    watched = Watched(browser)
    page = watched.page
    watched.open(f"{site}/admin/login/")
    page.fill("#id_username", admin.username)
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.click("input[type=submit]")
    for url in ("/admin/", "/admin/city/district/", f"/admin/city/district/{city_live['D1'].pk}/change/"):
        watched.open(site + url)
        assert page.locator("#content").is_visible(), url
        assert watched.refused() == [], url
    assert watched.style("#header", "background-color") != "rgba(0, 0, 0, 0)"

    watched.open(f"{site}/api/v1/docs")
    page.locator(".swagger-ui .information-container .title").wait_for()
    assert "Bastion API" in page.locator(".swagger-ui .information-container .title").inner_text()
    # An operation opened for trying, and the schemas: Swagger UI's arrows are data: images.
    page.locator(".opblock-summary").first.click()
    page.get_by_role("button", name="Try it out").first.click()
    page.locator("section.models").scroll_into_view_if_needed()
    page.wait_for_timeout(300)  # background images load after layout
    assert watched.refused() == []
    watched.context.close()
