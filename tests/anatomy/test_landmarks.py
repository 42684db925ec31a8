"""Soft-tissue gonion, the corner of the jaw, on the average head and the female and male heads: a
point of the base mesh, so it moves with the mesh (shape targets, a scan fit's offsets) instead of
being searched for on each face's outline (a scan-fitted face's: tests/anatomy/test_scanface_pipeline.py)."""

from __future__ import annotations

import numpy as np
import pytest

from injectmap.anatomy.head import build_head
from injectmap.anatomy.landmarks import find_landmarks
from injectmap.anatomy.metadata import load_anthropometry

pytestmark = pytest.mark.xdist_group("landmark_heads")


def _landmarks(sex: float) -> dict[str, np.ndarray]:
    return find_landmarks(build_head(sex))


def test_gonion_is_a_skin_point_at_the_corner_of_the_jaw_on_the_average_head(model) -> None:
    lm = model.landmarks
    left, right = lm["gonion_left"], lm["gonion_right"]
    assert np.allclose(right, left * np.array([-1.0, 1.0, 1.0]), atol=1e-6)  # the head is symmetric
    skin = np.asarray(model.skin.points)
    assert np.linalg.norm(skin - left, axis=1).min() < 1e-3  # the stored skin is float32
    # below the mouth, above the menton, behind the mouth corner and in front of the earlobe
    assert lm["menton"][1] < left[1] < lm["stomion"][1]
    assert lm["otobasion_inferius_left"][2] < left[2] < lm["cheilion_left"][2]
    assert lm["cheilion_left"][0] < left[0] < lm["otobasion_inferius_left"][0]


@pytest.mark.variants
@pytest.mark.parametrize("sex", [0.0, 1.0])
def test_bigonial_width_of_the_female_and_male_heads_within_one_sd_of_farkas(sex: float) -> None:
    """Searched for on the outline, the female head's gonia were 78 mm apart (Farkas 91.1 +/- 5.7)."""
    lm = _landmarks(sex)
    ms = load_anthropometry()["go_go"]
    mean, sd = (ms.male_mean, ms.male_sd) if sex == 1.0 else (ms.female_mean, ms.female_sd)
    width = float(np.linalg.norm(lm["gonion_left"] - lm["gonion_right"]))
    assert abs(width - mean) <= sd, f"go-go {width:.1f} mm vs {mean} +/- {sd}"


#: the CC0 targets of synthetic photo patient 3 that move its face sideways: the whole head 4.75 mm (a translation
#: target of the fit's basis) and the right eye outward
SIDEWAYS = [("head/head-trans-in.target.gz", 0.23769), ("eyes/r-eye-trans-out.target.gz", 0.38349)]


def test_the_frame_is_centred_on_the_midline_of_a_face_moved_sideways() -> None:
    """CONTRACTS: the origin is between the endocanthia. Its x was kept at 0, the base mesh's midline: on a face the
    basis's translation targets move sideways, what is placed from the midline (the profile landmarks, the foramina
    at their distance from it) then lay off the face's own midline (docs/face-fit.md). The x is the head's midline,
    not the endocanthia's midpoint, which one eye moved outward moves where the nose and mouth stay."""
    from injectmap.anatomy.basehead import apply_targets, frame_origin, read_base_obj, sex_targets
    from injectmap.anatomy.landmarks import mirror_vertex
    from injectmap.anatomy.scan.template import default_targets

    base = read_base_obj().vertices_mm
    for targets in (default_targets(), sex_targets(0.0), sex_targets(1.0)):  # a symmetric face does not move
        assert frame_origin(apply_targets(base, targets))[0] == 0.0
    assert frame_origin(apply_targets(base, SIDEWAYS))[0] < -4.5  # this face lies right of the base's midline
    head = build_head(0.5, extra_targets=SIDEWAYS)
    lm = find_landmarks(head)
    v = head.base_vertices_mm
    nose_lips = [7080, 7081, 7098, 10374]  # the ala's edge and the mouth corner, with their mirror vertices
    for vid in nose_lips:
        assert abs(v[vid, 0] + v[mirror_vertex(vid), 0]) / 2 < 0.3, vid  # they lie about the frame's midline
    skin = np.asarray(head.skin.points)
    tip = skin[np.argmax(skin[:, 2])]
    assert abs(tip[0]) < 0.3 and np.linalg.norm(tip - lm["pronasale"]) < 1.0  # the profile's nose tip is the nose's
    for side, vid in (("left", 10374), ("right", mirror_vertex(10374))):  # each mouth corner at its own vertex
        assert np.linalg.norm(lm[f"cheilion_{side}"] - v[vid]) < 1.0, side
    # the right eye moved outward: the endocanthia's midpoint is not the midline
    assert lm["endocanthion_left"][0] + lm["endocanthion_right"][0] < -1.0
