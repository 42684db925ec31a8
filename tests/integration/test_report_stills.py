"""The treated expression's stills (reports/stills.py) before, at two weeks and at three months, and their
place in the chart and the patient handout (HTML and PDF)."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from PIL import Image

from injectmap.planning.protocols import protocol_plan
from injectmap.reports.stills import Still, expression_stills, stills_html
from injectmap.viewer.report_render import report_for_plan

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def glabella_stills(model) -> list[Still]:
    return expression_stills(model, protocol_plan("glabella_five_point"))


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=float)


def test_the_stills_show_the_treated_frown_fading_back(glabella_stills) -> None:
    assert [s.day for s in glabella_stills] == [0.0, 14.0, 90.0]
    assert [s.caption for s in glabella_stills] == ["Frowning, before", "Frowning, at two weeks",
                                                   "Frowning, at three months"]
    assert glabella_stills[0].strength == {"left": 1.0, "right": 1.0}
    assert glabella_stills[1].strength["left"] < 0.5 < glabella_stills[2].strength["left"] < 1.0
    before, peak, late = (_pixels(s.png) for s in glabella_stills)
    assert before.shape == peak.shape and before.std() > 10  # a picture, not a blank
    # the frown's colour (the skin moved, on one scale) fades at two weeks and comes back by three months
    h, w = before.shape[:2]
    brow = (slice(int(h * 0.2), int(h * 0.55)), slice(int(w * 0.2), int(w * 0.8)))
    dark = [float((p[brow].sum(axis=2) < 300).mean()) for p in (before, peak, late)]
    assert dark[1] < 0.5 * dark[0] and dark[1] < dark[2]


def test_a_plan_that_changes_no_expression_has_no_stills(model) -> None:
    empty = {"format": "injectmap-plan", "version": 1, "points": [],
             "product": {"name": "onabotulinumtoxinA", "units_per_vial": 100, "diluent_ml": 2.5}}
    assert expression_stills(model, empty) == []
    assert stills_html([]) == ""


def test_the_stills_html_escapes_its_captions(glabella_stills) -> None:
    s = glabella_stills[0]
    evil = Still(s.expression, s.day, "<script>alert(1)</script>", s.strength, s.png)
    html = stills_html([evil])
    assert "<script>alert" not in html and "&lt;script&gt;" in html
    assert html.count("data:image/png;base64,") == 1


def test_the_chart_and_the_handout_carry_the_stills(model, tmp_path) -> None:
    plan = protocol_plan("glabella_five_point")
    out = tmp_path / "handout.html"
    report_for_plan(plan, model, out, handout=True)
    text = out.read_text()
    assert 'id="expression-stills"' in text and "Frowning, at two weeks" in text
    assert text.count('class="still"') == 3
    pdf = tmp_path / "handout.pdf"
    report_for_plan(plan, model, pdf, handout=True)
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and len(re.findall(rb"/Subtype\s*/Image", data)) >= 4  # timeline + 3 stills
    chart = tmp_path / "chart.pdf"
    report_for_plan(plan, model, chart)
    assert len(re.findall(rb"/Subtype\s*/Image", chart.read_bytes())) >= 4


def _in_touch_up(plan: dict, first_too: bool = False) -> dict:
    """The plan's points given at the two-week touch-up (with the first visit's too when ``first_too``)."""
    touch = [{**p, "id": f"{p['id']}_tu", "session": "touch_up"} for p in plan["points"]]
    return {**plan, "points": [*(plan["points"] if first_too else []), *touch], "sessions": [{"id": "touch_up"}]}


def test_a_touch_up_handouts_stills_count_from_the_touch_up(model, tmp_path) -> None:
    """The stills counted their days from the first visit: a touch-up-only plan (the Patient card's saved touch-up)
    was still untreated on its "two weeks" (the touch-up's own day) and its handout had no stills. A touch-up
    visit's stills are now before the touch-up, two weeks and three months after it."""
    touch_up = _in_touch_up(protocol_plan("glabella_five_point"))
    assert expression_stills(model, touch_up, size=(140, 160)) == []  # counted from a first visit that is not there
    stills = expression_stills(model, touch_up, size=(140, 160), start_day=14.0)
    assert [s.day for s in stills] == [0.0, 14.0, 90.0] and stills[1].caption == "Frowning, at two weeks"
    assert stills[0].strength == {"left": 1.0, "right": 1.0} and stills[1].strength["left"] < 0.5
    out = tmp_path / "handout.html"
    report_for_plan(touch_up, model, out, handout=True)
    assert out.read_text().count('class="still"') == 3
    # a two-session plan's touch-up: "before" is the touch-up's day, the first treatment already at work
    both = expression_stills(model, _in_touch_up(protocol_plan("glabella_five_point"), first_too=True),
                             size=(140, 160), start_day=14.0)
    assert both[0].strength["left"] < 0.5 and both[0].caption == "Frowning, before"
