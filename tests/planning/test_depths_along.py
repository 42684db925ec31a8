"""Where a structure lies along a needle's line (the structure card's "depth here")."""

from __future__ import annotations

import numpy as np
import pytest

from injectmap.anatomy.model import load_model
from injectmap.planning.analysis import analyse_point, depths_along
from injectmap.planning.plan import parse_plan

PRODUCT = {"name": "onabotulinumtoxinA", "units_per_vial": 100, "diluent_ml": 2.5}


@pytest.fixture(scope="module")
def model():
    return load_model()


def test_the_tip_the_analysis_puts_in_a_muscle_lies_in_its_depth_interval(model) -> None:
    plan = parse_plan({"format": "injectmap-plan", "version": 1, "product": PRODUCT,
                       "points": [{"id": "g1", "units": 4, "at": {"landmark": "glabella"}, "depth_mm": 3}]})
    r = analyse_point(model, plan, plan.points[0])
    assert r.tip_in == "procerus"
    spans = depths_along(model, r.entry_mm, r.tip_mm, "procerus")
    assert len(spans) == 1
    top, bottom = spans[0]
    assert 0.0 < top <= 3.0 <= bottom  # below the skin, around the tip
    # the same line at depth 0 (no tip yet) follows the inward skin normal: the same answer here
    normal_spans = depths_along(model, r.entry_mm, r.entry_mm, "procerus")
    assert len(normal_spans) == 1 and np.allclose(normal_spans[0], spans[0], atol=0.3)


def test_masseter_depth_at_mid_cheek_within_the_published_soft_tissue_depth(model) -> None:
    lm = model.landmarks
    g, z = np.asarray(lm["gonion_left"], float), np.asarray(lm["zygion_left"], float)
    entry, normal = model.skin_point(g + (z - g) * 0.4 + np.array([0.0, 0.0, 10.0]))
    sup = depths_along(model, entry, entry - normal, "masseter_superficial_left")
    deep = depths_along(model, entry, entry - normal, "masseter_deep_left")
    assert sup and deep and sup[0][0] < deep[0][0]  # superficial layer first
    # under skin and fat (a few mm), and no deeper than the skin-to-bone depth at mid-masseter
    # (15-20 mm; De Greef et al., Forensic Sci Int 2006)
    assert 2.0 < sup[0][0] < 10.0 and deep[-1][1] < 20.0
    # the other side's masseter is not on this line
    assert depths_along(model, entry, entry - normal, "masseter_superficial_right") == []
