"""Browser tests of the /dashboard console: headless Chromium (Debian's) driven by Playwright.

The suite runs as `make run` starts it (running_stack on free ports); a tenant
per test module logs in through the page. Chromium is the system binary that
scripts/install_browser.sh installs — Playwright never downloads a browser.
Screenshots go to test-output/screenshots/ (kept by CI as artifacts).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from spooled_testing.stack import Stack, running_stack

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-output" / "screenshots"
CHROMIUM = os.environ.get("SPOOLED_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: Plan limits and rate limits are not under test here (as in tests/e2e): an empty
#: BILLING_ADDR makes queue-core admit everything, the rest lifts request rates.
UNLIMITED = {
    "BILLING_ADDR": "",
    "SPOOLED_PLAN_FREE_RATE_LIMIT_RPS": "100000",
    "SPOOLED_PLAN_FREE_RATE_LIMIT_BURST": "100000",
    "SPOOLED_PLAN_FREE_MAX_WORKFLOWS": "unlimited",
    "RATE_LIMIT_REQUESTS_PER_SECOND": "100000",
    "RATE_LIMIT_BURST_SIZE": "100000",
}
#: Failing loads the console expects: it probes optional APIs (workflows, webhooks).
EXPECTED_CONSOLE_NOISE = ("404 (Not Found)",)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not Path(CHROMIUM).exists():
        skip = pytest.mark.skip(reason=f"{CHROMIUM} missing: run scripts/install_browser.sh")
        for item in items:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    base = Path(tempfile.mkdtemp(prefix="spooled-browser-"))
    try:
        with running_stack(base, extra_env=dict(UNLIMITED)) as s:
            yield s
    finally:
        shutil.rmtree(base, ignore_errors=True)


@dataclass
class Tenant:
    stack: Stack
    id: str
    api_key: str

    def http(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.stack.base_url + "/api/v1",
            headers={"Authorization": f"Bearer {self.api_key}"},
            timeout=30,
        )


@pytest.fixture(scope="module")
def tenant(stack: Stack) -> Tenant:
    slug = f"ui-{secrets.token_hex(4)}"
    r = httpx.post(
        f"{stack.base_url}/api/v1/organizations",
        json={"name": "UI " + slug, "slug": slug},
        timeout=30,
    )
    assert r.status_code == 201, r.text
    doc = r.json()
    # Plan limits are not under test here.
    with contextlib.suppress(httpx.HTTPError):
        httpx.patch(
            f"{stack.base_url}/api/v1/admin/organizations/{doc['organization']['id']}",
            json={"plan_tier": "enterprise"},
            headers={"X-Admin-Key": stack.admin_key},
            timeout=30,
        )
    return Tenant(stack, doc["organization"]["id"], doc["api_key"]["key"])


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


class Console:
    """One browser tab on the console, with its JavaScript errors collected."""

    def __init__(self, page: Any, tenant: Tenant) -> None:
        self.page = page
        self.tenant = tenant
        self.errors: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.on(
            "console",
            lambda msg: (
                msg.type == "error"
                and not any(n in msg.text for n in EXPECTED_CONSOLE_NOISE)
                and self.errors.append(f"console: {msg.text}")
            ),
        )

    @property
    def url(self) -> str:
        return self.tenant.stack.base_url + "/dashboard"

    def login(self) -> None:
        self.page.goto(self.url)
        self.page.fill("[data-testid=api-key]", self.tenant.api_key)
        self.page.click("[data-testid=login]")
        self.page.wait_for_selector("[data-testid=nav-overview]")
        self.wait_live()

    def wait_live(self) -> None:
        self.page.wait_for_selector("[data-testid=live-state][data-state=live]", timeout=15_000)

    def go(self, route: str) -> None:
        """Client-side navigation (hash route): the page is not reloaded."""
        self.page.evaluate("(r) => { location.hash = r; }", route)

    def shot(self, name: str) -> Path:
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def console(browser: Any, tenant: Tenant) -> Iterator[Console]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    c = Console(page, tenant)
    try:
        yield c
    finally:
        context.close()
    assert c.errors == [], c.errors
