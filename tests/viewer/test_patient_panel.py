"""The Patient card without a browser: its pure logic, and a whole course of treatment driven through the
card's own methods on a SQLite file (no served document: each database call runs at once)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from injectmap.clinic.records import Records
from injectmap.planning.plan import parse_plan
from injectmap.planning.protocols import protocol_plan
from injectmap.viewer.patient_panel import (
    chart_fields,
    course_visits,
    dilution_text,
    history_summary,
    patient_label,
    side_effects,
    visit_label,
)

DAY0 = dt.date(2026, 5, 4)


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'records' / 'records.sqlite3'}"
    monkeypatch.setenv("INJECTMAP_DATABASE_URL", url)
    monkeypatch.setenv("INJECTMAP_PHOTOS_DIR", str(tmp_path / "photos"))
    return url


def test_labels_fields_and_side_effects(db: str) -> None:
    with Records.open(db, user="dr.lee") as rec:
        p = rec.add_patient("MRN-7", name="Ana <b>M.</b>")
        plan = parse_plan(protocol_plan("glabella_five_point"))
        v = rec.add_visit(p.id, DAY0, "initial", lot="L-9", lot_expiry=dt.date(2027, 1, 31), dilution_ml=2.0,
                          notes="light", plan=plan)
        assert patient_label(p) == "MRN-7 (Ana <b>M.</b>)"  # plain text: escaped where it is shown
        assert visit_label(v) == f"2026-05-04 initial #{v.id}, plan"
        assert dilution_text(v) == "2 mL saline per 100 U vial"
        assert chart_fields(v) == {"clinician": "dr.lee", "visit_date": "2026-05-04", "lot": "L-9",
                                   "expiry": "2027-01-31", "dilution": "2 mL saline per 100 U vial", "notes": "light"}
        records = course_visits(rec.visits_with_plans(p.id))
    assert [r.kind for r in records] == ["initial"] and records[0].plan is not None
    from injectmap.clinic.course import dose_history

    assert history_summary(dose_history(records)) == "- 2026-05-04 initial: 20 U"
    assert side_effects(" brow ptosis; headache,, ") == ["brow ptosis", "headache"]


def test_a_course_of_treatment_through_the_card(db: str, face_model) -> None:
    from injectmap.viewer.app import create_app

    layout = create_app(face_model)
    card, state, report, scene = layout.app_patient, layout.app_state, None, layout.app_scene.scene
    report = card.report
    card.identifier.value, card.name_input.value = "MRN-1042", "Ana <img src=x onerror=alert(1)>"
    card.new_patient()
    assert card.view is not None and "&lt;img" in card.current.object and "<img" not in card.current.object
    assert state.extra["patient"] == "MRN-1042 Ana <img src=x onerror=alert(1)>"
    # the initial visit keeps the plan on screen: the forehead and glabella template
    state.load_plan(protocol_plan("forehead_lines_with_glabella"))
    card.kind.value, card.date.value, card.lot.value = "initial", DAY0.isoformat(), "C1234"
    card.expiry.value, card.dilution.value, card.visit_notes.value = "2027-03-31", 2.0, "first treatment"
    card.new_visit()
    assert card.visit is not None and card.visit.kind == "initial" and card.visit.has_plan, card.status.object
    initial = card.visit
    assert (report.lot.value, report.expiry.value, report.visit_date.value) == ("C1234", "2027-03-31", "2026-05-04")
    assert report.dilution.value == "2 mL saline per 100 U vial" and report.clinician.value == "local"
    assert report.notes.value == "first treatment"
    assert state.product["diluent_ml"] == 2.0  # the plan's mL follow the visit's dilution
    assert state.extra["patient"].startswith("MRN-1042")
    assert scene.previous_actor is None or not scene.previous_actor.GetVisibility()  # nothing before it
    # the two-week review: the initial treatment drawn faintly, never picked
    card.kind.value, card.date.value, card.lot.value, card.expiry.value = "review", "2026-05-18", "", ""
    card.new_visit()
    assert card.visit is not None and card.visit.kind == "review"
    assert scene.previous_actor is not None and scene.previous_actor.GetVisibility()
    assert not scene.previous_actor.GetPickable()
    tips = np.asarray(scene.previous_actor.mapper.GetInput().points)
    entries = [r.entry_mm for r in layout.app_analyst.results.values()]  # the initial plan is still on screen
    assert len(entries) == 10
    for e in entries:  # each needle of the last visit reaches its skin entry
        assert np.linalg.norm(tips - np.asarray(e), axis=1).min() < 0.5
    card.show_previous.value = False
    assert not scene.previous_actor.GetVisibility()
    card.show_previous.value = True
    assert scene.previous_actor.GetVisibility()
    card.area.value, card.side.value, card.movement.value, card.effects.value = "glabella", "right", 0, "bruise <b>"
    card.record_outcome()
    card.area.value, card.side.value, card.movement.value, card.effects.value = "forehead", "left", 2, ""
    card.record_outcome()
    assert len(card.outcomes) == 2 and "bruise &lt;b&gt;" in card.outcome_text.object
    card.propose_touch_up()
    assert card.proposal is not None and not card.proposal.empty, card.status.object
    assert "3-month maximum" in card.proposal_pane.object and "| forehead |" in card.proposal_pane.object
    assert [p["id"] for p in state.points] == [p.id for p in card.proposal.plan.points]
    assert not card.save_touch_up.disabled
    card.save_as_touch_up()
    assert card.visit is not None and card.visit.kind == "touch_up", card.status.object
    assert card.visit.completes_visit_id == initial.id and card.visit.date == dt.date(2026, 5, 18)
    text = card.history_text.object
    assert "2026\\-05\\-04 initial" not in text  # dashes are not escaped
    assert "2026-05-04 initial: 40 U" in text and "2026-05-18 review: no injection" in text
    assert "2026-05-18 touch-up" in text
    assert card.history.object is not None and bytes(card.history.object)[:4] == b"\x89PNG"
    # saving the plan to a review is refused with a reason, and a wrong date is said, not raised
    card.open_visit_id(card.visits.options[next(k for k in card.visits.options if "review" in k)])
    card.save_plan_to_visit()
    assert "review records outcomes" in card.status.object
    card.date.value, card.kind.value = "18/05/2026", "initial"
    card.new_visit()
    assert "YYYY\\-MM\\-DD" in card.status.object or "YYYY-MM-DD" in card.status.object
    # the list and search of patients
    card.search.value = "1042"
    card.list_patients()
    assert list(card.patients.options.values()) == [card.view.patient.id]
