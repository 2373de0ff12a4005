"""The package's architecture: imports flow down the rooms, and every import is one the linter can see.

* ``lint-imports`` checks the contracts in ``[tool.importlinter]`` of pyproject.toml
  (rooms cli > report > design | fit > engine > behaviour > model > scenario > base,
  the order inside rooms, no cycles).
* An AST pass over every module of simlib checks what import-linter cannot:
  no module uses another module's ``_private`` names, no module imports simlib
  modules dynamically (``importlib.import_module``), and no module inside the
  package imports the package root (which imports nearly everything).
* No function of simlib is longer than :data:`MAX_FUNCTION_LINES` lines of code
  after its docstring: a longer one holds more than one idea.
"""

from __future__ import annotations

import ast
import io
import os
import subprocess
import sys
import tokenize
from pathlib import Path

import pytest
from conftest import ROOT

PACKAGE = ROOT / "simlib"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


#: module name -> source file, for every module of the checkout's simlib
MODULES: dict[str, Path] = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


# ----------------------------------------------------------------------
# import-linter
# ----------------------------------------------------------------------


def _broken_contracts(output: str) -> str:
    """The "Broken contracts" part of lint-imports' report (all of it when there is no such part)."""
    head, sep, rest = output.partition("Broken contracts")
    return (sep + rest).strip() if sep else output.strip()


def test_import_contracts_are_kept():
    if not LINT_IMPORTS.exists():
        pytest.fail(f"{LINT_IMPORTS} not found: import-linter is a dev dependency (pip install -e '.[dev]')")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    # run from the checkout so that its simlib (not another installed copy) is the one analysed
    proc = subprocess.run([str(LINT_IMPORTS), "--no-cache", "--no-logo", str(ROOT / "pyproject.toml")],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    if "Contracts:" not in proc.stdout:
        pytest.fail(f"lint-imports did not check the contracts:\n{proc.stdout}\n{proc.stderr}")
    if proc.returncode != 0:
        pytest.fail("import contracts broken:\n" + _broken_contracts(proc.stdout), pytrace=False)


def test_contracts_cover_every_room_and_the_base():
    """The rooms contract names every room of the layout, with design and fit as independent siblings."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        tomllib = pytest.importorskip("tomli")
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    assert config["root_package"] == "simlib"
    rooms = next(c for c in config["contracts"] if c.get("id") == "rooms")
    assert rooms["type"] == "layers" and rooms["containers"] == ["simlib"] and rooms.get("exhaustive") is True
    layers = [[m.strip().strip("()") for m in layer.split("|")] for layer in rooms["layers"]]
    assert ["design", "fit"] in layers
    order = [m for layer in layers for m in layer]
    assert order.index("cli") < order.index("report") < order.index("design") < order.index("engine") \
        < order.index("behaviour") < order.index("model") < order.index("scenario") < order.index("errors")
    top_level = {name.split(".")[1] for name in MODULES if name.count(".") >= 1}
    assert top_level <= set(order), f"not placed in a layer: {sorted(top_level - set(order))}"


# ----------------------------------------------------------------------
# What the import graph does not show
# ----------------------------------------------------------------------


def _absolute(module: str, node: ast.ImportFrom) -> str:
    """The absolute module an ``ImportFrom`` in ``module`` names (relative imports resolved)."""
    if not node.level:
        return node.module or ""
    package = module if MODULES.get(module, Path()).name == "__init__.py" else module.rpartition(".")[0]
    base = package.split(".")
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _dotted(node: ast.AST) -> list[str] | None:
    """``a.b.c`` as ["a", "b", "c"]; None for anything but names and attributes."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return [node.id, *reversed(parts)]


class _Checker(ast.NodeVisitor):
    def __init__(self, module: str):
        self.module = module
        self.path = MODULES[module].relative_to(ROOT)
        self.bound: dict[str, str] = {}  # local name -> simlib module it refers to
        self.private: list[str] = []
        self.dynamic: list[str] = []
        self.root: list[str] = []
        self.importlib_names: set[str] = set()  # local names of importlib.import_module

    def where(self, node: ast.AST) -> str:
        return f"{self.path}:{node.lineno}"

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name == "simlib" and self.module != "simlib":
                self.root.append(f"{self.where(node)}: import simlib")
            if alias.name.split(".")[0] == "simlib":
                if alias.asname:
                    self.bound[alias.asname] = alias.name
                else:
                    self.bound["simlib"] = "simlib"
            if _is_private(alias.name.rsplit(".", 1)[-1]):
                self.private.append(f"{self.where(node)}: import {alias.name}")
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        source = _absolute(self.module, node)
        if source == "importlib":
            self.importlib_names |= {a.asname or a.name for a in node.names if a.name == "import_module"}
        if source.split(".")[0] != "simlib":
            return
        if source == "simlib" and self.module != "simlib":
            names = ", ".join(a.name for a in node.names)
            self.root.append(f"{self.where(node)}: from simlib import {names}")
        for alias in node.names:
            full = f"{source}.{alias.name}"
            if full in MODULES:
                self.bound[alias.asname or alias.name] = full
            if _is_private(alias.name) and source != self.module:
                self.private.append(f"{self.where(node)}: from {source} import {alias.name}")
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        parts = _dotted(node)
        if parts and parts[0] in self.bound:
            target = self.bound[parts[0]]
            for attr in parts[1:]:
                if f"{target}.{attr}" in MODULES:
                    target = f"{target}.{attr}"
                    continue
                if _is_private(attr) and target != self.module:
                    self.private.append(f"{self.where(node)}: {'.'.join(parts[: parts.index(attr) + 1])} "
                                        f"(private name {attr} of {target})")
                break
            return  # the chain is checked whole; its inner attributes are the same chain
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = _dotted(node.func)
        if func in (["importlib", "import_module"], *([n] for n in self.importlib_names)):
            self.dynamic.append(f"{self.where(node)}: importlib.import_module(...)")
        elif func == ["__import__"] and node.args and _names_simlib(node.args[0]):
            self.dynamic.append(f"{self.where(node)}: __import__(...) of a simlib module")
        self.generic_visit(node)


def _names_simlib(arg: ast.AST) -> bool:
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg.value.split(".")[0] == "simlib"
    if isinstance(arg, ast.JoinedStr) and arg.values and isinstance(arg.values[0], ast.Constant):
        return str(arg.values[0].value).startswith("simlib")
    return False


def _check_all() -> list[_Checker]:
    out = []
    for module, path in MODULES.items():
        checker = _Checker(module)
        checker.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        out.append(checker)
    return out


def test_no_module_uses_another_modules_private_names():
    found = [line for c in _check_all() for line in c.private]
    if found:
        pytest.fail("private names used outside their module (make them public where they are defined, "
                    "or move them to the module that needs them):\n  " + "\n  ".join(found), pytrace=False)


def test_no_dynamic_imports_of_simlib_modules():
    """import-linter cannot see ``importlib.import_module``: every import of simlib is a plain statement."""
    found = [line for c in _check_all() for line in c.dynamic]
    if found:
        pytest.fail("dynamic imports hide dependencies from lint-imports:\n  " + "\n  ".join(found), pytrace=False)


def test_modules_import_names_from_where_they_are_defined_not_from_the_package_root():
    """``simlib/__init__.py`` imports the engine and (lazily) design and fit: a lower room importing
    the root package would depend on every room above it without the contracts seeing it."""
    found = [line for c in _check_all() for line in c.root]
    if found:
        pytest.fail("imports of the package root inside simlib:\n  " + "\n  ".join(found), pytrace=False)


# ----------------------------------------------------------------------
# The checks themselves catch what they should
# ----------------------------------------------------------------------


def _check_source(module: str, source: str) -> _Checker:
    checker = _Checker(module)
    checker.visit(ast.parse(source))
    return checker


@pytest.mark.parametrize("source", [
    "from simlib.design.sweep import _set_path",
    "from simlib.design import sweep\nsweep._set_path({}, 'a', 1)",
    "import simlib.engine.api as api\napi._as_scenario(None)",
    "import simlib.engine.results\nsimlib.engine.results._fmt_num(1.0)",
    "from ..engine import results\nresults._fmt_num(1.0)",
])
def test_private_use_is_detected(source):
    assert _check_source("simlib.report.build", source).private


@pytest.mark.parametrize("source", [
    "from simlib.design.sweep import run_sweep, __all__",
    "from simlib.design import sweep\nsweep.run_sweep\nsweep.__name__",
    "class A:\n    def f(self):\n        return self._private",
    "import numpy as np\nnp._NoValue",
])
def test_public_use_is_not_flagged(source):
    assert not _check_source("simlib.report.build", source).private


def test_dynamic_imports_are_detected():
    assert _check_source("simlib.cli", "import importlib\nimportlib.import_module(f'simlib.{m}')").dynamic
    assert _check_source("simlib.cli", "from importlib import import_module as im\nim('simlib.fit')").dynamic
    assert _check_source("simlib.cli", "__import__('simlib.fit.synth')").dynamic
    assert not _check_source("simlib.report.notebook", "for m in ('scipy',):\n    __import__(m)").dynamic


# ----------------------------------------------------------------------
# Function length
# ----------------------------------------------------------------------

#: most lines of code (not blank, not only a comment) a function may have after its docstring
MAX_FUNCTION_LINES = 80
#: modules whose functions may be longer: the slow reference is deliberately one plain loop
LONG_FUNCTION_MODULES = {"simlib/model/reference.py"}
#: "path:function" -> why it may be longer for now; an entry that is no longer too long must go
LONG_FUNCTIONS_ALLOWED: dict[str, str] = {}


def _code_lines(source: str) -> set[int]:
    """Line numbers (1-based) that hold code: a token other than a comment or a line break.

    A string spanning several lines counts on every line it spans.
    """
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}
    lines: set[int] = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type not in skip:
            lines.update(range(tok.start[0], tok.end[0] + 1))
    return lines


def _function_lengths(source: str) -> dict[str, int]:
    """Dotted name (``Class.method``, ``outer.inner``) -> lines of code after the docstring, of every function.

    A nested function's lines count in the function around it as well as on their own.
    """
    code = _code_lines(source)
    out: dict[str, int] = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                has_docstring = ast.get_docstring(child, clean=False) is not None
                first = child.body[0].end_lineno + 1 if has_docstring else child.body[0].lineno
                out[prefix + child.name] = sum(1 for n in code if first <= n <= child.end_lineno)
                visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(ast.parse(source), "")
    return out


def _long_functions() -> dict[str, int]:
    """"path:function" -> lines of code, of every function of simlib over :data:`MAX_FUNCTION_LINES`."""
    out = {}
    for path in MODULES.values():
        rel = path.relative_to(ROOT).as_posix()
        if rel in LONG_FUNCTION_MODULES:
            continue
        for name, n in _function_lengths(path.read_text(encoding="utf-8")).items():
            if n > MAX_FUNCTION_LINES:
                out[f"{rel}:{name}"] = n
    return out


def test_functions_hold_one_idea_each():
    """No function is longer than MAX_FUNCTION_LINES lines of code after its docstring (a longer one
    holds several ideas: split it into functions named for each), apart from those allowed, which
    must still be too long (an entry no longer needed is taken off the list)."""
    long = _long_functions()
    found = [f"{name}: {n} lines" for name, n in sorted(long.items()) if name not in LONG_FUNCTIONS_ALLOWED]
    stale = sorted(set(LONG_FUNCTIONS_ALLOWED) - set(long))
    message = []
    if found:
        message.append(f"functions longer than {MAX_FUNCTION_LINES} lines of code after the docstring "
                       "(split each into functions named for the ideas it holds):\n  " + "\n  ".join(found))
    if stale:
        message.append("allowed to be long but no longer are (take them off LONG_FUNCTIONS_ALLOWED in "
                       "tests/test_architecture.py):\n  " + "\n  ".join(stale))
    if message:
        pytest.fail("\n".join(message), pytrace=False)


FUNCTION_SAMPLE = '''
def f(a,
      b):
    """Doc.

    More doc."""
    # a comment: not counted
    x = 1  # counted

    s = """two lines,
# both counted"""

    def g():
        return x
    return g


class C:
    def m(self):
        pass
'''


def test_function_length_counts_code_after_the_docstring():
    assert _function_lengths(FUNCTION_SAMPLE) == {"f": 6, "f.g": 1, "C.m": 1}
    assert _function_lengths("def f():\n    return 1\n") == {"f": 1}


def test_long_functions_are_found():
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES + 1))
    lengths = _function_lengths(f'def long():\n    """Doc."""\n{body}')
    assert lengths == {"long": MAX_FUNCTION_LINES + 1}
