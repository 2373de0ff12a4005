"""Open a rendered report in real headless Chromium: figures decode, tables render, offline."""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

import pytest
from conftest import ROOT, kernel_installed

from simlib.report import build as report

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
DRIVER = shutil.which("chromedriver") or ("/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").exists() else None)

pytestmark = pytest.mark.skipif(CHROMIUM is None or DRIVER is None,
                                reason="chromium and chromedriver not installed (make browser installs them)")


@contextlib.contextmanager
def open_browser(profile: Path):
    """Headless Chromium driven by selenium, with its profile in ``profile``; quit on exit."""
    pytest.importorskip("selenium")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--disable-background-networking", "--no-first-run", "--window-size=1280,1024",
              f"--user-data-dir={profile}"):
        opts.add_argument(a)
    drv = webdriver.Chrome(service=Service(DRIVER), options=opts)
    drv.set_page_load_timeout(60)
    try:
        yield drv
    finally:
        drv.quit()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    with open_browser(tmp_path_factory.mktemp("chromium-profile")) as drv:
        yield drv


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    if not kernel_installed():
        pytest.skip("Jupyter kernel 'simlib' not installed (run make setup)")
    out = tmp_path_factory.mktemp("browser-reports")
    res = report.build_reports([ROOT / "scenarios" / "default.yaml"], ["explorer"], out=out, trials=30, progress=False)
    assert res[0].status == "ok", res[0].message
    return out


def test_report_figures_and_tables_render_in_chromium(browser, rendered):
    page = rendered / "default" / "explorer.html"
    browser.get(page.as_uri())
    browser.execute_script("window.scrollTo(0, document.body.scrollHeight)")
    imgs = browser.execute_script(
        "return Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight, i.src.slice(0, 22)])")
    assert len(imgs) >= 4, "the explorer snapshot draws four charts"
    for complete, w, h, src in imgs:
        assert complete and w > 0 and h > 0
        assert src.startswith("data:image/png")  # embedded, not linked
    tables = browser.execute_script(
        "return Array.from(document.querySelectorAll('table')).map(t => t.querySelectorAll('tr').length)")
    assert len(tables) >= 2 and all(n >= 2 for n in tables)  # the explorer's table and the provenance (once)
    text = browser.find_element("tag name", "body").text
    hidden = browser.execute_script("return document.body.textContent")  # provenance is collapsed at the end
    assert "scenario sha256" in hidden and "seed" in hidden and "versions" in hidden
    assert "Reps at or above quota" in text and "share_at_quota" not in text  # display names, not metric ids
    assert "M EUR" in text  # money in the scenario's currency
    assert "from simlib" not in text  # code hidden
    # nothing on the page was fetched from the network
    remote = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name).filter(n => !n.startsWith('file:') && !n.startsWith('data:'))")
    assert remote == []


def test_index_links_to_the_report(browser, rendered):
    browser.get((rendered / "index.html").as_uri())
    links = browser.execute_script("return Array.from(document.links).map(a => a.href)")
    target = (rendered / "default" / "explorer.html").as_uri()
    assert target in links
    browser.get(target)
    assert "Plan explorer" in browser.title or "explorer" in browser.page_source[:5000].lower()
