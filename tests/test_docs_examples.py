"""The examples a user copies from README.md and docs/*.md are true.

YAML: every fenced ```yaml block carries a marker on the line before it,
``<!-- example: KIND [in SCENARIO] [for ROLE] [run] -->`` (invisible on the rendered
page), saying what the block is and so where it goes:

- ``scenario``: a whole scenario, validated as it is;
- ``scenario-part``: top-level sections merged into the base scenario
  (mappings merged key by key, lists and values replaced);
- ``role``: new roles, added to the base scenario with a plain revenue
  bonus in every plan that has role plans of its own;
- ``role-plan``: role plans (role name -> terms), applied as the
  ``changes`` of a new plan ``doc_example`` based on the current plan;
- ``role-terms``: the terms of one role plan (no role name), applied like
  ``role-plan`` to the role ``for ROLE`` names, else to every role;
- ``plans``: whole plans added to the base scenario;
- ``on-previous``: the base is the scenario the previous YAML example of the
  same page made (an example that continues the one before it);
- ``whole``: a ``role-plan`` example is the role's whole plan, not changes;
- ``skip REASON``: a deliberate fragment (``...`` lines) or a non-scenario
  block, with the reason.

The base scenario is ``scenarios/default.yaml`` unless ``in`` names another
shipped scenario. The result must validate (``simlib.scenario_from_dict``),
and a block marked ``run`` is simulated briefly. A new YAML block without a
marker fails here, so every block a user can copy is checked.

Commands: every ``simlib ...`` line of a code block of README.md and the
docs is parsed by the real ``simlib`` argument parser (options, choices and
value types), every option named in the README's command table and in
inline ``simlib ...`` spans exists on its command, and the cheap commands
(``validate``, ``report --list``, ``plan export``) are run.
"""

from __future__ import annotations

import copy
import re
import shlex
from pathlib import Path

import pytest
import yaml

import simlib
from simlib.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
KINDS = {"scenario", "scenario-part", "role", "role-plan", "role-terms", "plans", "skip"}
MARKER = re.compile(r"^<!--\s*example:\s*(?P<body>.*?)\s*-->$")
FENCE = re.compile(r"^\s*```(?P<lang>[\w-]*)\s*$")
RUN_TRIALS = 8

#: a plain bonus for a role added by a ``role`` example, in each plan with its own role plans
PLAIN_ROLE_PLAN = {
    "quota": {"method": "territory"},
    "components": [{"name": "revenue_bonus", "measure": "revenue", "kind": "curve", "weight": 1.0,
                    "points": [[0.5, 0.0], [1.0, 1.0], [1.5, 2.0]], "cap": 2.0}],
}


def _fenced_blocks(path: Path):
    """(language, first line number, text, marker line or None) of each fenced block of ``path``."""
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        end = i + 1
        while end < len(lines) and not re.match(r"^\s*```\s*$", lines[end]):
            end += 1
        before = [x.strip() for x in lines[:i] if x.strip()]
        marker = before[-1] if before and MARKER.match(before[-1]) else None
        yield m.group("lang"), i + 2, "\n".join(lines[i + 1:end]), marker
        i = end + 1


def _yaml_examples():
    out = []
    for path in DOCS:
        previous = None
        for lang, line, text, marker in _fenced_blocks(path):
            if lang in ("yaml", "yml"):
                out.append(pytest.param(text, marker, previous, id=f"{path.name}:{line}"))
                previous = (text, marker, previous)
    return out


def _parse_marker(marker: str) -> dict:
    """The kind, base scenario (``in``), role (``for``), ``run`` and skip reason of a marker line."""
    words = MARKER.match(marker).group("body").split()
    kind, rest = words[0], words[1:]
    assert kind in KINDS, f"unknown example kind {kind!r}; expected one of {sorted(KINDS)}"
    if kind == "skip":
        assert rest, "a skipped example says why"
        return {"kind": kind, "reason": " ".join(rest)}
    out = {"kind": kind, "in": "scenarios/default.yaml", "for": None, "run": False,
           "on-previous": False, "whole": False}
    while rest:
        if rest[0] in ("in", "for") and len(rest) > 1:
            out[rest[0]], rest = rest[1], rest[2:]
        else:
            assert rest[0] in ("run", "on-previous", "whole"), f"unexpected words {rest} in the marker"
            out[rest[0]], rest = True, rest[1:]
    return out


def _merge(into: dict, extra: dict) -> None:
    """Merge ``extra`` into ``into``: mappings key by key, anything else replaced."""
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = copy.deepcopy(value)


def _plain_plans_for_new_roles(scen: dict) -> None:
    """Give each role without a role plan the plain bonus, in every plan listing its own role plans."""
    for plan in scen["plans"].values():
        if "roles" in plan:
            for name in scen["roles"]:
                plan["roles"].setdefault(name, copy.deepcopy(PLAIN_ROLE_PLAN))


def _place(kind: str, snippet, base: dict, role: str | None = None, whole: bool = False) -> tuple[dict, list[str]]:
    """The base scenario with ``snippet`` in its place, and the plans the example concerns."""
    scen = copy.deepcopy(base)
    if kind == "role-terms":
        kind, snippet = "role-plan", {name: snippet for name in ([role] if role else scen["roles"])}
    current = scen["current_plan"]
    if kind == "scenario":
        return snippet, list(snippet["plans"])
    assert isinstance(snippet, dict), f"a {kind} example is a mapping"
    if kind == "scenario-part":
        _merge(scen, snippet)
        _plain_plans_for_new_roles(scen)
        return scen, list(snippet.get("plans", {})) or [current]
    if kind == "role":
        for name, role in snippet.items():
            assert name not in scen["roles"], f"role example {name!r} is already a role of the base"
            scen["roles"][name] = role
        _plain_plans_for_new_roles(scen)
        return scen, [current]
    if kind == "role-plan":
        missing = set(snippet) - set(scen["roles"])
        assert not missing, f"roles {sorted(missing)} are not in the base scenario; name one with `in`"
        if whole:
            plan = copy.deepcopy(scen["plans"][current])
            plan["roles"].update(snippet)
            scen["plans"]["doc_example"] = plan
        else:
            scen["plans"]["doc_example"] = {"base": current, "changes": {"roles": snippet}}
        return scen, ["doc_example"]
    assert kind == "plans"
    _merge(scen["plans"], snippet)
    return scen, list(snippet)


def _example(text: str, marker: str | None, previous) -> tuple[dict, list[str], dict]:
    """The scenario an example makes, the plans it concerns, and its marker's words."""
    assert marker, ("a ```yaml block of the docs needs a marker on the line before it: "
                    f"<!-- example: KIND [in SCENARIO] [for ROLE] [run] -->, KIND one of {sorted(KINDS)}")
    where = _parse_marker(marker)
    if where["kind"] == "skip":
        return {}, [], where
    if where["on-previous"]:
        assert previous, "an on-previous example follows another YAML example"
        base, _, _ = _example(*previous)
    else:
        base = yaml.safe_load((ROOT / where["in"]).read_text(encoding="utf-8"))
    data, plans = _place(where["kind"], yaml.safe_load(text), base, where["for"], where["whole"])
    return data, plans, where


@pytest.mark.parametrize(("text", "marker", "previous"), _yaml_examples())
def test_yaml_example_is_a_valid_scenario(text, marker, previous):
    """Each YAML block of the docs, in its place, is a valid scenario (and runs, where marked)."""
    data, plans, where = _example(text, marker, previous)
    if where["kind"] == "skip":
        pytest.skip(where["reason"])
    scen = simlib.scenario_from_dict(data, source=str(ROOT / where["in"]))
    for plan in plans:
        assert plan in scen.plans
    if where["run"]:
        res = simlib.simulate(scen, plans, trials=RUN_TRIALS, rng=1)
        summary = res.summary()
        for plan in plans:
            cost = summary[(summary.plan == plan) & (summary.group == "total")
                           & (summary.metric == "incentive_cost")]["mean"]
            assert len(cost) == 1 and cost.iloc[0] >= 0


def test_every_marked_example_is_followed_by_a_yaml_block():
    """A marker left behind by an edit (no YAML block after it) is an error, not a silent pass."""
    for path in DOCS:
        lines = path.read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines):
            if MARKER.match(line.strip()):
                nxt = next((x for x in lines[i + 1:] if x.strip()), "")
                assert re.match(r"^\s*```ya?ml\s*$", nxt), f"{path.name}:{i + 1}: marker not before a ```yaml block"


# --- commands --------------------------------------------------------------


def _code_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, text) of each line in a fenced or 4-space indented code block of ``path``."""
    lines = path.read_text(encoding="utf-8").splitlines()
    out, fenced, prev_blank = [], False, True
    for n, line in enumerate(lines, 1):
        if FENCE.match(line) or re.match(r"^\s*```\s*$", line):
            fenced = not fenced
        elif fenced or (line.startswith("    ") and (prev_blank or out and out[-1][0] == n - 1)):
            out.append((n, line))
        prev_blank = not line.strip()
    return out


def _commands(path: Path) -> list[tuple[int, str]]:
    """The ``simlib ...`` command lines of the code blocks of ``path``, continuation lines joined."""
    out, pending = [], None
    for n, line in _code_lines(path):
        text = line.strip()
        if pending is not None:
            pending = (pending[0], pending[1] + " " + text)
        elif re.match(r"^(\.venv/bin/)?simlib [a-z][\w-]*(\s|$)", text):
            pending = (n, text)
        else:
            continue
        if pending[1].endswith("\\"):
            pending = (pending[0], pending[1][:-1])
            continue
        out.append(pending)
        pending = None
    return out


def _argv(command: str) -> list[str]:
    """The arguments of a command line: after ``simlib``, before a comment, a pipe or a redirection."""
    words = shlex.split(command, comments=True)
    for i, word in enumerate(words):
        if word in ("|", ">", ">>", "&&", ";"):
            words = words[:i]
            break
    return words[1:]


def _readme_synopses() -> list[str]:
    """Every ``simlib ...`` inline code span of README.md (the command table and the prose)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return [s.replace("\\|", "|") for s in re.findall(r"`(simlib [^`]+)`", text)]


def _concrete_spans() -> list[str]:
    """README's inline ``simlib ...`` spans written as a user would type them (a file, no placeholders)."""
    out = []
    for span in _readme_synopses():
        text = " ".join(span.split())
        if re.search(r"[\[\]]|\.\.\.|\b[A-Z]{2,}\b", text) or not re.search(r"\s\S*[./]\S*", text):
            continue
        out.append(text)
    return out


def _all_commands():
    blocks = [pytest.param(cmd, id=f"{path.name}:{n}") for path in DOCS for n, cmd in _commands(path)]
    return blocks + [pytest.param(span, id=f"README.md:`{span[:40]}`") for span in _concrete_spans()]


def test_the_docs_show_commands():
    """The extraction finds the README's examples (a change of layout would otherwise pass silently)."""
    readme = [cmd for n, cmd in _commands(ROOT / "README.md")]
    assert len(readme) >= 15
    assert any(cmd.startswith("simlib optimize") and "--constraint" in cmd for cmd in readme)


@pytest.mark.parametrize("command", _all_commands())
def test_command_parses(command, capsys):
    """Each ``simlib`` command shown in a code block is accepted by the ``simlib`` parser as written."""
    argv = _argv(command)
    try:
        build_parser().parse_args(argv)
    except SystemExit as exc:
        pytest.fail(f"`{command}` is refused by the parser (exit {exc.code}): {capsys.readouterr().err.strip()}")


def _subparsers(parser):
    action = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")  # noqa: SLF001
    return action.choices


def _options_of(words: list[str]) -> tuple[str, set[str]]:
    """The command (``plan export`` counts as ``plan``'s ``export``) and its option strings."""
    commands = _subparsers(build_parser())
    assert words and words[0] in commands, f"unknown command {words[:1]}"
    parser = commands[words[0]]
    name = words[0]
    sub = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]  # noqa: SLF001
    if sub and len(words) > 1 and words[1] in sub[0].choices:
        parser, name = sub[0].choices[words[1]], f"{name} {words[1]}"
    return name, {s: a for a in parser._actions for s in a.option_strings}  # noqa: SLF001


def test_readme_synopses_name_existing_options():
    """Every option the README names in ``simlib ...`` spans (the command table included) exists,
    and a list of values (``--format table|csv|json``) is the option's choices."""
    spans = _readme_synopses()
    assert len(spans) >= 40
    wrong = []
    for span in spans:
        words = span.replace("[", " ").replace("]", " ").split()[1:]
        if not words or not re.match(r"^[a-z][a-z-]*$", words[0]) or words[0] == "COMMAND":
            continue
        if words[0] not in _subparsers(build_parser()):
            wrong.append(f"{span!r}: no command {words[0]!r}")
            continue
        name, options = _options_of(words)
        for opt in re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", span):
            if opt not in options:
                wrong.append(f"{span!r}: `simlib {name}` has no option {opt}")
        for opt, values in re.findall(r"(--[a-z][a-z0-9-]*) ([a-z]+(?:\|[a-z]+)+)", span):
            choices = options[opt].choices if opt in options else None
            if choices is not None and set(values.split("|")) != set(choices):
                wrong.append(f"{span!r}: `simlib {name} {opt}` takes {list(choices)}, not {values}")
    assert not wrong, "\n".join(wrong)


def test_cheap_readme_commands_run(tmp_path, monkeypatch, capsys):
    """`simlib validate scenarios/*.yaml`, `simlib report --list` and `simlib plan export` work as shown."""
    readme = [cmd for n, cmd in _commands(ROOT / "README.md")]
    assert "simlib validate scenarios/*.yaml" in [c.split("#")[0].strip() for c in readme]
    assert main(["validate", *sorted(str(p) for p in (ROOT / "scenarios").glob("*.yaml"))]) == 0
    assert main(["report", "--list"]) == 0
    assert "policy_comparison" in capsys.readouterr().out
    monkeypatch.chdir(tmp_path)
    assert main(["plan", "export", str(ROOT / "scenarios" / "default.yaml"), "--out", "plans.xlsx"]) == 0
    assert main(["plan", "import", "plans.xlsx", "--out", "my_scenario.yaml"]) == 0
    assert simlib.load_scenario(tmp_path / "my_scenario.yaml").current_plan == "current"


def test_readme_history_workflow_runs_as_shown(tmp_path, monkeypatch, capsys):
    """The history workflow as README shows it, from a clone's folder: synth writes the two-year history,
    calibrate fits it, the fitted scenario runs, and the replay example reconciles (exit 0)."""
    def shown(prefix: str) -> list[str]:
        found = [cmd for _, cmd in _commands(ROOT / "README.md")] + _concrete_spans()
        cmd = next(c for c in found if c.startswith(prefix))
        return _argv(cmd)

    steps = [shown("simlib synth scenarios/default.yaml --out history.csv"), shown("simlib calibrate history.csv"),
             shown("simlib run calibrated.yaml"), shown("simlib replay scenarios/default.yaml history.csv")]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "scenarios").symlink_to(ROOT / "scenarios")
    for argv in steps:
        assert main([*argv, "--trials", "50"] if argv[0] == "run" else argv) == 0, (argv, capsys.readouterr().err)
    out = capsys.readouterr()
    assert "reconciled: all 200 rep-years recomputed under 'current' equal the recorded payouts" in out.out + out.err


def test_inline_role_plan_terms_validate():
    """README's inline one-line terms (`quota_relief: {...}`, `feedback: {...}`) are valid in every role plan."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    spans = [s for s in re.findall(r"`((?:quota_relief|feedback|payout|projects|draw): \{[^`]*\})`", text)
             if "..." not in s]
    assert len(spans) >= 2
    base = yaml.safe_load((ROOT / "scenarios" / "default.yaml").read_text(encoding="utf-8"))
    for span in spans:
        data, plans = _place("role-terms", yaml.safe_load(span), base)
        assert plans[0] in simlib.scenario_from_dict(data, source=span).plans
