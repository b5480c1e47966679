"""The rules of hot spots and surges, on plain numbers: neighbour weights between grids, the
Getis-Ord Gi* statistic, the Poisson test of a day against a grid's own history, and the
Benjamini-Hochberg control of false discoveries over every grid and category tested.

Two tests guard each finding. Gi* z-scores are a normal approximation that overstates
significance when counts are small (a grid with 3 cases where the city averages 0.02 gets
z > 6), so a hot spot must also pass an exact Poisson test of its neighbourhood's count,
and both kinds need a minimum number of cases and a minimum ratio to what was expected.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray
from scipy import sparse
from scipy.spatial import cKDTree
from scipy.stats import nbinom, norm, poisson
from shapely import STRtree
from shapely.geometry.base import BaseGeometry

from civicgrid.core.i18n import LOCALES, N_, Locale, format_date, translate
from civicgrid.core.permissions import Actor, Role
from civicgrid.core.workflow import (
    ActionSpec,
    Context,
    Event,
    RecordKind,
    Relation,
    grant,
    in_area,
)


class WarningKind(StrEnum):
    HOTSPOT = "hotspot"  # 热点：相邻网格同类案件聚集
    SURGE = "surge"  # 激增：一个网格今日远超自身历史


class WarningState(StrEnum):
    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    CLOSED = "closed"


class WarningAction(StrEnum):
    ACKNOWLEDGE = "acknowledge"  # someone is on it
    CLOSE = "close"  # dealt with, or a false alarm
    RAISE = "raise"  # a scan raised it (the first row of its history)
    REFRESH = "refresh"  # a later scan found it again with new figures


OPEN_STATES = frozenset({WarningState.NEW, WarningState.ACKNOWLEDGED})
# The kind's name in the event log and the outbox.
WARNING_KIND = "warning"


@dataclass(frozen=True)
class Thresholds:
    """How sure a finding must be before it becomes a warning."""

    window_days: int = 7  # hot spots: cases of the last 7 days, today included
    history_weeks: int = 8  # surges: today against the 8 weeks before it
    fdr: float = 0.05  # Benjamini-Hochberg false discovery rate over all tests of a scan
    hotspot_min_cases: int = 6  # in the cluster's grids together
    hotspot_min_grid_cases: int = 2  # in each grid of the cluster
    # A cluster is of neighbouring grids; many cases in one grid alone are a surge's matter.
    hotspot_min_grids: int = 2
    hotspot_min_ratio: float = 2.0  # the neighbourhood's count against the city's average
    surge_min_cases: int = 4  # today, in the grid
    surge_min_ratio: float = 3.0  # today against the expected count
    # A grid with no history still "expects" this many a day: otherwise any case at all in
    # a quiet grid would be infinitely surprising.
    surge_floor: float = 0.2
    # Grids are neighbours when they share a border, or (when above 0) when their centres
    # lie within this many metres.
    neighbour_distance_m: float = 0.0


# ------------------------------------------------------------------ statistics


def neighbour_weights(
    geometries: Sequence[BaseGeometry], distance_m: float = 0.0, tolerance: float = 1e-6
) -> sparse.csr_matrix:
    """Binary weights between N grids (longitude/latitude polygons), each grid its own
    neighbour as Gi* wants: 1 where two grids share a border or a corner (within TOLERANCE
    degrees, so hairline gaps between tiles do not cut them apart), or where their centroids
    lie within DISTANCE_M metres when that is above 0."""
    n = len(geometries)
    tree = STRtree(list(geometries))
    left, right = tree.query(list(geometries), predicate="dwithin", distance=tolerance)
    rows = [int(i) for i in left]
    cols = [int(j) for j in right]
    if distance_m > 0 and n:
        centres = [g.centroid for g in geometries]
        lat0 = math.radians(sum(c.y for c in centres) / n)
        points = np.array([(c.x * 111_320 * math.cos(lat0), c.y * 110_540) for c in centres])
        for i, j in cKDTree(points).query_pairs(distance_m):
            rows += [i, j]
            cols += [j, i]
    rows += list(range(n))
    cols += list(range(n))
    weights = sparse.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n)).tocsr()
    weights.data[:] = 1.0  # duplicates summed by the conversion count once
    return weights


def gi_star(weights: sparse.csr_matrix, counts: NDArray[np.float64]) -> NDArray[np.float64]:
    """Getis-Ord Gi* z-scores (Getis & Ord 1995, as ArcGIS computes them) of each grid (row)
    for each column of COUNTS (n grids × k categories):

        z_i = (Σ_j w_ij x_j − x̄ Σ_j w_ij) / (S √((n Σ_j w_ij² − (Σ_j w_ij)²) / (n − 1)))

    with x̄ and S the mean and (population) standard deviation of the column. A column
    without variation has no hot spot: its z-scores are 0."""
    x = np.asarray(counts, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    n = x.shape[0]
    if n < 3:
        return np.zeros_like(x)
    mean = x.mean(axis=0)
    spread = np.sqrt(np.maximum((x**2).mean(axis=0) - mean**2, 0.0))
    lag = weights @ x
    w_sum = np.asarray(weights.sum(axis=1)).ravel()
    w_sq = np.asarray(weights.multiply(weights).sum(axis=1)).ravel()
    root = np.sqrt(np.maximum(n * w_sq - w_sum**2, 0.0) / (n - 1))
    numerator = lag - np.outer(w_sum, mean)
    denominator = np.outer(root, spread)
    z = np.zeros_like(numerator)
    np.divide(numerator, denominator, out=z, where=denominator > 0)
    return z


def benjamini_hochberg(p_values: Sequence[float] | NDArray[np.float64]) -> NDArray[np.float64]:
    """Benjamini-Hochberg adjusted p-values (q-values): reject where q ≤ the chosen false
    discovery rate. Valid for independent and positively dependent tests (neighbouring
    grids' statistics are)."""
    p = np.asarray(p_values, dtype=float)
    m = p.size
    if m == 0:
        return p
    order = np.argsort(p)
    ranked = p[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum.accumulate(ranked[::-1])[::-1]
    q = np.empty(m)
    q[order] = np.minimum(adjusted, 1.0)
    return q


def poisson_tail(observed: int, expected: float) -> float:
    """P(X ≥ observed) for X ~ Poisson(expected)."""
    if observed <= 0:
        return 1.0
    return float(poisson.sf(observed - 1, max(expected, 1e-12)))


def predictive_tail(observed: int, expected: float, exposure: float) -> float:
    """P(X ≥ observed) for a day whose Poisson rate is known only from EXPOSURE days of
    history averaging EXPECTED: the Gamma-Poisson (negative binomial) prediction with a
    Jeffreys prior. Wider than Poisson(expected) when the history is short, so a grid's
    rate guessed low from a few quiet weeks is not mistaken for a surge."""
    if observed <= 0:
        return 1.0
    return float(nbinom.sf(observed - 1, expected * exposure + 0.5, exposure / (exposure + 1)))


# ------------------------------------------------------------------ findings


@dataclass(frozen=True)
class Finding:
    """A hot spot or surge found by a scan, before it is stored as a warning."""

    kind: WarningKind
    grid_code: str  # the surging grid, or the hot spot's strongest grid
    category_code: str
    day: date  # the last day of the window
    window_start: date
    observed: int
    expected: float
    score: float  # Gi* z of the strongest grid; for a surge the Poisson p-value
    q_value: float  # the Benjamini-Hochberg adjusted p-value
    cluster: tuple[str, ...] = ()  # a hot spot's grids, strongest first
    baseline: Mapping[str, float] = field(default_factory=dict)  # what the explanation cites


def detect_hotspots(
    grid_codes: Sequence[str],
    weights: sparse.csr_matrix,
    counts: Mapping[str, NDArray[np.float64]],
    day: date,
    thresholds: Thresholds = Thresholds(),
    history: Mapping[str, NDArray[np.float64]] | None = None,
    history_days: int = 0,
) -> list[Finding]:
    """Hot spots of each category that are new: COUNTS (category → cases per grid over the
    window, in the order of GRID_CODES) cluster in space by Gi*, and the cluster's
    neighbourhood has far more than its own HISTORY (cases per grid over the HISTORY_DAYS
    before the window) foretells — an area that is always busy is no warning. Without
    history the city's average per grid is the yardstick. Both p-values must survive the
    false discovery rate over every grid and category with cases, and the counts pass the
    thresholds; neighbouring significant grids form one cluster, reported once."""
    window = thresholds.window_days
    start = day - timedelta(days=window - 1)
    n = len(grid_codes)
    if n < 3 or not counts:
        return []
    categories = sorted(code for code, x in counts.items() if float(np.sum(x)) > 0)
    if not categories:
        return []
    x = np.column_stack([np.asarray(counts[c], dtype=float) for c in categories])
    z = gi_star(weights, x)
    lag = np.asarray(weights @ x)
    if history is not None and history_days > 0:
        past = np.column_stack(
            [np.asarray(history.get(c, np.zeros(n)), dtype=float) for c in categories]
        )
        grid_expected = past * window / history_days
        expected = np.asarray(weights @ grid_expected)
        # The neighbourhood's count in the window against its own past, allowing for how
        # little a few weeks tell about a rate: the Gamma-Poisson (negative binomial)
        # prediction from the past count with a Jeffreys prior.
        p_new = nbinom.sf(
            lag - 1, np.asarray(weights @ past) + 0.5, history_days / (history_days + window)
        )
        yardstick = "history"
    else:
        grid_expected = np.tile(x.mean(axis=0), (n, 1))
        expected = np.asarray(weights @ grid_expected)
        p_new = poisson.sf(lag - 1, np.maximum(expected, 1e-12))
        yardstick = "city"
    p_gi = norm.sf(z)
    q = benjamini_hochberg(np.maximum(p_gi, p_new).ravel()).reshape(z.shape)
    significant = (
        (q <= thresholds.fdr)
        & (z > 0)
        & (x >= thresholds.hotspot_min_grid_cases)
        & (lag >= thresholds.hotspot_min_ratio * np.maximum(expected, 0.5))
    )
    findings = []
    for k, category in enumerate(categories):
        members = set(np.flatnonzero(significant[:, k]).tolist())
        for component in _components(weights, members):
            observed = int(x[component, k].sum())
            if (
                observed < thresholds.hotspot_min_cases
                or len(component) < thresholds.hotspot_min_grids
            ):
                continue
            ranked = sorted(component, key=lambda i: (-z[i, k], grid_codes[i]))
            core = ranked[0]
            findings.append(
                Finding(
                    kind=WarningKind.HOTSPOT,
                    grid_code=grid_codes[core],
                    category_code=category,
                    day=day,
                    window_start=start,
                    observed=observed,
                    expected=round(float(grid_expected[component, k].sum()), 3),
                    score=round(float(z[core, k]), 3),
                    q_value=float(q[ranked, k].min()),
                    cluster=tuple(grid_codes[i] for i in ranked),
                    baseline={
                        "history_days": float(history_days if yardstick == "history" else 0),
                        "city_mean": round(float(x[:, k].mean()), 3),
                    },
                )
            )
    return findings


def _components(weights: sparse.csr_matrix, members: set[int]) -> list[list[int]]:
    """Groups of MEMBERS connected through neighbours that are members too."""
    seen: set[int] = set()
    groups = []
    for start in sorted(members):
        if start in seen:
            continue
        group, stack = [], [start]
        seen.add(start)
        while stack:
            i = stack.pop()
            group.append(i)
            for j in weights.indices[weights.indptr[i] : weights.indptr[i + 1]]:
                j = int(j)
                if j in members and j not in seen:
                    seen.add(j)
                    stack.append(j)
        groups.append(sorted(group))
    return groups


@dataclass(frozen=True)
class DailyCounts:
    """Cases a day per grid and category, from FIRST (the first day with any history, or
    the start of the history window) up to the day scanned."""

    first: date
    counts: Mapping[tuple[str, str], Mapping[date, int]]


def weekday_factors(
    daily: DailyCounts, days: Sequence[date], minimum: int = 20
) -> dict[str, list[float]]:
    """Per category, how busy each weekday is in the whole city against the average day over
    DAYS (Monday first), clamped to 0.5–2; 1 for every weekday where the category has fewer
    than MINIMUM cases, too few to tell."""
    totals: dict[str, list[float]] = {}
    for (_grid, category), by_day in daily.counts.items():
        row = totals.setdefault(category, [0.0] * 7)
        for day in days:
            row[day.weekday()] += by_day.get(day, 0)
    per_weekday = [sum(1 for d in days if d.weekday() == w) for w in range(7)]
    factors = {}
    for category, row in totals.items():
        total = sum(row)
        if total < minimum or not days:
            factors[category] = [1.0] * 7
            continue
        average = total / len(days)
        factors[category] = [
            min(2.0, max(0.5, (row[w] / per_weekday[w]) / average)) if per_weekday[w] else 1.0
            for w in range(7)
        ]
    return factors


def detect_surges(
    daily: DailyCounts, day: date, thresholds: Thresholds = Thresholds()
) -> list[Finding]:
    """Surges on DAY: per grid and category, the day's count against what its own history
    expects for that weekday — half the mean of the same weekday over the history weeks,
    half the mean of all days times the city's weekday factor of the category (a steadier
    figure when the grid has few same-weekday days) — at least the floor. The p-value is
    the negative binomial tail (a Poisson rate known from a few weeks), controlled over
    every grid and category with any case in the period."""
    first = max(daily.first, day - timedelta(weeks=thresholds.history_weeks))
    history = [first + timedelta(days=i) for i in range((day - first).days)]
    if not history:
        return []
    same_weekday = [d for d in history if d.weekday() == day.weekday()]
    factors = weekday_factors(daily, history)
    tested: list[tuple[tuple[str, str], int, float, float, float]] = []
    for key, by_day in daily.counts.items():
        today = int(by_day.get(day, 0))
        past = sum(by_day.get(d, 0) for d in history)
        if today == 0 and past == 0:
            continue
        mean_all = past / len(history)
        factor = factors.get(key[1], [1.0] * 7)[day.weekday()]
        if same_weekday:
            mean_weekday = sum(by_day.get(d, 0) for d in same_weekday) / len(same_weekday)
            expected = 0.5 * mean_weekday + 0.5 * mean_all * factor
            # How many days of history the blend is worth (its variance as a Poisson mean's).
            exposure = 4 / (1 / len(same_weekday) + 1 / len(history))
        else:
            mean_weekday = mean_all * factor
            expected = mean_weekday
            exposure = len(history)
        expected = max(expected, thresholds.surge_floor)
        p = predictive_tail(today, expected, exposure)
        tested.append((key, today, expected, mean_weekday, p))
    q = benjamini_hochberg([t[4] for t in tested])
    findings = []
    for (key, today, expected, mean_weekday, p), q_value in zip(tested, q, strict=True):
        if (
            q_value <= thresholds.fdr
            and today >= thresholds.surge_min_cases
            and today >= thresholds.surge_min_ratio * expected
        ):
            findings.append(
                Finding(
                    kind=WarningKind.SURGE,
                    grid_code=key[0],
                    category_code=key[1],
                    day=day,
                    window_start=day,
                    observed=today,
                    expected=round(expected, 3),
                    score=p,
                    q_value=float(q_value),
                    cluster=(key[0],),
                    baseline={
                        "weekday_mean": round(mean_weekday, 3),
                        "weekdays": float(len(same_weekday)),
                        "days": float(len(history)),
                    },
                )
            )
    findings.sort(key=lambda f: (f.score, f.grid_code, f.category_code))
    return findings


def hotspot_inputs(
    daily: DailyCounts, grid_codes: Sequence[str], day: date, thresholds: Thresholds
) -> tuple[dict[str, NDArray[np.float64]], dict[str, NDArray[np.float64]], int]:
    """Cases per grid (in the order of GRID_CODES) of each category in the window ending
    DAY, the same before the window (its history, at most the history weeks), and how many
    days that history covers."""
    index = {code: i for i, code in enumerate(grid_codes)}
    start = day - timedelta(days=thresholds.window_days - 1)
    first = max(daily.first, day - timedelta(weeks=thresholds.history_weeks))
    window: dict[str, NDArray[np.float64]] = {}
    history: dict[str, NDArray[np.float64]] = {}
    for (grid, category), by_day in daily.counts.items():
        i = index.get(grid)
        if i is None:
            continue
        for when, count in by_day.items():
            if start <= when <= day:
                window.setdefault(category, np.zeros(len(grid_codes)))[i] += count
            elif first <= when < start:
                history.setdefault(category, np.zeros(len(grid_codes)))[i] += count
    return window, history, max(0, (start - first).days)


def find_warnings(
    daily: DailyCounts,
    grid_codes: Sequence[str],
    weights: sparse.csr_matrix,
    day: date,
    thresholds: Thresholds = Thresholds(),
) -> list[Finding]:
    """Every hot spot and surge of DAY."""
    window, history, history_days = hotspot_inputs(daily, grid_codes, day, thresholds)
    hotspots = detect_hotspots(grid_codes, weights, window, day, thresholds, history, history_days)
    return hotspots + detect_surges(daily, day, thresholds)


# ------------------------------------------------------------------ explanations


def p_text(p: float, name: str = "p") -> str:
    """ "p<0.001" or "p=0.012": how a probability is written in an explanation."""
    return f"{name}<0.001" if p < 0.001 else f"{name}={p:.3f}"


WEEKDAY_KEYS = [f"warning.weekday.{i}" for i in range(7)]


def explain(
    finding: Finding, grid_names: Mapping[str, str], category_names: Mapping[str, dict[str, str]]
) -> dict[str, str]:
    """The finding in words, in every language: what was counted where, against what, and
    how unlikely that is by chance."""
    texts: dict[str, str] = {}
    for locale in LOCALES:
        category = category_names.get(finding.category_code, {}).get(locale, "")
        params: dict[str, object] = {
            "grid": _grid_label(finding.grid_code, grid_names),
            "category": category or finding.category_code,
            "observed": finding.observed,
            "expected": f"{finding.expected:.1f}",
            "q": p_text(finding.q_value, "q"),
            "day": format_date(finding.day, locale),
        }
        if finding.kind is WarningKind.SURGE:
            params |= {
                "weekday": translate(WEEKDAY_KEYS[finding.day.weekday()], locale),
                "weeks": int(finding.baseline.get("weekdays", 0)),
                "weekday_mean": f"{finding.baseline.get('weekday_mean', 0.0):.1f}",
                "p": p_text(finding.score),
            }
            key = N_("warning.explain.surge")
        else:
            params |= {
                "others": len(finding.cluster) - 1,
                "days": (finding.day - finding.window_start).days + 1,
                "z": f"{finding.score:.1f}",
            }
            history_days = int(finding.baseline.get("history_days", 0))
            params["history_days"] = history_days
            key = (
                N_("warning.explain.hotspot_history")
                if history_days
                else N_("warning.explain.hotspot")
            )
        texts[locale] = translate(key, locale, params)
    return texts


def _grid_label(code: str, names: Mapping[str, str]) -> str:
    name = names.get(code)
    return f"{name}（{code}）" if name else code


# ------------------------------------------------------------------ the stored warning


@dataclass(eq=False)
class RiskWarning:
    """A hot spot or surge raised for the people responsible for its grid, with its
    explanation in every language, followed from new to acknowledged to closed."""

    kind: WarningKind
    grid_code: str
    category_code: str
    day: date
    window_start: date
    area_path: str  # the grid's path, so "what may I see" is a prefix test
    observed: int
    expected: float
    score: float
    q_value: float
    cluster: list[str]
    explanation_zh: str
    explanation_en: str
    created_at: datetime
    updated_at: datetime
    last_seen: date
    state: WarningState = WarningState.NEW
    handled_by: str | None = None
    handled_at: datetime | None = None
    note: str = ""
    id: int | None = None

    @classmethod
    def raise_from(
        cls, finding: Finding, area_path: str, explanation: Mapping[str, str], now: datetime
    ) -> RiskWarning:
        return cls(
            kind=finding.kind,
            grid_code=finding.grid_code,
            category_code=finding.category_code,
            day=finding.day,
            window_start=finding.window_start,
            area_path=area_path,
            observed=finding.observed,
            expected=finding.expected,
            score=finding.score,
            q_value=finding.q_value,
            cluster=list(finding.cluster),
            explanation_zh=explanation["zh"],
            explanation_en=explanation["en"],
            created_at=now,
            updated_at=now,
            last_seen=finding.day,
        )

    def explanation(self, locale: Locale) -> str:
        return self.explanation_en if locale == "en" else self.explanation_zh

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    def refresh(self, finding: Finding, explanation: Mapping[str, str], now: datetime) -> bool:
        """A later scan found the same warning again (more cases today, a cluster still
        there): keep its figures current. True when anything changed."""
        figures = (
            finding.observed,
            finding.expected,
            finding.score,
            list(finding.cluster),
            max(self.last_seen, finding.day),
        )
        if figures == (self.observed, self.expected, self.score, self.cluster, self.last_seen):
            return False
        self.observed, self.expected, self.score, self.cluster, self.last_seen = figures
        self.q_value = finding.q_value
        self.explanation_zh, self.explanation_en = explanation["zh"], explanation["en"]
        self.updated_at = now
        return True

    def apply(self, action: WarningAction, actor: Actor, note: str, now: datetime) -> Event:
        """Acknowledge or close, by ACTOR with a NOTE, as WARNING declares it (a 409 naming
        the state and the actions it allows otherwise); the event row keeps who and why,
        and the warning shows the latest."""
        note = note.strip()[:1000]

        def effect() -> dict[str, object]:
            self.handled_by = actor.name
            self.handled_at = now
            self.note = note
            return {}

        return WARNING.apply(self, action, Context(actor, now), effect, note=note)


# ------------------------------------------------------------------ the declaration

# Who may handle a warning: the dispatch centre, cadres and leaders of the area its grid
# lies in (grid workers read their grid's warnings but do not handle them).
HANDLERS = frozenset({Role.DISPATCHER, Role.CADRE, Role.LEADER, Role.ADMIN})
IN_AREA: Relation[RiskWarning] = in_area(lambda w: w.area_path, lambda w: w.grid_code)
WARNING: RecordKind[RiskWarning] = RecordKind(
    name=WARNING_KIND,
    actions={
        WarningAction.ACKNOWLEDGE.value: ActionSpec(
            WarningAction.ACKNOWLEDGE.value,
            {WarningState.NEW.value: WarningState.ACKNOWLEDGED.value},
            (grant(HANDLERS, IN_AREA),),
        ),
        WarningAction.CLOSE.value: ActionSpec(
            WarningAction.CLOSE.value,
            {
                WarningState.NEW.value: WarningState.CLOSED.value,
                WarningState.ACKNOWLEDGED.value: WarningState.CLOSED.value,
            },
            (grant(HANDLERS, IN_AREA),),
        ),
    },
    open_states=frozenset(s.value for s in OPEN_STATES),
    messages="warning",
    state_labels="ui.warnings.state",
)
