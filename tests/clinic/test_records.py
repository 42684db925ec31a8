"""The records service (injectmap.clinic.records), each test on SQLite and on PostgreSQL (conftest.db_url):
patients, visits newest first, touch-up links, plans stored as plan files (round trip), outcomes, photos,
the audit written with every change and never naming the patient."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest
from records_examples import JPEG, PLAN, PNG

from injectmap.clinic.records import NotFoundError, Records, RecordsError
from injectmap.planning.plan import PlanError, dumps_plan, load_plan, loads_plan, parse_plan

D0 = dt.date(2026, 3, 2)
D14 = dt.date(2026, 3, 16)


def plan() -> object:
    return parse_plan(PLAN)


def test_patient_add_update_find_list(records: Records) -> None:
    p = records.add_patient("  MRN-1042 ", name="Jane Roe", date_of_birth=dt.date(1980, 5, 1), notes="allergic\nto eggs")
    assert p.identifier == "MRN-1042" and p.name == "Jane Roe" and p.created_by == "dr.lee"
    assert p.created_at.tzinfo is not None and abs((dt.datetime.now(dt.timezone.utc) - p.created_at).total_seconds()) < 60
    q = records.add_patient("MRN-7")
    assert q.name is None and q.date_of_birth is None and q.notes == ""
    assert records.find_patient("MRN-1042") == p == records.patient(p.id)
    with pytest.raises(RecordsError, match="already exists"):
        records.add_patient("MRN-1042")
    with pytest.raises(RecordsError, match="already exists"):
        records.update_patient(q.id, identifier="MRN-1042")
    u = records.update_patient(p.id, name="Jane Doe", notes="")
    assert (u.name, u.notes, u.identifier) == ("Jane Doe", "", "MRN-1042")
    assert [s.identifier for s in records.list_patients()] == ["MRN-1042", "MRN-7"]
    assert [s.identifier for s in records.list_patients("doe")] == ["MRN-1042"]
    assert [s.identifier for s in records.list_patients("mrn-7")] == ["MRN-7"]
    assert records.list_patients("%") == []  # a wildcard is a character to find, not a pattern
    with pytest.raises(NotFoundError):
        records.find_patient("MRN-9")
    with pytest.raises(NotFoundError):
        records.patient(99999)


@pytest.mark.parametrize("kwargs, message", [
    ({"identifier": ""}, "empty"),
    ({"identifier": "a\tb"}, "control character"),
    ({"identifier": "x" * 65}, "at most 64"),
    ({"identifier": "ok", "notes": "nul\x00"}, "control character"),
    ({"identifier": "ok", "name": "x" * 201}, "at most 200"),
    ({"identifier": "ok", "date_of_birth": dt.date.today() + dt.timedelta(days=1)}, "future"),
    ({"identifier": "ok", "date_of_birth": "1980-01-01"}, "must be a date"),
    ({"identifier": "ok", "date_of_birth": dt.date(1880, 1, 1)}, "a date of birth in 1880 is over 120 years ago"),
    ({"identifier": "\ud800"}, "not valid Unicode"),
])
def test_patient_fields_are_checked(records: Records, kwargs: dict, message: str) -> None:
    kwargs = dict(kwargs)
    ident = kwargs.pop("identifier")
    with pytest.raises(RecordsError, match=message):
        records.add_patient(ident, **kwargs)
    assert records.list_patients() == [] and records.audit() == []


def test_visits_newest_first_and_touch_up_link(records: Records) -> None:
    p = records.add_patient("P1")
    other = records.add_patient("P2")
    initial = records.add_visit(p.id, D0, "initial", consent=True, lot="C1", lot_expiry=dt.date(2027, 1, 1),
                                plan=plan(), notes="first")
    assert initial.product == "onabotulinumtoxinA" and initial.dilution_ml == 2.5 and initial.has_plan
    assert initial.clinician == "dr.lee" and initial.consent and initial.consent_at is not None
    review = records.add_visit(p.id, D14, "review")
    touch = records.add_visit(p.id, D14, "touch_up", completes_visit_id=initial.id, plan=plan())
    assert touch.completes_visit_id == initial.id
    with_plans = records.visits_with_plans(p.id)
    assert [(v.id, pl == plan() if pl else None) for v, pl in with_plans] == [(touch.id, True), (review.id, None),
                                                                             (initial.id, True)]
    assert [v.id for v in records.visits(p.id)] == [touch.id, review.id, initial.id]
    assert records.visits(other.id) == []
    summary = {s.identifier: s for s in records.list_patients()}
    assert (summary["P1"].visits, summary["P1"].last_visit) == (3, D14)
    assert (summary["P2"].visits, summary["P2"].last_visit) == (0, None)
    with pytest.raises(RecordsError, match="names the initial visit"):
        records.add_visit(p.id, D14, "touch_up")
    with pytest.raises(RecordsError, match="not a visit of this patient"):
        records.add_visit(other.id, D14, "touch_up", completes_visit_id=initial.id)
    with pytest.raises(RecordsError, match="completes an initial treatment"):
        records.add_visit(p.id, D14, "touch_up", completes_visit_id=review.id)
    with pytest.raises(RecordsError, match="cannot come before"):
        records.add_visit(p.id, D0 - dt.timedelta(days=1), "touch_up", completes_visit_id=initial.id)
    with pytest.raises(RecordsError, match="only a touch-up"):
        records.add_visit(p.id, D14, "review", completes_visit_id=initial.id)
    assert len(records.visits(p.id)) == 3


@pytest.mark.parametrize("kwargs, message", [
    ({"kind": "followup"}, "kind of a visit"),
    ({"product": "botox"}, "unknown product"),
    ({"product": "onabotulinumtoxinA", "dilution_ml": 0.0}, "dilution"),
    ({"product": "onabotulinumtoxinA", "dilution_ml": 50.0}, "dilution"),
    ({"dilution_ml": 2.5}, "needs the product"),
    ({"lot": "C1", "lot_expiry": dt.date(2026, 3, 1)}, "expired on 2026-03-01"),
    ({"consent": False, "consent_at": dt.datetime(2026, 3, 2, 9, 0)}, "needs consent"),
    ({"product": "abobotulinumtoxinA", "plan": "PLAN"}, "differs from the visit"),
])
def test_visit_fields_are_checked(records: Records, kwargs: dict, message: str) -> None:
    p = records.add_patient("P1")
    kwargs = dict(kwargs)
    kind = kwargs.pop("kind", "initial")
    if kwargs.get("plan") == "PLAN":
        kwargs["plan"] = plan()
    with pytest.raises(RecordsError, match=message):
        records.add_visit(p.id, D0, kind, **kwargs)
    assert records.visits(p.id) == []


def test_update_visit(records: Records) -> None:
    p = records.add_patient("P1")
    v = records.add_visit(p.id, D0, "initial", plan=plan())
    at = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    u = records.update_visit(v.id, consent=True, consent_at=at, lot="C77", lot_expiry=dt.date(2026, 12, 31),
                             notes="bruise at g1", dilution_ml=4.0)
    assert u.consent and u.consent_at == at and u.consent_at.tzinfo == dt.timezone.utc
    assert (u.lot, u.lot_expiry, u.notes, u.dilution_ml) == ("C77", dt.date(2026, 12, 31), "bruise at g1", 4.0)
    with pytest.raises(RecordsError, match="no field"):
        records.update_visit(v.id, clinician="someone")
    with pytest.raises(RecordsError, match="expired"):
        records.update_visit(v.id, lot_expiry=dt.date(2026, 1, 1))
    with pytest.raises(RecordsError, match="differs"):
        records.update_visit(v.id, product="abobotulinumtoxinA")
    assert records.visit(v.id) == u
    detail = [a.detail for a in records.audit(p.id) if a.action == "update"]
    assert detail == ["fields=notes,lot,lot_expiry,consent,consent_at,dilution_ml"]


def test_plan_import_export_round_trip(records: Records, tmp_path: Path) -> None:
    p = records.add_patient("P1")
    v = records.add_visit(p.id, D0, "initial")
    assert records.plan(v.id) is None and not v.has_plan
    src = tmp_path / "in.json"
    src.write_text(dumps_plan(parse_plan(PLAN)), encoding="utf-8")
    v = records.import_plan(v.id, src)
    assert v.has_plan and v.product == "onabotulinumtoxinA" and v.dilution_ml == 2.5
    out = records.export_plan(v.id, tmp_path / "out.json")
    assert out.read_bytes() == src.read_bytes()
    assert load_plan(out) == load_plan(src) == records.plan(v.id)
    assert out.stat().st_mode & 0o777 == 0o600
    # a hand-written file (other key order, spacing, no final newline) comes back byte for byte too
    hand = tmp_path / "hand.json"
    hand.write_text(json.dumps({"points": PLAN["points"], **{k: v for k, v in PLAN.items() if k != "points"}},
                               separators=(",", ":"), ensure_ascii=True), encoding="utf-8")
    v2 = records.add_visit(p.id, D14, "review", plan_file=hand)
    assert records.export_plan(v2.id, tmp_path / "hand-out.json").read_bytes() == hand.read_bytes()
    assert records.plan(v2.id) == records.plan(v.id)
    # set_plan from the app stores the plan file's JSON
    changed = dataclasses.replace(parse_plan(PLAN), patient=None)
    records.set_plan(v.id, changed)
    assert records.plan_text(v.id) == dumps_plan(changed) and records.plan(v.id) == changed


def test_a_bad_plan_file_is_refused_whole(records: Records, tmp_path: Path) -> None:
    p = records.add_patient("P1")
    v = records.add_visit(p.id, D0, "initial", plan=plan())
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**PLAN, "points": [{**PLAN["points"][0], "depth_mm": 55}]}), encoding="utf-8")
    with pytest.raises(PlanError, match="depth_mm"):
        records.import_plan(v.id, bad)
    with pytest.raises(PlanError):
        records.add_visit(p.id, D14, "review", plan_file=bad)
    assert records.plan(v.id) == plan() and len(records.visits(p.id)) == 1
    other = dict(PLAN, product={"name": "abobotulinumtoxinA", "units_per_vial": 300, "diluent_ml": 2.5})
    f = tmp_path / "abo.json"
    f.write_text(json.dumps(other), encoding="utf-8")
    with pytest.raises(RecordsError, match="differs"):
        records.import_plan(v.id, f)
    with pytest.raises(RecordsError, match="has no plan"):
        records.export_plan(records.add_visit(p.id, D14, "review").id, tmp_path / "none.json")


def test_outcomes(records: Records) -> None:
    p = records.add_patient("P1")
    initial = records.add_visit(p.id, D0, "initial", plan=plan())
    review = records.add_visit(p.id, D14, "review")
    o = records.record_outcome(review.id, "forehead", "left", 2, ["heavy brow", " "])
    assert (o.area, o.side, o.movement, o.side_effects, o.recorded_by) == ("forehead", "left", 2, ("heavy brow",),
                                                                           "dr.lee")
    records.record_outcome(review.id, "glabella", "midline", 0)
    again = records.record_outcome(review.id, "forehead", "left", 1)  # a correction replaces the row
    assert again.id == o.id and again.side_effects == ()
    assert [(x.area, x.side, x.movement) for x in records.outcomes(review.id)] == [("forehead", "left", 1),
                                                                                   ("glabella", "midline", 0)]
    for args, message in [(("nose", "left", 1), "unknown area"), (("forehead", "both", 1), "side is one of"),
                          (("forehead", "left", 4), "0 \\(none\\) to 3"), (("forehead", "left", True), "whole number"),
                          (("forehead", "left", 1, "ptosis"), "list of short phrases"),
                          (("forehead", "left", 1, ["x" * 81]), "at most 80"),
                          (("forehead", "left", 1, [f"e{i}" for i in range(21)]), "at most 20")]:
        with pytest.raises(RecordsError, match=message):
            records.record_outcome(review.id, *args)
    with pytest.raises(RecordsError, match="recorded at a review"):
        records.record_outcome(initial.id, "forehead", "left", 1)
    actions = [(a.action, a.table, a.detail) for a in records.audit(p.id) if a.table == "outcomes"]
    assert actions == [("create", "outcomes", "area=forehead side=left"),
                       ("create", "outcomes", "area=glabella side=midline"),
                       ("update", "outcomes", "area=forehead side=left")]


def test_photos(records: Records) -> None:
    p = records.add_patient("P1")
    v = records.add_visit(p.id, D0, "initial")
    a = records.add_photo(v.id, JPEG)
    b = records.add_photo(v.id, PNG)
    assert (a.media_type, b.media_type) == ("image/jpeg", "image/png")
    assert a.sha256 == hashlib.sha256(JPEG).hexdigest() and a.size_bytes == len(JPEG)
    assert records.photos(v.id) == [a, b] and records.photo_bytes(a) == JPEG
    assert a.path.parent == records.photos_dir and "P1" not in a.path.name
    assert a.path.stat().st_mode & 0o777 == 0o600 and records.photos_dir.stat().st_mode & 0o777 == 0o700
    with pytest.raises(RecordsError, match="image/jpeg or image/png"):
        records.add_photo(v.id, b"GIF89a....")
    with pytest.raises(NotFoundError):
        records.add_photo(99999, JPEG)
    assert sorted(f.name for f in records.photos_dir.iterdir()) == sorted([a.path.name, b.path.name])
    a.path.write_bytes(JPEG + b"x")
    with pytest.raises(RecordsError, match="SHA-256"):
        records.photo_bytes(a)


def test_every_change_is_audited_in_its_transaction(records: Records, monkeypatch: pytest.MonkeyPatch) -> None:
    p = records.add_patient("MRN-55", name="Jane Roe", notes="secret note")
    v = records.add_visit(p.id, D0, "initial", plan=plan())
    rows = records.audit()
    assert [(a.action, a.table, a.row_id, a.patient_id, a.actor) for a in rows] == [
        ("create", "patients", p.id, p.id, "dr.lee"), ("create", "visits", v.id, p.id, "dr.lee")]
    assert all(a.at.tzinfo is not None and abs((dt.datetime.now(dt.timezone.utc) - a.at).total_seconds()) < 60
               for a in rows)
    text = repr(rows)
    assert "Jane" not in text and "MRN-55" not in text and "secret" not in text

    def broken(*_a: object, **_k: object) -> None:
        raise RuntimeError("the audit could not be written")

    monkeypatch.setattr(Records, "_audit", broken)
    with pytest.raises(RuntimeError):
        records.add_patient("MRN-56")
    with pytest.raises(RuntimeError):
        records.update_patient(p.id, name="Changed")
    monkeypatch.undo()
    assert [s.identifier for s in records.list_patients()] == ["MRN-55"]
    assert records.patient(p.id).name == "Jane Roe" and len(records.audit()) == 2


def test_two_users_on_one_database(records: Records, db_url: str, tmp_path: Path) -> None:
    p = records.add_patient("P1")
    with Records.open(db_url, user="nurse.kim", photos_dir=records.photos_dir) as other:
        v = other.add_visit(p.id, D0, "initial")
        assert v.clinician == "nurse.kim"
    assert [a.actor for a in records.audit(p.id)] == ["dr.lee", "nurse.kim"]
    with pytest.raises(RecordsError, match="user name"):
        Records.open(db_url, user="bad name", photos_dir=tmp_path)


def test_plan_text_is_read_through_the_plan_validation(records: Records) -> None:
    p = records.add_patient("P1")
    v = records.add_visit(p.id, D0, "initial", plan=plan())
    assert loads_plan(records.plan_text(v.id) or "") == plan()


def test_a_patients_measured_interpupillary_distance(records: Records, tmp_path: Path) -> None:
    """Kept with the patient (it sets the size of their photo fits), checked as the photo fit checks it (the adult
    range: a monocular PD typed by mistake is refused), removed with None; the audit names the field, never the
    value; the export carries it."""
    import zipfile

    p = records.add_patient("MRN-IPD", ipd_mm=63.04)
    assert p.ipd_mm == 63.0 and records.patient(p.id).ipd_mm == 63.0
    assert records.add_patient("MRN-NONE").ipd_mm is None
    for bad in (31.5, 95.0, "wide"):
        with pytest.raises(RecordsError, match="interpupillary distance"):
            records.update_patient(p.id, ipd_mm=bad)
        with pytest.raises(RecordsError, match="interpupillary distance"):
            records.add_patient(f"MRN-{bad}", ipd_mm=bad)
    assert records.patient(p.id).ipd_mm == 63.0  # a refused value changes nothing
    assert records.update_patient(p.id, ipd_mm=61.5).ipd_mm == 61.5
    [update] = [a.detail for a in records.audit(p.id) if a.action == "update"]
    assert update == "fields=ipd_mm"
    records.export_patient(p.id, tmp_path / "r.zip")
    with zipfile.ZipFile(tmp_path / "r.zip") as z:
        assert json.loads(z.read("record.json"))["patient"]["ipd_mm"] == 61.5
    assert records.update_patient(p.id, ipd_mm=None).ipd_mm is None
    assert records.update_patient(p.id, ipd_mm="").ipd_mm is None  # an emptied field


def test_the_oldest_date_of_birth_taken(records: Records) -> None:
    """120 years back is taken (the oldest documented people lived longer); 121 is a typing slip."""
    today = dt.date.today()
    assert records.add_patient("OLD", date_of_birth=dt.date(today.year - 120, 1, 1)).date_of_birth.year == today.year - 120
    with pytest.raises(RecordsError, match="over 120 years ago"):
        records.add_patient("OLDER", date_of_birth=dt.date(today.year - 121, 12, 31))
