"""A face file with a scan fit's vertex offsets: compact, read back exactly (to 0.01 mm), refused when
changed, its id over targets and offsets, and a plan's ``model.face`` carries the offsets to the builder;
``injectmap face fit --scan`` refuses what is not a scan with a message and exit 2."""

from __future__ import annotations

import base64
import json
import stat
import zlib
from pathlib import Path

import numpy as np
import pytest

from injectmap.anatomy.basehead import read_base_obj
from injectmap.anatomy.fit import facefile
from injectmap.anatomy.params import FaceParams, FaceParamsError


def _offsets(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.zeros((len(read_base_obj().vertices_mm), 3))
    out[:5000] = rng.normal(0.0, 2.0, size=(5000, 3))
    return out


def _scan_face(tmp_path: Path, offsets: np.ndarray | None = None, name: str = "s.face.json") -> Path:
    face = facefile.make_scan(_offsets() if offsets is None else offsets, "ab" * 32, "ply",
                              {"pronasale": 0.2, "menton": 0.4}, {"units": "m", "coverage": 0.9})
    path = tmp_path / name
    facefile.write(face, path)
    return path


def test_offsets_round_trip_to_a_hundredth_of_a_mm(tmp_path: Path) -> None:
    off = _offsets()
    path = _scan_face(tmp_path, off)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.stat().st_size < 400_000  # 19,158 vertices of random offsets: compact
    back = facefile.read(path)
    assert back.offsets is not None and back.targets == ()
    assert np.abs(back.offsets.array_mm() - off).max() <= 0.005 + 1e-9
    raw = json.loads(path.read_text())
    assert raw["version"] == 1 and raw["offsets"]["unit_mm"] == 0.01 and raw["scan"]["units"] == "m"
    assert raw["sources"] == [{"kind": "scan", "format": "ply", "sha256": "ab" * 32}]
    assert raw["residuals_mm"]["landmarks"] == ["menton", "pronasale"] and "surface cannot show" not in raw["caveat"]
    assert "scan cannot show" in raw["caveat"]
    assert raw["face_id"] == back.face_id


def test_the_face_id_covers_targets_and_offsets() -> None:
    a = facefile.VertexOffsets.from_mm(_offsets(0))
    b = facefile.VertexOffsets.from_mm(_offsets(1))
    t = [("nose/nose-scale-vert-incr.target.gz", 0.3)]
    ids = {facefile.face_id(t), facefile.face_id(t, a.sha256), facefile.face_id(t, b.sha256),
           facefile.face_id([], a.sha256)}
    assert len(ids) == 4
    # a targets-only face keeps the id it had before offsets existed
    assert facefile.face_id(t) == facefile.FaceFile(targets=tuple(t)).face_id


def _tampered(path: Path, change) -> Path:
    raw = json.loads(path.read_text())
    change(raw["offsets"])
    out = path.with_name("t.face.json")
    out.write_text(json.dumps(raw))
    return out


def _recompressed(o: dict, edit) -> None:
    import io

    arr = np.load(io.BytesIO(zlib.decompress(base64.b64decode(o["data"]))))
    arr = edit(arr.copy())
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    o["data"] = base64.b64encode(zlib.compress(buf.getvalue())).decode()


@pytest.mark.parametrize("change, message", [
    (lambda o: _recompressed(o, lambda a: a + np.int16(1)), "SHA-256 does not match"),
    (lambda o: o.update(sha256="0" * 64), "SHA-256 does not match"),
    (lambda o: o.update(data=o["data"][:-40]), "cannot be decoded|damaged"),
    (lambda o: o.update(data="!!!"), "cannot be decoded"),
    (lambda o: _recompressed(o, lambda a: a[:100]), "shape"),
    (lambda o: _recompressed(o, lambda a: a.astype(np.float32)), "int16"),
    (lambda o: o.update(data=base64.b64encode(zlib.compress(b"\0" * 2_000_000)).decode()), "larger than"),
    (lambda o: o.update(unit_mm=0.1), "unit_mm"),
    (lambda o: o.update(encoding="pickle"), "encoding"),
])
def test_changed_or_oversized_offsets_are_refused(tmp_path: Path, change, message: str) -> None:
    bad = _tampered(_scan_face(tmp_path), change)
    with pytest.raises(facefile.FaceFileError, match=message):
        facefile.read(bad)
    with pytest.raises(FaceParamsError, match=message):
        FaceParams.from_plan_model({"face": str(bad)})


def test_an_offset_too_large_for_a_face_is_not_written() -> None:
    off = _offsets()
    off[0, 0] = 400.0
    with pytest.raises(facefile.FaceFileError, match="not a face"):
        facefile.VertexOffsets.from_mm(off)


def test_a_plan_model_carries_the_offsets_to_the_builder(tmp_path: Path) -> None:
    from injectmap.anatomy.cache import FACE_FOLDER
    from injectmap.anatomy.model import _params_of_manifest, inputs_sha256

    path = _scan_face(tmp_path)
    face = facefile.read(path)
    p = FaceParams.from_plan_model({"face": str(path)})
    assert p.offsets == face.offsets and p.fit == ()
    assert p.name == f"default-fit-{face.face_id[:16]}" and FACE_FOLDER.match(p.name)
    assert p.quantised() == p and not p.is_default and hash(p) == hash(p.quantised())
    other = FaceParams.from_plan_model({"face": str(_scan_face(tmp_path, _offsets(2), "o.face.json"))})
    assert len({inputs_sha256(p), inputs_sha256(other), inputs_sha256(FaceParams())}) == 3
    # the cache's manifest names the offsets by their hash: enough to check a folder's inputs
    manifest = {"sex": 0.5, "masseter": 0.0, "brow_left": 0.0, "brow_right": 0.0, "offsets_sha256": face.offsets.sha256}
    assert inputs_sha256(_params_of_manifest(manifest)) == inputs_sha256(p)


# -- the command line's refusals (before any fit) ---------------------------------------------------
@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]):
    from injectmap.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        code = main(["face", "fit", *args])
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


def test_what_is_not_a_scan_is_refused_with_exit_2(tmp_path: Path, run_cli, monkeypatch) -> None:
    out = str(tmp_path / "x.face.json")
    empty = tmp_path / "empty.ply"
    empty.write_bytes(b"")
    code, _, err = run_cli("--scan", str(empty), "-o", out)
    assert code == 2 and "empty" in err and "Traceback" not in err
    jpg = tmp_path / "face.jpg"
    jpg.write_bytes(b"\xff\xd8\xff")
    code, _, err = run_cli("--scan", str(jpg), "-o", out)
    assert code == 2 and "not a scan file" in err
    code, _, err = run_cli("--scan", str(tmp_path / "none.obj"), "-o", out)
    assert code == 2 and "no such file" in err
    broken = tmp_path / "broken.ply"
    broken.write_bytes(b"ply\nformat binary_little_endian 1.0\nelement vertex 99\nend_header\n\x01\x02")
    code, _, err = run_cli("--scan", str(broken), "-o", out)
    assert code == 2 and "scan refused" in err and "Traceback" not in err
    import trimesh

    big = tmp_path / "big.stl"
    trimesh.creation.icosphere(subdivisions=4, radius=100.0).export(big)
    monkeypatch.setattr("injectmap.anatomy.scan.toface.MAX_SCAN_BYTES", 1000)
    code, _, err = run_cli("--scan", str(big), "-o", out)
    assert code == 2 and "MB a face scan is read up to" in err
    code, _, err = run_cli("--scan", str(big), "-o", str(tmp_path / "x.json"))
    assert code == 2 and ".face.json" in err
    assert not (tmp_path / "x.face.json").exists()


def test_a_scan_of_no_face_size_asks_for_the_units(tmp_path: Path, run_cli) -> None:
    import trimesh

    tiny = tmp_path / "tiny.obj"
    trimesh.creation.icosphere(subdivisions=4, radius=5.0).export(tiny)  # 10 across: neither m nor mm
    code, _, err = run_cli("--scan", str(tiny), "-o", str(tmp_path / "x.face.json"))
    assert code == 2 and "give the units" in err
    code, _, err = run_cli("--scan", str(tiny), "--units", "mm", "-o", str(tmp_path / "x.face.json"))
    assert code == 2 and "check the units" in err
    code, _, err = run_cli("--photo", str(tiny), "--units", "mm", "-o", str(tmp_path / "x.face.json"))
    assert code == 2 and "--units is for a scan" in err
    code, _, err = run_cli("--photo", str(tiny), "--no-render-landmarks", "-o", str(tmp_path / "x.face.json"))
    assert code == 2 and "--no-render-landmarks is for a scan" in err


@pytest.mark.variants
@pytest.mark.timeout(900)
def test_a_face_sized_ball_is_no_face(tmp_path: Path, run_cli) -> None:
    """A sphere 200 mm across passes the size check, is fitted, and is refused: it covers little of
    the face region once aligned."""
    import trimesh

    ball = tmp_path / "ball.stl"
    trimesh.creation.icosphere(subdivisions=4, radius=100.0).export(ball)
    code, _, err = run_cli("--scan", str(ball), "-o", str(tmp_path / "ball.face.json"))
    assert code == 2 and "no face-like surface" in err and "Traceback" not in err
    assert not (tmp_path / "ball.face.json").exists()
