"""Reports are shared: nothing a scenario, history or parameter holds may run as script in them.

A scenario whose every user-controlled string (name, description, plan and
role names, plan descriptions, a ``--param`` value) carries script payloads
is reported with every notebook; each HTML file is then parsed (no script
element, event-handler attribute or ``javascript:`` link came from the
scenario) and opened in headless Chromium (``window.__pwned`` stays unset).
"""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from conftest import DEFAULT, image_alts, kernel_installed

from simlib.report import build as report
from simlib.report.notebook import escape_frame, md_text

MARK = "__pwned"
PAYLOADS = (
    f"<script>window.{MARK}=1</script>",
    f'<img src=x onerror="window.{MARK}=1">',
    f"[x](javascript:window.{MARK}=1)",
    f'"><svg onload="window.{MARK}=1">',
)
ALL = " ".join(PAYLOADS)
#: a plan renamed to a payload (and passed as --param reference)
EVIL_PLAN = f"p<img src=x onerror=window.{MARK}=1>"
#: a role renamed to a payload (no ".": the engine keys its draws by "<role>.<name>")
EVIL_ROLE = f"r<script>window['{MARK}']=1</script>"


def payload_scenario(path: Path) -> Path:
    """The default scenario with payloads in every free-text field and one plan and role name."""
    data = yaml.safe_load(DEFAULT.read_text())
    data["name"] = f"evil {ALL}"
    data["description"] = f"Described {ALL}"
    for plan in data["plans"].values():
        plan["description"] = f"plan {ALL}"
    data["plans"][EVIL_PLAN] = data["plans"].pop("harder_target")
    data["roles"][EVIL_ROLE] = data["roles"].pop("channel")
    for plan in data["plans"].values():
        roles = plan["roles"] if "roles" in plan else plan["changes"]["roles"]
        if "channel" in roles:
            roles[EVIL_ROLE] = roles.pop("channel")
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


class _Findings(HTMLParser):
    """Script elements, on* attributes and javascript: URLs whose text mentions the payload mark."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            self._in_script = True
        for name, value in attrs:
            value = value or ""
            if (name.startswith("on") and MARK in value) or (
                    value.strip().lower().startswith("javascript:") and MARK in value):
                self.found.append(f"<{tag} {name}={value!r}>")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script and MARK in data:
            self.found.append(f"<script>{data[:80]}")


def injected(page: str) -> list[str]:
    """What of the payloads became live markup in an HTML page."""
    p = _Findings()
    p.feed(page)
    p.close()
    return p.found


def unsafe_outputs(path: Path) -> list[str]:
    """Outputs of an executed notebook that the report's second line of defence would have to neutralise."""
    import copy

    import nbformat

    found = []
    for i, c in enumerate(nbformat.read(path, as_version=4).cells):
        for o in c.get("outputs", []):
            safe = copy.deepcopy(o)
            report._neutralise_output(safe)
            if safe != o:
                found.append(f"cell {i}: {str(o.get('data'))[:200]}")
    return found


def test_md_text_shows_markup_and_links_as_text():
    import markdown_it

    out = markdown_it.MarkdownIt("commonmark").render(md_text(ALL))
    assert injected(out) == []
    assert "&lt;script&gt;" in out and "<a " not in out and "<img" not in out
    assert md_text("a_b *c*") == r"a\_b \*c\*"


def test_escape_frame_escapes_cells_and_labels_for_styler():
    import pandas as pd

    df = pd.DataFrame({PAYLOADS[1]: [PAYLOADS[0], 1.5]}, index=pd.Index([EVIL_ROLE, "x"], name=PAYLOADS[3]))
    page = escape_frame(df).style.format(precision=2).to_html()
    assert injected(page) == []
    assert "&lt;script&gt;" in page and "1.50" in page


def test_parser_finds_live_payloads():
    assert injected(f"<p>{PAYLOADS[0]}</p>") and injected(PAYLOADS[1]) and injected(PAYLOADS[3])
    assert injected(f"<a href='javascript:window.{MARK}=1'>x</a>")


@pytest.fixture(scope="module")
def evil_reports(tmp_path_factory):
    if not kernel_installed():
        pytest.skip("Jupyter kernel 'simlib' not installed (run make setup)")
    base = tmp_path_factory.mktemp("evil")
    scen = payload_scenario(base / "evil.yaml")
    out = base / "reports"
    res = report.build_reports(
        [scen], list(report.discover_notebooks()), out=out, trials=20, progress=False,
        params=[f"policy_comparison.reference={EVIL_PLAN}", "policy_comparison.behaviour_draws=2",
                "policy_comparison.rep_trials=3", "calibration.bootstrap=2", "sweep.target_levels=[0.9, 1.1]",
                "sweep.team_weights=[0.0]"])
    return out, res


@pytest.mark.needs_kernel
def test_payloads_never_become_markup_in_any_report(evil_reports):
    out, res = evil_reports
    ran = {o.notebook: o for o in res}
    for name in ("policy_comparison", "sweep", "explorer", "role_schemes"):
        assert ran[name].status == "ok", (name, ran[name].message)
    pages = sorted(out.rglob("*.html"))
    assert out / "index.html" in pages and len(pages) >= 5
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert injected(text) == [], page.name
        assert all(a and a.strip() for a in image_alts(text)), page.name  # alt text, names in it escaped
    for executed in sorted((out / "evil").glob("*.ipynb")):  # the notebooks escape by themselves
        assert unsafe_outputs(executed) == [], executed.name
    pc = (out / "evil" / "policy_comparison.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in pc  # shown as text, not dropped


CHROMIUM_PAGES = ("index.html", "evil/policy_comparison.html", "evil/role_schemes.html", "evil/sweep.html",
                  "evil/explorer.html", "evil/calibration.html")


@pytest.mark.needs_kernel
def test_no_payload_runs_in_chromium(evil_reports):
    from test_browser import CHROMIUM, DRIVER, open_browser

    if CHROMIUM is None or DRIVER is None:
        pytest.skip("chromium and chromedriver not installed")
    out, _ = evil_reports
    with open_browser(out.parent / "profile") as drv:
        for rel in CHROMIUM_PAGES:
            page = out / rel
            if not page.exists():
                continue
            drv.get(page.as_uri())
            drv.execute_script("window.scrollTo(0, document.body.scrollHeight)")
            for a in drv.find_elements("tag name", "a"):
                href = (a.get_attribute("href") or "").lower()
                assert not href.startswith("javascript:"), (rel, href)
            assert drv.execute_script(f"return typeof window.{MARK}") == "undefined", rel


def test_render_html_shows_script_outputs_as_text():
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    c = new_code_cell("x = 1")
    c.outputs = [
        new_output("display_data", data={"text/html": PAYLOADS[1], "text/plain": "<HTML>"}),
        new_output("display_data", data={"text/markdown": PAYLOADS[2], "text/plain": "<Markdown>"}),
        new_output("display_data", data={"image/svg+xml": f"<svg onload='window.{MARK}=1'></svg>"}),
        new_output("display_data", data={"application/javascript": f"window.{MARK}=1"}),
        new_output("display_data", data={"text/html": "<table><tr><td>kept as is</td></tr></table>"}),
        new_output("display_data", data={"text/markdown": "**bold** [docs](https://example.org)"}),
    ]
    page = report.render_html(new_notebook(cells=[c]), {"scenario": PAYLOADS[0]}, title=PAYLOADS[0])
    assert injected(page) == []
    assert '&lt;img src=x onerror="window.__pwned=1"&gt;' in page  # shown as text
    assert "<td>kept as is</td>" in page and "<strong>bold</strong>" in page and 'href="https://example.org"' in page
