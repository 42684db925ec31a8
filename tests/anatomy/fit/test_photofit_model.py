"""A fitted face is a face: a plan's ``model.face`` names a face file, the builder builds it by its
hash in the cache, and every layer follows the fitted skin (synthetic truth vs its fit, built whole)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from injectmap.anatomy.fit import facefile
from injectmap.anatomy.fit.synthetic import FORAMINA, KEY_VESSELS
from injectmap.anatomy.params import FaceParams, FaceParamsError

TARGETS = [("nose/nose-scale-vert-incr.target.gz", 0.4), ("chin/chin-prominent-incr.target.gz", 0.3)]


def _face_file(tmp_path: Path, targets: list[tuple[str, float]]) -> Path:
    path = tmp_path / "p.face.json"
    facefile.write(facefile.make(targets, [], [1.0], {}), path)
    return path


def test_a_plan_model_names_a_face_file(tmp_path: Path) -> None:
    path = _face_file(tmp_path, TARGETS)
    p = FaceParams.from_plan_model({"sex": 0.5, "face": str(path)})
    assert p.fit == tuple(sorted(TARGETS))
    assert p.name == f"default-fit-{facefile.face_id(TARGETS)[:16]}"
    assert p.quantised().fit == p.fit and p.quantised().name == p.name
    assert not p.is_default
    from injectmap.anatomy.cache import FACE_FOLDER
    from injectmap.anatomy.model import inputs_sha256

    assert FACE_FOLDER.match(p.name)
    assert inputs_sha256(p) != inputs_sha256(FaceParams())


def test_a_plan_file_keeps_its_face_key(tmp_path: Path) -> None:
    from injectmap.planning.plan import parse_plan, plan_to_dict

    raw = {"format": "injectmap-plan", "version": 1,
           "product": {"name": "onabotulinumtoxinA", "units_per_vial": 100, "diluent_ml": 2.5},
           "points": [], "model": {"face": "patient.face.json"}}
    plan = parse_plan(raw)
    assert plan.model is not None and plan.model.face == "patient.face.json"
    assert plan_to_dict(plan)["model"] == {"face": "patient.face.json"}


def test_a_missing_or_bad_face_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FaceParamsError, match="not found"):
        FaceParams.from_plan_model({"face": str(tmp_path / "nope.face.json")})
    bad = tmp_path / "bad.face.json"
    bad.write_text(json.dumps({"kind": "injectmap-face", "version": 1, "targets": [["x/y.target.gz", 0.1]]}))
    with pytest.raises(FaceParamsError, match="unknown shape target"):
        FaceParams.from_plan_model({"face": str(bad)})


@pytest.fixture(scope="module")
def truth_and_fit() -> dict[str, float]:
    """Synthetic patient 11 (front photo), its truth and its fit built whole (two face builds)."""
    pytest.importorskip("mediapipe")
    from injectmap.anatomy.fit.synthetic import placement_errors

    out = placement_errors(11)
    print({k: round(v, 2) for k, v in out.items()})
    return out


@pytest.mark.variants
@pytest.mark.xdist_group("photofit")
@pytest.mark.timeout(1500)
def test_the_fitted_skin_landmarks_and_foramina_are_near_the_truth(truth_and_fit: dict[str, float]) -> None:
    assert truth_and_fit["skin"] <= 2.0
    assert max(truth_and_fit[f"{f}_{s}"] for f in FORAMINA for s in ("left", "right")) <= 3.0


@pytest.mark.variants
@pytest.mark.xdist_group("photofit")
@pytest.mark.timeout(1500)
def test_the_fitted_key_vessels_are_within_3_mm(truth_and_fit: dict[str, float]) -> None:
    """Measured on patient 11 (its own iris, 11.01 mm, 6 % under the mean; the frame's origin on its head's midline):
    the angular arteries 1.25 and 1.33 mm now that their waypoints ride on the base mesh (2.36 and 2.74 mm projected
    from the front onto the steep nasal side wall; 5.6 and 6.5 mm while one hung from the alare: docs/face-fit.md);
    the dorsal nasal arteries 0.57 and 0.65 mm; the right superficial temporal artery, the farthest from the face's
    centre, 2.83 mm. Over twelve patients the key vessels are within 3 mm on five (docs/face-fit.md, the table)."""
    errors = {f"{v}_{s}": truth_and_fit[f"{v}_{s}"] for v in KEY_VESSELS for s in ("left", "right")}
    assert max(errors.values()) <= 3.0, errors
