"""Memoising pure functions of immutable scenario objects (validated, frozen pydantic models).

Frozen models with list fields are not hashable, so results are keyed on the
object's identity; the entry keeps a reference to the object, so an ``id`` is
never reused while its entry lives. The table is emptied when it grows past
``maxsize`` (a long session that builds many scenarios).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def by_identity(maxsize: int = 4096) -> Callable[[F], F]:
    """Decorator: memoise ``fn(obj, *args)`` on ``obj``'s identity and the (hashable) ``args``."""

    def deco(fn: F) -> F:
        table: dict[tuple, tuple[Any, Any]] = {}

        @functools.wraps(fn)
        def wrapper(obj, *args):
            key = (id(obj), *args)
            hit = table.get(key)
            if hit is not None and hit[0] is obj:
                return hit[1]
            value = fn(obj, *args)
            if len(table) >= maxsize:
                table.clear()
            table[key] = (obj, value)
            return value

        wrapper.cache_clear = table.clear  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return deco
