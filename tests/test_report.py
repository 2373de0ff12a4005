"""simlib report: parameter checks, failing notebooks, broken scenarios, offline HTML, index, CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import DEFAULT, needs_kernel

from simlib.cli import main
from simlib.report import build as report

TINY = "tiny_contract_nb"
SLEEPY = "sleepy_contract_nb"
KERNELSPEC = {"kernelspec": {"name": "simlib", "display_name": "Python (simlib)", "language": "python"}}


@pytest.fixture
def tiny(tmp_path):
    """A minimal notebook following the contract; fails on purpose when fail=True."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    p = tmp_path / "nbs" / f"{TINY}.ipynb"
    p.parent.mkdir()
    params = new_code_cell('scenario: str = "scenarios/default.yaml"\nfail: bool = False\nvalue: int = 1\nsleep: float = 0.0\noutput_json: str = ""')
    params.metadata["tags"] = ["parameters"]
    cells = [
        params,
        new_code_cell("import pandas as pd\nfrom simlib.report import notebook as nb\nimport simlib\n"
                      "scen = simlib.load_scenario(nb.resolve_path(scenario))\n"
                      "secret_code_marker = 12345\n"
                      "display(pd.DataFrame({'value': [value], 'roles': [len(scen.roles)]}))"),
        new_code_cell("if fail:\n    raise ValueError('deliberate failure for the test')"),
        new_code_cell("import time\ntime.sleep(sleep)"),
        new_code_cell("nb.save_results({'value': value, 'provenance': {'scenario_sha256': scen.sha256, 'seed_entropy': '0'}},"
                      " output_json)"),
    ]
    nb = new_notebook(cells=cells, metadata=KERNELSPEC)
    nbformat.write(nb, p)
    report.register_notebook(TINY, p, title="tiny test notebook", default=False)
    yield p
    report.REGISTRY.pop(TINY, None)


@pytest.fixture
def sleepy(tmp_path):
    """A notebook whose only work is one cell that sleeps: nothing before it can use up a cell timeout."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    p = tmp_path / "nbs" / f"{SLEEPY}.ipynb"
    p.parent.mkdir(exist_ok=True)
    params = new_code_cell("sleep: float = 0.0")
    params.metadata["tags"] = ["parameters"]
    nbformat.write(new_notebook(cells=[params, new_code_cell("import time\ntime.sleep(sleep)")], metadata=KERNELSPEC), p)
    report.register_notebook(SLEEPY, p, title="sleepy test notebook", default=False)
    yield p
    report.REGISTRY.pop(SLEEPY, None)


def test_parse_param_reads_yaml_values_and_notebook_prefix():
    assert report.parse_param("trials=50") == (None, "trials", 50)
    assert report.parse_param("sweep.target_levels=[0.9, 1.1]") == ("sweep", "target_levels", [0.9, 1.1])
    assert report.parse_param("role=key_account") == (None, "role", "key_account")
    assert report.parse_param("show_widgets=false") == (None, "show_widgets", False)
    with pytest.raises(report.ReportError, match="expected key=value"):
        report.parse_param("no-equals-sign")


def test_unknown_parameter_is_an_error_before_anything_runs(tmp_path):
    with pytest.raises(report.ReportError, match="no selected notebook declares 'bogus'"):
        report.build_reports([DEFAULT], ["sweep"], out=tmp_path, params=["bogus=1"], progress=False)
    with pytest.raises(report.ReportError, match="'trials'.*expected int.*got str"):
        report.build_reports([DEFAULT], ["sweep"], out=tmp_path, params=["sweep.trials=many"], progress=False)
    with pytest.raises(report.ReportError, match="unknown notebook"):
        report.build_reports([DEFAULT], ["nope"], out=tmp_path, progress=False)
    with pytest.raises(report.ReportError, match="no such file"):
        report.build_reports([tmp_path / "missing.yaml"], ["sweep"], out=tmp_path, progress=False)
    with pytest.raises(report.ReportError, match=r"notebook 'policy_comparison', parameter plans: unknown plan\(s\) "
                                                 r"\['harder_targt'\]; the scenario .*default.yaml has \["):
        report.build_reports([DEFAULT], ["policy_comparison"], out=tmp_path, progress=False,
                             params=["policy_comparison.plans=[current, harder_targt]"])
    with pytest.raises(report.ReportError, match=r"parameter base_plan: unknown plan\(s\) \['nope'\]"):
        report.build_reports([DEFAULT], ["sweep"], out=tmp_path, params=["sweep.base_plan=nope"], progress=False)
    assert not (tmp_path / "index.html").exists()


def test_cli_reports_parameter_errors_without_traceback(tmp_path, capsys):
    code = main(["report", str(DEFAULT), "--notebooks", "sweep", "--out", str(tmp_path), "--param", "sweep.seed=abc",
                 "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1 and "simlib report: error:" in err and "'seed'" in err and "Traceback" not in err


def test_broken_scenario_fails_with_the_field_named(tmp_path, capsys):
    bad = tmp_path / "broken.yaml"
    text = DEFAULT.read_text().replace("headcount: 120", "headcount: -5", 1)
    bad.write_text(text)
    code = main(["report", str(bad), "--notebooks", "sweep", "--out", str(tmp_path / "out"), "--no-progress"])
    cap = capsys.readouterr()
    assert code == 1
    assert "broken.yaml" in cap.err and "roles.telesales.headcount" in cap.err
    index = (tmp_path / "out" / "index.html").read_text()
    assert "failed" in index and "roles.telesales.headcount" in index


def test_render_html_hides_code_embeds_figures_and_needs_no_network():
    import base64
    import io

    from matplotlib.figure import Figure
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    fig = Figure(figsize=(2, 2))
    fig.subplots().plot([0, 1], [1, 0])
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    png = base64.b64encode(buf.getvalue()).decode()
    c = new_code_cell("very_secret_source_line = 1")
    c.outputs = [new_output("display_data", data={"image/png": png, "text/plain": "<Figure>"}),
                 new_output("display_data", data={"text/html": "<table><tr><td>cell</td></tr></table>"}),
                 new_output("stream", name="stderr", text="noisy warning\n")]
    html = report.render_html(new_notebook(cells=[c]), {"scenario sha256": "abc123", "seed": 7}, title="t")
    assert "very_secret_source_line" not in html and "noisy warning" not in html
    assert f"data:image/png;base64,{png[:40]}" in html
    assert "abc123" in html and "<td>cell</td>" in html
    remote = re.findall(r"<(?:script|link)[^>]*(?:src|href)=[\"']https?://", html)
    assert remote == []


def test_every_figure_of_a_page_has_alt_text_saying_what_it_shows():
    """A figure shown through ``nb.show`` carries its titles as the image's alt text (escaped); one displayed
    some other way still gets a non-empty alt."""
    import base64
    import io

    from conftest import image_alts
    from matplotlib.figure import Figure
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    from simlib.report.notebook import figure_alt

    fig = Figure(figsize=(4, 2))
    fig.suptitle("Pay under <b>A & B</b>")
    left, right = fig.subplots(1, 2)
    left.set_title("telesales")
    right.set_title("key accounts")
    assert figure_alt(fig) == "Pay under <b>A & B</b>: telesales; key accounts"
    bare = Figure()
    ax = bare.subplots()
    ax.set(xlabel="attainment", ylabel="payout")
    assert figure_alt(bare) == "payout against attainment" and figure_alt(Figure()) == "Figure"
    ax.set_title("telesales")
    assert figure_alt(bare) == "payout against attainment: telesales"
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    png = base64.b64encode(buf.getvalue()).decode()
    c = new_code_cell("x = 1")
    c.outputs = [new_output("display_data", data={"image/png": png, "text/plain": "<Image>"},
                            metadata={"image/png": {"alt": figure_alt(fig)}}),
                 new_output("display_data", data={"image/png": png, "text/plain": "<Figure>"})]
    page = report.render_html(new_notebook(cells=[c]), {"seed": 7}, title="t")
    assert image_alts(page) == [figure_alt(fig), "Figure without a description"]
    assert "<b>A" not in page and f"data:image/png;base64,{png[:40]}" in page


@needs_kernel
def test_failing_notebook_keeps_earlier_good_report(tiny, tmp_path, capsys):
    out = tmp_path / "out"
    ok = report.build_reports([DEFAULT], [TINY], out=out, progress=False, params=["value=7"])
    assert ok[0].status == "ok", ok[0].message
    html_path = out / "default" / f"{TINY}.html"
    good_html = html_path.read_bytes()
    good_log = (out / "default" / f"{TINY}.log").read_bytes()
    assert json.loads((out / "default" / f"{TINY}.json").read_text())["value"] == 7
    page = good_html.decode()
    assert "secret_code_marker" not in page  # code hidden
    assert "value" in page and "7" in page and "scenario sha256" in page
    assert "Traceback" not in page

    code = main(["report", str(DEFAULT), "--notebooks", TINY, "--out", str(out), "--no-progress",
                 "--param", "fail=true", "--param", "value=8"])
    err = capsys.readouterr().err
    assert code == 1
    assert "ValueError: deliberate failure for the test" in err and "cell" in err
    assert html_path.read_bytes() == good_html  # earlier good report intact
    assert (out / "default" / f"{TINY}.log").read_bytes() == good_log  # and its log
    assert "deliberate failure" in (out / "default" / f"{TINY}.failed.log").read_text()
    manifest = {e["notebook"]: e for e in json.loads((out / "manifest.json").read_text())}
    assert manifest[TINY]["log"].endswith(f"{TINY}.failed.log")
    assert json.loads((out / "default" / f"{TINY}.json").read_text())["value"] == 7
    failed = out / "default" / f"{TINY}.failed.ipynb"
    assert failed.exists()  # kept for debugging
    import nbformat

    nb = nbformat.read(failed, as_version=4)
    assert any(o.get("ename") == "ValueError" for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    index = (out / "index.html").read_text()
    assert "failed" in index and "previous good report" in index and f"{TINY}.html" in index
    assert not list((out / "default").glob(".*"))  # no temporary leftovers


@needs_kernel
def test_per_cell_timeout_names_the_cell(sleepy, tmp_path):
    # only the parameter cells run before the sleeping cell, and they are plain assignments: the
    # timeout can only fire in the sleeping cell, which sleeps far longer than the timeout
    timeout, sleep = 10, 300
    res = report.build_reports([DEFAULT], [SLEEPY], out=tmp_path, progress=False, timeout=timeout,
                               params=[f"sleep={sleep}"])
    o = res[0]
    assert o.status == "failed", o.message
    assert f"timeout of {timeout} s" in o.message
    # cell 2 of the executed notebook: papermill puts the injected parameters after the parameters cell
    assert "cell 2 of the executed notebook (source: import time; time.sleep(sleep))" in o.message
    assert Path(o.ipynb).exists() and not (tmp_path / "default" / f"{SLEEPY}.html").exists()


def test_unreadable_notebook_is_named_with_its_parse_error(tmp_path, monkeypatch):
    shelf = tmp_path / "nbs"
    shelf.mkdir()
    (shelf / "half_written.ipynb").write_text('{"cells": [')
    monkeypatch.setattr(report, "NOTEBOOK_DIR", shelf)
    broken: dict[str, str] = {}
    assert "half_written" not in report.discover_notebooks(broken=broken)
    assert "half_written.ipynb" in broken["half_written"]
    with pytest.raises(report.ReportError, match=r"notebook 'half_written' cannot be read: .*half_written\.ipynb: "
                                                 r"\w+(Error|Exception)"):
        report.build_reports([DEFAULT], ["half_written"], out=tmp_path / "out", progress=False)
    # registered from elsewhere: the contract check names it too
    report.register_notebook("elsewhere_broken", shelf / "half_written.ipynb", default=False)
    try:
        with pytest.raises(report.ReportError, match=r"half_written\.ipynb cannot be read"):
            report.build_reports([DEFAULT], ["elsewhere_broken"], out=tmp_path / "out", progress=False)
    finally:
        report.REGISTRY.pop("elsewhere_broken", None)


@needs_kernel
def test_second_report_into_a_busy_folder_is_refused(tiny, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    with report._flock(out / report.RUN_LOCK, wait=False):  # what a running `simlib report` holds
        with pytest.raises(report.ReportError, match=r"another simlib report is writing to .*out.*--out.*process \d+"):
            report.build_reports([DEFAULT], [TINY], out=out, progress=False)
    assert not (out / "default").exists()
    res = report.build_reports([DEFAULT], [TINY], out=out, progress=False)  # free again
    assert res[0].status == "ok", res[0].message


_MANIFEST_WRITER = """
import sys
from pathlib import Path
from simlib.report import build
out, tag = Path(sys.argv[1]), sys.argv[2]
for i in range(150):
    build._merge_manifest(out, [build.Outcome("s.yaml", f"{tag}{i}", "ok")])
"""


def test_concurrent_manifest_updates_keep_every_entry(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(Path(report.__file__).resolve().parents[2])}
    procs = [subprocess.Popen([sys.executable, "-c", _MANIFEST_WRITER, str(tmp_path), tag], env=env)
             for tag in ("a", "b")]
    for p in procs:
        assert p.wait(timeout=600) == 0  # hang guard only
    names = {e["notebook"] for e in json.loads((tmp_path / "manifest.json").read_text())}
    assert names == {f"{t}{i}" for t in "ab" for i in range(150)}


_SLEEPY_RUN = """
import sys
from simlib.cli import main
from simlib.report import build
build.register_notebook("{name}", sys.argv[1], default=False)
sys.exit(main(["report", sys.argv[2], "--notebooks", "{name}", "--out", sys.argv[3], "--no-progress",
               "--param", "sleep=" + sys.argv[4]]))
"""


def _start_sleepy(nb: Path, out: Path, sleep: float):
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(Path(report.__file__).resolve().parents[2])}
    return subprocess.Popen([sys.executable, "-c", _SLEEPY_RUN.format(name=SLEEPY), str(nb), str(DEFAULT), str(out),
                             str(sleep)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(cond, proc, limit: float = 300.0) -> None:
    """Poll ``cond()`` until true; fail if ``proc`` exits first or after ``limit`` seconds (hang guard)."""
    import time

    t0 = time.monotonic()
    while not cond():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() - t0 < limit, "hang guard"
        time.sleep(0.2)


@needs_kernel
@pytest.mark.parametrize("when", ["folder_exists", "cell_running"])
def test_sigterm_removes_the_temporary_folder_and_keeps_the_good_report(sleepy, tmp_path, when):
    import signal

    out = tmp_path / "out"
    first = _start_sleepy(sleepy, out, 0)
    assert first.wait(timeout=600) == 0, first.communicate()
    dest = out / "default"
    good = {f: (dest / f).read_bytes() for f in (f"{SLEEPY}.html", f"{SLEEPY}.log")}

    proc = _start_sleepy(sleepy, out, 600)

    def started():  # the temporary folder exists (and, for cell_running, the kernel runs the sleeping cell)
        logs = list(dest.glob(f".{SLEEPY}.*/run.log"))
        return bool(logs) and (when == "folder_exists" or "Executing Cell 3" in logs[0].read_text())

    _wait_for(started, proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=300)  # hang guard only
    assert proc.returncode not in (0, None)
    assert "interrupted" in err
    assert not list(dest.glob(f".{SLEEPY}.*")), "temporary folder left behind"
    assert {f: (dest / f).read_bytes() for f in good} == good
    assert (dest / f"{SLEEPY}.failed.log").exists()
    with report._flock(out / report.RUN_LOCK, wait=False):  # lock released: a new run may start
        pass


@needs_kernel
def test_role_schemes_runs_on_the_common_plan_named_by_param(tmp_path, monkeypatch):
    """Without a plan 'one_plan_for_all' the role-schemes report is skipped, naming the plan it looked for; with
    ``--param role_schemes.common_plan=PLAN`` naming a plan the scenario has, it runs on that plan."""
    mechanics = DEFAULT.parent / "mechanics.yaml"
    ran = []

    def fake_run(sp, key, scen, spec, params, contract, out, **kw):  # stands in for papermill
        ran.append(params)
        return report.Outcome(str(sp), spec.name, "failed", message="not run in this test", title=spec.title)

    monkeypatch.setattr(report, "_run_one", fake_run)
    (o,) = report.build_reports([mechanics], ["role_schemes"], out=tmp_path, progress=False)
    assert o.status == "skipped" and "no plan 'one_plan_for_all'" in o.message and "common_plan" in o.message
    assert ran == []
    (o,) = report.build_reports([mechanics], ["role_schemes"], out=tmp_path, progress=False,
                                params=["role_schemes.common_plan=guarantee"])
    assert o.status != "skipped" and ran and ran[-1]["common_plan"] == "guarantee"


def test_a_report_asking_for_more_than_the_limits_is_refused_before_any_notebook_runs(tmp_path, capsys, monkeypatch):
    """`simlib report --trials 1000000000` started every notebook's kernel, each failing in a cell, and the
    calibration notebook ran on for more than 10 minutes (its fit is not bounded by the engine's check): a report
    is bounded as `simlib run` is, each notebook's counts checked before anything runs."""
    def started(*a, **k):
        raise AssertionError("a notebook was started")

    monkeypatch.setattr(report, "_run_jobs", started)
    with pytest.raises(report.ReportError, match=r"notebook 'sweep', parameter trials: 1,000,000,000 is more than "
                                                 r"the 10,000,000"):
        report.build_reports([DEFAULT], ["sweep"], out=tmp_path, trials=10**9, progress=False)
    with pytest.raises(report.ReportError, match=r"notebook 'calibration', parameter bootstrap: 1,000,000 is more "
                                                 r"than the 10,000"):
        report.build_reports([DEFAULT], ["calibration"], out=tmp_path, params=["calibration.bootstrap=1000000"],
                             progress=False)
    # within the trials limit but past the rep-months limit: every plan of the scenario, every grid point
    with pytest.raises(report.ReportError, match=r"notebook 'sweep', parameter trials: 9,000,000 trials x .* reps "
                                                 r"x 12 months x .* plan\(s\) x 18 point\(s\) simulate .* rep-months"):
        report.build_reports([DEFAULT], ["sweep"], out=tmp_path, params=["sweep.trials=9000000"], progress=False)
    code = main(["report", str(DEFAULT), "--notebooks", "org", "--out", str(tmp_path), "--trials", "1000000000",
                 "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1 and "parameter trials: 1,000,000,000" in err and "Traceback" not in err
    assert not list(tmp_path.iterdir())  # nothing written: not even index.html
