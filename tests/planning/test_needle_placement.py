"""Needles that leave the body are plan errors, and ``plan validate`` agrees with ``check`` on every plan.

A tip outside the skin (an outward direction, an angle so flat the tip comes out, an explicit tip far
away), a tip through the bone, an explicit tip beyond the 40 mm depth limit, an entry far from the skin
and an unknown face-shape key: each is rejected whole by both commands (exit 2), naming the point and
the key. Before, ``check`` gave exit 0 with at most a "target not reached" caution for the first three
and ``validate`` said ok to all of them.
"""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import pytest
from plan_examples import CONTRACT_EXAMPLE, fresh, reference_plans

from injectmap.planning.analysis import PlacementError, place, placement_limits
from injectmap.planning.check import check_file, check_plan
from injectmap.planning.cli_plan import cmd_validate
from injectmap.planning.plan import parse_plan

PRODUCT = {"name": "onabotulinumtoxinA", "units_per_vial": 100, "diluent_ml": 2.5}


def _plan(point: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"format": "injectmap-plan", "version": 1, "product": PRODUCT, **extra, "points": [point]}


GLABELLA = {"id": "g", "units": 4, "target": "procerus", "at": {"landmark": "glabella"}}

#: name -> (plan, the error's path, words the message must hold)
BAD: dict[str, tuple[dict[str, Any], str, str]] = {
    "tip 400 mm deep": (_plan({**GLABELLA, "tip_mm": [0.0, 9.0, -391.0]}), "points[0] (id 'g').tip_mm",
                        "from the skin entry (at most 40 mm"),
    "outward direction": (_plan({**GLABELLA, "depth_mm": 10, "direction": [0, 0, 1]}),
                          "points[0] (id 'g').direction", "outside the skin"),
    "angle 89 at depth 40": (_plan({"id": "f", "units": 4, "target": "frontalis_left",
                                    "at": {"landmark": "brow_peak_left", "superior_mm": 25}, "depth_mm": 40,
                                    "angle_deg": 89, "toward": "trichion"}),
                             "points[0] (id 'f').angle_deg", "outside the skin"),
    "explicit tip in the air": (_plan({**GLABELLA, "tip_mm": [0.0, 9.0, 30.0]}), "points[0] (id 'g').tip_mm",
                                "outside the skin"),
    "through the bone": (_plan({**GLABELLA, "depth_mm": 30}), "points[0] (id 'g').depth_mm", "beyond the bone"),
    "entry 818 mm from the skin": (_plan({**GLABELLA, "at": None, "entry_mm": [500, 500, 500], "depth_mm": 3}),
                                   "points[0] (id 'g').entry_mm", "818.6 mm from the skin"),
    "unknown shape key": (_plan({**GLABELLA, "depth_mm": 3}, model={"shape": {"jaw-width": 0.3}}),
                          "model.shape.jaw-width", "unknown shape parameter"),
}
for _p, _, _ in BAD.values():
    _p["points"][0] = {k: v for k, v in _p["points"][0].items() if v is not None}


@pytest.mark.parametrize("name", list(BAD))
def test_check_and_validate_reject_with_the_point_and_key(name, tmp_path):
    plan, path, words = BAD[name]
    f = tmp_path / "p.json"
    f.write_text(json.dumps(plan))
    res, code = check_file(f)
    assert code == 2 and res.points == () and res.findings == ()
    assert len(res.errors) == 1 and res.errors[0].startswith(path + ": ") and words in res.errors[0], res.errors
    out = io.StringIO()
    assert cmd_validate(f, out=out) == 2
    assert out.getvalue() == f"{f}: {res.errors[0]}\n"


def test_check_plan_rejects_in_memory_too(model):
    """The app and the trainer call check_plan with a dict: the same placement errors, nothing analysed."""
    plan, path, _ = BAD["outward direction"]
    res = check_plan(plan, model)
    assert res.exit_status == 2 and res.errors[0].startswith(path)


def _depth_and_bone(model, tip) -> tuple[float, float]:
    d, rows = model.depth_below_skin(np.asarray(tip, dtype=float)[None])
    return float(d[0]), float(model.layer_bone_mm[int(rows[0])])


def test_bone_limit_follows_the_models_bone(model):
    """A tip on the bone (within the tolerance for a patient's thicker tissue) is fine; past it is an error."""
    lim = placement_limits().max_tip_beyond_bone_mm
    plan = parse_plan(_plan({**GLABELLA, "depth_mm": 3}))
    placed = place(model, plan.points[0])
    _, bone = _depth_and_bone(model, placed.tip_mm)
    ok = parse_plan(_plan({**GLABELLA, "depth_mm": round(bone + lim - 1.0, 1)}))
    tip = place(model, ok.points[0]).tip_mm
    assert _depth_and_bone(model, tip)[0] > bone  # on the far side of the model's bone, within the tolerance
    too_deep = parse_plan(_plan({**GLABELLA, "depth_mm": round(bone + lim + 1.5, 1)}))
    with pytest.raises(PlacementError) as e:
        place(model, too_deep.points[0])
    assert e.value.key == "depth_mm" and "a needle stops at the bone" in e.value.message


def test_a_too_deep_tip_says_which_depth_is_which(model):
    """The mentalis point at depth_mm 20: the message said "the tip is 18.1 mm below the skin" while the plan said
    20.0. Both are right (20 mm along the needle; 18.1 mm straight in from the nearest skin, where the chin curves
    away): the message now names both, so its numbers agree with the plan's."""
    plan = parse_plan(_plan({"id": "mn_left", "units": 3, "target": "mentalis_left",
                             "at": {"landmark": "pogonion", "left_mm": 5, "superior_mm": -6}, "depth_mm": 20}))
    with pytest.raises(PlacementError) as e:
        place(model, plan.points[0])
    msg = e.value.message
    assert e.value.key == "depth_mm" and "the tip, 20.0 mm along the needle," in msg, msg
    straight = float(msg.split("mm along the needle, is ")[1].split(" mm")[0])
    assert straight < 20.0 and "straight in from the nearest skin" in msg and "beyond the bone" in msg


def test_explicit_tip_at_the_depth_limit(model):
    """An explicit tip farther from the entry than 40 mm is an error even when it lies inside the head."""
    entry = place(model, parse_plan(_plan({**GLABELLA, "depth_mm": 0})).points[0]).entry_mm
    inward = -model.skin_point(entry)[1]
    inward = inward / np.linalg.norm(inward)
    tip = entry + inward * 41.0
    with pytest.raises(PlacementError) as e:
        place(model, parse_plan(_plan({**GLABELLA, "tip_mm": [float(x) for x in tip]})).points[0])
    assert e.value.key == "tip_mm" and "41.0 mm from the skin entry" in e.value.message


@pytest.mark.parametrize("angle", [0, 30, 60, 80])
def test_ordinary_angles_are_accepted(model, angle):
    p = {"id": "c", "units": 4, "target": "corrugator_supercilii_left",
         "at": {"landmark": "brow_medial_left", "superior_mm": 5}, "depth_mm": 3, "angle_deg": angle,
         "toward": "brow_peak_left"}
    assert check_plan(_plan(p), model).errors == ()


def test_the_shaft_may_not_leave_and_come_back(model):
    """A needle from the nose tip to 3 mm under the upper lip's vermilion: its tip is inside, but its shaft
    crosses the air under the nose (the columella-lip angle). That needle leaves the body: an error."""
    entry, _ = model.skin_point(np.asarray(model.landmarks["pronasale"], dtype=float))
    lip, normal = model.skin_point(np.asarray(model.landmarks["labrale_superius"], dtype=float))
    tip = lip - normal / np.linalg.norm(normal) * 3.0
    depth = float(np.linalg.norm(tip - entry))
    direction = [float(x) for x in (tip - entry) / depth]
    assert depth <= 40 and _depth_and_bone(model, tip)[0] > 0  # the tip itself is under the skin
    p = {"id": "s", "units": 2, "entry_mm": [float(x) for x in entry], "depth_mm": round(depth, 3),
         "direction": direction}
    with pytest.raises(PlacementError) as e:
        place(model, parse_plan(_plan(p)).points[0])
    assert e.value.key == "direction" and "leaves the body" in e.value.message


def _agree(obj: dict[str, Any], tmp_path, name: str) -> None:
    f = tmp_path / f"{name}.json"
    f.write_text(json.dumps(obj))
    res, code = check_file(f)
    out = io.StringIO()
    v = cmd_validate(f, out=out)
    if code == 2:
        assert v == 2 and out.getvalue() == "".join(f"{f}: {e}\n" for e in res.errors), name
    else:
        assert v == 0 and out.getvalue().endswith(f": ok ({len(obj['points'])} points)\n"), (name, out.getvalue())


def test_validate_and_check_agree_on_every_example(tmp_path):
    plans = {"contract": fresh(CONTRACT_EXAMPLE), **{f"ref{i}": p for i, p in enumerate(reference_plans())},
             **{n.replace(" ", "_"): p for n, (p, _, _) in BAD.items()}}
    for name, obj in plans.items():
        _agree(obj, tmp_path, name)
