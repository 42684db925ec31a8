"""``injectmap face fit`` on a real photograph nobody here made: the astronaut portrait bundled in
scikit-image (Eileen Collins, NASA, public domain)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import numpy as np
import pytest
from photo_support import AstronautFit

pytest.importorskip("mediapipe")
skdata = pytest.importorskip("skimage.data")

pytestmark = [pytest.mark.variants, pytest.mark.xdist_group("photofit")]


def test_the_astronaut_fits_from_the_command_line(astronaut_fit: AstronautFit) -> None:
    """The run's one ``injectmap face fit`` of the astronaut (tests/conftest.py), as the command left it."""
    out = astronaut_fit.face_path
    assert astronaut_fit.returncode == 0, astronaut_fit.stderr
    text = astronaut_fit.stdout
    assert "residuals per landmark: median" in text and "caveat:" in text and "population anatomy" in text
    assert "placement: Measured on 12 synthetic faces with a known truth" in text
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    face = json.loads(out.read_text())
    assert face["kind"] == "injectmap-face" and len(face["residuals_mm"]["per_landmark"]) == 468
    assert face["residuals_mm"]["median"] < 3.0
    assert 25.0 < face["scale"]["intercanthal_mm"] < 40.0
    assert face["sources"][0]["role"] == "front" and len(face["sources"][0]["sha256"]) == 64
    assert str(astronaut_fit.photo) not in out.read_text()  # the photo's path is not kept, only its hash
    assert face["targets"], "a real face differs from the average head"


def test_a_refused_photo_says_why(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from PIL import Image

    from injectmap.cli import main

    blank = tmp_path / "wall.png"
    Image.fromarray(np.full((400, 400, 3), 128, dtype=np.uint8)).save(blank)
    assert main(["face", "fit", "--photo", str(blank), "-o", str(tmp_path / "x.face.json")]) == 2
    assert "no face" in capsys.readouterr().err
    assert not (tmp_path / "x.face.json").exists()
    # two photos that both face the camera (the same portrait as JPEG and PNG) are not a front photo and an oblique
    front = tmp_path / "front.jpg"
    Image.fromarray(skdata.astronaut()).save(front)
    copy = tmp_path / "copy.png"
    Image.fromarray(skdata.astronaut()).save(copy)
    assert main(["face", "fit", "--photo", str(front), "--photo", str(copy), "-o", str(tmp_path / "x.face.json")]) == 2
    err = capsys.readouterr().err
    assert "photo 1 and photo 2 both face the camera" in err, err
    assert not (tmp_path / "x.face.json").exists()


@pytest.mark.bench
def test_the_bench_times_fits_against_the_naive_baseline() -> None:
    from injectmap.anatomy.fit.bench import run_fit_bench

    res = run_fit_bench(fits=2)
    assert res["fit_photo"] == "astronaut" and res["fit_runs"] == 2
    assert 0 < res["fit_landmarks_s_median"] < res["fit_s_median"]
    assert res["fit_naive_s"] > 0 and res["fit_speedup_vs_naive"] > 0
