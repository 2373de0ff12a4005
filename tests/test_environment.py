"""pyproject.toml and environment.yml name the same dependencies (with the same version floors)."""

from __future__ import annotations

import re
import sys

import pytest
import yaml
from conftest import ROOT

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")

#: pip name -> conda-forge name, where they differ
PIP_TO_CONDA: dict[str, str] = {}

_REQ = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*?)\s*(;.*)?$")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _parse(req: str) -> tuple[str, str]:
    m = _REQ.match(req)
    assert m, f"cannot parse requirement {req!r}"
    return _norm(m.group(1)), m.group(3).replace(" ", "")


def _pyproject() -> dict[str, str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    reqs = list(data["project"]["dependencies"])
    for extra in data["project"].get("optional-dependencies", {}).values():
        reqs += extra
    out = {}
    for r in reqs:
        name, spec = _parse(r)
        out[_norm(PIP_TO_CONDA.get(name, name))] = spec
    return out


def _environment() -> tuple[dict[str, str], list]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda, pip = {}, []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip += dep.get("pip", [])
            continue
        name, spec = _parse(dep)
        conda[name] = spec
    return conda, pip


def test_same_packages():
    py = _pyproject()
    conda, _ = _environment()
    conda.pop("python", None)
    conda.pop("pip", None)
    assert set(py) - set(conda) == set(), "in pyproject.toml but not environment.yml"
    assert set(conda) - set(py) == set(), "in environment.yml but not pyproject.toml"


def test_same_version_floors():
    py = _pyproject()
    conda, _ = _environment()
    for name, spec in py.items():
        assert conda[name] == spec, f"{name}: pyproject says {spec!r}, environment.yml says {conda[name]!r}"


def test_environment_installs_the_package_itself_and_matches_python():
    conda, pip = _environment()
    assert "-e ." in pip or "." in pip
    req_python = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert conda.get("python") == req_python.replace(" ", "")


def test_dev_extras_present():
    """The test tools this suite uses are declared."""
    py = _pyproject()
    for tool in ("pytest", "hypothesis", "pytest-xdist", "scipy", "pyyaml"):
        assert tool in py, tool
