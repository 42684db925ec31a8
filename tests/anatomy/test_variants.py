"""Face variants: the anatomy and the findings follow sex, masseter size and brow height."""

from __future__ import annotations

import numpy as np
import pytest

from injectmap.anatomy.model import load_model
from injectmap.anatomy.params import FaceParams, FaceParamsError
from injectmap.planning.check import check_plan

pytestmark = [pytest.mark.slow, pytest.mark.variants]

PRODUCT = {"name": "onabotulinumtoxinA", "units_per_vial": 100, "diluent_ml": 2.5}


def _masseter_thickness(m, at: np.ndarray, side: str = "left") -> float:
    """Superficial + deep masseter along the inward normal from the skin point nearest ``at``."""
    sup, deep = f"masseter_superficial_{side}", f"masseter_deep_{side}"
    q, n = m.skin_point(at)
    ray = q[None] - np.arange(0.0, 40.0, 0.1)[:, None] * n[None]
    inside = (m.index.field_at(sup, ray) < 0) | (m.index.field_at(deep, ray) < 0)
    return float(inside.sum() * 0.1)


def test_params_validate_and_name() -> None:
    assert FaceParams().name == "default"
    assert FaceParams(masseter=0.5).name == "sex0.50-masseter+0.50"
    with pytest.raises(FaceParamsError, match="masseter"):
        FaceParams(masseter=2.0)
    with pytest.raises(FaceParamsError, match="unknown parameters"):
        FaceParams.from_plan_model({"shape": {"nose": 0.3}})
    assert FaceParams.from_plan_model({"sex": "male", "shape": {"brow_left": 0.5}}) == FaceParams(1.0, 0.0, 0.5, 0.0)


def test_masseter_size_changes_thickness_and_the_skin() -> None:
    small, avg, big = load_model(masseter=-1.0), load_model(), load_model(masseter=1.0)
    at = np.asarray(avg.structures["masseter_superficial_left"].mesh.points).mean(axis=0)
    t = [_masseter_thickness(m, at) for m in (small, avg, big)]
    assert t[0] < t[1] - 1.5 and t[2] > t[1] + 1.5, t
    # hypertrophy (Xie et al.: >14 mm class, mean 12.9 mm) vs a small jaw (<10 mm class)
    assert t[2] >= 11.5 and t[0] <= 9.0, t
    # the skin over the muscle bulges out with it
    c = np.asarray(avg.structures["masseter_superficial_left"].mesh.points).mean(axis=0)
    assert big.skin_point(c)[0][0] > avg.skin_point(c)[0][0] + 1.0


def test_one_sided_brow_height() -> None:
    avg, high = load_model(), load_model(brow_left=1.0)
    lift = high.landmarks["brow_peak_left"][1] - avg.landmarks["brow_peak_left"][1]
    assert lift > 2.0
    assert np.allclose(high.landmarks["brow_peak_right"], avg.landmarks["brow_peak_right"], atol=0.2)


def test_findings_follow_the_brow() -> None:
    """The same forehead point is 'well above the brow' on an average face and too close to it on a
    face whose left brow sits high."""
    avg, high = load_model(), load_model(brow_left=1.0)
    entry = avg.landmarks["brow_peak_left"] + np.array([0.0, 21.0, 0.0])
    plan = {"format": "injectmap-plan", "version": 1, "product": PRODUCT,
            "points": [{"id": "f", "units": 2, "target": "frontalis_left",
                        "entry_mm": [round(float(x), 2) for x in entry], "depth_mm": 2}]}
    codes = [[f.code for f in check_plan(plan, m).points[0].findings] for m in (avg, high)]
    assert "frontalis_low" not in codes[0]
    assert "frontalis_low" in codes[1]


def test_findings_follow_the_masseter() -> None:
    """A 6 mm deep masseter point is superficial to a small masseter and inside a large one."""
    plan = {"format": "injectmap-plan", "version": 1, "product": PRODUCT,
            "points": [{"id": "m", "units": 10, "target": "masseter_superficial_left",
                        "at": {"landmark": "gonion_left", "anterior_mm": 15, "superior_mm": 15}, "depth_mm": 6}]}
    small = check_plan(plan, load_model(masseter=-1.0)).points[0]
    big = check_plan(plan, load_model(masseter=1.0)).points[0]
    assert big.target_hit and not small.target_hit
    assert any(f.code == "masseter_too_shallow" for f in small.findings)


def test_sex_changes_the_face() -> None:
    f, m = load_model(sex=0.0), load_model(sex=1.0)

    def face_height(x):
        return float(np.linalg.norm(x.landmarks["nasion"] - x.landmarks["menton"]))

    # Farkas: face height n-gn ~112 mm (F) vs ~121 mm (M)
    assert face_height(m) > face_height(f) + 3.0
