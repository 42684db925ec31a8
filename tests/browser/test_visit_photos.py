"""A visit's photos in a real browser at 1366x768 (SQLite): add two photos to a visit, see their
thumbnails (upright by their EXIF orientation) and names (a file named like markup shows as text, runs
nothing), delete one after the confirmation; the server's log names neither the patient nor a photo."""

from __future__ import annotations

import io
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_support import AppPage, patient_status, patient_tab, start_server, stop_server, wait_for_port
from PIL import Image

pytestmark = pytest.mark.browser
PATIENT = "MRN-PHOTO-77"
EVIL = "<img src=x onerror=alert(1)>.png"


def _jpeg_turned() -> bytes:
    """A landscape JPEG whose EXIF says the camera was turned (orientation 6): upright it is portrait."""
    buf = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", (320, 160), (190, 140, 120)).save(buf, format="JPEG", exif=exif.tobytes())
    return buf.getvalue()


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (160, 120), (60, 90, 160)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def served() -> Iterator[tuple[str, Path]]:
    """The app on a fresh SQLite records database; yields its URL and the server's log."""
    with tempfile.TemporaryDirectory(prefix="injectmap-photos-") as d:
        proc, port, log = start_server({"INJECTMAP_DATABASE_URL": f"sqlite:///{d}/records/records.sqlite3",
                                        "INJECTMAP_PHOTOS_DIR": f"{d}/photos", "INJECTMAP_FACES_DIR": f"{d}/faces",
                                        "INJECTMAP_AUTOSAVE_DIR": f"{d}/autosave",
                                        "INJECTMAP_USERS_FILE": f"{d}/no-users.json"})
        try:
            wait_for_port(proc, port, log)
            yield f"http://127.0.0.1:{port}/", Path(log)
        finally:
            stop_server(proc)




def _fits(page) -> None:
    sw, iw = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert sw <= iw + 1, (sw, iw)


def test_photos_of_a_visit(browser, served: tuple[str, Path]) -> None:
    url, log = served
    ctx = browser.new_context(viewport={"width": 1366, "height": 768})
    dialogs: list[str] = []
    try:
        app = AppPage(ctx.new_page(), url, timed=False).open()
        page = app.page
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        box = page.locator(".pt-identifier input").first
        box.fill(PATIENT)
        box.press("Tab")
        page.get_by_role("button", name="Add patient", exact=True).click()
        patient_status(page, f"Added {PATIENT}")
        page.locator(".pt-kind select").first.select_option(label="review")
        page.get_by_role("button", name="Add visit", exact=True).click()
        patient_status(page, "Added visit")
        patient_tab(page, "Photos")  # the review visit opened on its Review tab
        upload = page.locator(".pt-photo-upload input[type=file]").first
        upload.set_input_files({"name": "front.jpg", "mimeType": "image/jpeg", "buffer": _jpeg_turned()})
        patient_status(page, "Added the photo front.jpg")
        upload.set_input_files({"name": EVIL, "mimeType": "image/png", "buffer": _png()})
        patient_status(page, "Added the photo <img src=x")
        photos = page.locator(".patient-photo")
        assert photos.count() == 2
        thumbs = page.locator(".patient-photo img")
        thumbs.nth(1).wait_for(state="visible", timeout=30_000)
        natural = thumbs.nth(0).evaluate("e => [e.naturalWidth, e.naturalHeight]")
        assert natural == [48, 96], natural  # upright by its EXIF orientation: portrait
        names = page.locator(".patient-photo-name p").all_inner_texts()
        assert names[0].startswith("front.jpg,") and names[1].startswith(EVIL + ","), names
        assert page.locator("img[src='x']").count() == 0 and dialogs == []  # shown as text, ran nothing
        _fits(page)
        # the patient's measured interpupillary distance, typed in the Photos tab, is kept in the record...
        ipd = page.locator(".pt-ipd input").first
        ipd.fill("62.5")
        ipd.press("Tab")
        patient_status(page, "Saved: the measured interpupillary distance is 62.5 mm")
        # both ticked "Fit together" go to the Face card in one fit (neither shows a face: refused, both named)
        for k in range(2):
            photos.nth(k).locator(".pt-photo-pick input[type=checkbox]").first.check()
        together = page.get_by_role("button", name="Fit face from the 2 ticked photos", exact=True)
        together.wait_for(timeout=30_000)
        together.click()
        face_status = page.locator(".face-photo-status")
        face_status.filter(has_text="Photo refused").first.wait_for(timeout=120_000)
        said = " ".join(page.locator(".face-photo-status p").all_inner_texts())
        assert f"front.jpg, {EVIL}" in said and "no face was found" in said, said
        # ...and went with the photos: the Patient card says so, the Face card's field shows it
        patient_status(page, "its size from the patient's measured interpupillary distance (62.5 mm)")
        assert page.locator(".face-photo-ipd input").first.input_value() == "62.5"
        # delete the first: asked first, then gone (the Photos tab shown again: a tab switch the server sent while
        # the first click was on its way can come back when the card's rows are drawn again)
        patient_tab(page, "Photos")
        photos.nth(0).get_by_role("button", name="Delete", exact=True).click()
        confirm = page.get_by_role("button", name="Yes, delete", exact=True)
        confirm.wait_for(timeout=30_000)
        assert photos.count() == 2
        confirm.click()
        patient_status(page, "Deleted the photo front.jpg and its file")
        page.locator(".patient-photos-note").filter(has_text="1 photo(s)").first.wait_for(timeout=30_000)
        assert page.locator(".patient-photo-name p").all_inner_texts()[0].startswith(EVIL)
        # the visit's photo goes to the Face card's fit: this one has no face, and the card says so by its name
        photos.nth(0).locator(".pt-photo-fit button").first.click()
        status = face_status.filter(has_text="Photo refused").filter(has_not_text="front.jpg").first
        status.wait_for(timeout=120_000)
        said = " ".join(page.locator(".face-photo-status p").all_inner_texts())
        assert EVIL in said and "no face was found" in said, said
        assert page.locator("img[src='x']").count() == 0
        assert dialogs == [] and [e for e in app.errors if "favicon" not in e] == []
    finally:
        ctx.close()
    text = log.read_text(errors="replace")
    assert PATIENT not in text and "onerror" not in text and "front.jpg" not in text
