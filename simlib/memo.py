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


class ContentCache:
    """A bounded least-recently-used table of values keyed by content (hashable keys such as digests).

    Used for results that are expensive to recompute and depend only on what
    the key describes (a role's solved behaviour under a plan's content), so
    a sweep, an optimiser or an interactive session that comes back to the
    same content finds it. Bounded both in entries and in bytes (each value's
    size as the caller states it): the least recently used entries go first.
    """

    def __init__(self, max_items: int = 4096, max_bytes: float = 256e6):
        self.max_items, self.max_bytes = int(max_items), float(max_bytes)
        self._table: dict[Any, tuple[Any, float]] = {}
        self._bytes = 0.0

    def __len__(self) -> int:
        return len(self._table)

    def __contains__(self, key: Any) -> bool:
        return key in self._table

    @property
    def nbytes(self) -> float:
        """Bytes held, as stated by the callers of :meth:`put`."""
        return self._bytes

    def get(self, key: Any, default: Any = None) -> Any:
        """The value stored under ``key`` (now the most recently used), else ``default``."""
        hit = self._table.pop(key, None)
        if hit is None:
            return default
        self._table[key] = hit
        return hit[0]

    def put(self, key: Any, value: Any, nbytes: float = 0.0) -> None:
        """Store ``value`` under ``key`` (``nbytes`` its size), dropping the least recently used past the bounds."""
        old = self._table.pop(key, None)
        if old is not None:
            self._bytes -= old[1]
        self._table[key] = (value, float(nbytes))
        self._bytes += float(nbytes)
        while self._table and (len(self._table) > self.max_items or self._bytes > self.max_bytes):
            if len(self._table) == 1:  # a single value larger than the bound is kept until the next one
                break
            self._drop_oldest()

    def _drop_oldest(self) -> None:
        key = next(iter(self._table))
        _, size = self._table.pop(key)
        self._bytes -= size

    def clear(self) -> None:
        """Empty the table."""
        self._table.clear()
        self._bytes = 0.0
