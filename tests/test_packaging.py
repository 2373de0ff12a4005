"""simlib installed from its wheel works anywhere: outside the checkout, with its shipped scenarios and notebooks.

The wheel is built from a copy of the checkout, installed (without its
dependencies) into a fresh virtual environment whose ``.pth`` file makes the
dependencies of the running environment importable, and given its own
``simlib`` Jupyter kernel. The commands a user runs first are then run from a
folder outside the checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT

#: a guard against a hung subprocess only (nothing asserts how long anything takes)
HANG = 900


def _run(cmd, *, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=HANG)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc


def _build_wheel(tmp: Path, env: dict[str, str]) -> Path:
    """Build the wheel from a copy of the checkout (so the build leaves nothing in the checkout)."""
    src = tmp / "src"
    src.mkdir()
    shutil.copytree(ROOT / "simlib", src / "simlib", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    dist = tmp / "dist"
    # no build isolation: the build backend (setuptools, wheel) comes from the dev environment, offline
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
          "-w", dist, src], cwd=tmp, env=env)
    wheels = list(dist.glob("simlib-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def _clean_env(tmp: Path) -> dict[str, str]:
    """The environment without anything that would put the checkout or another kernel in the way."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "JUPYTER_PATH", "VIRTUAL_ENV", "SIMLIB_DEBUG")}
    env.update(JUPYTER_PREFER_ENV_PATH="1", JUPYTER_DATA_DIR=str(tmp / "jupyter-data"),
               JUPYTER_CONFIG_DIR=str(tmp / "jupyter-config"), IPYTHONDIR=str(tmp / "ipython"),
               PYTHONDONTWRITEBYTECODE="1")
    return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(python, simlib executable, environment, wheel) of a fresh venv holding simlib from its wheel."""
    tmp = tmp_path_factory.mktemp("packaging")
    env = _clean_env(tmp)
    wheel = _build_wheel(tmp, env)
    prefix = tmp / "venv"
    venv.EnvBuilder(with_pip=False, symlinks=os.name != "nt").create(prefix)
    bindir = prefix / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / ("python.exe" if os.name == "nt" else "python")
    env["PATH"] = os.pathsep.join([str(bindir), env.get("PATH", "")])
    # install before the .pth exists, so pip sees only the new environment
    _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "-q",
          "--no-warn-script-location", wheel], cwd=tmp, env=env)
    site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                     cwd=tmp, env=env).stdout.strip())
    # the dependencies: the dev environment's site-packages, after the new one's on sys.path
    dev = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (site / "zz_simlib_dev_dependencies.pth").write_text("".join(f"{p}\n" for p in dev))
    # ... and their Jupyter data files (nbconvert's templates), as installing them here would have put them;
    # not the dev environment's kernels, so that "simlib" is the kernel registered below
    data = Path(sys.prefix) / "share" / "jupyter"
    if data.is_dir():
        (prefix / "share" / "jupyter").mkdir(parents=True, exist_ok=True)
        for entry in data.iterdir():
            if entry.name != "kernels":
                (prefix / "share" / "jupyter" / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    _run([python, "-m", "ipykernel", "install", "--sys-prefix", "--name", "simlib",
          "--display-name", "Python (simlib wheel)"], cwd=tmp, env=env)
    return python, bindir / "simlib", env, wheel, prefix


@pytest.fixture
def elsewhere(tmp_path):
    """A working folder outside the checkout."""
    assert not tmp_path.resolve().is_relative_to(ROOT)
    return tmp_path


def test_wheel_ships_the_scenarios_notebooks_and_every_module(installed):
    _, _, _, wheel, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "simlib/shipped/scenarios/default.yaml" in names
    shipped = ROOT / "simlib" / "shipped"
    validation = {p.relative_to(ROOT).as_posix() for p in (shipped / "scenarios" / "validation").glob("*.yaml")}
    notebooks = {p.relative_to(ROOT).as_posix() for p in (shipped / "notebooks").glob("*.ipynb")}
    assert validation and validation <= names, sorted(validation - names)
    from simlib.report.build import discover_notebooks

    # every registered notebook is a shipped file, and every shipped notebook is in the wheel
    assert {Path(n).stem for n in notebooks} == set(discover_notebooks()), sorted(notebooks)
    assert notebooks <= names, sorted(notebooks - names)
    example = {p.relative_to(ROOT).as_posix() for p in (shipped / "scenarios" / "example_org").iterdir()}
    assert len(example) == 5 and example <= names, sorted(example - names)  # roster, history, scenarios, README
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "simlib").rglob("*.py") if "__pycache__" not in p.parts}
    assert modules <= names, f"modules missing from the wheel: {sorted(modules - names)}"


def test_the_wheel_not_the_checkout_is_imported_and_runs_the_kernel(installed, elsewhere):
    python, _, env, _, prefix = installed
    out = _run([python, "-c", "import json, simlib; from jupyter_client.kernelspec import KernelSpecManager as K; "
                "print(json.dumps([simlib.__file__, K().get_kernel_spec('simlib').argv[0]]))"],
               cwd=elsewhere, env=env).stdout
    module_file, kernel_python = json.loads(out.strip().splitlines()[-1])
    assert Path(module_file).is_relative_to(prefix), module_file
    assert Path(kernel_python).parent == python.parent, kernel_python


#: checks that fail on the findings' own scenarios' roles (docs/model.md section 4.10): (finding, effect prefix)
KNOWN_FAILING_FIRST = {("bonus_to_commission", "low tercile")}


def test_validate_model_outside_the_checkout(installed, elsewhere):
    import io

    import pandas as pd

    _, simlib, env, _, _ = installed
    # the findings on their own scenarios' roles (docs/model.md section 4.10 lists the two the
    # model does not reproduce on the second role type, and one on both)
    cmd = [str(simlib), "validate-model", "--roles", "first", "--trials", "200", "--format", "csv"]
    proc = subprocess.run(cmd, cwd=elsewhere, env=env, capture_output=True, text=True, timeout=HANG)
    assert proc.returncode == 1 and proc.stdout, f"exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    df = pd.read_csv(io.StringIO(proc.stdout))
    known = pd.Series([any(k == key and e.startswith(pre) for key, pre in KNOWN_FAILING_FIRST)
                       for k, e in zip(df["key"], df["effect"], strict=True)], index=df.index)
    assert df["key"].nunique() >= 11, df["key"].unique()
    assert (df["holds"] == ~known).all(), df[["key", "effect", "measured", "ci_low", "ci_high", "holds"]].to_string()


def test_synth_then_calibrate_with_the_shipped_template(installed, elsewhere):
    python, simlib, env, _, _ = installed
    default = _run([python, "-c", "from simlib.io import SHIPPED; print(SHIPPED / 'scenarios' / 'default.yaml')"],
                   cwd=elsewhere, env=env).stdout.strip()
    _run([simlib, "synth", default, "--out", "history.csv", "--seed", "3"], cwd=elsewhere, env=env)
    assert (elsewhere / "history.csv").stat().st_size > 0
    # no --scenario: the template is the shipped default scenario
    _run([simlib, "calibrate", "history.csv", "--out", "calibrated.yaml", "--bootstrap", "5", "--trials", "5",
          "--report", "calibration.json"], cwd=elsewhere, env=env)
    _run([simlib, "validate", "calibrated.yaml"], cwd=elsewhere, env=env)  # a valid scenario
    report = json.loads((elsewhere / "calibration.json").read_text())
    assert report["estimates"] and report["diagnostics"]


def test_report_runs_shipped_notebooks_on_the_wheels_kernel(installed, elsewhere):
    _, simlib, env, _, _ = installed
    # no scenario named: scenarios/default.yaml is found among the shipped files
    _run([simlib, "report", "--notebooks", "policy_comparison", "sweep", "--trials", "12", "--out", "reports",
          "--no-progress"], cwd=elsewhere, env=env)
    out = elsewhere / "reports"
    for name in ("policy_comparison", "sweep"):
        html = (out / "default" / f"{name}.html").read_text()
        assert "scenario sha256" in html
        assert json.loads((out / "default" / f"{name}.json").read_text())
    manifest = json.loads((out / "manifest.json").read_text())
    assert {e["status"] for e in manifest} == {"ok"}
    assert (out / "index.html").exists()
