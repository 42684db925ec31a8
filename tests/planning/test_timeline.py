"""The expected-effect timeline: sourced key days and the shape of the bands."""

from __future__ import annotations

import numpy as np
import pytest

from injectmap.teaching import timeline as tl

DAYS = np.arange(0.0, 240.0, 0.25)
PRODUCT = {"name": "onabotulinumtoxinA", "units_per_vial": 100, "diluent_ml": 2.5}


def test_key_days_match_the_data():
    d = tl.timeline_data()
    assert d["onset_days"]["typical"] == [3, 5] and d["onset_days"]["range"] == [1, 5]
    assert d["peak_days"]["range"] == [10, 14]
    assert d["groups"]["upper_face"]["wear_off_days"] == [90, 120]
    assert d["groups"]["jaw"]["wear_off_days"] == [120, 180]
    assert d["touch_up_day"] == 14


@pytest.mark.parametrize("group", tl.GROUPS)
@pytest.mark.parametrize("which", ["early", "typical", "late"])
def test_curve_rises_to_a_plateau_then_declines(group, which):
    s = tl.scenario(group, which)
    y = tl.effect_curve(group, DAYS, which)
    assert y[0] == 0.0 and y.min() >= 0.0 and y.max() <= 1.0
    peak = DAYS <= s.peak_day
    assert np.all(np.diff(y[peak]) >= -1e-12)  # monotone rise
    assert y[DAYS == s.peak_day][0] == pytest.approx(1.0)
    plateau = (DAYS >= s.peak_day) & (DAYS <= s.decline_start_day)
    assert np.allclose(y[plateau], 1.0)
    after = DAYS >= s.peak_day
    assert np.all(np.diff(y[after]) <= 1e-12)  # monotone decline
    assert y[DAYS >= s.end_day].max() == pytest.approx(0.0)
    assert 0.0 < tl.effect_curve(group, [s.onset_day + 0.5], which)[0] < 0.5  # the change has started


def test_band_contains_the_typical_curve_and_is_a_range():
    for g in tl.GROUPS:
        low, mid, high = tl.effect_band(g, DAYS)
        assert np.all(low <= mid + 1e-12) and np.all(mid <= high + 1e-12)
        assert (high - low).max() > 0.5  # a real range, not a line


def test_jaw_lasts_longer_than_the_upper_face():
    up = tl.effect_curve("upper_face", DAYS)
    jaw = tl.effect_curve("jaw", DAYS)
    assert DAYS[jaw > 0.5].max() > DAYS[up > 0.5].max() + 20
    assert np.all(jaw >= up - 1e-12)
    # the same onset and peak
    early = DAYS <= 14
    assert np.allclose(jaw[early], up[early])
    # upper face: gone by 4 months; jaw still there at 4 months, gone by 6
    assert tl.effect_band("upper_face", [121])[2][0] == 0.0
    assert tl.effect_band("jaw", [120])[1][0] > 0.0 and tl.effect_band("jaw", [181])[2][0] == 0.0


def test_groups_of_structures():
    assert tl.group_of("masseter_superficial_left") == "jaw"
    assert tl.group_of("temporalis_right") == "jaw"
    assert tl.group_of("procerus") == "upper_face"
    assert tl.group_of("depressor_anguli_oris_left") == "mid_lower_face"
    assert tl.group_of("facial_artery_left") is None


def test_plan_curves_with_a_touch_up():
    plan = {"format": "injectmap-plan", "version": 1, "product": PRODUCT,
            "sessions": [{"id": "touch_up"}],
            "points": [
                {"id": "g1", "units": 4, "target": "procerus", "at": {"landmark": "glabella"}, "depth_mm": 3},
                {"id": "m1", "units": 10, "target": "masseter_superficial_left",
                 "at": {"landmark": "gonion_left", "superior_mm": 15, "anterior_mm": 12}, "depth_mm": 10},
                {"id": "g2", "units": 2, "target": "procerus", "at": {"landmark": "glabella"}, "depth_mm": 3,
                 "session": "touch_up"}]}
    curves = tl.plan_curves(plan)
    assert [(c.group, c.session, c.start_day) for c in curves] == [
        ("upper_face", "initial", 0.0), ("jaw", "initial", 0.0), ("upper_face", "touch_up", 14.0)]
    shifted = tl.effect_curve("upper_face", DAYS, start_day=14)
    assert shifted[DAYS <= 14].max() == 0.0
    from injectmap.reports.figures import timeline_figure

    fig = timeline_figure(curves)
    ax = fig.axes[0]
    assert len(ax.lines) >= 4  # three curves and the review line
    assert any("touch-up" in t.get_text() for t in ax.get_legend().get_texts())


def test_dated_sessions_start_on_their_day():
    plan = {"format": "injectmap-plan", "version": 1, "product": PRODUCT,
            "sessions": [{"id": "initial", "date": "2026-01-01"}, {"id": "visit_2", "date": "2026-01-22"}],
            "points": [{"id": "g1", "units": 4, "target": "procerus", "at": {"landmark": "glabella"},
                        "depth_mm": 3, "session": "visit_2"}]}
    assert [c.start_day for c in tl.plan_curves(plan)] == [21.0]
