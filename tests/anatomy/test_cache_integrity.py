"""A damaged face cache is never used: each damage found on a copy of the cache is rebuilt, with a note.

Every test works on a copy of the default face's cache folder. The rebuild is the real code path of
``load_model`` with ``build_model`` replaced by a stand-in that returns the genuine face (a real build
takes ~30-60 s): what is checked is that the damaged copy is refused, the face is rebuilt and written
back whole, the user is told why, and VTK's own error output never reaches the terminal.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from injectmap.anatomy import cache as facecache
from injectmap.anatomy.model import cache_folder, cache_problem, load_model, read_model
from injectmap.anatomy.params import FaceParams

PRODUCT = {"name": "onabotulinumtoxinA", "units_per_vial": 100, "diluent_ml": 2.5}
#: 3 mm lateral to the lateral canthus, 12 mm deep: the tip is in the left orbit (tests/planning/test_targets.py)
ORBIT_PLAN = {"format": "injectmap-plan", "version": 1, "product": PRODUCT,
              "points": [{"id": "p", "units": 4, "at": {"landmark": "exocanthion_left", "lateral_mm": 3}, "depth_mm": 12}]}


@pytest.fixture
def copied(model, tmp_path: Path) -> Path:
    """A cache root holding a copy of the (current, whole) default face."""
    src = cache_folder(FaceParams())
    assert cache_problem(FaceParams()) is None, "the default face's cache must be current"
    root = tmp_path / "cache"
    shutil.copytree(src, root / "default", ignore=shutil.ignore_patterns(".*"))
    assert cache_problem(FaceParams(), root) is None
    return root


def _manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


def _write_manifest(folder: Path, man: dict) -> None:
    (folder / "manifest.json").write_text(json.dumps(man, indent=1))


def _replace_orbit_by_procerus(f: Path) -> None:
    shutil.copyfile(f / "procerus.vtp", f / "orbit_left.vtp")


def _drop_orbit_entry(f: Path) -> None:
    man = _manifest(f)
    man["structures"] = [e for e in man["structures"] if e["id"] != "orbit_left"]
    _write_manifest(f, man)


def _drop_orbit_entry_everywhere(f: Path) -> None:
    """The entry, its file and its hash gone, the manifest's own hash recomputed: a consistent but
    incomplete face (the structure list is checked against the metadata, not only the hashes)."""
    man = _manifest(f)
    man["structures"] = [e for e in man["structures"] if e["id"] != "orbit_left"]
    del man["files"]["orbit_left.vtp"]
    (f / "orbit_left.vtp").unlink()
    _write_manifest(f, facecache.sign(man))


def _move_landmark(f: Path) -> None:
    man = _manifest(f)
    man["landmarks"]["exocanthion_left"][0] += 30.0
    _write_manifest(f, man)


def _truncate_arrays(f: Path) -> None:
    data = (f / "arrays.npz").read_bytes()
    (f / "arrays.npz").write_bytes(data[: len(data) // 2])


def _empty_vtp(f: Path) -> None:
    (f / "orbit_left.vtp").write_bytes(b"")


def _truncate_artery(f: Path) -> None:
    data = (f / "facial_artery_left.vtp").read_bytes()
    (f / "facial_artery_left.vtp").write_bytes(data[: int(len(data) * 0.6)])


def _unexpected_file(f: Path) -> None:
    shutil.copyfile(f / "procerus.vtp", f / "procerus_copy.vtp")


def _missing_file(f: Path) -> None:
    (f / "eye_left.vtp").unlink()


def _manifest_hash_removed(f: Path) -> None:
    man = _manifest(f)
    del man["manifest_sha256"]
    _write_manifest(f, man)


DAMAGES = {
    "orbit_left.vtp replaced with procerus.vtp": (_replace_orbit_by_procerus, "orbit_left.vtp"),
    "orbit_left entry removed from the manifest": (_drop_orbit_entry, "altered"),
    "orbit_left removed with a re-signed manifest": (_drop_orbit_entry_everywhere, "orbit_left"),
    "landmark moved 30 mm in the manifest": (_move_landmark, "altered"),
    "arrays.npz truncated": (_truncate_arrays, "arrays.npz"),
    "0-byte .vtp": (_empty_vtp, "orbit_left.vtp"),
    "artery .vtp truncated": (_truncate_artery, "facial_artery_left.vtp"),
    "unexpected file": (_unexpected_file, "unexpected"),
    "file missing": (_missing_file, "eye_left.vtp"),
    "manifest's own hash removed": (_manifest_hash_removed, "altered"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_a_damaged_cache_is_rebuilt_never_used(damage: str, copied: Path, fake_builds: list, model,
                                               capfd: pytest.CaptureFixture[str]) -> None:
    spoil, reason = DAMAGES[damage]
    folder = copied / "default"
    spoil(folder)
    problem = cache_problem(FaceParams(), copied)
    assert problem is not None and reason in problem, problem

    got = load_model(root=copied)

    assert fake_builds == [FaceParams()], "the damaged face must be rebuilt"
    assert got is model
    err = capfd.readouterr().err
    assert "cannot be used" in err and reason in err, err
    assert "vtk" not in err.lower().replace("vtk could not read", ""), err  # no VTK error text on the terminal
    assert cache_problem(FaceParams(), copied) is None, "the rebuilt face is written back whole"


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_read_model_refuses_a_damaged_folder(damage: str, copied: Path, capfd: pytest.CaptureFixture[str]) -> None:
    DAMAGES[damage][0](copied / "default")
    with pytest.raises(facecache.CacheError):
        read_model(copied / "default")
    assert "vtk" not in capfd.readouterr().err.lower()


def test_vtk_errors_become_a_cache_error_not_terminal_output(copied: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """Even a file VTK is handed directly (past the hashes) cannot print errors as the only sign."""
    _truncate_artery(copied / "default")
    with pytest.raises(facecache.CacheError, match="VTK could not read"):
        facecache.read_mesh(copied / "default" / "facial_artery_left.vtp")
    assert capfd.readouterr().err == ""


def test_the_orbit_danger_survives_a_swapped_orbit_file(copied: Path, fake_builds: list, monkeypatch) -> None:
    """Issue 11: with orbit_left.vtp replaced by procerus.vtp the tip_in_orbit danger disappeared."""
    from injectmap.planning.check import check_file

    _replace_orbit_by_procerus(copied / "default")
    plan = copied.parent / "orbit.json"
    plan.write_text(json.dumps(ORBIT_PLAN))
    monkeypatch.setenv("INJECTMAP_CACHE_DIR", str(copied))
    res, code = check_file(plan)
    assert code == 1
    assert ("tip_in_orbit", "orbit_left") in {(f.code, f.structure) for f in res.points[0].findings}


def test_a_cached_face_reads_back_equal(copied: Path, model) -> None:
    got = read_model(copied / "default")
    assert got.sha256 == model.sha256 and set(got.structures) == set(model.structures)
    for k, v in model.landmarks.items():
        assert np.allclose(got.landmarks[k], v, atol=1e-3)
    assert np.array_equal(got.depth_points_mm, model.depth_points_mm)


def test_a_stale_cache_is_rebuilt_quietly(copied: Path, fake_builds: list, capfd: pytest.CaptureFixture[str]) -> None:
    """An older cache format (or other inputs) is a normal rebuild, not a damage to warn about."""
    man = _manifest(copied / "default")
    man.pop("format_version")
    man.pop("manifest_sha256")
    _write_manifest(copied / "default", man)
    assert "stale" in (cache_problem(FaceParams(), copied) or "")
    load_model(root=copied)
    assert fake_builds == [FaceParams()]
    assert "cannot be used" not in capfd.readouterr().err
