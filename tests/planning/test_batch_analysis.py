"""The batched analysis (planning.analysis.analyse_points, place_many; anatomy.index containing_many,
neighbours_many, inside_many) gives the per-point path's results byte for byte: the JSON of ``injectmap check`` on the
protocol templates (on the default face and on one face-parameter extreme), the calibration plans, the demo plan, the
reference cases (shared/reference-cases) and a 100-point plan spread over the face, and the same placement errors for
needles that cannot be placed. The per-point path asks the index one point at a time and reads the fields through
scipy's interpolation, so it is the reference the batched shortcuts are held to."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from injectmap.planning.analysis import (
    PlacementError,
    analyse_point,
    analyse_points,
    place,
    place_many,
    plan_analysis,
)
from injectmap.planning.bench import _plan, _points
from injectmap.planning.check import check_plan
from injectmap.planning.plan import parse_plan
from injectmap.planning.protocols import protocol_names, protocol_plan
from injectmap.planning.results import PlanResult

pytestmark = pytest.mark.slow

ROOT = Path(__file__).parents[2]
PLANS = {
    "demo": ROOT / "injectmap" / "viewer" / "demo_plan.json",
    "upper_face": Path(__file__).parent / "calibration" / "upper_face.json",
    "lower_face": Path(__file__).parent / "calibration" / "lower_face.json",
}
#: the reference cases: ``$INJECTMAP_REFERENCE_CASES``, else shared/reference-cases beside the checkout
REFERENCE_CASES = Path(os.environ.get("INJECTMAP_REFERENCE_CASES") or ROOT.parent / "shared" / "reference-cases")


def _one_by_one(plan_obj, model) -> str:
    """``injectmap check``'s JSON as the per-point path computes it: each point placed and analysed alone."""
    plan = parse_plan(plan_obj)
    pts = [analyse_point(model, plan, p, place(model, p)) for p in plan.points]
    totals, findings, pts = plan_analysis(model, plan, pts)
    return json.dumps(PlanResult("plan", model.name, model.sha256, tuple(pts), totals, tuple(findings), ()).to_dict())


def _batched(plan_obj, model) -> str:
    res = check_plan(plan_obj, model, "plan")
    assert not res.errors, res.errors
    return json.dumps(res.to_dict())


@pytest.mark.parametrize("name", sorted(PLANS))
def test_the_plans_batched_equal_one_by_one(model, name) -> None:
    plan = json.loads(PLANS[name].read_text())
    assert _batched(plan, model) == _one_by_one(plan, model)


@pytest.mark.parametrize("name", protocol_names())
def test_the_protocol_templates_batched_equal_one_by_one(model, name) -> None:
    plan = protocol_plan(name)
    assert _batched(plan, model) == _one_by_one(plan, model)


@pytest.mark.parametrize("case", sorted(p.name for p in REFERENCE_CASES.expanduser().glob("*.json")) or ["(none)"])
def test_the_reference_cases_batched_equal_one_by_one(model, case) -> None:
    if case == "(none)":
        pytest.skip(f"no reference cases in {REFERENCE_CASES}")
    plan = json.loads((REFERENCE_CASES.expanduser() / case).read_text())["plan"]
    assert _batched(plan, model) == _one_by_one(plan, model)


def test_the_protocol_templates_batched_equal_one_by_one_on_a_face_extreme() -> None:
    """Another face (its grids, skin and courses differ): every template, and a 100-point plan over it."""
    from injectmap.anatomy.model import load_model

    face = load_model(sex=0.0)
    for name in protocol_names():
        plan = protocol_plan(name)
        assert _batched(plan, face) == _one_by_one(plan, face), name
    plan = _plan(face, _points(face, 100, seed=5))
    assert _batched(plan, face) == _one_by_one(plan, face)


def test_a_hundred_points_over_the_face_batched_equal_one_by_one(model) -> None:
    plan = _plan(model, _points(model, 100))
    batched = _batched(plan, model)
    assert batched == _one_by_one(plan, model)
    assert len(json.loads(batched)["points"]) == 100


def test_the_index_answers_many_points_as_it_answers_each(model) -> None:
    idx = model.index
    pts = _points(model, 60)
    reach = np.linspace(4.0, 16.0, len(pts))
    for p, inside, near, r in zip(pts, idx.containing_many(pts), idx.neighbours_many(pts, reach), reach,
                                  strict=True):
        assert inside == idx.containing(p)
        one = idx.neighbours(p, float(r))
        assert list(near) == list(one)
        for sid, nb in one.items():
            assert near[sid].distance_mm == nb.distance_mm and np.array_equal(near[sid].closest_mm, nb.closest_mm)
    assert any(idx.containing_many(pts)) and any(idx.neighbours_many(pts, reach))


def test_placement_errors_are_the_same_batched(model) -> None:
    """Needles that leave the body, an entry far off the skin, a tip beyond the depth limit: the same errors, and
    the good points around them placed the same."""
    plan = parse_plan({
        "format": "injectmap-plan", "version": 1,
        "product": {"name": "onabotulinumtoxinA", "units_per_vial": 100, "diluent_ml": 2.5},
        "points": [
            {"id": "ok1", "units": 2, "at": {"landmark": "glabella"}, "depth_mm": 3},
            {"id": "far", "units": 2, "entry_mm": [0.0, 9.0, 40.0], "depth_mm": 3},
            {"id": "out", "units": 2, "at": {"landmark": "glabella"}, "direction": [0, 0, 1], "depth_mm": 8},
            {"id": "ok2", "units": 2, "at": {"landmark": "exocanthion_left", "lateral_mm": 12}, "depth_mm": 2},
            {"id": "bone", "units": 2, "at": {"landmark": "glabella", "superior_mm": 30}, "depth_mm": 25},
        ],
    })
    one: list = []
    for p in plan.points:
        try:
            one.append(place(model, p))
        except PlacementError as exc:
            one.append(str(exc))
    placed, errors = place_many(model, plan.points)
    assert [str(e) for e in errors] == [x for x in one if isinstance(x, str)]
    assert len(errors) == 3
    for a, b in zip(placed, one, strict=True):
        if isinstance(b, str):
            assert a is None
        else:
            assert a is not None and np.array_equal(a.tip_mm, b.tip_mm) and np.array_equal(a.entry_mm, b.entry_mm)
    good = [p for p in plan.points if p.id.startswith("ok")]
    with pytest.raises(PlacementError):
        analyse_points(model, plan, list(plan.points))
    assert [r.id for r in analyse_points(model, plan, good)] == ["ok1", "ok2"]


def test_inside_many_is_the_sign_of_the_field_everywhere(model) -> None:
    """The shortcuts answer what the field answers: random points over every volume's grid and beyond its edge,
    points on grid nodes (a corner weight of exactly 1) and on the surface's cells; points around every tube's wall."""
    idx = model.index
    rng = np.random.default_rng(5)
    crossed = 0
    for sid in list(idx.volumes) + list(idx.tubes):
        if sid in idx.volumes:
            g, shape = idx.volumes[sid].grid, np.asarray(idx.volumes[sid].values.shape)
            hi = g.origin + g.spacing * (shape - 1)
            pts = np.concatenate([rng.uniform(g.origin - 2.0, hi + 2.0, (3000, 3)),
                                  g.origin + g.spacing * rng.integers(0, shape, (300, 3)),
                                  np.asarray(model.structures[sid].mesh.points)[:300]])
            crossed += int(np.sum(np.abs(idx.field_at(sid, pts)) < 0.5))
        else:
            line, r = np.asarray(model.structures[sid].centreline), float(model.structures[sid].radius_mm)
            pts = line[rng.integers(0, len(line), 300)] + rng.normal(0.0, r, (300, 3))
            crossed += int(np.sum(np.abs(idx.field_at(sid, pts)) < 0.5 * r))
        assert np.array_equal(idx.inside_many(sid, pts), idx.field_at(sid, pts) < 0), sid
    assert crossed > 1000  # points near the surfaces were asked, not only the easy ones
