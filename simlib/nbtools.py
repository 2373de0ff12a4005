"""Helpers that scenario notebooks call (the notebook contract).

Every notebook in ``notebooks/`` that ``simlib report`` runs follows one contract:

* exactly one cell tagged ``parameters`` holding plain literals, including
  ``output_json`` (where the notebook's key results go, ``""`` for none);
* key results saved with :func:`save_results` (JSON, NaN -> null, atomic write),
  so CI asserts on numbers rather than on rendered text;
* a provenance table shown with :func:`show_provenance` / :func:`provenance_table`
  so a reader of the HTML report sees parameters, seed, versions and the
  scenario hash.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._version import __version__

__all__ = [
    "jsonable",
    "save_results",
    "load_results",
    "provenance_table",
    "show_provenance",
    "versions",
    "records",
]


def versions() -> dict[str, str]:
    """Versions of the packages that shape the numbers and the report.

    Returns
    -------
    dict
        Package name -> version string (``"absent"`` when not installed).
    """
    out = {"simlib": __version__, "python": platform.python_version(), "numpy": np.__version__, "pandas": pd.__version__}
    for mod in ("scipy", "matplotlib", "papermill", "nbconvert"):
        try:
            m = __import__(mod)
            out[mod] = getattr(m, "__version__", "unknown")
        except Exception:  # noqa: BLE001 - a missing optional package is just reported
            out[mod] = "absent"
    return out


def jsonable(obj: Any) -> Any:
    """Convert ``obj`` to plain JSON types.

    numpy scalars and arrays become Python numbers and lists, non-finite floats
    become ``None`` (JSON ``null``), DataFrames become lists of records, Series
    become dicts, paths become strings, sets and tuples become lists, and
    objects with a ``to_dict()`` method are converted through it.

    Parameters
    ----------
    obj : Any
        Nested structure of dicts, lists, numbers, strings, numpy and pandas objects.

    Returns
    -------
    Any
        The same structure built only from dict, list, str, int, float, bool and None.

    Raises
    ------
    TypeError
        For an object with no JSON representation (the message names its type).
    """
    if obj is None or isinstance(obj, (str, bool)):
        return obj
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, pd.DataFrame):
        return [jsonable(r) for r in obj.to_dict(orient="records")]
    if isinstance(obj, pd.Series):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return [jsonable(v) for v in obj.tolist()]
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (Path, os.PathLike)):
        return os.fspath(obj)
    if isinstance(obj, (_dt.datetime, _dt.date)):
        return obj.isoformat()
    if obj is pd.NA or obj is pd.NaT:
        return None
    if hasattr(obj, "to_dict") and callable(obj.to_dict):
        return jsonable(obj.to_dict())
    raise TypeError(f"cannot save a {type(obj).__name__} as JSON")


def save_results(data: dict, path: str | os.PathLike) -> None:
    """Write a notebook's key results as JSON, atomically.

    Parameters
    ----------
    data : dict
        Results; numpy/pandas values are converted (see :func:`jsonable`),
        NaN and infinities are written as ``null``.
    path : str or PathLike
        Destination file; ``""`` or ``None`` means "do not save". Parent
        directories are created. The file is written to a temporary name in
        the same directory and then renamed, so a reader never sees a
        half-written file and a failure leaves any earlier file intact.

    Raises
    ------
    TypeError
        If ``data`` is not a dict or holds a value with no JSON form.
    """
    if not path:
        return
    if not isinstance(data, Mapping):
        raise TypeError(f"save_results: expected a dict of results, got {type(data).__name__}")
    text = json.dumps(jsonable(data), indent=2, allow_nan=False, sort_keys=False)
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.write("\n")
        os.replace(tmp, dest)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def load_results(path: str | os.PathLike) -> dict:
    """Read a JSON written by :func:`save_results`."""
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def _provenance_of(result_or_dict: Any) -> dict[str, Any]:
    if result_or_dict is None:
        return {}
    if hasattr(result_or_dict, "provenance"):
        return dict(result_or_dict.provenance)
    if isinstance(result_or_dict, Mapping):
        if "provenance" in result_or_dict and isinstance(result_or_dict["provenance"], Mapping):
            return dict(result_or_dict["provenance"])
        return dict(result_or_dict)
    raise TypeError(f"provenance_table: expected a SimulationResult or dict, got {type(result_or_dict).__name__}")


def provenance_table(result_or_dict: Any = None, parameters: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """A two-column table (item, value) of what produced a notebook's numbers.

    Parameters
    ----------
    result_or_dict : SimulationResult, dict or None
        A simulation result (its ``provenance``), a dict with a ``provenance``
        key (e.g. ``result.to_dict()``), or a provenance dict itself.
    parameters : dict, optional
        The notebook's parameters as run; listed as ``param: <name>`` rows.

    Returns
    -------
    pandas.DataFrame
        Columns ``item`` and ``value`` (strings): provenance entries (scenario,
        scenario hash, seed, trials, behaviour, plans...), parameters and
        package versions.
    """
    prov = _provenance_of(result_or_dict)
    rows: list[tuple[str, str]] = []
    for k, v in prov.items():
        rows.append((k, _fmt(v)))
    for k, v in (parameters or {}).items():
        rows.append((f"param: {k}", _fmt(v)))
    have = {r[0] for r in rows}
    for k, v in versions().items():
        key = f"{k}_version"
        if key not in have:
            rows.append((key, v))
    return pd.DataFrame(rows, columns=["item", "value"])


def _fmt(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        return ", ".join(_fmt(x) for x in v)
    if isinstance(v, Mapping):
        return json.dumps(jsonable(v))
    return str(v)


def show_provenance(result_or_dict: Any = None, parameters: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Display :func:`provenance_table` in a notebook (returns it too).

    Uses ``IPython.display`` when available and falls back to ``print``.
    """
    tab = provenance_table(result_or_dict, parameters)
    try:
        from IPython.display import display

        display(tab.style.hide(axis="index").set_caption("Provenance: how these numbers were produced"))
    except Exception:  # noqa: BLE001 - outside IPython / without jinja2
        print(tab.to_string(index=False))
    return tab


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """DataFrame -> list of JSON-ready records (NaN -> None)."""
    return jsonable(df)
