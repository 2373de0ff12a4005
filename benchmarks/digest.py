"""``python -m benchmarks.digest``: digests of simulated numbers, to show a refactor changed none.

Runs ``simlib run scenarios/default.yaml --trials 400 --seed 3 --format json``
under ``dynamic`` and ``none`` behaviour, and two sweeps (one dynamic, one with
behaviour off over the pay-curve aliases), and prints a SHA-256 of each
result's numbers. Provenance (creation time, versions, file paths) is left out,
so two checkouts with the same model print the same digests.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = str(ROOT / "scenarios" / "default.yaml")

RUNS = {
    "run dynamic": ["run", SCENARIO, "--trials", "400", "--seed", "3", "--format", "json", "--behaviour", "dynamic"],
    "run none": ["run", SCENARIO, "--trials", "400", "--seed", "3", "--format", "json", "--behaviour", "none"],
}
SWEEPS = {
    "sweep dynamic": ["--param", "target_level=0.9,1.0,1.1", "--param", "team_weight=0,0.3", "--trials", "200"],
    "sweep none": ["--param", "cap=1.5,none", "--param", "threshold=0.5", "--param", "accelerator=1.5",
                   "--param", "pay_mix=0.4", "--trials", "100", "--behaviour", "none"],
}


def _simlib(args: list[str]) -> str:
    out = subprocess.run([sys.executable, "-m", "simlib", *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"simlib {' '.join(args)} failed (exit {out.returncode}):\n{out.stderr}")
    return out.stdout


def digests() -> dict[str, str]:
    """Name -> SHA-256 of the numbers each command produces."""
    found = {}
    for name, args in RUNS.items():
        doc = json.loads(_simlib(args))
        doc.pop("provenance", None)
        found[name] = hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()
    with tempfile.TemporaryDirectory() as tmp:
        for name, args in SWEEPS.items():
            out = Path(tmp) / f"{name.replace(' ', '_')}.csv"  # a new file each: sweep --out never overwrites
            _simlib(["sweep", SCENARIO, *args, "--seed", "3", "--out", str(out)])
            found[name] = hashlib.sha256(out.read_bytes()).hexdigest()
    return found


def main() -> int:
    for name, digest in digests().items():
        print(f"{name:15s} {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
