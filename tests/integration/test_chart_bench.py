"""``injectmap bench --charts N``: the chart on the photo timed against its naive baseline (a ray cast per
point instead of one depth buffer), and the two see the same photo; the app's repeated chart of the same
photo, with what it keeps (reports/chart_cache.py), draws the same picture."""

from __future__ import annotations

import pytest


@pytest.mark.bench
def test_the_chart_bench_times_the_chart_against_ray_casts_that_see_the_same_points() -> None:
    from injectmap.reports.chart_bench import run_chart_bench

    res = run_chart_bench(charts=2)
    assert res["chart_runs"] == 2
    assert res["chart_ms_median"] > 0 and res["chart_naive_ms_median"] > 0 and res["chart_speedup_vs_naive_cpu"] > 0
    assert 0 < res["chart_layout_cpu_ms_median"] <= res["chart_cpu_ms_median"]
    # the repeated chart: served from what the first one kept (no miss after the warm-up), the same picture
    assert res["chart_repeat_identical"] is True
    assert res["chart_repeat_ms_median"] > 0 and res["chart_repeat_cpu_ms_median"] > 0
    assert res["chart_repeat_layout_cpu_ms_median"] < res["chart_layout_cpu_ms_median"]
    assert res["chart_repeat_cache_hits"] > 0 and res["chart_repeat_cache_misses"] == 3  # buffer, bands, picture: once
    # the baseline does the same job: the same courses on the photo, nearly every point seen alike (they differ
    # where the skin turns away from the camera), and most of the 100 points of the front of the face shown
    assert res["chart_zones"] == res["chart_zones_naive"] > 20
    assert res["chart_seen_agreement"] >= 0.9
    assert 70 <= res["chart_marks_seen"] <= 100 and abs(res["chart_marks_seen"] - res["chart_marks_seen_naive"]) <= 5
