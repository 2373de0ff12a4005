"""Start-up stays light: help and the command parser load no heavy package; versions come from metadata."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata

from simlib.version import package_version

HEAVY = ("pandas", "scipy", "dask", "distributed", "papermill", "nbconvert", "matplotlib", "numba")

_PROBE = f"""
import sys
from simlib.cli import build_parser
build_parser().format_help()
import simlib
simlib.load_scenario
print(",".join(m for m in {HEAVY!r} if m in sys.modules))
"""


def test_parser_and_package_root_import_no_heavy_package():
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_lazy_api_names_resolve():
    import simlib
    from simlib.engine.api import simulate

    assert simlib.simulate is simulate and "simulate" in simlib.__all__


def test_package_version_from_metadata():
    assert package_version("numpy") == metadata.version("numpy")
    assert package_version("no-such-package-simlib") == "absent"
