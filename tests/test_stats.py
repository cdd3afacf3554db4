"""The statistics module: seed summaries, paired differences with t-intervals, verdicts, Wilcoxon."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from mambarec import stats


def test_one_seed_is_one_seed_never_plus_minus_zero():
    one = stats.summarize([0.25])
    assert one.n == 1 and one.std is None
    assert one.format() == "0.2500 (1 seed)" and "±" not in one.format()
    three = stats.summarize([0.1, 0.2, None, 0.3])  # a missing value is not a seed
    assert three.n == 3 and three.mean == pytest.approx(0.2) and three.std == pytest.approx(0.1)
    assert three.format(2, seeds=True) == "0.20 ± 0.10 (3 seeds)"
    assert stats.summarize([]).format() == "-"


def test_paired_difference_uses_the_common_seeds_and_a_t_interval():
    a = {0: 0.30, 1: 0.32, 2: 0.31, 7: 0.9}
    b = {0: 0.29, 1: 0.30, 2: 0.30, 5: 0.1}
    d = stats.paired_difference(a, b)
    diffs = np.array([0.01, 0.02, 0.01])
    half = scipy_stats.t.ppf(0.975, 2) * diffs.std(ddof=1) / math.sqrt(3)
    assert d.seeds == (0, 1, 2)
    assert d.mean == pytest.approx(diffs.mean()) and d.low == pytest.approx(diffs.mean() - half)
    assert d.high == pytest.approx(diffs.mean() + half) and d.reference_mean == pytest.approx(np.mean([.29, .30, .30]))
    rel = d.relative()
    assert rel.mean == pytest.approx(100 * diffs.mean() / d.reference_mean)
    assert rel.format(1, "%") == "+4.5% [-0.3%, +9.3%]"
    single = stats.paired_difference({0: 0.3}, {0: 0.2, 1: 0.25})
    assert single.n == 1 and not single.has_interval and "(1 seed, no interval)" in single.format()
    assert stats.paired_difference({0: 0.3}, {1: 0.3}) is None
    nan = {**a, 3: np.float32("nan")}  # a run without a number (float32 from a frame) is no seed, not a NaN mean
    assert stats.paired_difference(nan, {**b, 3: 0.3}).seeds == (0, 1, 2)
    assert stats.summarize([0.3, np.float32("nan"), 0.5]).n == 2


def test_verdict_rule():
    up = stats.paired_difference({0: 1.1, 1: 1.2, 2: 1.15}, {0: 1.0, 1: 1.1, 2: 1.04})
    assert up.excludes_zero() == 1
    assert stats.verdict(+1.8, up) == "agrees"
    assert stats.verdict(-0.9, up) == "disagrees"
    noisy = stats.paired_difference({0: 1.1, 1: 0.9, 2: 1.0}, {0: 1.0, 1: 1.0, 2: 1.0}).relative()  # [-25, +25]%
    assert stats.verdict(+1.8, noisy) == "inconclusive"
    tight = stats.paired_difference({0: 1.004, 1: 0.996, 2: 1.0}, {0: 1.0, 1: 1.0, 2: 1.0}).relative()  # +-1%
    assert stats.verdict(+1.8, tight) == "inconclusive; smaller than claimed"  # 0 inside, the paper's +1.8% not
    assert stats.verdict(-0.3, tight, at_most=True) == "inconclusive"  # "costs only 0.3%": no size to miss
    gain = stats.paired_difference({0: 1.1, 1: 1.2, 2: 1.15}, {0: 1.0, 1: 1.1, 2: 1.04}).relative()
    assert stats.verdict(-0.3, gain, at_most=True) == "agrees"  # "costs only 0.3%" and it costs nothing: agrees
    one = stats.paired_difference({0: 2.0}, {0: 1.0})
    assert stats.verdict(+1.8, one) == "inconclusive (1 seed)"  # a large single-seed gap is still an anecdote
    assert stats.verdict(+1.8, None) == "not measured"


def test_an_only_x_percent_claim_disagrees_when_the_whole_interval_is_larger():
    """"r = 4 saves only 12% time": a saving of 65-107% is the claimed direction but not the claimed size."""
    down = stats.paired_difference({0: 1.0, 1: 1.1, 2: 1.2}, {0: 8.0, 1: 7.5, 2: 8.2}).relative()
    assert down.high < -12
    assert stats.verdict(-12.0, down) == "agrees"  # direction only
    assert stats.verdict(-12.0, down, at_most=True) == "disagrees (larger than claimed)"
    assert stats.verdict(-95.0, down, at_most=True) == "agrees"  # the interval reaches back within 95%


def test_a_time_change_is_a_ratio_whose_interval_stays_above_minus_100_percent():
    """Seconds per epoch of r = 4 vs r = 1 on ml100k's scale: the difference over the mean gives an interval
    below -100% with 3 seeds; the ratio's, taken on logs, cannot."""
    fast, slow = {0: 8.0, 1: 8.4, 2: 8.2}, {0: 30.0, 1: 64.0, 2: 58.0}
    naive = stats.paired_difference(fast, slow).relative()
    assert naive.low < -100  # the defect the ratio form removes
    ratio = stats.relative_change(fast, slow, "s_per_epoch")
    logs = np.log([8.0 / 30.0, 8.4 / 64.0, 8.2 / 58.0])
    half = scipy_stats.t.ppf(0.975, 2) * logs.std(ddof=1) / math.sqrt(3)
    assert ratio.mean == pytest.approx(100 * math.expm1(logs.mean()))
    assert ratio.low == pytest.approx(100 * math.expm1(logs.mean() - half)) and ratio.low > -100
    assert ratio.high == pytest.approx(100 * math.expm1(logs.mean() + half))
    assert stats.verdict(-12.0, ratio, at_most=True) == "disagrees (larger than claimed)"
    # accuracy metrics keep the difference over the reference's mean
    rec = stats.relative_change({0: 0.30, 1: 0.32}, {0: 0.29, 1: 0.30}, "test/Recall@20")
    assert rec == stats.paired_difference({0: 0.30, 1: 0.32}, {0: 0.29, 1: 0.30}).relative()
    assert stats.relative_change({0: 2.0}, {0: 1.0}, "s_per_epoch").format(1, "%") == "+100.0% (1 seed, no interval)"
    with pytest.raises(ValueError, match="positive"):
        stats.paired_ratio({0: 0.0}, {0: 1.0})


def test_exact_verdicts_for_deterministic_counts():
    assert stats.exact_verdict(-30.0, -35.0, at_least=True) == "agrees"
    assert stats.exact_verdict(-30.0, -5.0, at_least=True) == "disagrees (smaller than claimed)"
    assert stats.exact_verdict(-30.0, +5.0) == "disagrees"
    assert stats.exact_verdict(-30.0, None) == "not measured"
    assert stats.exact_change(110, 100) == pytest.approx(10.0)


def test_wilcoxon_matches_scipy_and_handles_identical_runs():
    rng = np.random.default_rng(0)
    a = rng.random(200)
    b = a - 0.05 + 0.01 * rng.standard_normal(200)
    res = stats.wilcoxon_per_user(a, b)
    ref = scipy_stats.wilcoxon(a, b)
    assert res.p_value == pytest.approx(ref.pvalue) and res.statistic == pytest.approx(ref.statistic)
    assert res.users == 200 and res.differing == 200 and res.mean_difference == pytest.approx(0.05, abs=0.01)
    assert res.verdict().startswith("A is better")
    same = stats.wilcoxon_per_user(a, a)
    assert same.p_value is None and "same score" in same.verdict()
    # the direction is the test's own (signed ranks), not the mean's: one large gain for A against 30 small
    # ones for B is B better (by signed ranks)
    few = stats.wilcoxon_per_user(np.array([1.0] + [0.0] * 30), np.array([0.0] + [0.02] * 30))
    assert few.mean_difference > 0 and few.rank_sum_b > few.rank_sum_a
    assert few.verdict().startswith("B is better beyond the noise between users, over the 31 of 31 users")
    assert "the mean favours A" in few.verdict()
    tied = b.copy()
    tied[:30] = a[:30]  # users both runs score alike are dropped, as the docstring says
    res = stats.wilcoxon_per_user(a, tied)
    assert res.users == 200 and res.differing == 170
    # users both score alike are not "most users" of a verdict: it names how many differ and how many do not
    words = res.verdict()
    assert "over the 170 of 200 users whose scores differ" in words and "other 30 score the same" in words
    assert res.p_value == pytest.approx(scipy_stats.wilcoxon(a[30:], tied[30:]).pvalue)
    with pytest.raises(ValueError, match="same users"):
        stats.wilcoxon_per_user(a, a[:5])


def test_seeds_for_half_width_is_the_fewest_seeds_whose_interval_fits_the_bar_at_the_measured_spread():
    diff = stats.paired_difference({0: 1.0, 1: -1.0, 2: 0.0}, {0: 0.0, 1: 0.0, 2: 0.0})  # per-seed sd exactly 1
    assert diff.half_width == pytest.approx(scipy_stats.t.ppf(0.975, 2) / math.sqrt(3))
    # t(n - 1) / sqrt(n): 2.48 at 3 seeds, 1.05 at 6, 0.925 at 7: the first at most 1 is 7
    assert stats.seeds_for_half_width(diff, 1.0) == 7
    assert stats.seeds_for_half_width(diff, diff.half_width * (1 + 1e-9)) == 3  # its own interval fits itself
    assert stats.seeds_for_half_width(diff, 1e-3) is None  # beyond a hundred seeds
    assert stats.seeds_for_half_width(stats.paired_difference({0: 1.0}, {0: 0.0}), 1.0) is None  # no interval


def test_a_bound_that_rounds_to_zero_keeps_its_sign_with_more_decimals():
    assert stats.signed(-0.03) == "-0.03" and stats.signed(0.0004) == "+0.0004"  # "-0.0" hid the side of 0
    assert stats.signed(-1.26) == "-1.3" and stats.signed(2.0, 2) == "+2.00" and stats.signed(0.0) == "+0.0"
    diff = stats.PairedDifference(seeds=(0, 1, 2, 3, 4), mean=1.6, low=-0.03, high=3.3, reference_mean=1.0)
    assert diff.format(1, "%") == "+1.6% [-0.03%, +3.3%]"


def test_a_claims_verdict_names_the_seeds_that_stopped_in_their_warm_up():
    """Synthetic's C11 'disagrees' rested on `official` seeds that early stopping ended in a dip after an early
    peak; the verdict says so (mambarec/findings.py::claim_verdict)."""
    from mambarec import findings

    c11 = next(c for c in findings.CLAIMS if c.cell == "official" and c.reference == "mgcn")

    def run(best, recall):
        return {"best_epoch": best, "stopped_early": True, c11.metric: recall}

    cells = {"official": {0: run(6, 0.48), 1: run(148, 0.605), 2: run(11, 0.49)},
             "mgcn": {0: run(60, 0.60), 1: run(70, 0.602), 2: run(65, 0.598)}}
    _, verdict = findings.claim_verdict(c11, cells)
    assert verdict.endswith("; official seeds 0, 2 stopped in the warm-up")
    cells["official"] = {0: run(140, 0.61), 1: run(148, 0.605), 2: run(150, 0.612)}
    assert "warm-up" not in findings.claim_verdict(c11, cells)[1]



def test_each_difference_carries_its_t_tests_p_and_holm_adjusts_a_family():
    """The p of a paired difference is scipy's one-sample t-test of the per-seed differences (of their logs for a
    time ratio), unchanged in % of the reference; Holm's adjustment matches the step-down by hand."""
    a, b = {0: 0.30, 1: 0.32, 2: 0.31, 3: 0.33}, {0: 0.29, 1: 0.30, 2: 0.30, 3: 0.30}
    d = stats.paired_difference(a, b)
    want = scipy_stats.ttest_1samp([a[s] - b[s] for s in range(4)], 0.0).pvalue
    assert d.p == pytest.approx(want) and d.relative().p == d.p
    assert (d.p < 1 - stats.CONFIDENCE) == (d.excludes_zero() != 0)
    slow, fast = {0: 2.0, 1: 2.2, 2: 2.1}, {0: 1.0, 1: 1.2, 2: 1.0}
    want = scipy_stats.ttest_1samp(np.log([2.0 / 1.0, 2.2 / 1.2, 2.1 / 1.0]), 0.0).pvalue
    assert stats.relative_change(slow, fast, "s_per_epoch").p == pytest.approx(want)
    assert stats.paired_difference({0: 0.3}, {0: 0.2}).p is None
    assert stats.summarize([0.5, 0.5, 0.5]).t_test_p() == 0.0 and stats.summarize([0.0] * 3).t_test_p() == 1.0
    # sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04 -> kept non-decreasing: 0.06
    assert stats.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert stats.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert stats.holm([]) == []


def test_a_lone_hurts_among_many_parts_says_it_does_not_survive_holm():
    """Synthetic's "the pool branch hurts" (p ~ 0.04 among 15 parts) must not read like evidence; an effect far
    beyond its family's noise holds; a part without a clear effect, or alone in its family, gets no note."""
    from mambarec import findings

    def cell(values):
        return {s: {"test/Recall@20": v} for s, v in enumerate(values)}

    base = [0.50, 0.51, 0.49, 0.50, 0.52]
    cells = {"paper": cell(base),
             "weak": cell([v + dv for v, dv in zip(base, (0.004, 0.010, 0.001, 0.008, 0.002), strict=True)]),
             "strong": cell([v - dv for v, dv in zip(base, (0.050, 0.052, 0.049, 0.051, 0.050), strict=True)]),
             **{f"null{i}": cell([v + (-1) ** (s + i) * 0.003 for s, v in enumerate(base)]) for i in range(3)}}
    parts = [findings.Component("weak", "paper", "weak"), findings.Component("strong", "paper", "strong"),
             *(findings.Component(f"null{i}", "paper", f"null{i}") for i in range(3))]
    family = findings.family_effects(cells, parts)
    (_, weak, weak_note), (_, strong, strong_note), *nulls = family
    assert weak.excludes_zero() == -1 and weak.p < 0.05
    assert weak_note.startswith("not after Holm's correction over these 5: p ")
    assert strong.excludes_zero() == 1 and strong_note.startswith("holds after Holm's correction over these 5")
    assert all(d.excludes_zero() == 0 and note == "" for _, d, note in nulls)
    assert findings.family_effects(cells, parts[:1])[0][2] == ""  # a family of one: nothing to correct
    words = findings.summarize_parts(cells, parts)
    assert words[findings.HURTS] == [f"weak ({weak.format(1, '%')}; {weak_note})"]
    assert findings.p_words(2e-5) == "< 0.001" and findings.p_words(0.0374) == "0.037"


def test_a_cell_whose_every_seed_peaked_in_the_warm_up_is_listed_apart():
    """synthetic/noisy-modality's `paper`, `no_alignment` and `no_dream` peak at epochs 9-16 in every seed; with no
    sister seed that went on learning, the warm-up rule could not flag them and the report said nothing of them."""
    from mambarec import findings
    from mambarec.summary import warmup_stop_lines

    def row(cell, seed, best, stopped=True):
        return {"dataset": "w", "cell": cell, "seed": seed, "best_epoch": best, "stopped_early": stopped,
                "test/Recall@20": 0.5}

    rows = [row("early", s, b) for s, b in enumerate((10, 12, 15))]
    rows += [row("late", s, b) for s, b in enumerate((40, 55, 70))]
    rows += [row("mixed", s, b) for s, b in enumerate((12, 80))]  # the sister rule's case, not this one
    rows += [row("capped", s, 15, stopped=False) for s in range(2)]  # reached its cap: not early stopping's doing
    rows += [row("one", 0, 12)]  # one seed: no cell-wide claim
    assert findings.all_in_warmup(findings.cells_of(rows, "w"), 20) == {"early": [10, 12, 15]}
    lines = warmup_stop_lines(rows, {"w": {"patience": 20}})
    apart = [line for line in lines if line.startswith("- On w every seed of 1 cell(s)")]
    assert len(apart) == 1 and "`early` (best epochs 10, 12, 15)" in apart[0]
    assert any("`mixed` seed 0" in line for line in lines)  # the sister rule still speaks


def test_interval_ends_exactly_on_a_bound_take_the_documented_side():
    """The boundaries as documented: an interval that touches 0 holds it; a paper change on an interval's end is
    inside it; an "only X%" claim whose nearest end is exactly X agrees; an "X% or more" claim met exactly agrees;
    p equal to alpha is not "beyond noise"; the fewest seeds whose half-width is exactly the bar is that count."""
    touching = stats.PairedDifference(seeds=(0, 1, 2), mean=1.0, low=0.0, high=2.0, reference_mean=1.0)
    assert touching.excludes_zero() == 0 and stats.verdict(+1.8, touching) == "inconclusive"
    below = stats.PairedDifference(seeds=(0, 1, 2), mean=-1.0, low=-2.0, high=0.0, reference_mean=1.0)
    assert below.excludes_zero() == 0
    assert stats.verdict(+2.0, touching) == "inconclusive"  # +2.0 is the high end: not "smaller than claimed"
    assert stats.verdict(-2.0, below) == "inconclusive"
    down = stats.PairedDifference(seeds=(0, 1, 2), mean=-1.0, low=-1.5, high=-0.3, reference_mean=1.0)
    assert stats.verdict(-0.3, down, at_most=True) == "agrees"  # "costs only 0.3%": the nearest end is -0.3%
    assert stats.exact_verdict(-30.0, -30.0, at_least=True) == "agrees"  # "30% or more" and exactly 30%
    at_alpha = stats.WilcoxonResult(users=10, differing=10, mean_a=0.6, mean_b=0.5, statistic=8.0, p_value=0.05,
                                    rank_sum_a=47.0, rank_sum_b=8.0)
    assert at_alpha.verdict(0.05).startswith("The difference is within the noise between users")
    diff = stats.paired_difference({0: 1.0, 1: -1.0, 2: 0.0}, {0: 0.0, 1: 0.0, 2: 0.0})
    sd = diff.half_width * math.sqrt(diff.n) / stats.t_quantile(diff.n - 1)
    assert stats.seeds_for_half_width(diff, stats.t_quantile(4) * sd / math.sqrt(5)) == 5  # exactly at the bar


def test_wilcoxon_rank_sums_rank_the_absolute_differences_and_drop_the_zeros():
    """R+ and R- rank |a - b| (they sum to n(n+1)/2 over the n users that differ, the smaller is scipy's
    statistic), and the p-value drops the users both runs score alike ("wilcox"), not splits them."""
    a, b = np.array([1.0, 2.0, -10.0, 0.5]), np.zeros(4)  # |d| ranks 2, 3, 4, 1: R+ = 6, R- = 4
    res = stats.wilcoxon_per_user(a, b)
    assert (res.rank_sum_a, res.rank_sum_b) == (6.0, 4.0)
    assert min(res.rank_sum_a, res.rank_sum_b) == pytest.approx(scipy_stats.wilcoxon(a, b).statistic)
    rng = np.random.default_rng(1)
    a = rng.random(300)
    b = a + 0.02 * rng.standard_normal(300) + 0.005
    b[:200] = a[:200]  # two thirds of the users score alike
    res = stats.wilcoxon_per_user(a, b)
    assert res.p_value == pytest.approx(scipy_stats.wilcoxon(a[200:], b[200:]).pvalue)
    assert res.rank_sum_a + res.rank_sum_b == 100 * 101 / 2


def test_a_negative_reference_keeps_the_sign_of_the_difference_in_percent():
    """A - B > 0 reads as an increase in % also when B's mean is below 0 (a loss, a log-likelihood)."""
    d = stats.paired_difference({0: -0.9, 1: -0.8, 2: -0.85}, {0: -1.0, 1: -1.0, 2: -1.0})
    rel = d.relative()
    assert rel.mean == pytest.approx(15.0) and rel.low > 0 and rel.excludes_zero() == 1


def test_a_schedule_is_safe_only_when_both_intervals_hold_zero_within_the_tolerance():
    """A faster schedule that loses 0.5-2.5% beyond noise is not "safe", though its interval lies within +-3%."""
    from mambarec import findings

    def diff(low, high):
        return stats.PairedDifference(seeds=(0, 1, 2), mean=(low + high) / 2, low=low, high=high, reference_mean=1.0)

    def check(*diffs):
        return findings.ScheduleCheck("mgcn", (0, 1, 2), dict(zip(findings.SCHEDULE_METRICS, diffs, strict=True)),
                                      {}, {})

    assert check(diff(-1.0, 1.0), diff(-2.9, 0.5)).safe is True
    # the seeds a check needs are those of its wider metric (3 for +-1% at 3 seeds, 5 for +-5%), in either order
    assert check(diff(-1.0, 1.0), diff(-5.0, 5.0)).seeds_needed == 5
    assert check(diff(-5.0, 5.0), diff(-1.0, 1.0)).seeds_needed == 5
    assert check(diff(-2.5, -0.5), diff(-1.0, 1.0)).safe is False  # a loss beyond noise
    assert check(diff(-1.0, 1.0), diff(0.2, 2.0)).safe is False  # a gain beyond noise: not "the same"
    assert check(diff(-3.5, 1.0), diff(-1.0, 1.0)).safe is False  # holds 0 but wider than the tolerance


def test_warm_up_bounds_patience_and_late_peak_are_inclusive_and_exclusive_as_documented():
    """Best epoch == patience is within the warm-up; a sister seed peaking at exactly LATE_PEAK x patience is not
    past it (the "after" is strict); p = 0.001 reads as itself, only smaller ones as "< 0.001"."""
    from mambarec import findings

    assert findings.peaked_in_warmup(20, True, 20) and not findings.peaked_in_warmup(21, True, 20)

    def cells(late_best):
        return {"paper": {0: {"best_epoch": 20, "stopped_early": True},
                          1: {"best_epoch": late_best, "stopped_early": True}}}

    assert findings.stopped_in_warmup(cells(findings.LATE_PEAK * 20), 20) == {}
    assert findings.stopped_in_warmup(cells(findings.LATE_PEAK * 20 + 1), 20) == {"paper": [0]}
    assert findings.p_words(0.001) == "0.001" and findings.p_words(0.00099) == "< 0.001"


def test_the_parameter_claim_is_the_cell_over_its_reference_compared_exactly():
    """C5 "r = 8 cuts parameters by 30%+ (vs r = 1)": paper's count over r1's, not the reverse (which reads +43%)."""
    from mambarec import findings

    c5 = next(c for c in findings.CLAIMS if c.metric == "n_params")
    cells = {c5.cell: {0: {"n_params": 65}}, c5.reference: {0: {"n_params": 100}}}
    assert findings.claim_verdict(c5, cells) == ("-35.0% (exact)", "agrees")
    cells[c5.cell] = {0: {"n_params": 80}}
    assert findings.claim_verdict(c5, cells) == ("-20.0% (exact)", "disagrees (smaller than claimed)")


def test_the_interval_of_a_mean_is_scipy_s_t_interval_and_one_seed_has_none():
    values = [0.0505, 0.0636, 0.0601, 0.0583, 0.0625]
    low, high = stats.summarize(values).interval()
    ref = scipy_stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=scipy_stats.sem(values))
    assert (low, high) == pytest.approx(ref, rel=1e-12)
    assert stats.summarize([0.3]).interval() is None


def test_the_report_shows_cold_and_warm_items_per_world_with_intervals():
    """The grid stored every run's test Recall@20 on cold and on warm items, and nothing showed it: REPORT.md's
    scenario sweep now has a row per world and group, mean [95% CI] over seeds; worlds without cold items none."""
    from mambarec.tables import cold_warm_table, scenario_table

    def row(dataset, cell, seed, cold, warm, cold_users=10):
        groups = {"cold": {"users": cold_users, "Recall@20": cold}, "warm": {"users": 30, "Recall@20": warm}}
        return {"dataset": dataset, "cell": cell, "seed": seed, "test/Recall@20": warm,
                "ground_truth": {"groups": groups}}

    rows = [row("synthetic/cold-items", "mgcn", s, c, 0.5) for s, c in enumerate([0.05, 0.06, 0.07])]
    rows += [row("synthetic/cold-items", "bpr", 0, 0.001, 0.45)]
    # a run that stored no groups (an older run, real data) is left out of its cell, not read as a zero
    rows += [{"dataset": "synthetic/cold-items", "cell": "mgcn", "seed": 9, "test/Recall@20": 0.5,
              "ground_truth": None}]
    rows += [row("synthetic/sparse-users", "mgcn", s, None, 0.5, cold_users=0) for s in range(3)]
    table = cold_warm_table(rows, ["synthetic/cold-items", "synthetic/sparse-users"])
    lines = table.splitlines()
    cold = next(line for line in lines if line.startswith("| `synthetic/cold-items` | cold |"))
    low, high = stats.summarize([0.05, 0.06, 0.07]).interval()
    assert f"0.0600 [{low:.4f}, {high:.4f}]" in cold and "0.0010 (1 seed)" in cold
    assert not any("sparse-users" in line for line in lines)
    assert table in scenario_table(rows, ["synthetic/cold-items", "synthetic/sparse-users"])


def test_holm_caps_every_adjusted_p_at_one():
    # sorted 0.6, 0.7 -> x2, x1 = 1.2, 0.7 -> non-decreasing 1.2, 1.2 -> capped: 1, 1 (a p-value above 1 is no p)
    assert stats.holm([0.7, 0.6]) == [1.0, 1.0]
    assert stats.holm([0.3, 0.6, 0.01]) == pytest.approx([0.6, 0.6, 0.03])  # 0.03, 0.3 x 2, 0.6 x 1 -> 0.6


def test_seeds_for_half_width_may_answer_its_own_limit():
    """``most`` is inclusive: when exactly ``most`` seeds meet the bar, that is the answer, not None."""
    diff = stats.paired_difference({0: 1.0, 1: -1.0, 2: 0.0}, {0: 0.0, 1: 0.0, 2: 0.0})  # per-seed sd exactly 1
    bar = scipy_stats.t.ppf(0.975, 5) / math.sqrt(6)  # the half-width of 6 seeds at sd 1
    assert stats.seeds_for_half_width(diff, bar, most=6) == 6
    assert stats.seeds_for_half_width(diff, bar, most=5) is None


def test_an_only_x_percent_claim_is_never_called_smaller_than_claimed():
    """"costs only 12%" with an interval holding 0 and not -12: the data cannot tell the direction, and being smaller
    than 12% is what the claim says, so it is plainly inconclusive; a direction claim with the same interval is
    "smaller than claimed"."""
    tight = stats.PairedDifference(seeds=(0, 1, 2), mean=0.0, low=-1.0, high=1.0, reference_mean=1.0)
    assert stats.verdict(-12.0, tight, at_most=True) == "inconclusive"
    assert stats.verdict(-12.0, tight) == "inconclusive; smaller than claimed"


def test_a_reference_whose_mean_is_zero_gives_no_relative_change_rather_than_an_error():
    """An untrained reference cell can score 0 on every seed: its % change is undefined, shown as nan without an
    interval, never a ZeroDivisionError in the middle of a report."""
    d = stats.paired_difference({0: 0.1, 1: 0.2, 2: 0.15}, {0: 0.0, 1: 0.0, 2: 0.0})
    rel = d.relative()
    assert math.isnan(rel.mean) and not rel.has_interval and rel.seeds == (0, 1, 2)
    assert stats.verdict(+1.8, rel) == "inconclusive (3 seeds)"


def test_a_nan_on_the_reference_side_is_no_seed_either():
    a = {0: 0.30, 1: 0.32, 2: 0.31, 3: 0.5}
    b = {0: 0.29, 1: 0.30, 2: 0.30, 3: np.float32("nan")}
    d = stats.paired_difference(a, b)
    assert d.seeds == (0, 1, 2) and d.mean == pytest.approx(np.mean([0.01, 0.02, 0.01]))
    assert stats.common_seeds(b, a) == (0, 1, 2)


def test_a_wilcoxon_verdict_over_every_user_names_no_users_that_score_alike():
    rng = np.random.default_rng(2)
    a = rng.random(50)
    res = stats.wilcoxon_per_user(a + 0.1, a)
    assert res.differing == res.users == 50 and res.p_value < 0.05
    words = res.verdict()
    assert words.startswith("A is better beyond the noise between users, over the 50 of 50 users whose scores differ")
    assert "the other" not in words and "score the same" not in words


def test_a_claim_not_measured_carries_no_warm_up_note():
    """The warm-up note qualifies a verdict; a claim whose reference never ran has none to qualify (C11 with `official`
    run, some seeds in their warm-up, and no `mgcn` cell)."""
    from mambarec import findings

    c11 = next(c for c in findings.CLAIMS if c.cell == "official" and c.reference == "mgcn")
    cells = {"official": {0: {"best_epoch": 6, "stopped_early": True, c11.metric: 0.48},
                          1: {"best_epoch": 148, "stopped_early": True, c11.metric: 0.60}}}
    assert findings.claim_warmup(c11, cells) == {"official": [0]}  # the seed is there to be named
    assert findings.claim_verdict(c11, cells) == ("-", "not measured")


def test_a_schedule_check_s_bounds_are_inclusive_and_one_seed_is_not_judged():
    """Safe: both intervals hold 0 (an end on 0 holds it, as in ``excludes_zero``) and lie within ±3% (an end on
    ±3% is within). One common seed gives no interval: not judged (None), neither safe nor unsafe."""
    from mambarec import findings

    def diff(low, high, seeds=(0, 1, 2)):
        mean = (low + high) / 2 if low is not None else 1.0
        return stats.PairedDifference(seeds=seeds, mean=mean, low=low, high=high, reference_mean=1.0)

    def check(*diffs):
        return findings.ScheduleCheck("mgcn", (0, 1, 2), dict(zip(findings.SCHEDULE_METRICS, diffs, strict=True)),
                                      {}, {})

    assert check(diff(-3.0, 3.0), diff(-1.0, 1.0)).safe is True
    assert check(diff(0.0, 2.0), diff(-2.0, 0.0)).safe is True
    assert check(diff(-3.01, 1.0), diff(-1.0, 1.0)).safe is False
    assert check(diff(None, None, seeds=(0,)), diff(-1.0, 1.0)).safe is None


def test_the_issue_s_seeds_are_not_checked_twice_when_the_grid_ran_only_those():
    """``schedule_check_pairs`` adds the check over seeds 0-2 only where the grid ran more seeds."""
    from mambarec import findings

    def run(cell, seed, recall):
        return {"dataset": "d", "cell": cell, "seed": seed, "test/Recall@20": recall, "test/NDCG@20": recall / 2}

    rows = [run("mgcn", s, 0.30 + 0.001 * s) for s in range(3)] + [run("mgcn_paper_sched", s, 0.30) for s in range(3)]
    (full, few), = findings.schedule_check_pairs(findings.cells_of(rows, "d"))
    assert full.seeds == (0, 1, 2) and few is None
    rows += [run("mgcn", 3, 0.3), run("mgcn_paper_sched", 3, 0.3)]
    (full, few), = findings.schedule_check_pairs(findings.cells_of(rows, "d"))
    assert full.seeds == (0, 1, 2, 3) and few.seeds == (0, 1, 2)


def test_a_relative_change_of_a_metric_never_reads_below_minus_100_percent():
    """Two seeds far apart gave a demo report "-87.5% [-130.3%, -44.7%]" (audit r75, item 14): a metric is never
    negative, so its mean cannot fall below -100% of the reference's, and the interval stops there; its high end,
    its mean and its p-value are the t-interval's own. A quantity that can be negative keeps the whole interval."""
    a, b = {0: 0.01, 1: 0.2}, {0: 0.9, 1: 0.7}
    whole = stats.paired_difference(a, b).relative()
    cut = stats.relative_change(a, b, "recall@20")
    assert whole.low < -100.0 and cut.low == -100.0
    assert (cut.mean, cut.high, cut.p) == (whole.mean, whole.high, whole.p)
    assert cut.format(1, "%") == "-86.9% [-100.0%, +222.8%]"
    signed_a = {0: -0.01, 1: 0.2}
    assert stats.relative_change(signed_a, b, "loss").low == stats.paired_difference(signed_a, b).relative().low < -100
