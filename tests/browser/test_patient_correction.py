"""Correcting the open patient's name and date of birth in a real browser at 1366x768 (SQLite): the Patient card's
correction is kept in the records (audited as the command line's ``records patients update``), the card's patient line
shows it as text (a name written like markup runs nothing), and the server's log names neither name."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_support import (
    AppPage,
    no_sideways_scroll,
    patient_status,
    patient_tab,
    start_server,
    stop_server,
    wait_for_port,
)

pytestmark = pytest.mark.browser
PATIENT = "MRN-FIX-31"
BEFORE = "Ana Lopes"
NAME = "Ana <b>Lopez</b>"


@pytest.fixture
def served() -> Iterator[tuple[str, Path, str]]:
    """The app on a fresh SQLite records database; yields its URL, the server's log and the database's URL."""
    with tempfile.TemporaryDirectory(prefix="injectmap-correction-") as d:
        url = f"sqlite:///{d}/records/records.sqlite3"
        proc, port, log = start_server({"INJECTMAP_DATABASE_URL": url, "INJECTMAP_PHOTOS_DIR": f"{d}/photos",
                                        "INJECTMAP_FACES_DIR": f"{d}/faces", "INJECTMAP_AUTOSAVE_DIR": f"{d}/autosave",
                                        "INJECTMAP_USERS_FILE": f"{d}/no-users.json"})
        try:
            wait_for_port(proc, port, log)
            yield f"http://127.0.0.1:{port}/", Path(log), url
        finally:
            stop_server(proc)


def _fill(page, name: str, value: str) -> None:
    box = page.locator(f".pt-{name} input").first
    box.fill(value)
    box.press("Tab")


def test_correcting_a_patients_name_in_the_card(browser, served: tuple[str, Path, str]) -> None:
    from injectmap.clinic.records import Records

    url, log, database = served
    ctx = browser.new_context(viewport={"width": 1366, "height": 768})
    dialogs: list[str] = []
    try:
        app = AppPage(ctx.new_page(), url, timed=False).open()
        page = app.page
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        _fill(page, "identifier", PATIENT)
        _fill(page, "name", BEFORE)
        _fill(page, "birth", "1980-05-01")
        page.get_by_role("button", name="Add patient", exact=True).click()
        patient_status(page, f"Added {PATIENT} ({BEFORE})")
        patient_tab(page, "Patient")  # the patient opened on Visits
        # the correction's fields hold the record's name and date of birth
        assert page.locator(".pt-fix-name input").first.input_value() == BEFORE
        assert page.locator(".pt-fix-birth input").first.input_value() == "1980-05-01"
        _fill(page, "fix-name", NAME)
        _fill(page, "fix-birth", "1980-06-01")
        correct = page.get_by_role("button", name="Correct name and date of birth", exact=True)
        correct.scroll_into_view_if_needed()
        correct.click()
        patient_status(page, f"Corrected the name and the date of birth of {PATIENT} ({NAME})")
        no_sideways_scroll(page)
        # the card's patient line shows the corrected name, as text
        patient_tab(page, "Visits")
        current = page.locator(".patient-current")
        current.filter(has_text=f"{PATIENT} ({NAME})").first.wait_for(timeout=30_000)
        said = page.locator(".patient-current p").first.inner_text()
        assert "born 1980-06-01" in said and BEFORE not in said, said
        assert page.locator(".patient-current b").filter(has_text="Lopez").count() == 0  # no markup made of it
        # the plan on screen names them as corrected (the Files card says so)
        page.get_by_text("The plan names the patient as corrected").first.wait_for(timeout=30_000)
        assert dialogs == [] and [e for e in app.errors if "favicon" not in e] == []
    finally:
        ctx.close()
    with Records.open(database, user="local") as rec:
        patient = rec.find_patient(PATIENT)
        audit = rec.audit(patient.id)
    assert patient.name == NAME and patient.date_of_birth.isoformat() == "1980-06-01"
    assert [(e.actor, e.action, e.table, e.detail) for e in audit][-1] == (
        "local", "update", "patients", "fields=name,date_of_birth")
    text = log.read_text(errors="replace")
    assert PATIENT not in text and "Lopez" not in text and "Lopes" not in text
