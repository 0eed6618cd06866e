"""The page in a real headless Chromium (Debian's chromium driven by Playwright): what a bureau user does.

Screenshots are kept under test-output/web/. Outside CI the tests skip when Chromium or Playwright is
missing; in CI (``CI`` set, as .ci/run does) a missing browser fails them.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.browser]
REPO = Path(__file__).resolve().parents[1]
SHOTS = REPO / "test-output" / "web"
SEED_004 = REPO / "corpus" / "seeds" / "004_19f5cf095fbe0cc7.txt"


def _need(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing in CI: .ci/run installs it")
    pytest.skip(f"{what} is not installed")


@pytest.fixture(scope="module")
def base_url(web_service):
    pytest.importorskip("fastapi", reason='the web extra is not installed: pip install -e ".[web]"')
    import uvicorn

    from policy_nlp.web import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(service=web_service), host="127.0.0.1", port=port,
                                           log_level="warning"))  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the web service did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    chromium = shutil.which("chromium")
    if chromium is None:
        _need("Debian's chromium (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _need("playwright (pip install -e '.[test]')")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=chromium, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser, base_url):
    context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def _shot(page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / name
    page.screenshot(path=str(path), full_page=False)
    assert path.stat().st_size > 10_000
    return path


def test_search_narrow_by_facet_open_a_result_and_preview_its_context(page):
    page.goto("/")
    page.get_by_role("searchbox").fill("课后服务")
    page.get_by_role("searchbox").press("Enter")
    page.wait_for_selector("article.hit")
    assert "q=" in page.url and page.locator("article.hit mark").first.inner_text() in ("课后服务", "课后", "服务")
    before = page.locator("article.hit").count()
    _shot(page, "search.png")

    county = page.locator('section.facet[data-facet="level"] a', has_text="县级")
    expected = int(county.locator("xpath=../span[@class='count']").inner_text())
    county.click()
    page.wait_for_url("**level=county**")
    levels = page.locator("article.hit .meta .tag").filter(has_text="级").all_inner_texts()
    assert levels and set(levels) == {"县级"}
    assert page.locator("article.hit").count() <= min(before, expected)
    assert page.locator("a.chip", has_text="县级").is_visible()
    _shot(page, "search-county.png")

    page.locator("article.hit button.preview").first.click()
    preview = page.locator("article.hit .context-preview").first
    preview.wait_for(state="visible")
    assert 2 <= preview.locator("p").count() <= 3 and preview.locator(".current").count() == 1

    first_id = page.locator("article.hit").first.get_attribute("data-para")
    page.locator("article.hit a.open").first.click()
    target = page.locator(f"li#p{first_id}.target")
    target.wait_for(state="visible")
    assert page.locator("li.paragraph.context").count() in (1, 2)
    _shot(page, "document.png")

    page.locator(f"li#p{first_id} a.similar").click()
    page.wait_for_selector("blockquote.source")
    assert page.locator("h1").inner_text() == "其他地区的类似做法"


def test_tag_a_pasted_report_shows_the_theme_bars(page):
    page.set_default_timeout(180_000)  # tagging with evidence takes a while on a busy machine
    page.goto("/tag")
    page.locator("textarea[name=text]").fill(SEED_004.read_text(encoding="utf-8"))
    page.get_by_role("button", name="分析主题").click()
    page.wait_for_selector(".bars")
    labels = page.locator(".bar-row .bar-label").all_inner_texts()
    assert "党建" in labels and len(labels) >= 3
    widths = page.locator(".bar-row .bar").evaluate_all("bars => bars.map(b => b.getBoundingClientRect().width)")
    assert widths == sorted(widths, reverse=True) and widths[0] > widths[-1] > 0
    assert page.locator("ol.tagged li").count() == 12 and page.locator("ol.tagged mark").count() > 0
    _shot(page, "tag.png")
