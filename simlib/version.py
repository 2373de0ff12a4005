"""simlib's version, and the installed versions of other packages (read from package metadata, not by importing them)."""

from __future__ import annotations

from importlib import metadata

__version__ = "0.1.0"


def package_version(name: str) -> str:
    """Installed version of distribution ``name`` from its metadata (``"absent"`` when not installed).

    Reading the metadata costs microseconds; importing a package to read its
    ``__version__`` can cost seconds (papermill, nbconvert).
    """
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "absent"
