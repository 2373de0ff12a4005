"""Random draws, reps and market: everything a trial needs before any plan applies.

Draw first, then compute (cf. QuantEcon): every random number a trial uses
is drawn up front from that trial's own stream, so a trial's numbers do not
depend on chunk size, worker count or executor, and every plan sees the same
draws (common random numbers).

Streams: the run's root :class:`~numpy.random.SeedSequence` seeds one PCG64;
trial ``t`` reads that generator's sequence from position ``t * STREAM_STRIDE``
(mod 2**128, set with ``PCG64.advance``). The stride is the odd integer
nearest 2**128 / golden ratio, the same device as ``PCG64.jumped``: the
starting points of any 2**40 trials are at least about 2**87 draws apart,
far more than a trial uses (about 10**4).

Normals are made from the trial's uniforms by the Box-Muller transform
(``r = sqrt(-2 log(1 - u1))``, angle ``2 pi u2``; cosine and sine in single
precision, so a normal's absolute error is at most about ``2e-6 r``). On a machine with
vectorised ``log``/``sqrt``/``sin``/``cos`` this costs about half of NumPy's
ziggurat ``standard_normal`` (``python -m benchmarks`` prints both).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import InitVar, dataclass, field

import numpy as np

from simlib.errors import SimlibError
from simlib.memo import by_identity
from simlib.scenario import MONTHS, Role, Scenario

#: deals per rep-month with their own size draw; more are valued at the mean size
KA_SIZE_DRAWS = 4


def root_seed(rng: int | np.random.SeedSequence | np.random.Generator | None) -> np.random.SeedSequence:
    """Turn the one randomness argument into a root :class:`~numpy.random.SeedSequence`.

    ``None`` draws fresh entropy (recorded in provenance so the run can be repeated).
    """
    if isinstance(rng, np.random.SeedSequence):
        return rng
    if isinstance(rng, np.random.Generator):
        return np.random.SeedSequence(int(rng.integers(0, 2**63)))
    if rng is None:
        return np.random.SeedSequence()
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) and rng >= 0:
        return np.random.SeedSequence(int(rng))
    raise TypeError(f"rng: expected a non-negative int, SeedSequence, Generator or None, got {rng!r}")


#: trial ``t``'s stream starts ``t * STREAM_STRIDE`` draws into the root PCG64 sequence (mod 2**128)
STREAM_STRIDE = 0x9E3779B97F4A7C15F39CC0605CEDC835
_MOD128 = 1 << 128


class TrialStreams:
    """The per-trial streams of one root seed (one PCG64, repositioned per trial)."""

    def __init__(self, root: np.random.SeedSequence):
        self._bg = np.random.PCG64(root)
        self._base = self._bg.state
        self._gen = np.random.Generator(self._bg)
        self._pos: int | None = 0  # draws the generator is past the root's start (mod 2**128); None: unknown

    def generator(self, trial: int) -> np.random.Generator:
        """The generator positioned at the start of ``trial``'s stream (valid until the next call)."""
        self._bg.state = self._base
        self._bg.advance((int(trial) * STREAM_STRIDE) % _MOD128)
        self._pos = None  # the caller draws what it wants from here
        return self._gen

    def fill(self, trial: int, out: np.ndarray) -> None:
        """``out`` (contiguous float64) filled with the first uniforms of ``trial``'s stream.

        The same numbers as ``generator(trial).random(out=out)``: the
        generator is moved from where the last fill left it by the difference
        of the two positions (mod 2**128), one ``advance`` instead of a reset
        and an advance.
        """
        start = (int(trial) * STREAM_STRIDE) % _MOD128
        if self._pos is None:
            self._bg.state = self._base
            self._pos = 0
        self._bg.advance((start - self._pos) % _MOD128)
        self._gen.random(out=out)
        self._pos = (start + out.size) % _MOD128


def trial_generator(root: np.random.SeedSequence, trial: int) -> np.random.Generator:
    """The independent stream of one trial, as a generator of its own."""
    return TrialStreams(root).generator(trial)


def box_muller(u: np.ndarray) -> np.ndarray:
    """Standard normals from uniforms in [0, 1), in place, pairwise along the last axis.

    The last axis (even length ``2k``) holds ``k`` radius uniforms then ``k``
    angle uniforms; on return it holds ``r cos(theta)`` then ``r sin(theta)``.
    """
    if u.shape[-1] % 2:
        raise ValueError(f"box_muller: the last axis must have even length, got {u.shape[-1]}")
    k = u.shape[-1] // 2
    r, a = u[..., :k], u[..., k : 2 * k]
    np.subtract(1.0, r, out=r)  # (0, 1]
    np.log(r, out=r)
    r *= -2.0
    np.sqrt(r, out=r)
    theta = np.multiply(a, 2.0 * np.pi, dtype=np.float32)
    np.multiply(r, np.sin(theta), out=a)
    np.cos(theta, out=theta)
    r *= theta
    return u


def _role_draws(role: Role) -> tuple[list, list]:
    """(name, shape) of the standard normals and uniforms a role needs per trial."""
    R, M = role.headcount, MONTHS
    normals = [("ability", (R,)), ("territory", (R,)), ("quota_noise", (R,)), ("last_year", (R,))]
    uniforms = [("new_hire", (R,))]
    if role.process == "telesales":
        normals += [(n, (R, M)) for n in ("calls", "leads", "conv", "deal", "accuracy")]
    elif role.process == "key_account":
        normals += [("size", (R, M, KA_SIZE_DRAWS)), ("satisfaction", (R, M))]
        uniforms += [(n, (R, M)) for n in ("ndeals", "newacc", "milestones")]
    elif role.process == "generic":
        normals += [(n, (R, M)) for n in ("revenue", "units")]
    else:
        normals += [(n, (R, M)) for n in ("revenue", "psat", "adherence")]
        uniforms += [("opened", (R, M))]
    return normals, uniforms


def _named_measure_draws(role: Role) -> tuple[list, list]:
    """(name, shape) of the normals and uniforms of a role's named measures (``role.measures``; none without).

    They are drawn after every other draw of the trial (:class:`Layout`
    ``extra_*``), so adding a named measure leaves the numbers of everything
    else as they were.
    """
    nm, R, M = role.measures, role.headcount, MONTHS
    normals: list = []
    uniforms: list = []
    if nm is None or role.credited_on is not None:  # a credited role's roll up from the reps it is credited on
        return normals, uniforms
    if nm.market_share is not None:
        normals.append(("market_size", (R, M)))
    if nm.retention is not None:
        uniforms.append(("churn", (R, M)))
    if nm.profit_after_discounts is not None:
        normals.append(("discount", (R, M)))
    if nm.visits is not None:
        normals.append(("visits", (R, M)))
    if nm.segments is not None:
        normals.append(("segments", (R, M, len(nm.segments.shares))))
    return normals, uniforms


def appended_draws(role: Role) -> list[tuple[str, tuple]]:
    """(name, shape) of the uniforms a role's optional features need, drawn after all other draws of a trial.

    A role with a cancellation process (``cancel_rate`` in its production)
    draws, per rep-month, the quantile of its cancelled deals (``cancel``)
    and the month they cancel in (``cancel_when``). Roles without it draw
    nothing more, so every other draw of a scenario stays where it was.
    """
    R, M = role.headcount, MONTHS
    if getattr(role.process_params(), "cancel_rate", None) is not None:
        return [("cancel", (R, M)), ("cancel_when", (R, M))]
    return []


@dataclass
class Layout:
    """Where each named draw lives in a trial's vector of normals and uniforms.

    ``extra_normals`` and ``extra_uniforms`` (the named measures' draws) come
    after all the others in a trial's stream, as their own block: a scenario
    without named measures has none, and its numbers do not depend on them.
    """

    normals: dict[str, tuple[int, tuple]] = field(default_factory=dict)
    uniforms: dict[str, tuple[int, tuple]] = field(default_factory=dict)
    n_normal: int = 0
    n_uniform: int = 0
    extra_normals: dict[str, tuple[int, tuple]] = field(default_factory=dict)
    extra_uniforms: dict[str, tuple[int, tuple]] = field(default_factory=dict)
    n_extra_normal: int = 0
    n_extra_uniform: int = 0

    @classmethod
    def of(cls, scenario: Scenario) -> Layout:
        """The layout of a scenario's draws (built once per scenario object; do not modify)."""
        return _layout_of(scenario)

    @classmethod
    def _build(cls, scenario: Scenario) -> Layout:
        lay = cls()
        for key, shape in (("market.growth", (1,)), ("market.monthly", (MONTHS,))):
            lay._add(lay.normals, key, shape, "n_normal")
        for rname, role in scenario.roles.items():
            lay._add_role(rname, *_role_draws(role), extra=False)
        for rname, role in scenario.roles.items():
            lay._add_role(rname, *_named_measure_draws(role), extra=True)
        for rname, role in scenario.roles.items():  # appended after every other draw: used only by roles that need them
            for n, shape in appended_draws(role):
                lay._add(lay.uniforms, f"{rname}.{n}", shape, "n_uniform")
        for cur in fx_draw_currencies(scenario):  # after every other draw: scenarios without it keep theirs
            lay._add(lay.uniforms, f"fx.{cur}", (1,), "n_uniform")
        return lay

    def _add_role(self, rname: str, normals: list, uniforms: list, extra: bool) -> None:
        """A role's normals and uniforms, in the main blocks or the extra blocks drawn after everything else."""
        pre = "extra_" if extra else ""
        for n, shape in normals:
            self._add(getattr(self, f"{pre}normals"), f"{rname}.{n}", shape, f"n_{pre}normal")
        for n, shape in uniforms:
            self._add(getattr(self, f"{pre}uniforms"), f"{rname}.{n}", shape, f"n_{pre}uniform")

    def _add(self, table, key, shape, counter):
        off = getattr(self, counter)
        table[key] = (off, shape)
        setattr(self, counter, off + math.prod(shape))


@by_identity()
def _layout_of(scenario: Scenario) -> Layout:
    return Layout._build(scenario)


#: numbers per tile of trials that are drawn and then turned into normals while still in cache
DRAW_TILE = 1 << 17


def draw_width(layout: Layout) -> int:
    """Random numbers one trial reads from its stream (a row of :func:`draw_chunk`'s buffer)."""
    n2 = 2 * ((layout.n_normal + 1) // 2)
    e2 = 2 * ((layout.n_extra_normal + 1) // 2)
    return n2 + layout.n_uniform + e2 + layout.n_extra_uniform


def draw_chunk(layout: Layout, root: np.random.SeedSequence, trials: np.ndarray,
               buffer: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Draw every random number of the given trials; arrays are shaped (T, *shape).

    Each trial reads, from its own stream, ``2 ceil(n_normal / 2)`` uniforms
    that become its normals (:func:`box_muller`) and then ``n_uniform``
    uniforms; then, only when the scenario has named measures, the same
    again for their draws (``2 ceil(n_extra_normal / 2)`` and
    ``n_extra_uniform``), so the numbers before them are unchanged.

    Trials are drawn a tile of about :data:`DRAW_TILE` numbers at a time and
    each tile is turned into normals at once, while it is still in the
    processor's cache (Box-Muller works within a trial's row, so the numbers
    do not depend on the tiling). ``buffer``: a float64 array of at least
    ``len(trials) * draw_width(layout)`` elements to draw into instead of a
    new one (the returned arrays are views of it: valid until it is reused).
    """
    T = len(trials)
    n2 = 2 * ((layout.n_normal + 1) // 2)
    e2 = 2 * ((layout.n_extra_normal + 1) // 2)
    end = n2 + layout.n_uniform
    width = draw_width(layout)
    buf = np.empty((T, width)) if buffer is None else buffer[: T * width].reshape(T, width)
    streams = TrialStreams(root)
    step = max(1, DRAW_TILE // max(width, 1))
    for a in range(0, T, step):
        b = min(T, a + step)
        for i in range(a, b):
            streams.fill(int(trials[i]), buf[i])
        box_muller(buf[a:b, :n2])
        if e2:
            box_muller(buf[a:b, end:end + e2])
    return draw_views(layout, buf)


def draw_views(layout: Layout, buf: np.ndarray) -> dict[str, np.ndarray]:
    """Each named draw of a (T, :func:`draw_width`) buffer of drawn trials (normals already made), as a view (T, *shape)."""
    T = buf.shape[0]
    n2 = 2 * ((layout.n_normal + 1) // 2)
    e2 = 2 * ((layout.n_extra_normal + 1) // 2)
    end = n2 + layout.n_uniform
    z, u = buf[:, :n2], buf[:, n2:end]
    ze, ue = buf[:, end:end + e2], buf[:, end + e2:]
    out = {}
    for table, src in ((layout.normals, z), (layout.uniforms, u), (layout.extra_normals, ze),
                       (layout.extra_uniforms, ue)):
        for key, (off, shape) in table.items():
            out[key] = src[:, off : off + math.prod(shape)].reshape((T, *shape))
    return out


#: elements per array of one tile of trials in the elementwise passes of production (about 512 KB of float64)
TILE_ELEMENTS = 1 << 16


def trial_tiles(trials: int, per_trial: int) -> list[slice]:
    """Consecutive slices of ``trials`` whose arrays of ``per_trial`` elements a trial hold about :data:`TILE_ELEMENTS`.

    A long chain of elementwise steps runs faster tile by tile, its
    temporaries staying in the processor's cache, than over a whole chunk;
    the numbers are the same (each element sees the same operations).
    """
    step = max(1, TILE_ELEMENTS // max(per_trial, 1))
    return [slice(a, min(trials, a + step)) for a in range(0, trials, step)]


#: most float64 numbers a thread keeps for :func:`chunk_memory` between chunks (32 MB; beyond, new memory)
CHUNK_MEMORY_MAX = 4_000_000


class _ChunkMemory(threading.local):
    buf: np.ndarray | None = None
    used = 0  # numbers handed out in this chunk
    want = 0  # numbers asked for in this chunk (the next chunk's buffer)
    depth = 0  # open chunk_memory() blocks


_CHUNK = _ChunkMemory()


@contextmanager
def chunk_memory() -> Iterator[None]:
    """Within: :func:`year_array` hands out this thread's reused memory, handed out again in the next block.

    For a chunk of trials of which nothing is kept past the block (the
    engine's run that keeps no draws, behaviour off): its year's measures go
    into memory the thread reuses chunk after chunk, instead of new memory
    the operating system hands over page by page, zeroed (a fault per 4 KB
    page). The buffer is sized by what the previous block asked for (at most
    :data:`CHUNK_MEMORY_MAX` numbers); what does not fit is new memory. The
    numbers are the same: only where they are stored differs.
    """
    c = _CHUNK
    if c.depth == 0:
        need = min(c.want, CHUNK_MEMORY_MAX)
        if c.buf is not None and c.buf.size > CHUNK_MEMORY_MAX:  # the bound lowered: let it go
            c.buf = None
        if need and (c.buf is None or c.buf.size < need):
            c.buf = None  # the old one freed before the new one is taken
            c.buf = np.empty(need)
        c.used = c.want = 0
    c.depth += 1
    try:
        yield
    finally:
        c.depth -= 1
        if c.depth == 0:
            c.used = 0


def year_array(shape: tuple[int, ...]) -> np.ndarray:
    """``np.empty(shape)`` (float64, C-ordered); inside :func:`chunk_memory`, from the thread's reused memory."""
    c = _CHUNK
    if c.depth == 0:
        return np.empty(shape)
    n = math.prod(shape)
    step = -(-n // 8) * 8  # each array on a 64-byte boundary of the buffer
    c.want += step
    if c.buf is None or c.used + step > c.buf.size:
        return np.empty(shape)
    out = c.buf[c.used : c.used + n].reshape(shape)
    c.used += step
    return out


def sum_months(x: np.ndarray) -> np.ndarray:
    """``x.sum(axis=-1)`` for a last axis of 12 months, bit for bit, in fewer cycles.

    NumPy sums a contiguous run of 12 as ``((x0+x1)+(x2+x3)) + ((x4+x5)+(x6+x7))``
    and then adds ``x8..x11`` in turn (its pairwise sum below 128 terms);
    doing the same adds on whole month slices avoids its per-row overhead
    (``tests/test_fast_paths.py`` checks the two agree exactly, for the
    C-ordered arrays the engine makes).
    """
    if x.shape[-1] != MONTHS:
        return x.sum(axis=-1)
    c = [x[..., i] for i in range(MONTHS)]
    s = (c[0] + c[1]) + (c[2] + c[3])
    s += (c[4] + c[5]) + (c[6] + c[7])
    for i in range(8, MONTHS):
        s += c[i]
    return s


def lognormal_mean_one(sd: float, z: np.ndarray) -> np.ndarray:
    """exp(sd z - sd^2/2): lognormal with mean 1."""
    return np.exp(sd * z - 0.5 * sd * sd)


def market_multiplier(scenario: Scenario, draws: dict[str, np.ndarray]) -> np.ndarray:
    """Demand multiplier common to all reps, shape (T, 12), mean about 1 + growth_mean.

    Annual level ``(1+g) exp(s_g z - s_g^2/2)`` times a stationary AR(1) in logs
    with innovation sd ``sigma sqrt(1-rho^2)`` (so the marginal sd is sigma).
    """
    m = scenario.market
    annual = (1.0 + m.growth_mean) * lognormal_mean_one(m.growth_sd, draws["market.growth"][:, 0])
    zm = draws["market.monthly"]
    x = np.empty_like(zm)
    x[:, 0] = m.monthly_sd * zm[:, 0]
    innov = m.monthly_sd * np.sqrt(1.0 - m.monthly_rho**2)
    for k in range(1, MONTHS):
        x[:, k] = m.monthly_rho * x[:, k - 1] + innov * zm[:, k]
    return annual[:, None] * np.exp(x - 0.5 * m.monthly_sd**2)


@dataclass
class RoleWorld:
    """Plan-independent state of one role in a chunk of trials.

    Attributes
    ----------
    ability, territory : ndarray (T, R)
        Mean-one lognormal rep ability and territory potential.
    ramp : ndarray (T, R, 12)
        Productivity of new hires ramping linearly to 1 over ``ramp_months``.
    ramp_mean : ndarray (T, R)
        ``ramp.mean(axis=-1)`` (derived from ``ramp``).
    season : ndarray (12,)
        Seasonality, mean 1.
    market : ndarray (T, 12)
        Common demand multiplier.
    team : ndarray (R,)
        Team index of each rep (consecutive blocks of ``team_size``; with a
        roster, the index into its team names, members consecutive).
    base_share, ti_share : ndarray (R,) or None
        With a roster: each rep's base salary and target incentive relative to
        the role's (a plan's level times this is the rep's); None: everyone
        gets the role's.
    quota : ndarray (R,) or None
        With a roster that gives quotas: each rep's annual quota under the
        current plan (NaN: set by the plan's quota method); else None.
    exit_month : ndarray (T, R) or None
        In a multi-year run with attrition: the month (0-11) at whose end the
        seat's occupant leaves, -1 for none (a recoverable draw's balance is
        then settled); None: nobody leaves.
    """

    name: str
    role: Role
    draws: dict[str, np.ndarray]
    ability: np.ndarray
    territory: np.ndarray
    new_hire: np.ndarray
    ramp: np.ndarray
    season: np.ndarray
    market: np.ndarray
    team: np.ndarray
    n_teams: int
    ramp_mean: np.ndarray = field(init=False, repr=False)
    base_share: np.ndarray | None = None
    ti_share: np.ndarray | None = None
    quota: np.ndarray | None = None
    exit_month: np.ndarray | None = None
    #: ``ramp_mean`` when the maker knows it (the same numbers), else None: computed from ``ramp``
    known_ramp_mean: InitVar[np.ndarray | None] = None

    def __post_init__(self, known_ramp_mean: np.ndarray | None = None):
        # derived, so that dataclasses.replace(world, ramp=...) gets a fresh one (an InitVar is not carried over)
        self.ramp_mean = sum_months(self.ramp) / MONTHS if known_ramp_mean is None else known_ramp_mean

    @property
    def shape(self) -> tuple[int, int]:
        return self.ability.shape


def rep_labels(scenario: Scenario, name: str) -> tuple[list[str], list[str]]:
    """Names of a role's reps and of its teams, for per-rep and per-team answers.

    Returns
    -------
    rep_ids : list of str, one per rep (index ``r`` of the role's arrays)
        The roster's ``rep_id`` when the scenario names a roster (reps
        ordered team by team), else ``"<role>-0001"``, ``"<role>-0002"``, ...
    team_names : list of str, one per team (index ``RoleWorld.team``)
        The roster's team names, else ``"<role>-T1"``, ``"<role>-T2"``, ...
    """
    roster = scenario.roster_data
    if roster is not None:
        rr = roster.roles[name]
        return list(rr.ids), list(rr.teams)
    role = scenario.roles[name]
    n_teams = (role.headcount + role.team_size - 1) // role.team_size
    return ([f"{name}-{i + 1:04d}" for i in range(role.headcount)],
            [f"{name}-T{k + 1}" for k in range(n_teams)])


def role_world(scenario: Scenario, name: str, draws: dict[str, np.ndarray], market: np.ndarray) -> RoleWorld:
    """One role's reps in a chunk of trials: synthetic, or the roster's when the scenario names one."""
    role = scenario.roles[name]
    d = {k.split(".", 1)[1]: v for k, v in draws.items() if k.startswith(name + ".")}
    if scenario.roster_data is not None:
        return _roster_world(scenario, name, d, market)
    ability = lognormal_mean_one(role.ability_sd, d["ability"])
    territory = lognormal_mean_one(role.territory_sd, d["territory"])
    new_hire = d["new_hire"] < role.new_hire_share
    months = np.arange(MONTHS)
    ramp_curve = np.minimum(1.0, (months + 1.0) / role.ramp_months)
    # np.where(new_hire[..., None], ramp_curve, 1.0), as a gather of whole rows (no per-row broadcasting)
    rows = np.stack([np.ones(MONTHS), ramp_curve])
    ramp = np.take(rows, new_hire.view(np.uint8), axis=0, mode="clip", out=year_array((*new_hire.shape, MONTHS)))
    # each rep's mean ramp is its row's, the same adds (sum_months) on the same numbers: gathered, not summed again
    ramp_mean = np.take(sum_months(rows) / MONTHS, new_hire.view(np.uint8), mode="clip")
    team = np.arange(role.headcount) // role.team_size
    return RoleWorld(
        name=name,
        role=role,
        draws=d,
        ability=ability,
        territory=territory,
        new_hire=new_hire,
        ramp=ramp,
        season=np.asarray(role.season),
        market=market,
        team=team,
        n_teams=int(team[-1]) + 1,
        known_ramp_mean=ramp_mean,
    )


def roster_ramp(tenure: np.ndarray, ramp_months: int) -> np.ndarray:
    """Ramp (R, 12) of reps with ``tenure`` whole months at the start of the year: ``min(1, (t + m + 1) / ramp_months)``.

    A rep hired at the start of the year (tenure 0) ramps as a synthetic new
    hire; one with tenure ``t`` continues from month ``t`` of the same curve.
    """
    months = np.arange(MONTHS)
    return np.minimum(1.0, (tenure[:, None] + months[None, :] + 1.0) / ramp_months)


def roster_territory(given: np.ndarray, drawn: np.ndarray) -> np.ndarray:
    """Territory potential (T, R): the roster's, scaled to mean 1 over the reps that have one; drawn for the others."""
    has = ~np.isnan(given)
    if not has.any():
        return drawn
    return np.where(has, np.where(has, given, 1.0) / given[has].mean(), drawn)


def track_draws(mean: np.ndarray, var: np.ndarray, sd_a: float, sd_p: float, z_a: np.ndarray,
                z_p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ability and territory (T, R) of reps whose log productivity ``x = log(a p)`` has posterior N(mean, var).

    ``x = mean + sqrt(var) z_a``; it is split into ``log a`` and ``log p`` as
    their joint normal prior implies given the sum (``log a`` takes the share
    ``sd_a^2 / (sd_a^2 + sd_p^2)`` of x's deviation from its prior mean, plus
    the conditional spread ``sd_a sd_p / sqrt(sd_a^2 + sd_p^2)`` times ``z_p``),
    so the product ``a p`` is exactly ``exp(x)``. ``z_a``, ``z_p`` are the
    trial's own normals (common random numbers, any chunking).
    """
    tau2 = sd_a * sd_a + sd_p * sd_p
    x = mean + np.sqrt(var) * z_a
    mu_a, mu_x = -0.5 * sd_a * sd_a, -0.5 * tau2
    if tau2 > 0:
        log_a = mu_a + (sd_a * sd_a / tau2) * (x - mu_x) + (sd_a * sd_p / np.sqrt(tau2)) * z_p
    else:
        log_a = np.full_like(x, mu_a)
    return np.exp(log_a), np.exp(x - log_a)


def _from_track_record(scenario: Scenario, name: str, d: dict[str, np.ndarray], ability: np.ndarray,
                       territory: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ability and territory with each rep's history applied (reps without history keep the role's draws)."""
    track = scenario.track_record
    if track is None:
        raise SimlibError(
            f"{scenario.source}: the scenario names history '{scenario.history}', which is applied when the "
            "scenario is loaded with simlib.load_scenario or simlib.fit.individuals.with_history "
            "(the simlib commands do this)")
    mean, var, _ = track.roles[name]
    has = ~np.isnan(mean)
    if not has.any():
        return ability, territory
    role = scenario.roles[name]
    a, p = track_draws(np.where(has, mean, 0.0), np.where(has, var, 0.0), role.ability_sd, role.territory_sd,
                       d["ability"], d["territory"])
    return np.where(has, a, ability), np.where(has, p, territory)


def _roster_world(scenario: Scenario, name: str, d: dict[str, np.ndarray], market: np.ndarray) -> RoleWorld:
    """A role's world with the roster's reps: their teams, tenure (ramp), pay levels, quotas and territories.

    Ability is drawn from the role's distribution, as for a synthetic rep.
    """
    role = scenario.roles[name]
    rr = scenario.roster_data.roles[name]
    T = d["ability"].shape[0]
    ramp_r = roster_ramp(rr.tenure, role.ramp_months)
    ramp = np.broadcast_to(ramp_r, (T, *ramp_r.shape)).copy()
    quota = None if np.isnan(rr.quota).all() else rr.quota
    ability = lognormal_mean_one(role.ability_sd, d["ability"])
    territory = roster_territory(rr.territory, lognormal_mean_one(role.territory_sd, d["territory"]))
    if scenario.history is not None:
        ability, territory = _from_track_record(scenario, name, d, ability, territory)
    return RoleWorld(
        name=name,
        role=role,
        draws=d,
        ability=ability,
        territory=territory,
        new_hire=np.broadcast_to(rr.tenure < role.ramp_months, (T, rr.headcount)).copy(),
        ramp=ramp,
        season=np.asarray(role.season),
        market=market,
        team=rr.team,
        n_teams=len(rr.teams),
        base_share=rr.base_salary / role.base_salary if role.base_salary > 0 else np.ones(rr.headcount),
        ti_share=rr.target_incentive / role.target_incentive if role.target_incentive > 0 else np.ones(rr.headcount),
        quota=quota,
    )


# --------------------------------------------------------------------------
# Exchange rates (roles paid in other currencies), docs/model.md section 3
# --------------------------------------------------------------------------


def uses_currencies(scenario: Scenario) -> bool:
    """Whether some role is paid in another currency than the scenario's (then results carry the currency metrics)."""
    return any(r.currency and r.currency != scenario.currency for r in scenario.roles.values())


def fx_draw_currencies(scenario: Scenario) -> list[str]:
    """Currencies some role is paid in whose rate is uncertain (``fx_sd`` > 0): one uniform draw each, in this order."""
    used = {r.currency for r in scenario.roles.values() if r.currency and r.currency != scenario.currency}
    return sorted(c for c in used if scenario.fx_sd.get(c, 0.0) > 0)


def fx_rate(scenario: Scenario, role: str, draws: dict[str, np.ndarray]) -> np.ndarray | None:
    """Units of the reporting currency per unit of a role's currency in each trial, (T,); None in the reporting currency.

    The scenario's ``fx`` rate, times a mean-one lognormal of log sd
    ``fx_sd`` (the rate's year average, one draw per trial and currency,
    shared by the roles paid in it) when that is given.
    """
    cur = scenario.roles[role].currency
    if cur is None or cur == scenario.currency:
        return None
    T = draws["market.growth"].shape[0]
    sd = scenario.fx_sd.get(cur, 0.0)
    if sd > 0:
        from scipy.special import ndtri  # SciPy loads slowly: only when a rate is uncertain

        return scenario.fx[cur] * lognormal_mean_one(sd, ndtri(draws[f"fx.{cur}"][:, 0]))
    return np.full(T, scenario.fx[cur])
