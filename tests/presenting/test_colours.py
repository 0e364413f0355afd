"""Charts readable for every run: a colour family per framework, shades per variant, slanted
crowded ticks, titles wrapped rather than clipped, Django/FastAPI pairs by recorded framework."""

from __future__ import annotations

from pathlib import Path

import matplotlib.colors as mcolors

from chatbench.presenting.chartkit import figure, finish, palette, variant_ticks
from chatbench.presenting.charts import ratio_pairs
from chatbench.storing import record as rec
from chatbench.storing.rundir import Repetition, Run

SUITE = ("django[pool=none]", "django[pool=persistent]", "django[pool=pool]",
         "fastapi[pool=none]", "fastapi[pool=persistent]", "fastapi[pool=pool]")  # fmt: skip


def suite_run(labels: tuple[str, ...] = SUITE) -> Run:
    """A run of ``labels`` with the framework each variant's spec recorded, and no data."""
    record = rec.RunRecord(
        config=rec.ConfigRecord(variants=list(labels)),
        variants={v: rec.VariantRecord(framework=v.split("[")[0]) for v in labels},
    )
    reps = tuple(Repetition(v, 1, Path("."), 0.0, 1.0, 1.0, 0, 0, (), (), ()) for v in labels)
    return Run(Path("."), record, reps, None)


def hue(colour: str) -> float:
    return mcolors.rgb_to_hsv(mcolors.to_rgb(colour))[0] * 360


def test_six_suite_variants_are_two_families_of_three_distinct_shades() -> None:
    colours = palette(suite_run())
    assert len(set(colours.values())) == 6
    greens = [hue(colours[v]) for v in SUITE[:3]]
    blues = [hue(colours[v]) for v in SUITE[3:]]
    assert all(90 <= h <= 160 for h in greens), greens  # green
    assert all(190 <= h <= 240 for h in blues), blues  # blue
    # Shades run dark to light in run order, so neighbours differ in lightness.
    values = [mcolors.rgb_to_hsv(mcolors.to_rgb(colours[v]))[2] for v in SUITE[:3]]
    assert values == sorted(values)


def test_a_framework_beyond_the_two_gets_a_family_of_its_own() -> None:
    colours = palette(suite_run(("django", "fastapi", "other")))
    assert len(set(colours.values())) == 3


def test_pairs_follow_the_recorded_framework_and_the_settings() -> None:
    run = suite_run()
    framework = {v: info.framework for v, info in run.record.variants.items()}.__getitem__
    assert ratio_pairs(SUITE, framework) == [
        ("fastapi[pool=none]", "django[pool=none]"),
        ("fastapi[pool=persistent]", "django[pool=persistent]"),
        ("fastapi[pool=pool]", "django[pool=pool]"),
    ]
    plain = {"django": "django", "django-async": "django", "fastapi": "fastapi"}
    assert ratio_pairs(tuple(plain), plain.__getitem__) == [("fastapi", "django")]
    # Any framework name pairs, by what was recorded, not by how the variant is named.
    named = {"djangoish": "x", "fastapi": "fastapi"}
    assert ratio_pairs(("djangoish", "fastapi"), named.get) == [("fastapi", "djangoish")]
    same = {"django": "django", "django-ninja": "django"}
    assert ratio_pairs(tuple(same), same.get) == []  # one framework: nothing to pair


def test_a_reference_pairs_every_other_variant_with_it() -> None:
    names = ("django", "django-ninja", "fastapi")
    one = {n: "django" for n in names}.get
    assert ratio_pairs(names, one, "django-ninja") == [
        ("django", "django-ninja"),
        ("fastapi", "django-ninja"),
    ]


def test_crowded_ticks_slant_and_long_titles_wrap() -> None:
    fig = figure(5.0, 4.0)
    ax = fig.subplots()
    variant_ticks(ax, range(6), list(SUITE))
    assert {t.get_rotation() for t in ax.get_xticklabels()} == {30.0}
    variant_ticks(ax, range(2), ["django", "fastapi"])
    assert {t.get_rotation() for t in ax.get_xticklabels()} == {0.0}
    finish(fig, suite_run(), "A title much longer than a five-inch figure can hold on one line")
    assert "\n" in fig._suptitle.get_text()
