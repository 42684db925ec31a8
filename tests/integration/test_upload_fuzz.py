"""A corpus of hostile files through the app's upload path (FilePanel, no browser): each is refused with
a message or opened, never raises, and a refused file leaves the session's plan as it was."""

from __future__ import annotations

import json
import random

from injectmap.viewer import app as viewer_app
from injectmap.viewer.file_panel import FilePanel

PRODUCT = {"name": "onabotulinumtoxinA", "units_per_vial": 100, "diluent_ml": 2.5}
GOOD = {"format": "injectmap-plan", "version": 1, "product": PRODUCT,
        "points": [{"id": "g1", "units": 4, "target": "procerus", "at": {"landmark": "glabella"}, "depth_mm": 3}]}
TEXT = json.dumps(GOOD)


def _corpus() -> list[bytes]:
    fixed = [
        b"", b"{", b"[]", b"null", b"\xff\xfe\x00", "\ufeff".encode() + TEXT.encode(),
        TEXT.replace('"units": 4', '"units": 4, "units": 400').encode(),  # a key given twice
        TEXT.replace('"g1"', '"\\ud800"').encode(),  # a lone surrogate
        TEXT.replace('"depth_mm": 3', '"depth_mm": NaN').encode(),
        TEXT.replace('"depth_mm": 3', '"depth_mm": 1e999').encode(),
        TEXT.replace('"depth_mm": 3', '"depth_mm": ' + "9" * 5000).encode(),
        ("[" * 10000 + "]" * 10000).encode(),
        TEXT.replace('"depth_mm": 3', '"tip_mm": [0, 9, -391]').encode(),  # a needle through the head
        TEXT.replace('"depth_mm": 3', '"depth_mm": 10, "direction": [0, 0, 1]').encode(),  # pointing outward
        TEXT.replace('"version": 1', '"version": 1, "model": {"shape": {"jaw-width": 0.3}}').encode(),
        TEXT.replace('"g1"', json.dumps('<script>alert(1)</script>')).encode(),
        json.dumps({**GOOD, "points": GOOD["points"] * 2}).encode(),  # a duplicate id
    ]
    rng = random.Random(20261202)
    mutated = []
    for _ in range(30):  # random cuts, byte flips and insertions of the valid text
        b = bytearray(TEXT.encode())
        kind = rng.randrange(3)
        i = rng.randrange(len(b))
        if kind == 0:
            b = b[:i]
        elif kind == 1:
            b[i] = rng.randrange(256)
        else:
            b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        mutated.append(bytes(b))
    return fixed + mutated


def test_hostile_uploads_never_raise_and_keep_the_plan(face_model, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(viewer_app.AUTOSAVE_ENV, str(tmp_path))
    app = viewer_app.create_app(face_model)
    state = app.app_state
    files = FilePanel(state, app.app_scene, "fuzz-session")
    opened = refused = 0
    for i, data in enumerate(_corpus()):
        before = state.plan_dict()
        state.message = ""
        files.upload.filename = f"case{i}.json"
        files.upload.value = data
        msg = state.message
        if not data:  # an empty upload is no upload: nothing happens
            assert msg == "" and state.plan_dict() == before
            continue
        if msg.startswith("Not opened"):
            refused += 1
            assert state.plan_dict() == before, (i, data[:80])
        else:
            assert msg.startswith("Opened"), (i, msg, data[:80])
            opened += 1
        files.upload.value = b""  # the next case is a new upload even when its bytes repeat
    assert refused >= 15 and opened >= 1
