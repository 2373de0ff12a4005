"""``simlib report``: run scenario notebooks with papermill and render shareable HTML.

For each scenario and each selected notebook the report machinery

1. checks the parameters it will pass against the notebook's contract
   (:func:`papermill.inspect_notebook`): an unknown name or a value of the
   wrong type is an error before anything runs;
2. executes the notebook with papermill on the named kernel (``simlib``),
   with a per-cell timeout, logging every cell's output to ``<name>.log``;
3. renders the executed notebook to a self-contained HTML file (code hidden,
   figures embedded as base64 PNG, no script or style fetched from the
   network) headed by a provenance block (parameters, seed, versions,
   scenario hash);
4. keeps the notebook's key-results JSON (written by
   :func:`simlib.report.notebook.save_results`) beside the report;
5. writes ``index.html`` linking every report.

Every file is written to a temporary name and moved into place only when the
notebook succeeded, so a failing run leaves the previous good report intact;
the failed executed notebook is kept as ``<name>.failed.ipynb``, its log as
``<name>.failed.log``, and the error names the failing cell. The temporary
folder (``<out>/<scenario>/.<name>.XXXX/``) is removed on failure, on any
exception, on Ctrl-C and on SIGTERM.

One run at a time writes to an output folder: a run holds an ``fcntl.flock``
on ``<out>/.simlib-report.lock``, and a second ``simlib report`` into the
same folder is refused at once with a message naming the holder's process
(it does not wait). ``manifest.json`` is updated read-modify-write under its
own lock (``<out>/.manifest.lock``).

Everything a scenario, history or parameter holds is escaped in the pages:
notebooks use :func:`simlib.report.notebook.md_text` in Markdown displays and
:func:`simlib.report.notebook.escape_frame` under pandas Stylers; the
provenance header and ``index.html`` escape every value.

Notebook contract (see :mod:`simlib.report.notebook`): one cell tagged
``parameters`` of plain literals, including ``output_json``. Any notebook in
``notebooks/`` following it is picked up; :data:`REGISTRY` says how the
built-in ones are parameterised per scenario, and :func:`register_notebook`
adds or overrides entries.
"""

from __future__ import annotations

import ast
import contextlib
import datetime as _dt
import json
import logging
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from simlib.errors import ScenarioError, SimlibError
from simlib.io import SHIPPED, jsonable, resolve_path, write_atomic

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no folder locking
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "NotebookSpec",
    "REGISTRY",
    "register_notebook",
    "discover_notebooks",
    "notebook_contract",
    "check_parameters",
    "parse_param",
    "render_html",
    "build_reports",
    "ReportError",
    "ReportInterrupted",
    "Outcome",
    "DEFAULT_SCENARIOS",
    "KERNEL",
]

#: kernel the notebooks run on (registered by ``make setup``)
KERNEL = "simlib"
#: notebooks directory
NOTEBOOK_DIR = SHIPPED / "notebooks"
#: scenarios reported when none are given
DEFAULT_SCENARIOS = ("scenarios/default.yaml",)
#: default per-cell timeout, seconds
CELL_TIMEOUT = 600

#: names the report fills from its own options when a notebook declares them
COMMON = ("scenario", "trials", "seed", "behaviour", "output_json")
#: parameter names that take the scenario path (the first one a notebook declares is used)
SCENARIO_PARAMS = ("scenario", "scenario_path", "scenario_file")


class ReportError(SimlibError):
    """A report could not be produced (bad parameter, failed notebook, missing kernel...)."""


class ReportInterrupted(KeyboardInterrupt):
    """SIGTERM stopped ``simlib report``: raised like Ctrl-C so every clean-up step runs."""


# ----------------------------------------------------------------------
# Registry
# ----------------------------------------------------------------------


@dataclass
class NotebookSpec:
    """How one notebook is run for a scenario.

    Attributes
    ----------
    name : str
        Report name (the notebook's file stem).
    path : Path
        The notebook.
    title : str
        Heading in the index.
    default : bool
        Run when no ``--notebooks`` are given.
    trials : int or None
        Trials for a report run (``--trials`` overrides); None = the notebook's default.
    params : callable or None
        ``params(scenario) -> dict`` of extra parameters for this scenario.
    applies : callable or None
        ``applies(scenario, params) -> str | None``: a reason to skip this scenario, or None to run;
        ``params`` are the parameters the notebook would run with (its defaults, then the report's,
        :attr:`params` and ``--param`` values), so the check reads the plans the notebook will use.
    auto : callable or None
        ``auto(scenario) -> bool``: whether a default notebook runs for this scenario when
        notebooks are not named (``--notebooks``); None: for every scenario. A notebook named
        explicitly runs for every scenario ``applies`` accepts.
    """

    name: str
    path: Path
    title: str = ""
    default: bool = True
    trials: int | None = None
    params: Callable[[Any], dict[str, Any]] | None = None
    applies: Callable[[Any], str | None] | None = None
    auto: Callable[[Any], bool] | None = None



# the notebook helpers and page templates load pandas and the engine: imported when a report is built,
# so that ``simlib --help`` and the other commands start light
def render(template: str, **context: Any) -> str:
    """:func:`simlib.report.summary.render`."""
    from simlib.report.summary import render as _render

    return _render(template, **context)


def shown_path(path: Any) -> str:
    """:func:`simlib.report.notebook.shown_path`."""
    from simlib.report.notebook import shown_path as _shown

    return _shown(path)


def versions() -> dict[str, str]:
    """:func:`simlib.report.notebook.versions`."""
    from simlib.report.notebook import versions as _versions

    return _versions()

def _role_schemes_applies(scen, params: Mapping[str, Any]) -> str | None:
    common = params.get("common_plan") or "one_plan_for_all"  # the notebook's parameter, as it will run
    if common not in scen.plans:
        return (f"the scenario has no plan '{common}' to compare the role-specific plan with "
                "(--param role_schemes.common_plan=PLAN names another)")
    return None


def _calibration_applies(scen, params: Mapping[str, Any]) -> str | None:
    """Without a history of one's own the notebook fits one synthetic year: none of its roles can have enough reps."""
    from simlib.fit.calibrate import MIN_FULL_REP_YEARS

    if params.get("history_path"):
        return None
    fitted = [r.headcount for r in scen.roles.values() if r.credited_on is None]
    if fitted and max(fitted) < MIN_FULL_REP_YEARS:
        return (f"every role has fewer than {MIN_FULL_REP_YEARS} reps ({max(fitted)} at most), so one synthetic year "
                f"has too few rep-years to fit (calibration needs {MIN_FULL_REP_YEARS} with a full year); "
                "--param calibration.history_path=FILE calibrates a history of your own")
    return None


def _role_schemes_params(scen) -> dict[str, Any]:
    return {"role_plan": scen.current_plan}


def _explorer_params(scen) -> dict[str, Any]:
    role = "telesales" if "telesales" in scen.roles else next(iter(scen.roles))
    return {"role": role, "show_widgets": False}


#: built-in notebooks (name -> spec); others in notebooks/ are discovered
REGISTRY: dict[str, NotebookSpec] = {}


def register_notebook(
    name: str,
    path: str | os.PathLike | None = None,
    *,
    title: str = "",
    default: bool = True,
    trials: int | None = None,
    params: Callable[[Any], dict[str, Any]] | None = None,
    applies: Callable[[Any], str | None] | None = None,
    auto: Callable[[Any], bool] | None = None,
) -> NotebookSpec:
    """Add (or replace) a notebook in the report registry.

    Parameters
    ----------
    name : str
        Report name; ``path`` defaults to ``notebooks/<name>.ipynb``.
    title, default, trials, params, applies, auto
        See :class:`NotebookSpec`.
    """
    spec = NotebookSpec(name, Path(path) if path else NOTEBOOK_DIR / f"{name}.ipynb", title or name.replace("_", " "),
                        default, trials, params, applies, auto)
    REGISTRY[name] = spec
    return spec


register_notebook("policy_comparison", title="Policy comparison: candidate plans vs the current plan", trials=1000)
register_notebook("sweep", title="Target level x team weighting sweep", trials=200)
register_notebook("role_schemes", title="Role-specific schemes vs one plan for everyone", trials=1000,
                  params=_role_schemes_params, applies=_role_schemes_applies)
register_notebook("explorer", title="Plan explorer (snapshot; interactive in JupyterLab)", trials=300,
                  params=_explorer_params)
# several years with attrition and backfill; opt-in (--notebooks people_years) to keep the default report short
register_notebook("people_years", title="The plan over three years: people and money", default=False, trials=100)
# our own organisation (roster, history): by default only for scenarios naming a roster, so the default report stays as it was
register_notebook("org", title="Our organisation under the candidate plans: replay, reps and teams", trials=500,
                  auto=lambda scen: scen.roster is not None)
# owned by the calibration work; it takes the scenario as ``scenario_path`` and keeps its own trial count
register_notebook("calibration", title="Calibration: model parameters fitted to rep-level history",
                  applies=_calibration_applies)


def discover_notebooks(directory: str | os.PathLike | None = None,
                       broken: dict[str, str] | None = None) -> dict[str, NotebookSpec]:
    """Registered notebooks plus every other notebook in ``directory`` that has a ``parameters`` cell.

    Files whose names start with ``_`` or ``.`` and papermill outputs are ignored.

    Parameters
    ----------
    directory : path, optional
        Default :data:`NOTEBOOK_DIR`.
    broken : dict, optional
        Filled with name -> "<path>: <parse error>" for every notebook (registered or
        found) that cannot be read; those are not offered.
    """
    d = Path(directory) if directory else NOTEBOOK_DIR
    specs = {k: v for k, v in REGISTRY.items() if v.path.exists()}
    for f in sorted(d.glob("*.ipynb")):
        if f.name.startswith(("_", ".")) or f.stem.endswith((".failed", "-output", "_output")):
            continue
        try:
            if _parameters_cell(f) is None:
                continue
        except Exception as exc:  # noqa: BLE001 - any read/parse error: reported by name, not offered
            specs.pop(f.stem, None)
            if broken is not None:
                broken[f.stem] = f"{f}: {type(exc).__name__}: {_first_line(exc)}"
            continue
        specs.setdefault(f.stem, NotebookSpec(f.stem, f, f.stem.replace("_", " ")))
    return specs


def _first_line(exc: BaseException) -> str:
    """The first non-blank line of an exception's message."""
    return next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), "")


def _parameters_cell(path: Path):
    import nbformat

    nb = nbformat.read(path, as_version=4)
    for c in nb.cells:
        if c.cell_type == "code" and "parameters" in c.get("metadata", {}).get("tags", []):
            return c
    return None


# ----------------------------------------------------------------------
# Parameter contract
# ----------------------------------------------------------------------

_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (int, float),
    "str": (str,),
    "bool": (bool,),
    "list": (list, tuple),
    "dict": (dict,),
}


def notebook_contract(path: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """The notebook's parameters: name -> {type, default (Python value), help}.

    The type is the annotation of the parameter (``trials: int = 500``) or,
    without one, the type of its literal default.

    Raises
    ------
    ReportError
        If the notebook cannot be read (the parse error is named) or has no
        cell tagged ``parameters``.
    """
    import papermill as pm

    p = Path(path)
    try:
        cell = _parameters_cell(p)
    except Exception as exc:  # noqa: BLE001 - any read/parse error names the notebook
        raise ReportError(f"notebook {p} cannot be read: {type(exc).__name__}: {_first_line(exc)}") from None
    if cell is None:
        raise ReportError(f"{p}: no cell tagged 'parameters' (the notebook contract needs one)")
    out = {}
    logging.getLogger("papermill.translators").setLevel(logging.ERROR)
    for name, info in pm.inspect_notebook(str(p)).items():
        try:
            default = ast.literal_eval(info["default"])
        except (ValueError, SyntaxError):
            default = info["default"]
        t = info.get("inferred_type_name") or "None"
        if t not in _TYPES:
            t = {bool: "bool", int: "int", float: "float", str: "str", list: "list", dict: "dict"}.get(type(default), "any")
        out[name] = {"type": t, "default": default, "help": info.get("help", "")}
    return out


def check_parameters(name: str, contract: Mapping[str, Mapping[str, Any]], params: Mapping[str, Any]) -> dict[str, Any]:
    """Check parameters against a notebook's contract.

    Integers are accepted where a float is declared (and converted);
    everything else must match the declared type.

    Raises
    ------
    ReportError
        Listing every unknown name (with the names the notebook declares) and
        every value of the wrong type (with the expected type and default).
    """
    problems = []
    out = {}
    for k, v in params.items():
        if k not in contract:
            problems.append(f"unknown parameter '{k}'; notebook '{name}' declares: {', '.join(contract)}")
            continue
        t = contract[k]["type"]
        ok = t == "any" or (isinstance(v, _TYPES[t]) and not (t in ("int", "float") and isinstance(v, bool)))
        if not ok:
            problems.append(f"parameter '{k}' of notebook '{name}': expected {t} (default {contract[k]['default']!r}), "
                            f"got {type(v).__name__} {v!r}")
            continue
        out[k] = float(v) if t == "float" else (list(v) if t == "list" else v)
    if problems:
        raise ReportError("; ".join(problems))
    return out


def parse_param(text: str) -> tuple[str | None, str, Any]:
    """Parse ``[notebook.]key=value``; the value is read as YAML (``3``, ``0.5``, ``[a, b]``, ``true``, text).

    Returns
    -------
    (notebook or None, key, value)
    """
    import yaml

    key, eq, raw = text.partition("=")
    key = key.strip()
    if not eq or not re.fullmatch(r"([A-Za-z_]\w*\.)?[A-Za-z_]\w*", key):
        raise ReportError(f"--param {text!r}: expected key=value or notebook.key=value")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ReportError(f"--param {text!r}: the value is not valid YAML ({exc.__class__.__name__})") from None
    nb, _, k = key.rpartition(".")
    return (nb or None), k, value


# ----------------------------------------------------------------------
# HTML
# ----------------------------------------------------------------------

_REMOTE_TAG = re.compile(r"<script[^>]*\bsrc=[\"']https?://[^>]*>\s*</script>|<link[^>]*\bhref=[\"']https?://[^>]*>", re.I)
_MATHJAX_BLOCK = re.compile(r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->", re.S)
_MERMAID_BLOCK = re.compile(r"<script type=\"module\">(?:(?!</script>).)*?mermaid(?:(?!</script>).)*</script>", re.S)


def _header_html(meta: Mapping[str, Any]) -> str:
    """The provenance block of a report page (collapsed; values escaped by the template)."""
    rows = [(str(k), v if isinstance(v, str) else json.dumps(jsonable(v))) for k, v in meta.items()]
    return render("provenance.html.j2", title="How this report was produced", rows=rows)


#: the page template of an executed notebook (JupyterLab's, with each figure's alt text), in ``report/templates``
_PAGE_TEMPLATE = "notebook_page.html.j2"


def _page_loader():
    """A Jinja2 loader holding :data:`_PAGE_TEMPLATE` alone (the folder's other templates are not nbconvert's)."""
    from importlib.resources import files

    import jinja2

    text = files("simlib.report").joinpath("templates", _PAGE_TEMPLATE).read_text(encoding="utf-8")
    return jinja2.DictLoader({_PAGE_TEMPLATE: text})


def render_html(nb, meta: Mapping[str, Any] | None = None, title: str = "") -> str:
    """Render an executed notebook to self-contained HTML.

    Code cells' inputs and prompts are hidden, stderr streams dropped (they
    are in the log), figures stay embedded as base64 PNG, each with the alt
    text :func:`simlib.report.notebook.show` gave it, remote scripts and
    stylesheets are removed so the page needs no network, and a provenance
    block (``meta``), collapsed, ends the page in place of the notebook's own
    (an output marked :data:`simlib.report.notebook.PROVENANCE_MARK`). A
    stylesheet fits the page to 1,280 px screens and A4 paper. As a second line of defence behind the
    notebooks' own escaping, an output that would put live script in the
    page (see :func:`_neutralise_output`) is shown as plain text.
    """
    import copy

    import nbformat
    from nbconvert import HTMLExporter

    from simlib.report.notebook import PROVENANCE_MARK as mark

    nb = copy.deepcopy(nb)
    for c in nb.cells:
        if c.cell_type == "code":
            c.outputs = [o for o in c.get("outputs", []) if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]
            for o in c.outputs:
                _neutralise_output(o)
            c.outputs = [o for o in c.outputs if o.get("output_type") not in ("display_data", "execute_result")
                         or o.get("data")]
            if meta:
                c.outputs = [o for o in c.outputs if mark not in _html_of(o)]
    if meta:
        nb.cells.append(nbformat.v4.new_markdown_cell(_header_html(meta)))
    nb.metadata["title"] = title or nb.metadata.get("title", "simlib report")
    exporter = HTMLExporter(template_name="lab", template_file=_PAGE_TEMPLATE, extra_loaders=[_page_loader()],
                            exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True,
                            embed_images=True)
    body, _ = exporter.from_notebook_node(nb)
    body = _MERMAID_BLOCK.sub("", _MATHJAX_BLOCK.sub("", body))
    # fit 1,280 px screens and A4 paper; a table still too wide scrolls inside the page, not the page
    body = body.replace("</head>", render("style.html.j2") + "\n</head>", 1)
    return _REMOTE_TAG.sub("", body)


class _ScriptFinder(HTMLParser):
    """Finds markup that runs script: script-like elements, ``on*`` attributes, ``javascript:`` URLs."""

    TAGS = frozenset({"script", "iframe", "object", "embed", "base", "frame", "frameset", "applet", "meta"})
    URL_ATTRS = frozenset({"href", "src", "action", "formaction", "xlink:href", "data", "srcdoc", "background"})

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.live = False

    def handle_starttag(self, tag, attrs):
        if tag in self.TAGS:
            self.live = True
        for name, value in attrs:
            url = re.sub(r"[\x00-\x20]+", "", value or "").lower()
            if name.startswith("on") or (name in self.URL_ATTRS and url.startswith(("javascript:", "vbscript:"))):
                self.live = True

    handle_startendtag = handle_starttag


def _runs_script(page: str) -> bool:
    """Whether an HTML fragment holds markup that runs script (see :class:`_ScriptFinder`)."""
    finder = _ScriptFinder()
    finder.feed(page)
    finder.close()
    return finder.live


def _neutralise_output(output) -> None:
    """Make one cell output safe to put in a shared page, in place.

    ``application/javascript`` is dropped; an HTML, Markdown (as rendered)
    or SVG output that would run script is replaced by its source as plain
    text, so it shows instead of running. Outputs without such markup are
    left exactly as they are.
    """
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    data = output.get("data")
    if not data:
        return
    data.pop("application/javascript", None)
    for mime in ("text/html", "text/markdown", "image/svg+xml"):
        if mime not in data:
            continue
        text = data[mime] if isinstance(data[mime], str) else "".join(data[mime])
        if _runs_script(markdown2html_mistune(text) if mime == "text/markdown" else text):
            data.clear()
            data["text/plain"] = text
            return


def _html_of(output) -> str:
    """The HTML text of one cell output ("" when it has none)."""
    text = (output.get("data") or {}).get("text/html", "")
    return text if isinstance(text, str) else "".join(text)


# ----------------------------------------------------------------------
# Running
# ----------------------------------------------------------------------


@dataclass
class Outcome:
    """What happened to one notebook for one scenario."""

    scenario: str
    notebook: str
    status: str  # ok | failed | skipped
    html: str | None = None
    json: str | None = None
    ipynb: str | None = None
    log: str | None = None
    message: str = ""
    seconds: float = 0.0
    parameters: dict[str, Any] = field(default_factory=dict)
    finished: str = ""
    title: str = ""


def _check_kernel(kernel: str) -> None:
    from jupyter_client.kernelspec import KernelSpecManager

    specs = KernelSpecManager().find_kernel_specs()
    if kernel not in specs:
        raise ReportError(
            f"Jupyter kernel '{kernel}' is not installed (found: {', '.join(sorted(specs)) or 'none'}); "
            f"run `make setup`, or `{sys.executable} -m ipykernel install --sys-prefix --name {kernel}`")


def _scenario_key(path: Path) -> str:
    return re.sub(r"[^\w.-]+", "_", path.stem)


def _plan_jobs(scen_paths, specs, selected, trials, seed, behaviour, cli_params, requested: bool = False):
    """Check everything that can be checked before running; return jobs and skipped outcomes.

    Parameters
    ----------
    scen_paths : list of Path
        Scenario files.
    specs : dict name -> NotebookSpec
    selected : list of str
        The notebooks to run for each scenario.
    trials, seed, behaviour
        The report's options (None: the notebook's own default).
    cli_params : list of (notebook or None, key, value)
        ``--param`` values.
    requested : bool
        The notebooks were named (``--notebooks``): a spec's ``auto`` condition is not applied.

    Returns
    -------
    jobs : list of (path, key, Scenario, NotebookSpec, params, contract)
        One per scenario and notebook to run, in that order.
    skipped : list of Outcome
        Invalid scenarios (failed) and notebooks that do not apply to a scenario (skipped).

    Raises
    ------
    ReportError
        A ``--param`` no selected notebook declares, or parameters a notebook's contract rejects.
    """
    from simlib.scenario import load_scenario

    jobs, skipped = [], []
    contracts = {n: notebook_contract(specs[n].path) for n in selected}
    _check_param_targets(cli_params, selected, contracts)
    for sp in scen_paths:
        key = _scenario_key(sp)
        try:
            scen = load_scenario(sp)
        except ScenarioError as exc:
            for n in selected:
                skipped.append(Outcome(str(sp), n, "failed", message=f"invalid scenario: {exc}", title=specs[n].title))
            continue
        for n in selected:
            spec, contract = specs[n], contracts[n]
            if not requested and spec.auto is not None and not spec.auto(scen):
                continue  # not part of this scenario's default report
            params = _job_params(n, spec, contract, sp, scen, trials, seed, behaviour, cli_params)
            _check_plan_names(n, params, scen, sp)
            defaults = {k: info.get("default") for k, info in contract.items()}
            _check_sizes(n, {**defaults, **params}, scen, sp)
            reason = spec.applies(scen, {**defaults, **params}) if spec.applies else None
            if reason:
                skipped.append(Outcome(str(sp), n, "skipped", message=reason, title=spec.title))
                continue
            jobs.append((sp, key, scen, spec, params, contract))
    return jobs, skipped


#: notebook parameters that name plans of the scenario (a list or one name; empty: the notebook's default)
PLAN_PARAMS = ("plans", "reference", "base_plan", "role_plan", "common_plan")


def _check_plan_names(n: str, params: Mapping[str, Any], scen, sp: Path) -> None:
    """Raise :class:`ReportError` for a plan parameter naming a plan the scenario lacks, before any notebook runs."""
    for key in PLAN_PARAMS:
        value = params.get(key)
        names = value if isinstance(value, list) else [value] if isinstance(value, str) and value else []
        unknown = [str(x) for x in names if str(x) not in scen.plans]
        if unknown:
            raise ReportError(f"notebook '{n}', parameter {key}: unknown plan(s) {unknown}; the scenario {sp} has "
                              f"{sorted(scen.plans)}")


#: notebook parameters that count simulated years or refits, and the option whose limit bounds them
COUNT_PARAMS = ("trials", "rep_trials", "bootstrap")


def _check_sizes(n: str, params: Mapping[str, Any], scen, sp: Path) -> None:
    """Raise :class:`ReportError` for a notebook asking for more than a command may (trials past
    :data:`simlib.engine.core.MAX_TRIALS` or rep-months past ``MAX_REP_MONTHS``, bootstrap replicates past
    :data:`simlib.fit.calibrate.MAX_BOOTSTRAP`), before any notebook runs: a report is bounded as ``simlib run`` is."""
    from simlib.engine.core import MAX_REP_MONTHS, MAX_TRIALS, request_size
    from simlib.fit.calibrate import MAX_BOOTSTRAP

    limits = {"trials": MAX_TRIALS, "rep_trials": MAX_TRIALS, "bootstrap": MAX_BOOTSTRAP}
    for key in COUNT_PARAMS:
        v = params.get(key)
        if isinstance(v, int) and not isinstance(v, bool) and v > limits[key]:
            raise ReportError(f"notebook '{n}', parameter {key}: {v:,} is more than the {limits[key]:,} a report "
                              f"may ask for")
    t = params.get("trials")
    if not isinstance(t, int) or isinstance(t, bool):
        return
    plans = params.get("plans")
    n_plans = len(plans) if isinstance(plans, list) and plans else len(scen.plans)
    points = 1
    for key in ("target_levels", "team_weights"):  # a grid sweep simulates every point
        if isinstance(params.get(key), list):
            points *= max(len(params[key]), 1)
    size = request_size(scen, t, n_plans, points=points)  # a lower bound: years and behavioural draws add to it
    if size > MAX_REP_MONTHS:
        raise ReportError(f"notebook '{n}', parameter trials: {t:,} trials x {scen.headcount:,} reps x 12 months x "
                          f"{n_plans} plan(s) x {points:,} point(s) simulate {size:.3g} rep-months, more than the "
                          f"{MAX_REP_MONTHS:.0e} a report may ask for ({sp}); ask for fewer trials")


def _check_param_targets(cli_params, selected: Sequence[str], contracts: Mapping[str, Mapping]) -> None:
    """Raise :class:`ReportError` naming every ``--param`` that no selected notebook declares."""
    problems = []
    for nbname, key, _ in cli_params:
        if nbname is not None and nbname not in selected:
            problems.append(f"--param {nbname}.{key}: '{nbname}' is not a selected notebook ({', '.join(selected)})")
        elif nbname is None and not any(key in contracts[n] for n in selected):
            problems.append(f"--param {key}: no selected notebook declares '{key}' "
                            f"({'; '.join(f'{n}: ' + ', '.join(contracts[n]) for n in selected)})")
        elif nbname is not None and key not in contracts[nbname]:
            problems.append(f"--param {nbname}.{key}: notebook '{nbname}' declares only {', '.join(contracts[nbname])}")
    if problems:
        raise ReportError("; ".join(problems))


def _job_params(n: str, spec: NotebookSpec, contract, sp: Path, scen, trials, seed, behaviour,
                cli_params) -> dict[str, Any]:
    """The parameters notebook ``n`` runs with for one scenario, checked against its contract.

    In order, later ones winning: the scenario path, the report's trials,
    seed and behaviour, the notebook's per-scenario parameters
    (:attr:`NotebookSpec.params`), then ``--param`` values. Only names the
    notebook declares are passed.

    Raises
    ------
    ReportError
        ``output_json`` given (the report sets it), or a value the contract rejects.
    """
    params: dict[str, Any] = {}
    for name in SCENARIO_PARAMS:
        if name in contract:
            params[name] = str(sp)
            break
    t = trials if trials is not None else spec.trials
    if t is not None and "trials" in contract:
        params["trials"] = int(t)
    if seed is not None and "seed" in contract:
        params["seed"] = int(seed)
    if behaviour is not None and "behaviour" in contract:
        params["behaviour"] = behaviour
    if spec.params:
        params.update({k: v for k, v in spec.params(scen).items() if k in contract})
    for nbname, k, v in cli_params:
        if (nbname is None and k in contract) or nbname == n:
            params[k] = v
    if "output_json" in params:
        raise ReportError(f"notebook '{n}': output_json is set by the report (it writes <name>.json beside the HTML)")
    return check_parameters(n, contract, params)


def _run_one(sp: Path, key: str, scen, spec: NotebookSpec, params: dict, contract, out: Path, *, kernel: str,
             timeout: int, verbose: bool, bar) -> Outcome:
    """Execute one notebook for one scenario and put its report in place, or say why it failed.

    The notebook runs in a temporary folder under ``<out>/<key>``, removed
    whatever happens (failure, exception, Ctrl-C, SIGTERM); only a
    successful run replaces the previous report. ``timeout`` is per cell, in
    seconds. Papermill's log goes to ``<name>.log`` when the run succeeded
    and to ``<name>.failed.log`` otherwise, so the log of the last good
    report stays beside it (echoed when ``verbose``).

    Returns
    -------
    Outcome
        ``ok`` with the report's files, or ``failed`` with a message naming
        the failing cell; ``seconds`` is the wall time of the run.
    """
    import papermill as pm

    dest = out / key
    dest.mkdir(parents=True, exist_ok=True)
    failed = dest / f"{spec.name}.failed.ipynb"
    t0 = time.perf_counter()
    outcome = Outcome(str(sp), spec.name, "failed", parameters=params, title=spec.title)
    work = Path(tempfile.mkdtemp(prefix=f".{spec.name}.", dir=dest))
    detach_log = None
    try:
        tmp_json, tmp_nb = work / f"{spec.name}.json", work / f"{spec.name}.ipynb"
        run_params = {**params, **({"output_json": str(tmp_json)} if "output_json" in contract else {})}
        detach_log = _attach_papermill_log(work / "run.log", verbose)
        pm.execute_notebook(
            str(spec.path), str(tmp_nb), parameters=run_params, kernel_name=kernel, execution_timeout=timeout,
            log_output=True, progress_bar=dict(leave=False, desc=f"  {key}/{spec.name}", position=1) if bar else False,
            cwd=str(Path.cwd()),
            # the kernel's own log (start-up warnings, "ERROR | KeyboardInterrupt" at shutdown) is noise here
            extra_arguments=["--IPKernelApp.log_level=CRITICAL"],
        )
    except pm.PapermillExecutionError as exc:
        _record_cell_error(outcome, exc, tmp_nb, failed)
    except Exception as exc:  # noqa: BLE001 - kernel death, timeout, I/O: report and keep going
        _record_aborted_run(outcome, exc, tmp_nb, failed, timeout)
    else:
        _publish(outcome, sp, scen, spec, params, tmp_nb, tmp_json, dest)
    finally:
        if detach_log is not None:
            detach_log()
        _keep_log(outcome, work / "run.log", dest, spec.name)
        shutil.rmtree(work, ignore_errors=True)
    outcome.seconds = time.perf_counter() - t0
    outcome.finished = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    return outcome


def _keep_log(outcome: Outcome, log: Path, dest: Path, name: str) -> None:
    """Move a run's log into ``dest``: ``<name>.log`` after a success, else ``<name>.failed.log``.

    A failed log ends with the failure (or says the run was interrupted); a
    success removes the ``<name>.failed.log`` of an earlier failed run.
    """
    if not log.exists():
        return
    ok = outcome.status == "ok"
    if not ok:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(f"FAILED: {outcome.message or 'the run was interrupted before it finished'}\n")
    target = dest / (f"{name}.log" if ok else f"{name}.failed.log")
    os.replace(log, target)
    if ok:
        (dest / f"{name}.failed.log").unlink(missing_ok=True)
    outcome.log = str(target)


def _attach_papermill_log(path: Path, verbose: bool) -> Callable[[], None]:
    """Send papermill's log, at INFO, to ``path`` (and the console only when ``verbose``).

    Returns
    -------
    callable
        Detaches the file and restores the logger's level and propagation.
    """
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    plog = logging.getLogger("papermill")
    plog.addHandler(handler)
    old_level, old_prop = plog.level, plog.propagate
    plog.setLevel(logging.INFO)
    plog.propagate = verbose

    def detach() -> None:
        plog.removeHandler(handler)
        handler.close()
        plog.setLevel(old_level)
        plog.propagate = old_prop

    return detach


def _record_cell_error(outcome: Outcome, exc, tmp_nb: Path, failed: Path) -> None:
    """A cell raised: keep the executed notebook as ``failed`` and name the cell and the error in ``outcome``."""
    if tmp_nb.exists():
        os.replace(tmp_nb, failed)
    outcome.message = (f"cell {exc.cell_index} of the executed notebook (In [{exc.exec_count}], "
                       f"{_preview(str(exc.source))}) raised {exc.ename}: {exc.evalue}; "
                       f"executed notebook kept at {failed}")
    outcome.ipynb = str(failed)


def _record_aborted_run(outcome: Outcome, exc: Exception, tmp_nb: Path, failed: Path, timeout: int) -> None:
    """The run stopped (kernel death, cell timeout of ``timeout`` seconds, I/O): say where and why in ``outcome``.

    The executed notebook, when there is one, is kept as ``failed`` and the
    cell it stopped in is named.
    """
    where = ""
    if tmp_nb.exists():
        os.replace(tmp_nb, failed)
        outcome.ipynb = str(failed)
        where = _failing_cell(failed)
    first = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), "")
    if type(exc).__name__ == "CellTimeoutError":
        first = f"no result within the per-cell timeout of {timeout} s"
    outcome.message = (f"{where + ' ' if where else ''}{type(exc).__name__}: {first}"
                       + (f"; executed notebook kept at {failed}" if outcome.ipynb else ""))


def _publish(outcome: Outcome, sp: Path, scen, spec: NotebookSpec, params: dict, tmp_nb: Path, tmp_json: Path,
             dest: Path) -> None:
    """Render a successful run to HTML and move its files into ``dest``, replacing the previous report.

    Writes ``<name>.html``, ``<name>.ipynb`` and (when the notebook wrote
    one) ``<name>.json``, removes a ``<name>.failed.ipynb`` of an earlier
    run, and marks ``outcome`` ok with the files' paths.
    """
    import nbformat

    nb = nbformat.read(tmp_nb, as_version=4)
    meta = _report_meta(sp, scen, spec, params, tmp_json)
    page = render_html(nb, meta, title=f"{spec.title} - {scen.name}")
    html_path, json_path, nb_path = dest / f"{spec.name}.html", dest / f"{spec.name}.json", dest / f"{spec.name}.ipynb"
    if tmp_json.exists():
        os.replace(tmp_json, json_path)
        outcome.json = str(json_path)
    os.replace(tmp_nb, nb_path)
    write_atomic(html_path, page)
    (dest / f"{spec.name}.failed.ipynb").unlink(missing_ok=True)
    outcome.status, outcome.html, outcome.ipynb = "ok", str(html_path), str(nb_path)


def _preview(source: str, n: int = 100) -> str:
    """The start of a cell's source on one line."""
    text = "; ".join(ln.strip() for ln in source.splitlines() if ln.strip())
    return "source: " + (text if len(text) <= n else text[: n - 3] + "...")


def _failing_cell(path: Path) -> str:
    """Describe the cell an aborted run stopped in (the last one with an error, or still running)."""
    import nbformat

    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:  # noqa: BLE001 - best effort
        return ""
    found = None
    for i, c in enumerate(nb.cells):
        if c.cell_type != "code":
            continue
        status = c.get("metadata", {}).get("papermill", {}).get("status")
        if any(o.get("output_type") == "error" for o in c.get("outputs", [])) or status in ("running", "failed"):
            found = (i, c)
    if found is None:
        return ""
    i, c = found
    return f"cell {i} of the executed notebook ({_preview(c.source)}):"


def _report_meta(sp: Path, scen, spec: NotebookSpec, params: dict, json_path: Path) -> dict[str, Any]:
    """What produced a report, for its provenance block: no absolute or temporary path is shown."""
    prov: dict[str, Any] = {}
    if json_path.exists():
        try:
            prov = json.loads(json_path.read_text()).get("provenance", {}) or {}
        except (ValueError, AttributeError):
            prov = {}
    meta: dict[str, Any] = {
        "report": spec.title,
        "notebook": spec.path.name,
        "scenario": f"{scen.name} ({shown_path(sp)})",
        "scenario sha256": scen.sha256,
        "parameters": {k: v for k, v in params.items() if k not in SCENARIO_PARAMS},
        "seed": params.get("seed", prov.get("seed_entropy", "notebook default")),
    }
    if "trials" in prov:
        meta["trials"] = prov["trials"]
    for k, v in prov.items():
        key = k.replace("_", " ")
        if k.startswith(("scenario", "seed", "trials", "created")) or k.endswith("_version") or key in meta:
            continue
        meta[key] = shown_path(v) if isinstance(v, str) and v.startswith("/") else v
    meta["versions"] = ", ".join(f"{k} {v}" for k, v in versions().items())
    meta["created"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    return meta


# ----------------------------------------------------------------------
# Index
# ----------------------------------------------------------------------


@contextlib.contextmanager
def _flock(path: Path, *, wait: bool, busy: str = ""):
    """Hold an exclusive ``fcntl.flock`` on ``path`` (created) for the ``with`` block.

    Parameters
    ----------
    path : Path
        Lock file; it records the holder's process id.
    wait : bool
        Block until the lock is free; otherwise raise at once.
    busy : str
        Start of the :class:`ReportError` message when ``wait`` is False and
        the lock is held (the holder's pid and the lock file are added).
    """
    with open(path, "a+", encoding="utf-8") as fh:
        if fcntl is not None:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                fh.seek(0)
                holder = fh.read().strip() or "unknown"
                raise ReportError(f"{busy} (process {holder} holds {path})") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        yield


#: lock file of a ``simlib report`` run in an output folder (a second run there is refused)
RUN_LOCK = ".simlib-report.lock"
#: lock file of ``manifest.json``'s read-modify-write
MANIFEST_LOCK = ".manifest.lock"


def _merge_manifest(out: Path, outcomes: Sequence[Outcome]) -> list[dict]:
    """Merge ``outcomes`` into ``<out>/manifest.json`` (read-modify-write under a lock); return the entries.

    An entry is keyed by scenario and notebook; a failed run keeps a link to
    the previous good report (``previous_html``).
    """
    with _flock(out / MANIFEST_LOCK, wait=True):
        return _merge_manifest_locked(out, outcomes)


def _merge_manifest_locked(out: Path, outcomes: Sequence[Outcome]) -> list[dict]:
    path = out / "manifest.json"
    entries: dict[tuple[str, str], dict] = {}
    if path.exists():
        try:
            for e in json.loads(path.read_text()):
                entries[(e["scenario"], e["notebook"])] = e
        except (ValueError, KeyError, TypeError):
            entries = {}
    for o in outcomes:
        prev = entries.get((o.scenario, o.notebook), {})
        e = {k: v for k, v in o.__dict__.items()}
        if o.status != "ok" and prev.get("html") and Path(prev["html"]).exists():
            e["previous_html"] = prev["html"]
            e["previous_finished"] = prev.get("finished") or prev.get("previous_finished", "")
        elif o.status != "ok" and prev.get("previous_html") and Path(prev["previous_html"]).exists():
            e["previous_html"], e["previous_finished"] = prev["previous_html"], prev.get("previous_finished", "")
        entries[(o.scenario, o.notebook)] = e
    data = [jsonable(e) for e in entries.values()]
    write_atomic(path, json.dumps(data, indent=2))
    return data


def write_index(out: Path, entries: Sequence[Mapping[str, Any]]) -> Path:
    """Write ``index.html``: per scenario, each report's one-sentence answer, status and files (relative links).

    Parameters
    ----------
    out : Path
        The reports folder.
    entries : list of dict
        Manifest entries (:class:`Outcome` fields), shown grouped by scenario in the order given.
        A report's answer is the ``headline`` of its results JSON.

    Returns
    -------
    Path
        ``<out>/index.html``.
    """
    by_scen: dict[str, list] = {}
    for e in entries:
        by_scen.setdefault(e["scenario"], []).append(e)
    scenarios = [dict(name=shown_path(scen), rows=[_report_row(e, out) for e in items]) for scen, items in by_scen.items()]
    page = render("index.html.j2", scenarios=scenarios, version=versions()["simlib"],
                  generated=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    path = out / "index.html"
    write_atomic(path, page)
    return path


def _headline(path: str | None) -> str:
    """The ``headline`` a report's results JSON gives ("" when there is none)."""
    if not path:
        return ""
    try:
        text = json.loads(Path(path).read_text(encoding="utf-8")).get("headline", "")
    except (OSError, ValueError, AttributeError):
        return ""
    return text if isinstance(text, str) else ""


def _report_row(e: Mapping[str, Any], out: Path) -> dict[str, Any]:
    """One report's row of the index: title, answer, status, relative links (report, results, notebook, log)."""

    def rel(p):
        return os.path.relpath(p, out) if p else ""

    links = []
    if not e.get("html") and e.get("previous_html"):
        links.append((f"previous good report ({e.get('previous_finished', '')})", rel(e["previous_html"])))
    for key, name in (("json", "results JSON"), ("ipynb", "executed notebook"), ("log", "log")):
        if e.get(key):
            links.append((name, rel(e[key])))
    st = e["status"]
    headline = _headline(e.get("json")) if st == "ok" else ""
    message = e.get("message", "")
    if st == "failed":
        message = _relative_paths(message, out)
    return dict(title=e.get("title") or e["notebook"], html=rel(e.get("html")), status=st,
                headline=headline or ("" if st != "ok" else "Open the report for its results."),
                message=message, links=links, seconds=f"{float(e.get('seconds') or 0):.0f}",
                finished=str(e.get("finished", "")).replace("T", " ").replace("+00:00", ""))


def _relative_paths(text: str, out: Path) -> str:
    """``text`` with the reports folder's absolute path taken out (paths then read relative to the index)."""
    return text.replace(str(out) + os.sep, "").replace(str(out), ".")


# ----------------------------------------------------------------------
# Entry point
# ----------------------------------------------------------------------


def build_reports(
    scenarios: Sequence[str | os.PathLike] | None = None,
    notebooks: Sequence[str] | None = None,
    *,
    out: str | os.PathLike = "reports",
    trials: int | None = None,
    seed: int | None = 0,
    behaviour: str | None = None,
    params: Sequence[str] | Sequence[tuple[str | None, str, Any]] = (),
    kernel: str = KERNEL,
    timeout: int = CELL_TIMEOUT,
    progress: bool = True,
    verbose: bool = False,
) -> list[Outcome]:
    """Run notebooks for scenarios and write HTML reports, JSON results and ``index.html``.

    Parameters
    ----------
    scenarios : list of paths, optional
        Scenario YAML files (default :data:`DEFAULT_SCENARIOS`).
    notebooks : list of str, optional
        Notebook names (default: every default notebook found in ``notebooks/``).
    out : path
        Output directory; reports go to ``<out>/<scenario stem>/<notebook>.html``.
    trials, seed, behaviour
        Passed to every notebook that declares them (``trials``: default per
        notebook, see :data:`REGISTRY`).
    params : list
        Extra parameters, ``"key=value"`` or ``"notebook.key=value"`` strings
        (values read as YAML) or parsed triples.
    kernel : str
        Jupyter kernel name.
    timeout : int
        Per-cell timeout, seconds.
    progress : bool
        Show progress bars.
    verbose : bool
        Echo cell output to the console as well as to the log files.

    Returns
    -------
    list of Outcome
        One per scenario x notebook (``status`` ok, failed or skipped).

    Raises
    ------
    ReportError
        Before anything runs: unknown notebook, unknown or mistyped
        parameter, missing kernel, missing scenario file.
    """
    specs, selected = _select_notebooks(notebooks)
    if trials is not None and (not isinstance(trials, int) or trials < 2):
        raise ReportError(f"--trials: expected an integer >= 2, got {trials!r}")
    scen_paths = []
    for s in scenarios or DEFAULT_SCENARIOS:
        try:
            scen_paths.append(resolve_path(s))
        except FileNotFoundError as exc:
            raise ReportError(str(exc)) from None
    parsed = [parse_param(p) if isinstance(p, str) else tuple(p) for p in params]
    jobs, outcomes = _plan_jobs(scen_paths, specs, selected, trials, seed, behaviour, parsed, requested=bool(notebooks))
    if jobs:
        _check_kernel(kernel)
    outdir = Path(out).resolve()
    outdir.mkdir(parents=True, exist_ok=True)
    busy = (f"another simlib report is writing to {outdir}; wait until it has finished, "
            f"or write to another folder with --out")
    with _flock(outdir / RUN_LOCK, wait=False, busy=busy), _interrupt_on_signals():
        _run_jobs(jobs, outcomes, outdir, kernel=kernel, timeout=timeout, verbose=verbose, progress=progress)
    return outcomes


def _select_notebooks(notebooks: Sequence[str] | None) -> tuple[dict[str, NotebookSpec], list[str]]:
    """The available notebooks and the names to run (``notebooks``, or every default one).

    Raises
    ------
    ReportError
        A requested notebook that cannot be read (named, with its parse
        error) or that does not exist (with the available names).
    """
    broken: dict[str, str] = {}
    specs = discover_notebooks(broken=broken)
    if not notebooks:
        return specs, [n for n, s in specs.items() if s.default]
    unreadable = [f"notebook '{n}' cannot be read: {broken[n]}" for n in notebooks if n in broken]
    if unreadable:
        raise ReportError("; ".join(unreadable))
    unknown = [n for n in notebooks if n not in specs]
    if unknown:
        raise ReportError(f"unknown notebook(s) {unknown}; available: {', '.join(specs)}")
    return specs, list(dict.fromkeys(notebooks))


@contextlib.contextmanager
def _interrupt_on_signals():
    """Within the block, SIGTERM raises :class:`ReportInterrupted` (as Ctrl-C raises KeyboardInterrupt).

    So a terminated run unwinds like an interrupted one: temporary folders
    are removed, the manifest and index are written, the last good reports
    stay. Later SIGTERMs during that clean-up are ignored (SIGKILL still
    stops the process). Outside the main thread, signals are left alone.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise ReportInterrupted(f"stopped by {signal.Signals(signum).name}")

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def _run_jobs(jobs, outcomes: list[Outcome], outdir: Path, *, kernel: str, timeout: int, verbose: bool,
              progress: bool) -> None:
    """Run the planned jobs in turn, appending to ``outcomes``; always update the manifest and index.

    The manifest and ``index.html`` are written even when the run is
    interrupted, with the outcomes finished so far (an interrupted
    notebook keeps its previous entry).
    """
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(jobs), desc="simlib report", unit="notebook", position=0)
    try:
        for sp, key, scen, spec, p, contract in jobs:
            if bar is not None:
                bar.set_postfix_str(f"{key}/{spec.name}")
            o = _run_one(sp, key, scen, spec, p, contract, outdir, kernel=kernel, timeout=timeout, verbose=verbose, bar=bar)
            outcomes.append(o)
            if bar is not None:
                bar.update(1)
                bar.write(f"{o.status:>7}  {key}/{spec.name} ({o.seconds:.0f} s)" + (f": {o.message}" if o.message else ""))
    finally:
        if bar is not None:
            bar.close()
        entries = _merge_manifest(outdir, outcomes)
        write_index(outdir, entries)
