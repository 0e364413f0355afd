"""`chatbench check`: the CI regression gate. Did this commit make either service slower?

The gate compares a candidate's per-repetition figures with a reference's — a stored baseline
(``results/baselines/ci.json``) or, with ``--base REF``, the base commit measured in the same
run (see ``chatbench.workflows.ab``) — per variant × endpoint × metric (default: ``rps``, ``p95``,
``p99``). The comparison (:func:`compare`) is a pure function over two summaries, so every
verdict can be tested without load.

The rule, per metric (``ratio`` = candidate / reference, of the geometric means over
repetitions):

* **regression** when the change is *significant* and *large*:
  - significant: Welch's t-test on the log values of the two sides (``welch-t-log``,
    ``stats.compare_values``: the same rule ``chatbench compare`` uses) gives p < 0.05, so
    its 95 % interval of the ratio excludes 1. The interval is a real 95 % one from 3
    repetitions a side (its coverage is measured by simulation in ``tests/analysing/test_coverage.py``);
    with 2 a side there is only the range of the ratios, which is never significant.
  - large: the change in the bad direction, as extra cost per request (latency: ratio − 1;
    throughput: 1 / ratio − 1, so a drop to 0.8× counts as +25 %, see :func:`slowdown`), is at
    least ``max(threshold, k × CV)``, where CV is the reference's coefficient of variation over
    repetitions for that metric and ``k`` = 2.
    The fixed threshold (default 10 % against a stored baseline, 5 % same-runner) keeps
    tiny-but-real changes from failing CI; the noise term raises the bar for metrics that are
    noisy on this runner (p99 usually), so a noisy runner does not cry wolf.
    Same-runner A/B uses no noise term (``k`` = 0, ``AB_NOISE_K``): there both sides' spread
    is measured in the same run and is exactly what the t-test and its interval already
    judge, so raising the bar by it as well counted the noise twice and made a change smaller
    than 2 × CV undetectable however many repetitions ran (on a runner with 10 % noise per
    repetition, no 15 % slowdown could fail). Against a stored baseline the term stays: the
    spread between the baseline's day and today's is not in either side's CV.
* **improvement**: the same in the good direction (reported, never fails).
* **no change**: not significant, and the interval's bad-side bound stays within the
  threshold — evidence that any slowdown is smaller than the threshold.
* **undecided**: neither — the interval reaches past the threshold but the change is not
  significant (too few or too noisy repetitions), or there is no real 95 % interval at all
  (fewer than 3 values a side: a range; a value ≤ 0, which has no logarithm). Reported as
  such, never as a pass that looks like evidence; it does not fail the gate.
* **missing**: the reference has the metric but the candidate does not (or too few values).
  It **fails** the gate (:attr:`CheckResult.unjudged`): nothing judged is not a pass.

A variant whose every repetition on either side was excluded as invalid (``meta.json``
``invalid_repetitions``, e.g. a saturated load generator, whose figures measure Locust rather
than the service) leaves nothing to judge and fails the gate too, with a sentence saying why.
Partly excluded variants are judged on the valid repetitions left, and the exclusions are
listed in the notes. A run or baseline with fewer than 2 repetitions of a variant is refused
before anything is judged (``require_repetitions``, a usage error, exit 2): its seconds are
autocorrelated and never stand in for repetitions.

Fewer than ``MIN_REPETITIONS`` (4) repetitions a side (``--min-repetitions``, at least 3) give
only *undecided*. The interval is valid from 3, but at 3 a side Welch's test has as few as 2
degrees of freedom and rests heavily on the log values being normal; a gate that fails CI
waits for 4 a side (the ``ci`` profile's count), where it has at least 3.

**Paired (same-runner A/B duet).** When base and head were measured at the same time
(``Rule.paired``, see ``chatbench.workflows.ab``), value ``i`` of each side belongs to the same moment,
so the pairs are judged instead of the two samples: ``ratio`` is the geometric mean of the
per-repetition ratios head/base, its 95 % interval the t interval on their logs, and the
two-sided p that of the one-sample t-test on the logs (``stats.paired_ratio``,
``paired-t-log``; its coverage is simulated in ``tests/analysing/test_coverage.py``), Holm-adjusted
over every verdict of the check (``stats.holm``) so that an unchanged service raises *any*
false alarm at most about one time in twenty, not once per nine questions. Significant means
adjusted p < 0.05; large, undecided, no change and missing are as above (threshold 5 %, no
noise term). Fewer than ``min_repetitions`` pairs give only *undecided*.

**Raw and normalised.** Every run also measures a fixed control probe once per repetition
round (``chatbench.measuring.control``), and a baseline keeps each repetition's figure relative to it
(``chatbench.analysing.figures``: throughput ÷ probe ops/s, latency × probe ops/s). Every finding is
judged twice with the same rule: on the raw figures and on the normalised ones. A runner that
is uniformly slower today (a noisy neighbour, another CI machine) slows the probe as much as
the services, so the normalised ratio stays near 1 where the raw one falls. ``--gate raw``
(default) or ``--gate normalised`` chooses which verdicts decide the exit code; metrics with no
normalised form (``error_rate``) are gated raw either way. A baseline without control values
(made before the probe existed) has normalised figures "not available", and gating on them is
a usage error. Same-runner A/B (``--base``) judges raw figures only: both sides share the
machine and the rounds, which is what the normalisation would correct for.

**Invalid repetitions.** A candidate repetition whose load generator saturated (``meta.json``
``invalid_repetitions``) fails a stored-baseline check (``fail_on_invalid``), naming variant and
repetition: its latencies measure Locust rather than the service, so the run's figures cannot
be trusted as a verdict. A/B mode keeps the older rule (excluded and counted in the notes).

**Gated and informational verdicts.** In a closed-loop run (Locust's users wait for each
answer, ``mode`` ``closed``) latency is not an independent question: by Little's law a fixed
number of users N, each waiting for its answer, gives throughput × latency ≈ N, so a latency
change restates the throughput change and its verdict adds a second, noisier test of one fact
(and costs every other verdict Holm power). There throughput is gated and latency is judged
for information only (:attr:`Finding.gated` false: it never fails the check, never enters the
Holm family, never keeps a verdict undecided). Latency is gated when it was measured at a fixed
offered load (``mode`` ``rate``, the open model), where it is a question of its own.
Error rate and the other non-latency metrics are gated in either mode.

**What each check could have caught.** Every verdict carries the smallest true slowdown its
own rule calls a regression with 80 % power (``chatbench.analysing.power``): significant at its
alpha (for a duet, the alpha of Holm's first step, alpha / the number of gated verdicts) *and*
at least the threshold, both together, from the noise this check observed
(:attr:`Finding.catchable`). Where the threshold binds, that lies above it: a true slowdown
exactly at the threshold is caught about half the time.

**Exit codes** (:attr:`CheckResult.status`, ``chatbench.errors.EXIT_*``): 0 no regression
(every gated verdict decided, none a regression); 1 a regression (each named: variant,
endpoint, metric), whatever else the check found; 3 not comparable (a metric or variant with
nothing valid to judge, a saturated load generator in a stored-baseline check; before any load:
a baseline taken under other settings or on another machine class, or one without the
normalised figures ``--gate normalised`` asks for); 4 undecided (no regression, but some gated
verdict still undecided when the check ended: too noisy to tell within the budget, which is
not evidence of no change); 2 bad arguments (options, a missing or corrupt baseline file, a
planned run with too few repetitions).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

from chatbench.analysing import power, sequential, stats
from chatbench.analysing.figures import NORMALISED_METRICS
from chatbench.errors import (
    EXIT_NO_REGRESSION,
    EXIT_NOT_COMPARABLE,
    EXIT_REGRESSION,
    EXIT_UNDECIDED,
    NotComparableError,
    UsageError,
)
from chatbench.storing.baselines import STORED_METRICS, Summary
from chatbench.storing.record import InvalidRepetition

GATED_METRICS = ("rps", "p95", "p99")
DEFAULT_THRESHOLD = 0.10  # stored baseline: different times, maybe a different runner
AB_THRESHOLD = 0.05  # same runner, interleaved: tighter
NOISE_K = 2.0
AB_NOISE_K = 0.0  # same-runner A/B: the t-test already judges the noise (see above)
MIN_REPETITIONS = 4  # a side, before the gate decides anything (see the module docstring)
MIN_REPETITIONS_TO_RUN = 2  # a side, or the check is refused (see ``require_repetitions``)
METRIC_UNITS = {"rps": "req/s", "req_per_cpu_s": "req/CPU-s", "error_rate": "fraction"}
GATES = ("raw", "normalised")
NOT_AVAILABLE = "not available"
# Latency metrics: gated only when measured at a fixed offered load (see the module docstring).
LATENCY_METRICS = frozenset({"p50", "p95", "p99"})
OPEN_MODEL_MODES = frozenset({"rate"})


class Outcome(enum.StrEnum):
    REGRESSION = "regression"
    IMPROVEMENT = "improvement"
    NO_CHANGE = "no change"
    UNDECIDED = "undecided"
    MISSING = "missing"


class Status(enum.StrEnum):
    """What a whole check concluded; each has its own exit code (:data:`EXIT_CODES`)."""

    NO_REGRESSION = "no regression"
    REGRESSION = "regression"
    NOT_COMPARABLE = "not comparable"
    UNDECIDED = "undecided"


EXIT_CODES = {
    Status.NO_REGRESSION: EXIT_NO_REGRESSION,
    Status.REGRESSION: EXIT_REGRESSION,
    Status.NOT_COMPARABLE: EXIT_NOT_COMPARABLE,
    Status.UNDECIDED: EXIT_UNDECIDED,
}


@dataclass(frozen=True)
class Rule:
    """The gate's parameters (see the module docstring)."""

    threshold: float = DEFAULT_THRESHOLD
    noise_k: float = NOISE_K
    alpha: float = stats.ALPHA
    metrics: tuple[str, ...] = GATED_METRICS
    # Fewer repetitions a side than this can only be undecided (see the module docstring).
    min_repetitions: int = MIN_REPETITIONS
    gate: str = "raw"  # which figures decide the exit code: "raw" or "normalised"
    # Same-runner A/B duet: reference[i] and candidate[i] were measured at the same time, so
    # pairs are judged (``stats.paired_ratio``) and p-values Holm-adjusted over the check.
    paired: bool = False
    # Adaptive rounds: the information fractions of this look and those before it, so that the
    # looks share ``alpha`` by the spending rule of ``analysing.sequential``; () for one look.
    looks: tuple[float, ...] = ()

    @property
    def look_alpha(self) -> float:
        """The nominal level of one test at this look (``alpha`` when there is one look)."""
        return sequential.nominal_alpha(self.alpha, self.looks)


def ab_rule(rule: Rule | None = None, *, paired: bool = False) -> Rule:
    """``rule`` for same-runner A/B: its threshold kept (no rule: ``AB_THRESHOLD``), its
    noise term dropped (``AB_NOISE_K``, see the module docstring); ``paired`` for a duet run."""
    rule = rule or Rule(threshold=AB_THRESHOLD)
    return replace(rule, noise_k=AB_NOISE_K, paired=paired)


@dataclass(frozen=True)
class Finding:
    """The verdict for one variant × endpoint × metric."""

    variant: str
    endpoint: str
    metric: str
    outcome: Outcome
    reference: tuple[float, ...]
    candidate: tuple[float, ...]
    ratio: stats.Estimate
    p_value: float
    threshold: float  # the effective one: max(rule threshold, k × reference CV)
    # The smallest true slowdown (log scale) this verdict's own rule calls a regression with
    # 80 % power: significant at ``alpha`` and at least ``threshold`` together (``power``);
    # NaN when it can only be undecided (too few values for a real interval or for the gate).
    detectable: float = math.nan
    alpha: float = stats.ALPHA  # the alpha ``detectable`` was computed at
    gated: bool = True  # False: judged for information only (closed-loop latency)

    @property
    def catchable(self) -> float:
        """The smallest regression this check would catch with 80 % power, as extra cost per
        request (the threshold's scale); above the threshold wherever the threshold binds (a
        true slowdown exactly at it is caught about half the time)."""
        if not math.isfinite(self.detectable):
            return math.nan
        return math.expm1(self.detectable)

    @property
    def catchable_change(self) -> float:
        """:attr:`catchable` as a change of the metric itself (throughput −5.7 %, p95 +6 %)."""
        c = self.catchable
        if not math.isfinite(c):
            return math.nan
        return 1.0 / (1.0 + c) - 1.0 if stats.higher_is_better(self.metric) else c

    def would_catch(self) -> str:
        """``"would catch rps regressions ≥ 5.7 % (drop)"``, or why it cannot say."""
        c = self.catchable_change
        if not math.isfinite(c):
            return "would catch nothing yet (too few values a side to decide)"
        kind = "drops" if stats.higher_is_better(self.metric) else "rises"
        return (
            f"would catch {self.metric} {kind} ≥ {abs(c):.1%} (80 % power: p < "
            f"{self.alpha:.3g} and ≥ {self.threshold:.1%} together)"
        )

    @property
    def change(self) -> float:
        """Relative change of the geometric mean, candidate vs reference (+0.12 = 12 % higher)."""
        return self.ratio.value - 1.0

    @property
    def name(self) -> str:
        return f"{self.variant} {self.endpoint} {self.metric}"

    def sentence(self) -> str:
        low, high = self.ratio.low - 1, self.ratio.high - 1
        if self.ratio.is_ci:
            bounds = f"95 % CI {low:+.1%}…{high:+.1%}"
        elif self.ratio.method == stats.RANGE and stats.has_interval(self.ratio):
            bounds = f"range of {self.ratio.n} {low:+.1%}…{high:+.1%}, not judged"
        else:
            bounds = "95 % CI not computable"
        return (
            f"{self.variant} {self.endpoint} {self.metric}: {fmt(centre(self.reference))} → "
            f"{fmt(centre(self.candidate))} ({self.change:+.1%}, {bounds}, "
            f"p={self.p_value:.3f}, threshold {self.threshold:.1%})"
        )


@dataclass
class CheckResult:
    """Every finding of one check plus what the reader needs to trust it."""

    findings: list[Finding]
    rule: Rule
    reference_label: str
    candidate_label: str
    notes: list[str] = field(default_factory=list)
    # Why the gate could not judge something it had to (a metric missing from the candidate,
    # a variant whose every repetition was excluded): each one fails the check.
    unjudged: list[str] = field(default_factory=list)
    # The same judgement on control-normalised figures (None: not available, see the note).
    normalised: list[Finding] | None = None
    normalised_note: str = ""
    # Candidate repetitions that invalidate a stored-baseline check (saturated load generator).
    invalid: list[str] = field(default_factory=list)
    reference_sha: str | None = None  # A/B: the base commit measured beside the head

    def normalised_for(self, f: Finding) -> Finding | None:
        """The normalised twin of raw finding ``f`` (None: no normalised figure for it)."""
        for n in self.normalised or ():
            if (n.variant, n.endpoint, n.metric) == (f.variant, f.endpoint, f.metric):
                return n
        return None

    @property
    def gated(self) -> list[Finding]:
        """The findings that decide the exit code: raw, or with ``gate="normalised"`` the
        normalised twin of every finding that has one; informational ones left out."""
        if self.rule.gate != "normalised":
            return [f for f in self.findings if f.gated]
        return [self.normalised_for(f) or f for f in self.findings if f.gated]

    @property
    def informational(self) -> list[Finding]:
        """Findings judged for information only (closed-loop latency, see the docstring)."""
        return [f for f in self.findings if not f.gated]

    @property
    def regressions(self) -> list[Finding]:
        return [f for f in self.gated if f.outcome is Outcome.REGRESSION]

    @property
    def passed(self) -> bool:
        """No regression and nothing that could not be judged (undecided verdicts pass, but
        the check's :attr:`status` says so)."""
        return not self.regressions and not self.unjudged and not self.invalid

    @property
    def status(self) -> Status:
        """A regression wins over everything; then "not comparable" (something the gate had
        to judge had no valid figures); then "undecided" (a gated verdict left undecided)."""
        if self.regressions:
            return Status.REGRESSION
        if self.unjudged or self.invalid:
            return Status.NOT_COMPARABLE
        if self.count(Outcome.UNDECIDED):
            return Status.UNDECIDED
        return Status.NO_REGRESSION

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]

    def count(self, outcome: Outcome) -> int:
        return sum(1 for f in self.gated if f.outcome is outcome)


# -- the pure comparison --------------------------------------------------------------------


def judge(
    reference: Sequence[float],
    candidate: Sequence[float],
    *,
    metric: str,
    rule: Rule = Rule(),
    variant: str = "",
    endpoint: str = "",
    p_adjust: Callable[[float], float] | None = None,
    family: int = 1,
    gated: bool = True,
) -> Finding:
    """The verdict for one metric from the per-repetition values of both sides.

    With ``rule.paired`` the two sequences are pairs (same index, same moment) and are judged
    as such; ``p_adjust`` maps the raw p to the family-adjusted one (``_judge_all``), and the
    detectable effect is computed at Holm's first-step alpha, ``alpha / family``."""
    if rule.paired:
        pairs = [
            (float(r), float(c))
            for r, c in zip(reference, candidate, strict=True)
            if math.isfinite(float(r)) and math.isfinite(float(c))
        ]
        ref = tuple(r for r, _ in pairs)
        cand = tuple(c for _, c in pairs)
    else:
        ref = tuple(float(x) for x in reference if math.isfinite(float(x)))
        cand = tuple(float(x) for x in candidate if math.isfinite(float(x)))
    cv = stats.coefficient_of_variation(ref)
    threshold = max(rule.threshold, rule.noise_k * cv) if math.isfinite(cv) else rule.threshold
    if len(ref) < 2 or len(cand) < 2:
        ratio, _ = stats.ratio_interval(cand, ref)  # the point alone: n < 2 has no bounds
        return Finding(
            variant, endpoint, metric, Outcome.MISSING, ref, cand, ratio, 1.0, threshold,
            gated=gated,
        )  # fmt: skip
    # The level one test gets: at this look (alpha spending), and for a duet Holm's first step.
    alpha = (
        sequential.nominal_alpha(rule.alpha / max(1, family), rule.looks)
        if rule.paired
        else rule.look_alpha
    )
    delta = (
        (power.paired_delta if rule.paired else power.welch_delta)(
            ref, cand, alpha=alpha, threshold=threshold
        )
        if min(len(ref), len(cand)) >= rule.min_repetitions
        else math.nan  # too few to decide anything: nothing would be caught
    )
    if rule.paired:
        ratio, p = stats.paired_ratio(ref, cand)
        p = p_adjust(p) if p_adjust else p
        verdict = stats.verdict(ratio, p, metric=metric, alpha=rule.alpha)
    else:
        ratio, p, verdict = stats.compare_values(ref, cand, metric=metric, alpha=alpha)
    if min(len(ref), len(cand)) < rule.min_repetitions:
        outcome = Outcome.UNDECIDED  # too few repetitions for either claim
    elif verdict is stats.Verdict.NOT_JUDGED:
        outcome = Outcome.UNDECIDED  # no real 95 % interval (a range, or no logarithm)
    elif verdict is stats.Verdict.NO_CHANGE:
        bad_end = ratio.low if stats.higher_is_better(metric) else ratio.high
        within = slowdown(bad_end, metric) <= threshold
        outcome = Outcome.NO_CHANGE if within else Outcome.UNDECIDED
    elif max(slowdown(ratio.value, metric), slowdown(1 / ratio.value, metric)) < threshold:
        outcome = Outcome.NO_CHANGE  # significant, but smaller than the threshold either way
    elif verdict is stats.Verdict.SLOWER:
        outcome = Outcome.REGRESSION
    else:
        outcome = Outcome.IMPROVEMENT
    return Finding(
        variant, endpoint, metric, outcome, ref, cand, ratio, p, threshold, delta, alpha, gated
    )


def slowdown(ratio: float, metric: str) -> float:
    """How much worse ``ratio`` (candidate / reference) is, as extra cost per request.

    Latency: ``ratio - 1`` (+25 % = 25 % longer). Throughput: ``1 / ratio - 1`` (0.8× the
    requests per second = 25 % more time per request), so both directions of badness share
    one unbounded scale and one threshold; a throughput drop of x % alone could never exceed
    100 %, which a noise-aware threshold may. Negative means better.
    """
    if not math.isfinite(ratio) or ratio <= 0:
        return math.inf if stats.higher_is_better(metric) else -1.0
    return 1.0 / ratio - 1.0 if stats.higher_is_better(metric) else ratio - 1.0


def compare(
    reference: Summary,
    candidate: Summary,
    *,
    rule: Rule = Rule(),
    reference_label: str = "baseline",
    candidate_label: str = "this run",
    fail_on_invalid: bool = False,
) -> CheckResult:
    """Judge every variant × endpoint × gated metric the reference has, raw and (when both
    sides carry control values) normalised.

    ``fail_on_invalid`` (stored-baseline checks): any candidate repetition excluded as invalid
    fails the check instead of only being counted in the notes.
    """
    if rule.gate not in GATES:
        raise UsageError(f"--gate must be one of {', '.join(GATES)}, not {rule.gate!r}.")
    open_model = candidate.settings.get("mode") in OPEN_MODEL_MODES
    findings = _judge_all(reference.values, candidate.values, rule, rule.metrics, open_model)
    normalised: list[Finding] | None = None
    note = _normalised_unavailable(reference, candidate)
    if not note:
        metrics = tuple(m for m in rule.metrics if m in NORMALISED_METRICS)
        normalised = _judge_all(
            reference.normalised, candidate.normalised, rule, metrics, open_model
        )
    elif rule.gate == "normalised":
        raise NotComparableError(f"--gate normalised needs normalised figures, but {note}.")
    notes = [*reference.warnings, *candidate.warnings]
    for side, summary in (("reference", reference), ("candidate", candidate)):
        for x in summary.excluded:
            notes.append(f"{side} {x.variant} repetition {x.repetition} excluded: {x.reason}")
    result = CheckResult(findings, rule, reference_label, candidate_label, notes, [])
    result.normalised, result.normalised_note = normalised, note
    result.unjudged = _unjudged(reference, candidate, result.gated, rule.metrics)
    if fail_on_invalid:
        result.invalid = [
            f"{x.variant} repetition {x.repetition} is invalid ({x.reason}): a load generator above "
            "90 % CPU inflates latency and caps throughput, so its figures measure Locust, "
            "not the service, and are not trustworthy. Rerun on a quieter machine or with "
            "fewer users."
            for x in candidate.excluded
        ]
    return result


def is_gated(metric: str, open_model: bool) -> bool:
    """Whether ``metric`` decides the check: latency only at a fixed offered load."""
    return open_model or metric not in LATENCY_METRICS


def _judge_all(
    reference, candidate, rule: Rule, metrics: Sequence[str], open_model: bool = False
) -> list[Finding]:
    """``judge`` for every variant × endpoint × metric (of ``metrics``) the reference has.

    Paired (duet) findings are judged twice: once for their raw p-values, then with each p
    Holm-adjusted over the gated family (``stats.holm``), so the chance that an unchanged
    service raises any false alarm in the check stays at alpha however many verdicts it has.
    Informational findings (closed-loop latency) are adjusted over the same family size, as
    if each were one more question, so their p reads on the same scale.
    """
    questions = []
    for variant, endpoints in reference.items():
        for endpoint, by_metric in endpoints.items():
            for metric in metrics:
                if metric not in by_metric:
                    continue
                cand = candidate.get(variant, {}).get(endpoint, {}).get(metric, [])
                questions.append((variant, endpoint, metric, by_metric[metric], cand))

    def ask(q, p_adjust=None, family: int = 1) -> Finding:
        variant, endpoint, metric, ref, cand = q
        return judge(
            ref, cand, metric=metric, rule=rule, variant=variant, endpoint=endpoint,
            p_adjust=p_adjust, family=family, gated=is_gated(metric, open_model),
        )  # fmt: skip

    findings = [ask(q) for q in questions]
    if not rule.paired:
        return findings
    judged = [i for i, f in enumerate(findings) if f.outcome is not Outcome.MISSING and f.gated]
    m = len(judged)
    raw = [findings[i].p_value for i in judged]
    adjusted = dict(zip(judged, sequential.adjusted_p(raw, rule.alpha, rule.looks), strict=True))
    # Informational: Bonferroni at the family's size + 1, at this look's level.
    info_level = sequential.nominal_alpha(rule.alpha / (m + 1), rule.looks)
    for i, f in enumerate(findings):
        if not f.gated and f.outcome is not Outcome.MISSING:
            adjusted[i] = min(1.0, f.p_value * rule.alpha / info_level)
    return [
        ask(q, p_adjust=lambda _p, a=adjusted[i]: a, family=max(1, m))
        if i in adjusted
        else findings[i]
        for i, q in enumerate(questions)
    ]


def _normalised_unavailable(reference: Summary, candidate: Summary) -> str:
    """Why normalised figures cannot be judged ("" when they can)."""
    if reference.normalised is None and candidate.normalised is None:
        if reference.run_id and reference.run_id == candidate.run_id:
            return (
                "the two sides come from one same-runner A/B run, which shares the machine and "
                "the rounds, so only raw figures are judged"
            )
        return "neither side has control values"
    if reference.normalised is None:
        return (
            "the reference has no control values (made before the control probe existed; "
            "refresh it to get them)"
        )
    if candidate.normalised is None:
        return "this run has no control values (its control probe did not run or failed)"
    return ""


def _all_excluded(summary: Summary) -> dict[str, list[InvalidRepetition]]:
    """Variants with excluded repetitions and no valid values left: variant → exclusions."""
    out: dict[str, list[InvalidRepetition]] = {}
    for x in summary.excluded:
        left = summary.values.get(x.variant, {})
        if not any(vals for metrics in left.values() for vals in metrics.values()):
            out.setdefault(x.variant, []).append(x)
    return out


def _unjudged(
    reference: Summary, candidate: Summary, findings: list[Finding], metrics: Sequence[str]
) -> list[str]:
    """Why the gate has nothing (or too little) to judge, one sentence per cause.

    A check that judged nothing must not pass: a variant whose every repetition was excluded
    (typically a saturated load generator: its latencies measure Locust, not the service, so
    the figures cannot be trusted) or a gated metric the reference has and the candidate lacks
    would otherwise leave the gate green with no evidence at all.
    """
    reasons = []
    blocked: set[str] = set()
    for side, summary in (("reference", reference), ("candidate", candidate)):
        for variant, xs in _all_excluded(summary).items():
            blocked.add(variant)
            why = sorted({x.reason for x in xs})
            reps = ", ".join(str(x.repetition) for x in xs)
            reasons.append(
                f"{side} {variant}: every repetition was excluded as invalid ({'; '.join(why)}: "
                f"repetition {reps}), so there is nothing to judge; a saturated load generator "
                "inflates latency and caps throughput, so those figures cannot be trusted. "
                "Rerun on a quieter machine or with fewer users."
            )
    for f in findings:
        if f.outcome is not Outcome.MISSING or f.variant in blocked:
            continue
        reasons.append(
            f"{f.name}: the reference has {len(f.reference)} value(s), the candidate "
            f"{len(f.candidate)}; at least 2 a side are needed, so this metric could not be "
            "judged."
        )
    return reasons


def centre(values: Sequence[float]) -> float:
    """The figure the ratio is made of: the geometric mean over repetitions."""
    return stats.interval(values).value


def fmt(x: float) -> str:
    if not math.isfinite(x):
        return "–"
    return f"{x:.0f}" if abs(x) >= 100 else f"{x:.2f}"


def parse_threshold(text: str) -> float:
    """``"10%"``, ``"10"`` or ``"0.1"`` → 0.1; a usage error otherwise."""
    raw = text.strip().rstrip("%").strip()
    try:
        value = float(raw)
    except ValueError:
        raise UsageError(f"--threshold takes a percentage like 10%, not {text!r}.") from None
    if text.strip().endswith("%") or value >= 1:
        value /= 100.0
    if not 0 < value < 1:
        raise UsageError(f"--threshold must be between 0 % and 100 %, not {text!r}.")
    return value


def parse_metrics(items: Iterable[str] | None) -> tuple[str, ...]:
    """``--metric`` values (repeatable, comma-separated) → metric names; default: the gated."""
    names = tuple(m.strip() for item in items or () for m in item.split(",") if m.strip())
    if not names:
        return GATED_METRICS
    unknown = [m for m in names if m not in STORED_METRICS]
    if unknown:
        raise UsageError(
            f"Unknown --metric {', '.join(unknown)}; choose from {', '.join(STORED_METRICS)}."
        )
    return names


def parse_min_repetitions(value: int) -> int:
    if not stats.MIN_CI_N <= value <= 1000:
        raise UsageError(
            f"--min-repetitions must be from {stats.MIN_CI_N} to 1000 (below {stats.MIN_CI_N} "
            f"repetitions a side there is no 95 % interval to judge), not {value}."
        )
    return value


TOO_FEW = (
    "chatbench check needs at least {need} repetitions of each variant on both sides (seconds "
    "inside one repetition are autocorrelated, not independent samples)"
)


def repetition_counts(summary: Summary) -> dict[str, int]:
    """variant → repetitions a summary holds, valid or excluded (its longest value list plus
    its excluded repetitions)."""
    counts = {
        variant: max(
            (len(v) for metrics in endpoints.values() for v in metrics.values()), default=0
        )
        for variant, endpoints in summary.values.items()
    }
    for x in summary.excluded:
        counts[x.variant] = counts.get(x.variant, 0) + 1
    return counts


def require_repetitions(summary: Summary, label: str) -> None:
    """Refuse (exit 2) a baseline or run holding fewer than ``MIN_REPETITIONS_TO_RUN``
    repetitions of a variant: there is no spread between repetitions to judge against."""
    for variant, k in sorted(repetition_counts(summary).items()):
        if 0 < k < MIN_REPETITIONS_TO_RUN:
            raise UsageError(
                f"{label} has {k} repetition(s) of {variant}, and "
                + TOO_FEW.format(need=MIN_REPETITIONS_TO_RUN)
                + "."
            )
