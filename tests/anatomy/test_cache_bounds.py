"""Face variants are bounded: parameters on clinical steps, a memory budget of loaded faces, a disk
budget of the cache, and a cache that cannot be written is no failure."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from injectmap.anatomy import cache as facecache
from injectmap.anatomy import model as model_mod
from injectmap.anatomy.datamodel import DataFileError
from injectmap.anatomy.model import FaceRegistry, cache_root, load_model, nbytes
from injectmap.anatomy.params import FaceCacheFile, FaceParams, face_cache_settings

PRODUCT = {"name": "onabotulinumtoxinA", "units_per_vial": 100, "diluent_ml": 2.5}


# -- steps ---------------------------------------------------------------------------------------
def test_every_parameter_has_a_step_with_its_reason() -> None:
    s = face_cache_settings()
    assert set(s.steps) == {"sex", "masseter", "brow_left", "brow_right"}
    for key, step in s.steps.items():
        assert 0 < step.step <= 0.5 and len(step.why) > 20, key
        assert round(1 / step.step) * step.step == pytest.approx(1.0), f"{key}: the step must divide 1"
    assert s.memory.budget_mb > 0 and s.disk.budget_mb > 0 and s.memory.why and s.disk.why


def test_the_settings_file_is_checked() -> None:
    from injectmap.anatomy.datamodel import validate_data

    with pytest.raises(DataFileError, match="steps.sex.step"):
        validate_data({"steps": {"sex": {"step": 0, "why": "x"}}, "memory": {"budget_mb": 1, "why": "x"},
                       "disk": {"budget_mb": 1, "why": "x"}}, FaceCacheFile, "face_cache.yaml")


def test_nearby_values_are_one_face() -> None:
    """Issue 11: sex 0.41, 0.43, 0.45 built three faces; on the 0.25 step they are one."""
    faces = {FaceParams(sex=s).quantised() for s in (0.41, 0.43, 0.45, 0.5, 0.55)}
    assert faces == {FaceParams()}
    q = FaceParams(sex=0.2, masseter=0.9, brow_left=-0.37, brow_right=0.13).quantised()
    assert q == FaceParams(sex=0.25, masseter=1.0, brow_left=-0.25, brow_right=0.25)
    assert q.is_quantised and not FaceParams(sex=0.2).is_quantised
    # every quantised face is on the grid: a bounded number of faces
    rng = np.random.default_rng(3)
    names = {FaceParams(sex=float(rng.uniform(0, 1)), masseter=float(rng.uniform(-1, 1))).quantised().name
             for _ in range(500)}
    assert len(names) <= 5 * 9


def test_a_plans_face_is_rounded_and_the_result_names_the_face_used(fake_builds, tmp_path: Path) -> None:
    from injectmap.planning.check import check_file

    plan = {"format": "injectmap-plan", "version": 1, "product": PRODUCT, "model": {"sex": 0.43},
            "points": [{"id": "g", "units": 4, "at": {"landmark": "glabella"}, "depth_mm": 3}]}
    path = tmp_path / "p.json"
    path.write_text(json.dumps(plan))
    res, code = check_file(path)
    assert code in (0, 1) and not res.errors
    assert res.model_name == "default"  # sex 0.43 -> 0.5: the default face, read from the cache
    assert fake_builds == []


def test_load_model_builds_only_the_quantised_face(fake_builds, tmp_path: Path) -> None:
    root = tmp_path / "cache"
    for s in (0.96, 0.98, 1.0):
        load_model(sex=s, root=root)
    assert fake_builds == [FaceParams(sex=1.0)]
    assert sorted(p.name for p in root.iterdir()) == ["sex1.00"]


def test_one_face_is_built_at_a_time(model, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 11: two sessions asking for two new faces built them at once (each build holds several
    times a face's memory); the second build now waits for the first."""
    import threading

    running, most = [0], [0]
    guard = threading.Lock()

    def slow_build(params):
        with guard:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.5)
        with guard:
            running[0] -= 1
        return model

    monkeypatch.setattr(model_mod, "build_model", slow_build)
    monkeypatch.setattr(model_mod, "save_model", lambda m, folder: folder.mkdir(parents=True, exist_ok=True))
    monkeypatch.setattr(model_mod, "FACES", FaceRegistry())
    faces = [FaceParams(sex=0.0), FaceParams(masseter=1.0)]
    threads = [threading.Thread(target=load_model, kwargs={"params": f, "root": tmp_path}) for f in faces]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(model_mod.FACES.loaded()) == 2 and most[0] == 1


# -- memory --------------------------------------------------------------------------------------
@dataclass
class _Face:
    """A stand-in face holding ``mb`` of arrays (the registry only needs it to be held and sized)."""

    mb: int
    data: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.data["a"] = np.ones(self.mb * 125_000)  # mb * 1e6 bytes
        self.data["self"] = self  # a cycle, as a face with its spatial index has: freed by the collector


def _rss_mb() -> float:
    return facecache.rss_mb()


def test_the_registry_keeps_to_its_memory_budget_and_memory_comes_back() -> None:
    """Measured in a fresh process: a test worker's resident memory carries what the tests before it there
    allocated (their threads' arenas too), so the same check passed or failed with the order of the tests."""
    if os.environ.get("INJECTMAP_REGISTRY_MEMORY_CHILD") != "1":
        env = {**os.environ, "INJECTMAP_REGISTRY_MEMORY_CHILD": "1"}
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                               f"{__file__}::test_the_registry_keeps_to_its_memory_budget_and_memory_comes_back"],
                              env=env, capture_output=True, text=True, timeout=900, check=False)
        assert proc.returncode == 0 and " passed" in proc.stdout, proc.stdout[-3000:] + proc.stderr[-2000:]
        return
    reg = FaceRegistry(max_faces=10, budget_bytes=130e6)
    gc.collect()
    idle = _rss_mb()
    probes = []
    for i in range(3):
        probes.append(weakref.ref(reg.get((FaceParams(sex=i / 4), "t"), lambda: _Face(60))))  # type: ignore[arg-type,return-value]
    assert len(reg.loaded()) == 2 and reg.kept_bytes() <= 130e6  # the oldest let go
    gc.collect()
    assert probes[0]() is None
    full = _rss_mb()
    assert full - idle > 100
    reg.clear()
    gc.collect()
    assert all(p() is None for p in probes)
    assert _rss_mb() - idle < 0.2 * (full - idle), (idle, full, _rss_mb())


def test_the_face_just_loaded_is_kept_even_beyond_the_budget() -> None:
    reg = FaceRegistry(max_faces=4, budget_bytes=1e6)
    face = reg.get((FaceParams(), "t"), lambda: _Face(5))  # type: ignore[arg-type,return-value]
    assert reg.loaded() == [(FaceParams(), "t")] and face.mb == 5


def test_a_closed_session_lets_go_of_the_variants_no_other_session_shows(model, monkeypatch) -> None:
    import dataclasses

    reg = FaceRegistry(max_faces=4)
    monkeypatch.setattr(model_mod, "FACES", reg)
    default, shown, unused = (FaceParams(), "t"), (FaceParams(sex=0.0), "t"), (FaceParams(masseter=1.0), "t")
    reg.get(default, lambda: model)
    held = reg.get(shown, lambda: dataclasses.replace(model, derived={}))  # an open session still shows this one
    unused_ref = weakref.ref(reg.get(unused, lambda: dataclasses.replace(model, derived={})))
    assert reg.loaded() == [default, shown, unused]
    assert sorted(model_mod.let_go_unused_faces(), key=str) == sorted([shown, unused], key=str)
    gc.collect()
    assert reg.loaded() == [default]  # the default face stays loaded for the next page
    assert unused_ref() is None and unused not in reg  # no session held it: freed
    assert reg.get(shown, pytest.fail) is held  # still shared with the session that shows it...
    assert reg.loaded() == [default, shown]  # ...and kept again once asked for


def test_a_face_is_sized_by_its_arrays_and_meshes(model) -> None:
    n = nbytes(model)
    arrays = model.depth_points_mm.nbytes + model.layer_bone_mm.nbytes
    assert arrays < n < 2e9
    assert nbytes(model) == n  # counted the same each time (shared arrays once)


@pytest.mark.variants
@pytest.mark.slow
def test_three_variants_loaded_and_let_go_give_their_memory_back() -> None:
    before = model_mod.FACES.loaded()
    res = facecache.measure_face_memory(3)
    assert res["faces_still_alive"] == 0 and model_mod.FACES.loaded() == before
    grown = res["rss_after_face_3_mb"] - res["rss_idle_mb"]
    assert grown > 150, res  # three faces with their index (~120 MB each) were really loaded
    assert res["released_fraction"] >= 0.8 and res["back_to_idle_met"] == 1.0, res


# -- disk ----------------------------------------------------------------------------------------
def _fake_face(root: Path, name: str, mb: float, age_s: float) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "skin.vtp").write_bytes(b"\0" * int(mb * 1e6))
    (folder / "manifest.json").write_text("{}")
    t = time.time() - age_s
    os.utime(folder, (t, t))
    return folder


def test_the_disk_budget_deletes_the_least_recently_used_variants(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    _fake_face(root, "default", 4, age_s=1000)  # the oldest, but never deleted
    _fake_face(root, "sex0.00", 4, age_s=500)
    _fake_face(root, "sex1.00", 4, age_s=400)
    _fake_face(root, "sex0.50-masseter+1.00", 4, age_s=10)
    _fake_face(root, "sex0.25", 4, age_s=900)  # old, but the face just used
    other = root / "sex0.75"  # holds a file that is not the cache's: never touched
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    (root / "README").write_text("not a face")
    deleted = facecache.prune(root, budget_bytes=13e6, keep=["sex0.25"])
    assert deleted == ["sex0.00", "sex1.00"]
    assert sorted(p.name for p in root.iterdir()) == ["README", "default", "sex0.25", "sex0.50-masseter+1.00", "sex0.75"]


def test_building_a_face_keeps_the_cache_within_its_budget(fake_builds, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "cache"
    _fake_face(root, "sex0.00", 30, age_s=500)
    monkeypatch.setenv("INJECTMAP_CACHE_BUDGET_MB", "45")
    load_model(sex=1.0, root=root)  # ~37 MB written: the old variant goes
    assert sorted(p.name for p in root.iterdir()) == ["sex1.00"]


def test_loading_a_face_marks_it_used(model, tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "cache"
    shutil.copytree(model_mod.cache_folder(FaceParams()), root / "default")
    os.utime(root / "default", (1, 1))
    model_mod.load_or_build(FaceParams(), root)
    assert (root / "default").stat().st_mtime > time.time() - 60


# -- a cache that cannot be written ---------------------------------------------------------------
def test_an_unwritable_cache_builds_in_memory_and_goes_on(fake_builds, model, tmp_path: Path,
                                                          capfd: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    got = load_model(root=blocker / "meshes")  # cannot be created: its parent is a file
    assert got is model and fake_builds == [FaceParams()]
    err = capfd.readouterr().err
    assert "cannot write the face cache" in err and "built in memory" in err


def test_check_with_an_unwritable_cache_exits_0_with_a_note(fake_builds, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capfd: pytest.CaptureFixture[str]) -> None:
    from injectmap.cli import main

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    plan = tmp_path / "p.json"
    plan.write_text(json.dumps({"format": "injectmap-plan", "version": 1, "product": PRODUCT,
                                "points": [{"id": "g", "units": 4, "at": {"landmark": "glabella"}, "depth_mm": 3}]}))
    monkeypatch.setenv("INJECTMAP_CACHE_DIR", "unused")  # restored after the test (main sets it from --cache-dir)
    code = main(["--cache-dir", str(blocker / "meshes"), "check", str(plan), "--format", "json"])
    out, err = capfd.readouterr()
    assert code == 0, out
    assert json.loads(out)["model"]["name"] == "default"
    assert "cannot write the face cache" in err


# -- where the cache lives -----------------------------------------------------------------------
def test_the_user_cache_folder_outside_a_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    from platformdirs import user_cache_path

    for var in model_mod.CACHE_ENV:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(model_mod, "source_checkout", lambda: None)
    assert cache_root() == user_cache_path("injectmap", appauthor=False) / "meshes"
    monkeypatch.setenv("INJECTMAP_CACHE_DIR", "/some/where")
    assert cache_root() == Path("/some/where")
