"""Where a photo fit's size comes from, said where the fit is shown: the iris's population mean, or the patient's
measured interpupillary distance (a distance PD), refused outside the adult range, with the iris then the
cross-check (the command line, the Face card and the report's first page use the same sentences)."""

from __future__ import annotations

import pytest

from injectmap.anatomy.fit.landmarks import FitRefused
from injectmap.anatomy.fit.photo import checked_ipd, scale_text, scale_warnings

IRIS_SCALE = {"iris_px": 25.0, "iris_depth_mm": 640.0, "intercanthal_mm": 33.1, "intercanthal_z": 0.24}
IPD_SCALE = {**IRIS_SCALE, "ipd_mm": 63.5, "iris_mm": 11.9, "iris_z": 0.45}


@pytest.mark.parametrize("value", [30.0, 31.5, 44.9, 80.5, 120.0, float("nan"), float("inf"), "sixty", -63.0, "625",
                                   "6,2,5", "nan", "6_2", "1e2", "63 mm"])
def test_an_interpupillary_distance_outside_the_adult_range_is_refused(value: object) -> None:
    with pytest.raises(FitRefused, match="interpupillary distance"):
        checked_ipd(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value, mm", [(45.0, 45.0), (58.6, 58.6), (63, 63.0), ("64.5", 64.5), (" 62,5 ", 62.5),
                                       (80.0, 80.0)])
def test_an_adult_interpupillary_distance_is_taken(value: object, mm: float) -> None:
    assert checked_ipd(value) == pytest.approx(mm)  # type: ignore[arg-type]
    assert checked_ipd(None) is None and checked_ipd("") is None and checked_ipd("  ") is None


def test_a_monocular_pd_is_refused_with_what_to_give() -> None:
    with pytest.raises(FitRefused) as exc:
        checked_ipd(31.5)
    assert "monocular PD is half" in str(exc.value) and "45-80 mm" in str(exc.value)


def test_the_scale_says_where_the_size_came_from() -> None:
    iris = scale_text(IRIS_SCALE)
    assert iris.startswith("Size from the iris (the population's 11.71 mm, SD 0.42 mm: about 3.6 %")
    assert "33.1 mm (+0.2 SD" in iris
    ipd = scale_text(IPD_SCALE)
    assert ipd.startswith("Size from the patient's measured interpupillary distance, 63.5 mm")
    assert "the iris then measures 11.9 mm (+0.5 SD of the population's 11.71 mm)" in ipd
    assert "33.1 mm" in ipd
    assert scale_warnings(IRIS_SCALE) == [] and scale_warnings(IPD_SCALE) == []


def test_a_scale_far_from_the_population_asks_for_a_check() -> None:
    (warning,) = scale_warnings({**IRIS_SCALE, "intercanthal_z": -2.8})
    assert "intercanthal width is far from the population's" in warning
    # a distance 12 % too small (a mistyped or misread PD): the iris it implies is implausibly small
    (warning,) = scale_warnings({**IPD_SCALE, "iris_mm": 10.3, "iris_z": -3.4})
    assert "-3.4 SD" in warning and "check the measurement" in warning
    # a near PD (about 5 % narrower) is inside the spread: not flagged, as the docs say
    assert scale_warnings({**IPD_SCALE, "iris_mm": 11.1, "iris_z": -1.4}) == []
    # the iris's own z is not a warning where the size came from the iris (it is the prior, not a measurement)
    assert scale_warnings({**IRIS_SCALE, "iris_z": -5.0}) == []


def test_the_reports_first_page_says_which_size_it_rests_on() -> None:
    from injectmap.reports.photo_chart import PhotoPage

    def page(scale: dict[str, float]) -> PhotoPage:
        return PhotoPage(b"", "front", {"median": 1.2, "p90": 2.0, "max": 3.1}, scale, (), ())

    iris, ipd = page(IRIS_SCALE), page(IPD_SCALE)
    assert "Size from the iris" in iris.residual_text
    assert "measured interpupillary distance, 63.5 mm" in ipd.residual_text
    assert any("one population number (the iris diameter" in line for line in iris.caveat_lines)
    assert any("measured interpupillary distance (a measurement's spread about 1 mm)" in line
               for line in ipd.caveat_lines)
    warned = page({**IPD_SCALE, "iris_z": 3.6, "iris_mm": 13.2})
    assert "Check: with the measured interpupillary distance the iris measures +3.6 SD" in warned.residual_text
    assert "Size from" not in page({}).residual_text  # an old face file without a scale: the residuals alone


def test_the_command_line_refuses_a_pd_it_cannot_use(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Refused before any photo is read or any file written: a monocular PD for a photo, any PD for a scan (a scan
    carries its own size)."""
    from injectmap.cli import main

    out = tmp_path / "x.face.json"
    assert main(["face", "fit", "--photo", str(tmp_path / "front.jpg"), "--ipd-mm", "31.5", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--ipd-mm: an interpupillary distance of 31.5 mm is outside the adult range" in err, err
    assert main(["face", "fit", "--scan", str(tmp_path / "face.ply"), "--ipd-mm", "63", "-o", str(out)]) == 2
    assert "--ipd-mm is for a photo" in capsys.readouterr().err
    assert not out.exists()
