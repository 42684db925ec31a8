"""A whole course of treatment in a real browser, through the Patient card: a new patient, the initial
visit from a protocol with its lot and notes, the chart and the handout downloaded (their text checked
with pdftotext), the two-week review with movement left on the left forehead, the touch-up proposed and
saved, and the history with both treatments. On SQLite and on a throwaway PostgreSQL cluster, at 1366x768;
each run serves the app on its own database (``$INJECTMAP_DATABASE_URL``). The SQLite run also checks the
layout at 1920x1080 at each point where it checks it at 1366x768 (the window resized there and back): the
course itself does not depend on the window's size, so it is not repeated at the second size. The PostgreSQL
run takes the same course through its records without downloading the two PDFs again or drawing the faint
previous visit: those print and draw what the records gave back, through the same code on either database.

Deleting a patient through the card (asked first; Cancel keeps the record) runs on SQLite at 1366x768 only, on a
served app of its own like each case here (its database is read to check the record is gone).

``INJECTMAP_DOC_SCREENSHOTS=1`` also writes docs/images/app-patient.png (the SQLite run at 1366x768).
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
from browser_support import (
    ROOT,
    AppPage,
    make_and_download,
    no_sideways_scroll,
    patient_status,
    patient_tab,
    pdf_text,
    start_server,
    stop_server,
    wait_for_port,
)
from pg_support import create_database, pg_cluster, require_pg_bin
from pg_support import url as pg_url
from PIL import Image

from injectmap.planning.protocols import get_protocol

pytestmark = pytest.mark.browser
PROTOCOL = "forehead_lines_with_glabella"
PATIENT, NAME = "MRN-1042", "Ana <b>Moreno</b>"
LOT, EXPIRY, NOTES = "C-7781", "2027-03-31", "Wants a natural brow."


@pytest.fixture(scope="module")
def pg_socket() -> Iterator[Path]:
    """A PostgreSQL cluster for this module (started only when the PostgreSQL case runs)."""
    with pg_cluster(require_pg_bin()) as base:
        yield base


class Served(NamedTuple):
    """The app served on a records database of its own."""

    url: str
    database: str  # the records' database URL
    folder: Path  # its photos, faces and autosave folders
    log: Path  # the server's output


@pytest.fixture
def served_app(request: pytest.FixtureRequest) -> Iterator[Served]:
    """The app on a fresh records database of the case's kind."""
    kind = request.node.callspec.params["database"]
    with tempfile.TemporaryDirectory(prefix="injectmap-course-") as d:
        if kind == "postgresql":
            socket = request.getfixturevalue("pg_socket")
            name = f"course_{os.getpid()}_{request.node.callspec.id.replace('-', '_')}"
            create_database(socket, name)
            url = pg_url(socket, name)
        else:
            url = f"sqlite:///{d}/records/records.sqlite3"
        proc, port, log = start_server({"INJECTMAP_DATABASE_URL": url, "INJECTMAP_PHOTOS_DIR": f"{d}/photos",
                                        "INJECTMAP_FACES_DIR": f"{d}/faces", "INJECTMAP_AUTOSAVE_DIR": f"{d}/autosave",
                                        "INJECTMAP_USERS_FILE": f"{d}/no-users.json"})
        try:
            wait_for_port(proc, port, log)
            yield Served(f"http://127.0.0.1:{port}/", url, Path(d), Path(log))
        finally:
            stop_server(proc)


@pytest.fixture
def served(served_app: Served) -> str:
    """The URL of the app on a fresh records database of the case's kind."""
    return served_app.url


def _fill(page, name: str, value: str) -> None:
    box = page.locator(f".pt-{name} input, .pt-{name} textarea").first
    box.fill(value)
    box.press("Tab")


def _choose(page, name: str, label: str) -> None:
    page.locator(f".pt-{name} select").first.select_option(label=label)


def _add_visit(page, kind: str, date: str) -> None:
    """Add a visit of ``kind`` on ``date`` (ISO) to the open patient with the form's other fields as they are."""
    _choose(page, "kind", kind)
    _fill(page, "date", date)
    page.get_by_role("button", name="Add visit", exact=True).click()
    patient_status(page, f"Added visit {date} {kind}")




def _tab(page, name: str) -> None:
    patient_tab(page, name)


def _fits(page, sizes: tuple[tuple[int, int], ...] = ()) -> None:
    """The page never scrolls sideways, and the side column that holds the Patient card scrolls on its
    own within the window (the card never makes the page longer); also at each of ``sizes`` (the window
    resized to it, then back to the size it had)."""
    own = page.viewport_size
    for size in (None, *sizes):
        if size is not None:
            page.set_viewport_size({"width": size[0], "height": size[1]})
            page.wait_for_timeout(500)  # the layout follows the window
        no_sideways_scroll(page)
        ih = page.evaluate("() => window.innerHeight")
        side = page.locator(".side-column").first.bounding_box()
        assert side is not None and side["y"] + side["height"] <= ih + 1, (size, side, ih)
    if sizes:
        page.set_viewport_size(own)
        page.wait_for_timeout(500)


def _scene_after(app: AppPage, action) -> np.ndarray:
    """The scene's picture once ``action`` has reached the canvas (its scene sequence moved on; after a
    quiet second when the action sends nothing)."""
    scene = app.page.locator(".scene .injectmap-scene").first
    before = scene.get_attribute("data-scene-seq")
    action()
    for _ in range(150):
        app.page.wait_for_timeout(200)
        if scene.get_attribute("data-scene-seq") != before:
            break
    app.page.wait_for_timeout(1000)  # the frame after the update
    return np.asarray(Image.open(io.BytesIO(app.canvas_png())).convert("RGB"), dtype=int)


def _changed(a: np.ndarray, b: np.ndarray) -> int:
    """Pixels that differ between two pictures of the scene."""
    return int((np.abs(a - b).sum(axis=2) > 30).sum()) if a.shape == b.shape else a.size


@pytest.mark.parametrize(("database", "viewport", "also"), [("sqlite", (1366, 768), ((1920, 1080),)),
                                                            ("postgresql", (1366, 768), ())],
                         ids=["sqlite-1366-and-1920", "postgresql-1366"])
def test_a_whole_course_of_treatment(browser, served: str, database: str, viewport: tuple[int, int],
                                     also: tuple[tuple[int, int], ...], tmp_path: Path) -> None:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext is not installed")
    ctx = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]}, accept_downloads=True)
    try:
        app = AppPage(ctx.new_page(), served, timed=False).open()
        page = app.page
        _fits(page, also)
        # a new patient (the name is user text: shown as text, never as markup)
        _fill(page, "identifier", PATIENT)
        _fill(page, "name", NAME)
        _fill(page, "birth", "1984-02-29")
        page.get_by_role("button", name="Add patient", exact=True).click()
        patient_status(page, f"Added {PATIENT}")
        current = page.locator(".patient-current")
        current.filter(has_text="Ana <b>Moreno</b>").wait_for(timeout=30_000)
        assert page.locator(".patient-current b").filter(has_text="Moreno").count() == 0
        # the initial visit from a protocol, with its lot, expiry, dilution and notes
        page.locator("select").filter(has_text=get_protocol("glabella_five_point").title).first.select_option(
            label=get_protocol(PROTOCOL).title)
        page.get_by_role("button", name="Start from protocol").click()
        app.plan_rows().filter(has_text="frontalis_upper_left").first.wait_for(timeout=60_000)
        _choose(page, "kind", "initial")
        _fill(page, "date", "2026-05-04")
        page.locator(".pt-consent input").first.check()
        _fill(page, "lot", LOT)
        _fill(page, "expiry", EXPIRY)
        _fill(page, "dilution", "2")
        _fill(page, "visit-notes", NOTES)
        page.get_by_role("button", name="Add visit", exact=True).click()
        patient_status(page, "Added visit 2026-05-04 initial")
        assert page.get_by_placeholder("the vial's lot").input_value() == LOT  # the Report card has the visit's
        assert page.get_by_placeholder("the vial's expiry").input_value() == EXPIRY
        if database == "sqlite":  # the documents print what the card holds, read back the same way from either
            chart = pdf_text(make_and_download(page, "Report", "Download report (PDF)", tmp_path))
            for text in (PATIENT, "Ana <b>Moreno</b>", LOT, EXPIRY, "2 mL saline per 100 U vial", "initial: 2026-05-04",
                         NOTES, "local"):
                assert text in chart, text
            handout = pdf_text(make_and_download(page, "Handout", "Download handout (PDF)", tmp_path))
            for text in (PATIENT, "Mon 4 May 2026", "Mon 18 May 2026"):
                assert text in handout, text
            assert LOT not in handout
        page.get_by_role("button", name="Save plan to visit", exact=True).click()  # the plan as it is now
        patient_status(page, "Saved the plan to visit 2026-05-04 initial")
        # the two-week review: movement left on the left forehead
        _add_visit(page, "review", "2026-05-18")
        _tab(page, "Review")
        _choose(page, "area", "forehead")
        _choose(page, "side", "left")
        _choose(page, "movement", "2 some")
        page.get_by_role("button", name="Record outcome", exact=True).click()
        patient_status(page, "1 outcome(s) recorded")
        # the touch-up proposed into the plan, with its reasons, the 3-month maximum and the balance
        page.get_by_role("button", name="Propose touch-up", exact=True).click()
        patient_status(page, "Proposed 2 point(s)")
        proposal = page.locator(".patient-proposal")
        for text in ("Touch-up proposed for 2026-05-18", "movement 2 of 3", "3-month maximum", "at most 400 U",
                     "forehead"):
            proposal.filter(has_text=text).first.wait_for(timeout=30_000)
        app.plan_rows().filter(has_text="frontalis_upper_left_tu").first.wait_for(timeout=60_000)
        assert app.plan_rows().filter(has_text="procerus").count() == 0  # only the proposal is in the plan
        # the initial visit's ten points show faintly under the two proposed ones, and the toggle hides them
        _tab(page, "Visits")
        if database == "sqlite":  # drawn from the visit the records gave back, as on PostgreSQL
            shown = _scene_after(app, lambda: None)
            hidden = _scene_after(app, lambda: page.locator(".pt-show-previous input").first.uncheck())
            again = _scene_after(app, lambda: page.locator(".pt-show-previous input").first.check())
            assert _changed(shown, hidden) > 30 and _changed(hidden, again) > 30
        _tab(page, "Review")
        _fits(page, also)
        if database == "sqlite" and viewport == (1366, 768) and os.environ.get("INJECTMAP_DOC_SCREENSHOTS") == "1":
            page.locator(".patient-card").scroll_into_view_if_needed()
            page.screenshot(path=str(ROOT / "docs" / "images" / "app-patient.png"))
        page.get_by_role("button", name="Save as touch-up visit", exact=True).click()
        patient_status(page, "Saved the touch-up as visit 2026-05-18 touch-up")
        # the history: both treatments (and the review between them)
        history = page.locator(".patient-history-text")
        for text in ("2026-05-04 initial: 40 U", "2026-05-18 review: no injection", "2026-05-18 touch-up: 2 U"):
            history.filter(has_text=text).first.wait_for(timeout=30_000)
        assert page.locator(".patient-history img").first.is_visible()
        options = page.locator(".pt-visits option").all_inner_texts()
        assert len(options) == 3 and any("touch-up" in o and "completes" in o for o in options), options
        # find the patient again and open the initial visit: its plan comes back into the app
        _tab(page, "Patient")
        _fill(page, "search", "1042")
        page.get_by_role("button", name="Find", exact=True).click()
        patient_status(page, "1 patient(s) found")
        page.get_by_role("button", name="Open patient", exact=True).click()
        patient_status(page, f"Opened {PATIENT}")
        initial = next(o for o in page.locator(".pt-visits option").all_inner_texts() if "initial" in o)
        _choose(page, "visits", initial)
        page.get_by_role("button", name="Open visit", exact=True).click()
        patient_status(page, "Opened visit 2026-05-04 initial")
        app.plan_rows().filter(has_text="procerus").first.wait_for(timeout=60_000)
        assert page.get_by_placeholder("the vial's lot").input_value() == LOT
        _fits(page, also)
        assert [e for e in app.errors if "favicon" not in e] == []
    finally:
        ctx.close()


def _patients_in(served: Served) -> list[str]:
    """The identifiers of the patients in the served app's records (read directly, not through the app)."""
    from injectmap.clinic.records import Records

    with Records.open(served.database, user="local", photos_dir=served.folder / "photos",
                      faces_dir=served.folder / "faces") as rec:
        return [p.identifier for p in rec.list_patients()]


@pytest.mark.parametrize("database", ["sqlite"])
def test_deleting_a_patient(browser, served_app: Served, database: str) -> None:
    """A patient with a visit (added by a double click: one visit) is deleted through the card: asked first, naming
    them as text (Cancel keeps the record), then gone from the list, the search and the database, and the card says
    what went; the other patient stays; the server's log never names them. At 1366x768 only (no layout of its own to check at
    other sizes beyond the confirmation fitting the card)."""
    gone, kept, name = "MRN-DEL-9", "MRN-KEEP-1", "Bo <i>Lind</i>"
    ctx = browser.new_context(viewport={"width": 1366, "height": 768})
    dialogs: list[str] = []
    try:
        app = AppPage(ctx.new_page(), served_app.url, timed=False).open()
        page = app.page
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        _fill(page, "identifier", kept)
        page.get_by_role("button", name="Add patient", exact=True).click()
        patient_status(page, f"Added {kept}")
        _tab(page, "Patient")
        _fill(page, "identifier", gone)
        _fill(page, "name", name)
        page.get_by_role("button", name="Add patient", exact=True).click()
        patient_status(page, f"Added {gone}")
        app.plan_rows().first.wait_for(state="detached", timeout=60_000)  # the first patient's plan is not theirs
        _choose(page, "kind", "initial")  # a double click adds one visit (the deletion below counts them)
        _fill(page, "date", "2026-05-04")
        page.get_by_role("button", name="Add visit", exact=True).dblclick()
        patient_status(page, "Added visit 2026-05-04 initial")
        _tab(page, "Patient")
        _fill(page, "search", "MRN")
        page.get_by_role("button", name="Find", exact=True).click()
        patient_status(page, "2 patient(s) found")
        # asked first, the patient named as text; Cancel keeps the record
        delete = page.get_by_role("button", name="Delete patient", exact=True)
        delete.click()
        confirm = page.locator(".pt-patient-confirm button").first
        confirm.wait_for(timeout=30_000)
        assert confirm.inner_text() == f"Yes, delete {gone} ({name}) and all visits, photos and faces"
        assert page.locator(".patient-delete-question").filter(has_text=f"Delete {gone} ({name}) for good").count()
        assert page.locator(".patient-delete i").count() == 0 and dialogs == []  # text, never markup
        _fits(page)  # the confirmation wraps within the card
        page.get_by_role("button", name="Cancel", exact=True).click()
        delete.wait_for(timeout=30_000)
        assert confirm.count() == 0 and sorted(_patients_in(served_app)) == [gone, kept]
        # deleted: gone from the list, the search and the database; the other patient stays
        delete.click()
        confirm.click()
        patient_status(page, f"Deleted {gone} ({name}): 1 visit(s), 0 outcome(s), 0 photo(s) and 0 face(s)")
        assert _patients_in(served_app) == [kept]
        options = page.locator(".pt-patients option").all_inner_texts()
        assert len(options) == 1 and options[0].startswith(kept), options
        delete.wait_for(timeout=30_000)
        assert page.locator(".pt-identifier input").first.input_value() == ""  # the form forgets them too
        assert page.locator(".pt-name input").first.input_value() == ""
        _tab(page, "Visits")
        page.locator(".patient-current").filter(has_text="No patient open.").first.wait_for(timeout=30_000)
        assert page.locator(".pt-visits option").count() == 0
        _tab(page, "Patient")
        _fill(page, "search", "DEL-9")
        page.get_by_role("button", name="Find", exact=True).click()
        patient_status(page, "0 patient(s) found")
        assert page.locator(".pt-patients option").count() == 0
        assert dialogs == [] and [e for e in app.errors if "favicon" not in e] == []
    finally:
        ctx.close()
    text = served_app.log.read_text(errors="replace")
    assert gone not in text and "Lind" not in text
