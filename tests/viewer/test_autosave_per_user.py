"""Autosaves per logged-in user, and training never writes over the planning plan's autosave. Before, the
autosave folder was chosen from ``pn.state.user`` (Panel's own ``user`` cookie, which injectmap's login never
sets): every clinician shared one folder and was offered another's last plan."""

from __future__ import annotations

import json

import pytest
from tornado.web import create_signed_value

from injectmap.viewer import app as viewer_app
from injectmap.viewer import file_panel
from injectmap.viewer.auth import COOKIE, login_name


def test_login_name_reads_the_signed_cookie():
    secret = "s3cret-for-the-test"
    good = create_signed_value(secret, COOKIE, "alice").decode()
    assert login_name({COOKIE: good}, secret) == "alice"
    assert login_name({COOKIE: good}, "another-secret") is None  # forged: signed with another key
    forged = good[:-1] + ("0" if good[-1] != "0" else "1")  # the signature altered
    assert login_name({COOKIE: forged}, secret) is None
    assert login_name({"user": good}, secret) is None  # not the login's cookie
    assert login_name({}, secret) is None and login_name({COOKIE: good}, "") is None


@pytest.fixture
def as_user(monkeypatch, tmp_path):
    monkeypatch.setenv(viewer_app.AUTOSAVE_ENV, str(tmp_path))
    who: dict[str, str | None] = {"name": None}
    monkeypatch.setattr(file_panel, "login_name", lambda: who["name"])

    def open_as(name: str | None, model):
        who["name"] = name
        return viewer_app.create_app(model)

    return open_as


def _place(app, model) -> str:
    g = model.landmarks["brow_peak_left"]
    return app.app_state.place_at_skin(model.skin_point(g + [0, 4, 0])[0])


def test_one_clinician_never_restores_anothers_autosave(face_model, as_user, tmp_path):
    alice = as_user("alice", face_model)
    pid = _place(alice, face_model)
    bob = as_user("bob", face_model)
    assert alice.app_files.autosave_path.parent != bob.app_files.autosave_path.parent
    assert "alice" not in str(alice.app_files.autosave_path)  # the name is not on disk
    assert bob.app_files.restore_from is None and not bob.app_files.restore_offer.visible
    _place(bob, face_model)
    alice_again = as_user("alice", face_model)
    assert alice_again.app_files.restore_from == alice.app_files.autosave_path
    assert alice_again.app_files.restore_offer.visible
    alice_again.app_files.restore_last()
    assert pid in alice_again.app_state.point_ids()
    anonymous = as_user(None, face_model)  # the loopback without logins: the folder itself, none of theirs
    assert anonymous.app_files.autosave_path.parent == tmp_path and anonymous.app_files.restore_from is None


def test_training_does_not_autosave_over_the_planning_plan(face_model, as_user):
    app = as_user("carol", face_model)
    pid = _place(app, face_model)
    path = app.app_files.autosave_path
    planning = json.loads(path.read_text())
    assert pid in [p["id"] for p in planning["points"]]
    app.app_state.mode = "training"  # the exercise's plan replaces the plan on screen
    assert pid not in app.app_state.point_ids()
    _place(app, face_model)  # an edit of the exercise
    assert json.loads(path.read_text()) == planning
    app.app_state.mode = "depth planning"  # the planning plan is back, and saved again
    assert pid in app.app_state.point_ids()
    assert [p["id"] for p in json.loads(path.read_text())["points"]] == app.app_state.point_ids()
