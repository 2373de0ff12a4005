"""Where the trial chunks run: serial, a local process pool, or a Dask cluster.

Results never depend on the choice: every trial draws from its own random
stream and per-trial metrics are reduced in trial order (see
:mod:`simlib.engine.core`), so the same seed gives bit-identical numbers serially,
on a :class:`~concurrent.futures.ProcessPoolExecutor`, or on a Dask cluster
of any size.

``scheduler`` values understood by :func:`resolve_executor` and the CLI's
``--scheduler``:

- ``None`` / ``"auto"``: all local cores (a process pool with one worker
  per usable core, :func:`cpu_count`) when the work is large enough to pay
  for starting it, else serial;
- ``"serial"``: this process only;
- ``"processes"`` or ``"processes:N"``: a local process pool (N workers);
- ``"local"`` or ``"local:N"``: a Dask ``LocalCluster`` (N single-threaded
  worker processes; default: one per core);
- ``"tcp://host:port"``, ``"tls://host:port"`` or ``"host:port"`` (a Dask
  scheduler address): connect a Dask ``Client`` to a running cluster
  (dask-jobqueue, Kubernetes, ``dask scheduler``/``dask worker`` by hand).
  The scheduler must answer Dask's handshake within
  :data:`CONNECT_TIMEOUT` seconds (:func:`connect_client`). Dask exchanges
  pickles: connect only to a scheduler you trust;
- a ``concurrent.futures.Executor`` or ``dask.distributed.Client`` object:
  used as is (and not closed).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import re
import uuid
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

from simlib.errors import SimlibError
from simlib.memo import ContentCache

#: seconds a Dask scheduler has to accept the connection and answer the handshake
CONNECT_TIMEOUT = 20.0

_HOST = r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252}))"
_ADDRESS = re.compile(rf"(?P<scheme>tcp|tls)://(?P<host>{_HOST})(?::(?P<port>\d{{1,5}}))?/?")
_BARE = re.compile(rf"(?P<host>{_HOST}):(?P<port>\d{{1,5}})")

#: rep-months of work (behaviour off) below which the automatic choice stays serial: about a second
#: of serial work, against a pool's start-up and the shipping of chunks and results (from a few
#: hundredths of a second with the fork start method to about a second with spawn or forkserver)
AUTO_MIN_WORK = 20_000_000

#: a rep-month with a behaviour model costs about this many rep-months with behaviour off
#: (``python -m benchmarks``: behaviour on vs off, per rep-month)
BEHAVIOUR_COST = 8.0


def work_estimate(rep_months: float, behaviour: Any) -> float:
    """Rep-months of a job in behaviour-off units, for :func:`resolve_executor`'s automatic choice."""
    return rep_months * (1.0 if behaviour == "none" else BEHAVIOUR_COST)


def cpu_count() -> int:
    """Cores this process may use (affinity-aware)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def worker_count(executor: Any) -> int:
    """Workers an executor runs tasks on: a Dask cluster's threads, a pool's processes (else this machine's cores)."""
    if is_dask_client(executor):
        try:
            workers = executor.scheduler_info().get("workers", {})
            return max(1, sum(int(w.get("nthreads", 1)) for w in workers.values()))
        except (OSError, AttributeError, TypeError, ValueError):
            return cpu_count()
    n = getattr(executor, "_max_workers", None)  # concurrent.futures pools keep their size there
    return int(n) if isinstance(n, int) and n > 0 else cpu_count()


def _count(text: str, what: str) -> int | None:
    _, _, n = text.partition(":")
    if not n:
        return None
    try:
        v = int(n)
    except ValueError:
        raise SimlibError(f"--scheduler {text}: expected {what}:N with N a whole number of workers") from None
    if v < 1:
        raise SimlibError(f"--scheduler {text}: expected at least 1 worker")
    return v


def local_cluster_client(n_workers: int | None = None, threads_per_worker: int = 1, **kw: Any):
    """Start a Dask ``LocalCluster`` of worker processes and return a connected ``Client``.

    Closing the client (``client.close()``) does not stop the cluster; use
    ``client.cluster.close()`` too, or :func:`resolve_executor` which does both.
    """
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - dask is a dependency
        raise SimlibError("Dask is not installed: pip install 'dask[distributed]'") from exc
    cluster = LocalCluster(
        n_workers=n_workers or cpu_count(), threads_per_worker=threads_per_worker, processes=True,
        dashboard_address=kw.pop("dashboard_address", None), **kw,
    )
    return Client(cluster)


def is_dask_client(obj: Any) -> bool:
    """True for a ``dask.distributed.Client`` (duck-typed, without importing dask)."""
    return hasattr(obj, "gather") and hasattr(obj, "submit") and hasattr(obj, "scheduler_info")


@contextlib.contextmanager
def resolve_executor(scheduler: Any = None, *, work: float | None = None) -> Iterator[Any]:
    """Turn a ``scheduler`` choice into something :func:`simlib.simulate` accepts as ``executor``.

    Parameters
    ----------
    scheduler : None, str, Executor or dask Client
        See the module docstring.
    work : float, optional
        Estimated rep-months of the job in behaviour-off units
        (:func:`work_estimate`); with ``None``/``"auto"`` a process
        pool is used only when ``work >= AUTO_MIN_WORK`` and there is more
        than one core.

    Yields
    ------
    None, Executor or Client
        Pools and clusters created here are shut down on exit; objects passed
        in are left running.
    """
    if scheduler is None or scheduler == "auto":
        n = cpu_count()
        if n > 1 and work is not None and work >= AUTO_MIN_WORK:
            with ProcessPoolExecutor(max_workers=n) as ex:
                yield ex
        else:
            yield None
        return
    if scheduler == "serial":
        yield None
        return
    if isinstance(scheduler, Executor) or hasattr(scheduler, "submit"):  # an executor or a dask Client
        yield scheduler
        return
    if not isinstance(scheduler, str):
        raise SimlibError(f"scheduler: expected None, 'auto', 'serial', 'processes[:N]', 'local[:N]', a Dask address, "
                          f"an Executor or a Dask Client; got {scheduler!r}")
    if scheduler == "processes" or scheduler.startswith("processes:"):
        with ProcessPoolExecutor(max_workers=_count(scheduler, "processes") or cpu_count()) as ex:
            yield ex
        return
    if scheduler == "local" or scheduler.startswith("local:"):
        client = local_cluster_client(_count(scheduler, "local"))
        try:
            yield client
        finally:
            cluster = client.cluster
            client.close()
            cluster.close()
        return
    if "://" in scheduler or ":" in scheduler:
        client = connect_client(scheduler_address(scheduler))
        try:
            yield client
        finally:
            client.close()
        return
    raise SimlibError(
        f"--scheduler {scheduler!r}: expected 'auto', 'serial', 'processes[:N]', 'local[:N]' "
        f"or a Dask scheduler address such as tcp://10.0.0.5:8786"
    )


def scheduler_address(text: str) -> str:
    """A Dask scheduler address checked for form: ``tcp://host[:port]``, ``tls://host[:port]`` or ``host:port``.

    Returns
    -------
    str
        The address with its scheme (``host:port`` becomes ``tcp://host:port``).

    Raises
    ------
    SimlibError
        Any other form (``http://...``, ``foo:bar``), or a port outside 1-65535.
    """
    m = _ADDRESS.fullmatch(text) or _BARE.fullmatch(text)
    port = m.group("port") if m else None
    if m is None or (port is not None and not 1 <= int(port) <= 65535):
        raise SimlibError(f"--scheduler {text[:100]!r}: expected 'auto', 'serial', 'processes[:N]', 'local[:N]' or a "
                          f"Dask scheduler address tcp://host:port or tls://host:port (e.g. tcp://10.0.0.5:8786)")
    return text if "://" in text else f"tcp://{text}"


def connect_client(address: str, timeout: float = CONNECT_TIMEOUT) -> Any:
    """A Dask ``Client`` connected to the scheduler at ``address``, once it has answered within ``timeout`` seconds.

    The handshake is tried first on its own, bounded by ``timeout`` (Dask's
    own connect timeout does not cover a server that accepts and never
    answers), so a silent server, a closed port and a service that is not a
    Dask scheduler each give a clear error instead of a hang or a huge allocation.

    Raises
    ------
    SimlibError
        Dask is not installed, or the scheduler did not answer as one.
    """
    try:
        from dask.distributed import Client
    except ImportError as exc:  # pragma: no cover
        raise SimlibError("Dask is not installed: pip install 'dask[distributed]'") from exc
    import asyncio

    with ThreadPoolExecutor(max_workers=1) as ex:  # a fresh event loop, also under Jupyter's running one
        problem = ex.submit(asyncio.run, _handshake(address, timeout)).result()
    if problem:
        raise SimlibError(f"--scheduler {address}: {problem}")
    try:
        return Client(address, timeout=f"{max(timeout, 1.0)}s")
    except (OSError, asyncio.TimeoutError) as exc:
        raise SimlibError(f"--scheduler {address}: could not reach a Dask scheduler there ({exc})") from None


async def _handshake(address: str, timeout: float) -> str | None:
    """None when a Dask scheduler at ``address`` completes the handshake within ``timeout`` seconds, else why not."""
    import asyncio

    from distributed.comm import connect
    from distributed.security import Security

    args = Security().get_connection_args("client")
    try:
        comm = await asyncio.wait_for(connect(address, timeout=timeout, **args), timeout)
    except asyncio.TimeoutError:
        return f"no answer within {timeout:g} s (is a Dask scheduler listening there?)"
    except OSError as exc:
        return f"could not reach a Dask scheduler there ({exc})"
    except Exception as exc:  # noqa: BLE001 - a service that is not Dask sends bytes Dask cannot read
        return f"the service there is not a Dask scheduler ({type(exc).__name__})"
    await comm.close()
    return None


# --------------------------------------------------------------------------
# Sending a run's context to workers once
# --------------------------------------------------------------------------

#: what this process received as :class:`Shipped` (a worker keeps a few runs' contexts), bounded in entries and bytes
_RECEIVED = ContentCache(max_items=8, max_bytes=1e9)


class Shipped:
    """An object pickled once in the client and unpickled once per worker process, however many tasks carry it.

    A process pool pickles each task's arguments: a scenario and a behaviour
    model with every plan's solved tables (tens of MB for a sweep's 40 plans)
    would be pickled for every chunk and unpickled by every task. Wrapped
    here, it is pickled once (:attr:`blob`); each task carries the bytes, and
    :meth:`get` in a worker unpickles them the first time and keeps the object
    (:data:`_RECEIVED`), so a worker's later tasks of the same run reuse it
    with whatever it built on first use (the calibration sample, memoised
    plan variants). On Dask, :func:`ship` scatters instead.
    """

    __slots__ = ("key", "blob")

    def __init__(self, obj: Any):
        self.blob = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        self.key = uuid.uuid4().hex

    def __getstate__(self) -> tuple[str, bytes]:
        return self.key, self.blob

    def __setstate__(self, state: tuple[str, bytes]) -> None:
        self.key, self.blob = state

    def get(self) -> Any:
        """The object (unpickled on this process's first call for this shipment)."""
        hit = _RECEIVED.get(self.key, _RECEIVED)
        if hit is _RECEIVED:
            hit = pickle.loads(self.blob)
            _RECEIVED.put(self.key, hit, float(len(self.blob)))
        return hit


def ship(executor: Any, obj: Any) -> Any:
    """``obj`` as tasks on ``executor`` should carry it: itself (serial), a Dask future (scattered once), or :class:`Shipped`."""
    if executor is None or executor == "serial" or obj is None:
        return obj
    if is_dask_client(executor):
        return executor.scatter(obj, hash=False)
    return Shipped(obj)


def received(obj: Any) -> Any:
    """The object a task was given through :func:`ship` (a Dask future arrives as the object itself)."""
    return obj.get() if isinstance(obj, Shipped) else obj


class _Later:
    """A serial task: run when its result is asked for."""

    __slots__ = ("fn", "args")

    def __init__(self, fn, args: tuple):
        self.fn, self.args = fn, args

    def result(self) -> Any:
        return self.fn(*self.args)


def submit_task(executor: Any, fn, args: tuple) -> Any:
    """Start ``fn(*args)`` on ``executor`` (serial: when its result is asked for); returns a handle for :func:`task_result`."""
    if executor is None or executor == "serial":
        return _Later(fn, args)
    if is_dask_client(executor):
        return executor.submit(fn, *args, pure=False)
    if hasattr(executor, "submit"):  # concurrent.futures.Executor
        return executor.submit(fn, *args)
    raise TypeError(f"executor: expected None, 'serial', a concurrent.futures Executor or a dask Client, got {executor!r}")


def task_result(handle: Any) -> Any:
    """The result of a :func:`submit_task` handle (a Dask future is released once read)."""
    out = handle.result()
    release = getattr(handle, "release", None)
    if release is not None:
        release()
    return out
