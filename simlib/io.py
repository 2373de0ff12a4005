"""Files: what ships with simlib, and writing so that a reader never sees half a file.

:data:`SHIPPED` is the folder of scenarios and notebooks installed with the
package (package data, found through :mod:`importlib.resources`), so commands
that use them work from any folder and from an installed wheel.
"""

from __future__ import annotations

import datetime as _dt
import importlib.resources
import math
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

#: scenarios (``scenarios/``) and notebooks (``notebooks/``) shipped with the package
SHIPPED = Path(str(importlib.resources.files("simlib"))) / "shipped"


def write_atomic(path: str | os.PathLike, content: str | Callable[[Path], None]) -> None:
    """Write ``path`` through a temporary file in the same directory, then rename it over ``path``.

    ``content`` is the text to write (UTF-8), or a function that writes the
    temporary file given its path (e.g. a DataFrame's ``to_csv``). Parent
    directories are created; the file is readable by all (0644), like any
    report or scenario a user shares. On any error the temporary file is
    removed and an existing ``path`` is left as it was.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        if callable(content):
            os.close(fd)
            content(Path(tmp))
        else:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(content)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

def resolve_path(path: str | os.PathLike) -> Path:
    """Find a file named relative to the working directory, else among the files shipped with simlib.

    Notebooks run with their own directory as working directory in JupyterLab
    and with the caller's directory under papermill; a parameter such as
    ``"scenarios/default.yaml"`` works in both, and from an installed package.

    Raises
    ------
    FileNotFoundError
        Naming every place looked at.
    """
    p = Path(path).expanduser()
    tried = [p] if p.is_absolute() else [Path.cwd() / p, SHIPPED / p]
    for cand in tried:
        if cand.exists():
            return cand.absolute()
    raise FileNotFoundError(f"{os.fspath(path)}: no such file (looked at {', '.join(map(str, tried))})")


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
    import numpy as np
    import pandas as pd

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
