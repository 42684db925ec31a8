"""The Face card's 3D scan (issue 13 item 2, in the app): the upload read in memory and let go, refusals
(not a scan, too large, a size no unit makes a face: the units choice shown), the result's units,
alignment, coverage, residuals and caveat, the units choice shown when the size is unusual, Accept (the face
file 0600 in the login's folder, named in the plan, the session switched to the scan's face) and Discard
(the file removed, the face without the fit back). The fit itself is a stand-in here; the real one runs in
tests/browser/test_face_photo.py and tests/anatomy/."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import trimesh

from injectmap.anatomy.fit import facefile
from injectmap.anatomy.params import FaceParams
from injectmap.viewer import face_scan
from injectmap.viewer.face_panel import FacePanel
from injectmap.viewer.face_photo import user_faces_dir
from injectmap.viewer.face_scan import ScanResult, read_scan_bytes
from injectmap.viewer.state import AppState


class FakeModel:
    def __init__(self, params: FaceParams) -> None:
        self.params = params

    def skin_point(self, p: Any) -> Any:
        return p


def _result(name: str, extent_mm: float = 210.0, units_given: bool = False) -> ScanResult:
    offsets = np.zeros((19158, 3))
    offsets[:100, 2] = 1.5
    face = facefile.make_scan(offsets, "ab" * 32, "ply", {"pronasale": 0.4, "menton": 0.9},
                              {"units": "m", "units_reason": "largest extent 0.21 m", "alignment": "geometric",
                               "coverage": 0.9})
    return ScanResult(display_name=name, face=face, units="m", units_reason="largest extent 0.21 m = 210 mm",
                      units_given=units_given, extent_mm=extent_mm, alignment="geometric (principal axes + ICP)",
                      coverage=0.91, surface_median_mm=0.3, surface_p90_mm=0.9,
                      per_landmark_mm={"pronasale": 0.4, "menton": 0.9})


@pytest.fixture
def card(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[FacePanel, list[FaceParams], list[Any]]:
    monkeypatch.setenv("INJECTMAP_FACES_DIR", str(tmp_path / "faces"))
    loaded: list[FaceParams] = []
    calls: list[Any] = []

    def fake(data: bytes, name: str, units: str = "auto", progress: Any = None) -> ScanResult:
        calls.append((len(data), name, units))
        read_scan_bytes(data, name)  # the real reader: refusals as the app gives them
        return _result(name, extent_mm=float(len(data) % 1000) if name.startswith("odd") else 210.0)

    monkeypatch.setattr(face_scan, "fit_scan_bytes", fake)

    def loader(p: FaceParams) -> FakeModel:
        loaded.append(p)
        return FakeModel(p)

    panel = FacePanel(AppState(snap=lambda p: p), FakeModel(FaceParams()), lambda _m: None, loader=loader, user="ana")
    return panel, loaded, calls


def _ply(scale: float = 0.001) -> bytes:
    mesh = trimesh.creation.icosphere(subdivisions=4, radius=100.0 * scale)
    return bytes(mesh.export(file_type="ply"))


def test_a_scan_is_fitted_accepted_and_discarded(card) -> None:
    panel, loaded, calls = card
    panel.scan_input.param.update(filename="<b>face\u202e.ply", value=_ply())
    assert panel.scan_input.value is None and calls == [(len(_ply()), "<b>face.ply", "auto")]  # no bidi mark
    status = panel.scan_status.object
    for words in ("units **m**", "geometric", "**91%**", "0.3 mm", "median **0.7 mm**", "2 covered skin landmarks"):
        assert words in status, (words, status)
    assert "<b>" not in status and "&lt;b&gt;face.ply" in status  # the name is text
    assert panel.scan_caveat.visible and "population template" in panel.scan_caveat.object
    assert not panel.scan_units_box.visible  # 210 mm across: a face's size, no question
    assert not panel.scan_accept.disabled and panel.scan_discard.disabled is False

    path = panel.accept_scan_fit()
    assert path is not None and path.parent == user_faces_dir("ana") and path.name.endswith(".face.json")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert loaded[-1].offsets is not None and loaded[-1].fit_id == panel.scan_fit.face.face_id
    assert panel.state.extra["model"]["face"] == str(path)
    assert "fitted to the 3D scan" in panel.status.object and panel.scan_accept.disabled
    assert facefile.read(path).face_id == panel.scan_fit.face.face_id  # the file holds the fit's offsets

    panel.discard_scan()
    assert not path.exists() and panel.scan_fit is None and not panel.scan_caveat.visible
    assert loaded[-1] == FaceParams() and "discarded" in panel.scan_status.object
    assert "removed" in panel.scan_status.object


def test_scan_refusals_and_the_units_choice(card, monkeypatch: pytest.MonkeyPatch) -> None:
    panel, _, calls = card
    panel.start_scan_fit(b"solid nothing", "face.3ds")
    assert "Scan refused" in panel.scan_status.object and "not a scan file" in panel.scan_status.object
    panel.start_scan_fit(b"ply\nformat ascii 1.0\nend_header\n", "broken.ply")
    assert "Scan refused" in panel.scan_status.object and panel.scan_fit is None
    monkeypatch.setenv("INJECTMAP_MAX_SCAN_BYTES", "1000")
    panel.start_scan_fit(_ply(), "big.ply")
    assert "a scan is at most 1,000 bytes" in panel.scan_status.object
    monkeypatch.delenv("INJECTMAP_MAX_SCAN_BYTES")
    # a size that is unusual for a face in the decided units: the result comes with the units choice
    panel.start_scan_fit(_ply(), "odd.ply")
    assert panel.scan_fit is not None and panel.scan_units_box.visible
    assert "unusual for a face" in panel.scan_units_note.object
    # the units asked for are the fit's
    panel.scan_units.value = "mm"
    panel.scan_input.param.update(filename="again.ply", value=_ply())
    assert calls[-1][2] == "mm"


def test_a_size_no_unit_makes_a_face_asks_for_the_units(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real fit's reader: a 5-unit-wide mesh is neither metres nor millimetres of a face."""
    monkeypatch.setenv("INJECTMAP_FACES_DIR", str(tmp_path / "faces"))
    panel = FacePanel(AppState(snap=lambda p: p), FakeModel(FaceParams()), lambda _m: None,
                      loader=FakeModel, user="ana")
    panel.start_scan_fit(_ply(scale=0.05), "tiny.ply")
    assert "Scan refused" in panel.scan_status.object and "give the units" in panel.scan_status.object
    assert panel.scan_units_box.visible and "choose them" in panel.scan_units_note.object


def test_discard_removes_only_the_files_this_card_accepted(card) -> None:
    """Discard forgets the card's own fit: a visit's (or any plan's) face file the session shows is never removed
    nor the face switched away from it, and Discard photo leaves an accepted scan's file (and the reverse)."""
    panel, loaded, _ = card
    folder = user_faces_dir("ana")
    folder.mkdir(parents=True, exist_ok=True)
    visit = folder / "visit.face.json"
    facefile.write(_result("visit.ply").face, visit)
    panel.state.extra = {**panel.state.extra, "model": {"face": str(visit)}}
    assert panel.face_file == visit and loaded[-1].offsets is not None  # the visit's face shown
    shown = loaded[-1]

    panel.scan_input.param.update(filename="new.ply", value=_ply())  # a new scan, not accepted
    assert panel.scan_fit is not None and not panel.scan_discard.disabled
    panel.discard_scan()
    assert visit.exists() and panel.face_file == visit and loaded[-1] == shown  # the visit's face stays
    assert "removed" not in panel.scan_status.object
    panel.discard_photo()
    assert visit.exists() and panel.face_file == visit and loaded[-1] == shown

    panel.scan_input.param.update(filename="new.ply", value=_ply())
    scan_path = panel.accept_scan_fit()
    assert scan_path is not None and panel.face_file == scan_path
    panel.discard_photo()  # no photo was accepted: the scan's face file and face stay
    assert scan_path.exists() and panel.face_file == scan_path and loaded[-1].offsets is not None
    panel.discard_scan()
    assert not scan_path.exists() and loaded[-1] == FaceParams() and visit.exists()
