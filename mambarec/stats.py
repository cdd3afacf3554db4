"""The project's statistics, computed in one place for REPORT.md, the README and the app (docs/protocol.md
section 8).

* ``summarize``: mean and sample standard deviation over seeds, and the t-interval of that mean. One
  seed is one seed: it has no standard deviation, and it is shown as "(1 seed)", never as "± 0.0000".
* ``paired_difference``: the difference of two cells over the seeds both ran (seed s of A against
  seed s of B), with its 95% t-interval. With one common seed there is no interval. Every seed trains on the same
  split (the dataset's, fixed); a seed sets the initial draws and the sampling order, which part ways as soon as
  two cells' parameters differ, so pairing removes little variance here, and no interval covers the choice of
  split.
* ``relative_change``: that difference in % of the reference. Times (``RATIO_SCALE``) only scale, so
  their change is taken as a ratio: the t-interval of the per-seed log(A / B), shown as A / B - 1, which
  cannot fall below -100% as a difference divided by a mean can with 3 seeds. For every other metric (never
  negative), an interval's low end below -100% is cut at -100%: the change cannot be smaller.
* ``holm``: Holm's step-down adjustment of a family's p-values (each ``PairedDifference`` carries the two-sided
  p-value of its t-test), so that a "helps" or "hurts" among many parts can say whether it survives the family.
* ``wilcoxon_per_user``: Wilcoxon's signed-rank test on per-user metrics of two runs, paired by user.
* ``verdict``: a measured difference against a claim of the paper. "agrees" when the interval
  excludes 0 on the paper's side, "disagrees" when it excludes 0 on the other side, "inconclusive"
  otherwise (the interval is shown). Deterministic quantities (parameter counts) are compared exactly.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

CONFIDENCE = 0.95  # two-sided level of every interval shown
# Quantities that are positive and change by a factor (seconds): their relative change is a ratio.
RATIO_SCALE = frozenset({"s_per_epoch", "cpu_s_per_epoch"})
FLOOR_PCT = -100.0  # the least relative change a quantity that is never negative can have
WILCOXON_ALPHA = 0.05


@dataclass(frozen=True)
class Summary:
    """Mean and sample std (ddof = 1) of one quantity over ``n`` seeds; ``std`` is None for one seed."""

    n: int
    mean: float
    std: float | None

    def interval(self, confidence: float = CONFIDENCE) -> tuple[float, float] | None:
        """The t-interval of the mean over the seeds (None for one seed)."""
        if self.std is None:
            return None
        half = t_quantile(self.n - 1, confidence) * self.std / math.sqrt(self.n)
        return self.mean - half, self.mean + half

    def t_test_p(self) -> float | None:
        """The two-sided p-value of the one-sample t-test of the mean against 0 (None for one seed); values all
        equal and not 0 give 0, all 0 give 1."""
        if self.std is None:
            return None
        from scipy.stats import t  # lazy, as in t_quantile

        if self.std == 0.0:
            return 0.0 if self.mean != 0.0 else 1.0
        return float(2.0 * t.sf(abs(self.mean) / (self.std / math.sqrt(self.n)), self.n - 1))

    def format(self, digits: int = 4, seeds: bool = False) -> str:
        if self.n == 0:
            return "-"
        text = f"{self.mean:.{digits}f}"
        if self.std is not None:
            text += f" ± {self.std:.{digits}f}"
        if seeds or self.n == 1:
            text += f" ({self.n} seed{'s' if self.n != 1 else ''})"
        return text


def summarize(values: Sequence[float | None]) -> Summary:
    arr = np.asarray([v for v in values if v is not None and not _isnan(v)], dtype=np.float64)
    if len(arr) == 0:
        return Summary(0, math.nan, None)
    return Summary(len(arr), float(arr.mean()), float(arr.std(ddof=1)) if len(arr) > 1 else None)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given: the i-th smallest p times (m - i + 1), made
    non-decreasing along that order and capped at 1. A test "survives" the family at level alpha when its
    adjusted p is below alpha; this controls the chance of any false "helps" or "hurts" in the family at alpha
    under any dependence between the tests."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def t_quantile(df: int, confidence: float = CONFIDENCE) -> float:
    """The two-sided Student t quantile for ``df`` degrees of freedom."""
    from scipy.stats import t  # lazy: scipy.stats takes a while to import

    return float(t.ppf(0.5 + confidence / 2.0, df))


@dataclass(frozen=True)
class PairedDifference:
    """A - B over the seeds both ran: mean, 95% t-interval (None with one seed), B's mean and the two-sided
    p-value of the paired t-test against 0 (None with one seed; the same test whose interval is shown, so
    p < 1 - CONFIDENCE exactly when the interval excludes 0)."""

    seeds: tuple[int, ...]
    mean: float
    low: float | None
    high: float | None
    reference_mean: float
    p: float | None = None

    @property
    def n(self) -> int:
        return len(self.seeds)

    @property
    def has_interval(self) -> bool:
        return self.low is not None

    def relative(self) -> PairedDifference:
        """The same difference in % of the reference's mean (B)."""
        if self.reference_mean == 0:
            return PairedDifference(self.seeds, math.nan, None, None, self.reference_mean)
        scale = 100.0 / abs(self.reference_mean)
        low = None if self.low is None else self.low * scale
        high = None if self.high is None else self.high * scale
        return PairedDifference(self.seeds, self.mean * scale, low, high, self.reference_mean, self.p)

    @property
    def half_width(self) -> float | None:
        """Half the interval's width (None without one)."""
        return None if self.low is None else (self.high - self.low) / 2.0

    def excludes_zero(self) -> int:
        """+1 when the interval lies above 0, -1 below, 0 when it holds 0 (or there is none)."""
        if not self.has_interval:
            return 0
        if self.low > 0:
            return 1
        if self.high < 0:
            return -1
        return 0

    def format(self, digits: int = 4, unit: str = "") -> str:
        """``+1.20% [-0.40%, +2.80%]``; ``+1.20% (1 seed)`` without an interval."""
        head = f"{signed(self.mean, digits)}{unit}"
        if not self.has_interval:
            return f"{head} ({self.n} seed{'s' if self.n != 1 else ''}, no interval)"
        return f"{head} [{signed(self.low, digits)}{unit}, {signed(self.high, digits)}{unit}]"


SIGN_DIGITS = 3  # at most this many more decimals to show which side of 0 a small number is on


def signed(x: float, digits: int = 1) -> str:
    """``x`` with its sign at ``digits`` decimals, or more when those would round it to 0: ``-0.0`` for both -0.03
    and -0.0004 hid which side of 0 an interval's end is on, the side its verdict turns on."""
    for extra in range(SIGN_DIGITS + 1):
        text = f"{x:+.{digits + extra}f}"
        if x == 0 or float(text) != 0:
            return text
    return text


def common_seeds(a: Mapping[int, float | None], b: Mapping[int, float | None]) -> tuple[int, ...]:
    """The seeds with a value on both sides, ascending (a NaN is no value, as in ``summarize``)."""
    return tuple(sorted(s for s in set(a) & set(b)
                        if a[s] is not None and b[s] is not None and not _isnan(a[s]) and not _isnan(b[s])))


def paired_difference(a: Mapping[int, float], b: Mapping[int, float],
                      confidence: float = CONFIDENCE) -> PairedDifference | None:
    """A - B paired by seed over the seeds both have (None when they share none)."""
    seeds = common_seeds(a, b)
    if not seeds:
        return None
    diff = summarize([a[s] - b[s] for s in seeds])
    low, high = diff.interval(confidence) or (None, None)
    return PairedDifference(seeds, diff.mean, low, high, float(np.mean([b[s] for s in seeds])), diff.t_test_p())


def seeds_for_half_width(diff: PairedDifference, target: float, confidence: float = CONFIDENCE,
                         most: int = 100) -> int | None:
    """The fewest seeds whose paired t-interval is at most +-``target`` wide at ``diff``'s spread (the standard
    deviation of its per-seed differences, read back from its symmetric interval): how many seeds a comparison
    of two setups that do not differ needs before an equivalence bar of +-``target`` can be met at all. None
    without an interval, or when more than ``most`` seeds would be needed."""
    if not diff.has_interval:
        return None
    sd = diff.half_width * math.sqrt(diff.n) / t_quantile(diff.n - 1, confidence)
    for n in range(2, most + 1):
        if t_quantile(n - 1, confidence) * sd / math.sqrt(n) <= target:
            return n
    return None


def paired_ratio(a: Mapping[int, float], b: Mapping[int, float],
                 confidence: float = CONFIDENCE) -> PairedDifference | None:
    """A / B - 1 in %, paired by seed: exp of the mean per-seed log(A / B) (the geometric mean of the ratios)
    and its t-interval taken on the logs, so both ends stay above -100% (docs/protocol.md section 8). Its mean,
    low and high are in % already (``relative()`` is for ``paired_difference``'s absolute form)."""
    seeds = common_seeds(a, b)
    if not seeds:
        return None
    if any(a[s] <= 0 or b[s] <= 0 for s in seeds):
        raise ValueError(f"a ratio needs positive values on both sides, got A={[a[s] for s in seeds]} "
                         f"B={[b[s] for s in seeds]}; compare them with paired_difference instead")
    logs = summarize(np.log(np.asarray([a[s] / b[s] for s in seeds], dtype=np.float64)))
    ref = float(np.mean([b[s] for s in seeds]))

    def pct(x: float) -> float:
        return math.expm1(x) * 100.0

    interval = logs.interval(confidence)
    if interval is None:
        return PairedDifference(seeds, pct(logs.mean), None, None, ref)
    return PairedDifference(seeds, pct(logs.mean), pct(interval[0]), pct(interval[1]), ref, logs.t_test_p())


def relative_change(a: Mapping[int, float], b: Mapping[int, float], metric: str) -> PairedDifference | None:
    """A against B in % of B, paired by seed: a ratio for ``RATIO_SCALE`` quantities (``paired_ratio``), the
    difference over B's mean for every other metric (``paired_difference(...).relative()``)."""
    if metric in RATIO_SCALE:
        return paired_ratio(a, b)
    diff = paired_difference(a, b)
    if diff is None:
        return None
    out = diff.relative()
    if out.low is not None and out.low < FLOOR_PCT and out.reference_mean > 0 and all(a[s] >= 0 for s in out.seeds):
        # A takes no negative value, so A's mean over B's is at least -100%: a t-interval reaching below it (two
        # seeds far apart; a demo report read -130%, audit r75 item 14) is cut there, which loses none of its cover
        out = dataclasses.replace(out, low=FLOOR_PCT)
    return out


def exact_change(a: float, b: float) -> float:
    """Relative change of A over B in %, for deterministic quantities (parameter counts)."""
    return (a / b - 1.0) * 100.0 if b else math.nan


# ---- verdicts -----------------------------------------------------------------------------------
AGREES, DISAGREES, INCONCLUSIVE, NOT_MEASURED = "agrees", "disagrees", "inconclusive", "not measured"


SMALLER = "smaller than claimed"  # an inconclusive direction whose interval excludes the paper's size


def verdict(paper_sign: float, diff: PairedDifference | None, at_most: bool = False) -> str:
    """The verdict of a seeded difference against the paper's change ``paper_sign`` (``diff`` in the same unit,
    % of the reference). The direction decides; an interval that holds 0 but not the paper's change is
    "inconclusive; smaller than claimed" (the data cannot tell the direction, but can tell the paper's size is not
    reached here). ``at_most``: the claim is "only X%"; an interval wholly beyond X in the claimed direction
    disagrees on size, and one wholly on the other side (it costs nothing, or gains) agrees."""
    if diff is None:
        return NOT_MEASURED
    side = diff.excludes_zero()
    if side == 0:
        if not diff.has_interval:
            return f"{INCONCLUSIVE} ({diff.n} seed{'s' if diff.n != 1 else ''})"
        if not at_most and paper_sign != 0 and not diff.low <= paper_sign <= diff.high:
            return f"{INCONCLUSIVE}; {SMALLER}"
        return INCONCLUSIVE
    if side != np.sign(paper_sign):
        return AGREES if at_most else DISAGREES
    nearest = diff.low if side > 0 else diff.high  # the bound nearest to zero
    if at_most and abs(nearest) > abs(paper_sign):
        return f"{DISAGREES} (larger than claimed)"
    return AGREES


def exact_verdict(paper_change: float, measured: float | None, at_least: bool = False) -> str:
    """The verdict of a deterministic change (in %) against the paper's: direction and, for "X% or
    more" claims, size."""
    if measured is None or _isnan(measured):
        return NOT_MEASURED
    if measured == 0 or np.sign(measured) != np.sign(paper_change):
        return DISAGREES
    if at_least and abs(measured) < abs(paper_change):
        return f"{DISAGREES} (smaller than claimed)"
    return AGREES


# ---- per-user tests ----------------------------------------------------------------------------
@dataclass(frozen=True)
class WilcoxonResult:
    users: int
    differing: int
    mean_a: float
    mean_b: float
    statistic: float | None
    p_value: float | None
    rank_sum_a: float = 0.0  # sum of the ranks of |a - b| over the users where a > b (R+), and where b > a (R-):
    rank_sum_b: float = 0.0  # the test's own direction, which the mean can contradict (a few large differences)

    @property
    def mean_difference(self) -> float:
        return self.mean_a - self.mean_b

    def verdict(self, alpha: float = WILCOXON_ALPHA) -> str:
        if self.differing == 0:
            return "The two runs give every user the same score: no difference at all."
        better, other = ("A", "B") if self.rank_sum_a > self.rank_sum_b else ("B", "A")
        if self.p_value is not None and self.p_value < alpha:
            mean_says = (f" (the mean favours {other}: a few users' large differences)"
                         if self.mean_difference != 0 and (self.mean_difference > 0) != (better == "A") else "")
            alike = (f"; the other {self.users - self.differing:,} score the same under both"
                     if self.differing < self.users else "")
            return (f"{better} is better beyond the noise between users, over the {self.differing:,} of "
                    f"{self.users:,} users whose "
                    f"scores differ (signed ranks, p = {self.p_value:.3g} < {alpha}){alike}{mean_says}.")
        return (f"The difference is within the noise between users (p = {self.p_value:.3g} >= {alpha}): do not "
                "read it as a real gain.")


def wilcoxon_per_user(a: np.ndarray, b: np.ndarray) -> WilcoxonResult:
    """Wilcoxon signed-rank test (two-sided, zero differences dropped) on paired per-user metrics."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"per-user metrics must be two 1-D arrays over the same users, got {a.shape} and {b.shape}")
    diff = a - b
    differing = int(np.count_nonzero(diff))
    stat = p = None
    ranks_a = ranks_b = 0.0
    if differing:
        from scipy.stats import rankdata, wilcoxon  # lazy: scipy.stats takes a while to import

        res = wilcoxon(a, b, zero_method="wilcox", alternative="two-sided")
        stat, p = float(res.statistic), float(res.pvalue)
        nonzero = diff[diff != 0]
        ranks = rankdata(np.abs(nonzero))
        ranks_a, ranks_b = float(ranks[nonzero > 0].sum()), float(ranks[nonzero < 0].sum())
    return WilcoxonResult(len(a), differing, float(a.mean()) if len(a) else math.nan,
                          float(b.mean()) if len(b) else math.nan, stat, p, ranks_a, ranks_b)


def _isnan(v) -> bool:
    return isinstance(v, (float, np.floating)) and math.isnan(v)


__all__ = ["Summary", "summarize", "PairedDifference", "paired_difference", "signed", "exact_change", "verdict",
           "exact_verdict", "WilcoxonResult", "wilcoxon_per_user", "CONFIDENCE", "t_quantile", "seeds_for_half_width",
           "holm"]
