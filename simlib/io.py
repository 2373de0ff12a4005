"""Files: what ships with simlib, and writing so that a reader never sees half a file.

:data:`SHIPPED` is the folder of scenarios and notebooks installed with the
package (package data, found through :mod:`importlib.resources`), so commands
that use them work from any folder and from an installed wheel.
"""

from __future__ import annotations

import importlib.resources
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

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
