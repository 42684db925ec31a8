"""The totals under the plan table, the mL column and the product switch's question, without a browser.
Before: no totals in the app, and switching the product kept "8 U" and silently read it as the new product's."""

from __future__ import annotations

import re

import pytest

from injectmap.planning.plan import parse_plan
from injectmap.planning.products import product_info
from injectmap.planning.totals import dose_totals
from injectmap.viewer import app as viewer_app
from injectmap.viewer.totals_panel import PLAN_ROW, plan_counts, totals_html


@pytest.fixture
def app(face_model, tmp_path, monkeypatch):
    monkeypatch.setenv(viewer_app.AUTOSAVE_ENV, str(tmp_path))
    return viewer_app.create_app(face_model)


def _cells(html: str, cls: str, attr: str, key: str) -> list[str]:
    row = re.search(rf'<tr {attr}="{re.escape(key)}">(.*?)</tr>', html)
    assert row, (attr, key)
    return re.findall(rf'<td class="{cls}">(.*?)</td>', row.group(1))


def test_totals_follow_every_edit(app):
    state, panel = app.app_state, app.app_plan
    html = panel.totals.tables.object
    plan = parse_plan(state.plan_dict())
    t = dose_totals(plan)
    assert _cells(html, "units", "data-row", PLAN_ROW) == [f"{t.units:g}"]
    assert _cells(html, "ml", "data-row", PLAN_ROW) == [f"{t.volume_ml:g}"]
    assert _cells(html, "open", "data-row", PLAN_ROW) == ["1"]
    left_before = float(_cells(html, "units", "data-side", "left")[0])
    state.update_point("c1_left", units=9.5)  # +5.5 U on the left
    html = panel.totals.tables.object
    assert float(_cells(html, "units", "data-row", PLAN_ROW)[0]) == pytest.approx(t.units + 5.5)
    assert float(_cells(html, "units", "data-side", "left")[0]) == pytest.approx(left_before + 5.5)
    assert _cells(html, "left", "data-area", "glabella") == [f"{9.5 + 4:g}"]  # the edited c1 and c2 (g1 is midline)
    state.undo()
    assert panel.totals.tables.object.count(f'<td class="units">{t.units:g}</td>') >= 1


def test_sessions_and_vials_to_open(app):
    state, panel = app.app_state, app.app_plan
    plan = state.plan_dict()
    plan["sessions"] = [{"id": "initial"}, {"id": "touch_up", "date": "2026-12-16", "label": "<b>review</b>"}]
    plan["points"][0]["session"] = "touch_up"
    plan["points"][1]["units"] = 120.0  # the plan now needs two 100 U vials
    state.load_plan(plan)
    html = panel.totals.tables.object
    assert _cells(html, "open", "data-row", PLAN_ROW) == ["2"]
    assert '<tr data-row="touch_up">' in html and "&lt;b&gt;review&lt;/b&gt;" in html and "<b>review" not in html
    assert float(_cells(html, "units", "data-row", "touch_up")[0]) == plan["points"][0]["units"]
    assert panel.totals.shown.visible and panel.totals.shown.options == [PLAN_ROW, "initial", "touch_up"]
    panel.totals.shown.value = "touch_up"
    assert "By side (session touch_up)" in panel.totals.tables.object


def test_the_untargeted_point_at_plus_38_9_counts_left():
    plan = parse_plan({"format": "injectmap-plan", "version": 1,
                       "product": {"name": "onabotulinumtoxinA", "units_per_vial": 100, "diluent_ml": 2.5},
                       "points": [{"id": "a", "units": 4, "entry_mm": [38.9, 30.0, 60.0], "depth_mm": 2}]})
    html = totals_html(plan_counts(plan))
    assert _cells(html, "units", "data-side", "left") == ["4"]
    assert _cells(html, "units", "data-side", "midline") == ["0"]


def test_ml_column_as_check_computes_it(app):
    state, panel = app.app_state, app.app_plan
    frame = panel.table.value
    plan = parse_plan(state.plan_dict())
    assert list(frame["mL"]) == [plan.volume_ml_of(p) for p in plan.points]
    assert frame["mL"].iloc[0] == pytest.approx(0.1)  # 4 U at 100 U in 2.5 mL
    state.update_point(state.point_ids()[0], volume_ml=0.25)
    assert panel.table.value["mL"].iloc[0] == 0.25


def test_switch_asks_then_converts(app):
    state, panel = app.app_state, app.app_plan
    before = state.plan_dict()
    panel.product.value = "abobotulinumtoxinA"
    assert state.plan_dict() == before  # nothing happens before the answer
    prompt = panel.switch
    assert prompt._layout.visible and "2.5" in prompt.text.object and "Dorizas" in prompt.text.object
    prompt.convert.clicks += 1
    assert state.product["name"] == "abobotulinumtoxinA" and not prompt._layout.visible
    assert [p["units"] for p in state.points] == [p["units"] * 2.5 for p in before["points"]]
    assert "converted" in state.message and "2.5" in state.message
    assert product_info("abobotulinumtoxinA").default_units_per_vial == state.product["units_per_vial"]
    state.undo()  # one edit: product and doses come back together, and the selector follows
    assert state.plan_dict() == before and panel.product.value == "onabotulinumtoxinA"


def test_switch_keep_and_cancel(app):
    state, panel = app.app_state, app.app_plan
    before = state.plan_dict()
    panel.product.value = "incobotulinumtoxinA"
    panel.switch.cancel.clicks += 1
    assert state.plan_dict() == before and panel.product.value == "onabotulinumtoxinA"
    assert not panel.switch._layout.visible and panel.switch.pending is None
    assert not panel.switch.reverting
    panel.switch.convert.clicks += 1  # a late click on the withdrawn question does nothing
    panel.switch.cancel.clicks += 1
    assert state.plan_dict() == before
    panel.product.value = "abobotulinumtoxinA"
    panel.switch.keep.clicks += 1
    assert state.product["name"] == "abobotulinumtoxinA"
    assert [p["units"] for p in state.points] == [p["units"] for p in before["points"]]
    assert "read as abobotulinumtoxinA units" in state.message


def test_an_estimated_ratio_is_said_to_be_one(app):
    panel = app.app_plan
    panel.product.value = "daxibotulinumtoxinA"
    assert "estimate" in panel.switch.text.object
    panel.switch.cancel.clicks += 1


def test_an_empty_plan_switches_without_asking(app):
    state, panel = app.app_state, app.app_plan
    state.new_plan()
    panel.product.value = "incobotulinumtoxinA"
    assert state.product["name"] == "incobotulinumtoxinA" and not panel.switch._layout.visible
