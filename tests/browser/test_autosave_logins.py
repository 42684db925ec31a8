"""With logins, each clinician's autosaves are their own: in the served app, behind the login, one user's
page never offers another's last plan, and the same user's next page does. (Before, the folder came from
Panel's own ``user`` cookie, which the login never sets: every user shared one folder.)"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_support import open_as, start_server, stop_server, wait_for_port

from injectmap.viewer.auth import add_user
from injectmap.viewer.session import user_autosave_dir

pytestmark = pytest.mark.browser
PASSWORD = "a long autosave password"
WAIT_MS = 60_000


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, Path]]:
    with tempfile.TemporaryDirectory(prefix="injectmap-autosave-login-") as d:
        users = Path(d) / "users.json"
        for name in ("ana", "bo"):
            add_user(users, name, PASSWORD)
        autosaves = Path(d) / "autosave"
        proc, port, log = start_server({"INJECTMAP_USERS_FILE": str(users), "INJECTMAP_AUTOSAVE_DIR": str(autosaves)})
        wait_for_port(proc, port, log)
        yield f"http://127.0.0.1:{port}/", autosaves
        stop_server(proc)




def test_one_clinician_is_never_offered_anothers_autosave(browser, served) -> None:
    url, autosaves = served
    ctx, ana = open_as(browser, url, "ana", PASSWORD)
    try:
        ana.page.get_by_role("button", name="New plan", exact=True).click()
        ana.plan_rows().first.wait_for(state="detached", timeout=WAIT_MS)
        ana.page.get_by_role("button", name="Place at landmark", exact=True).click()
        ana.plan_rows().first.wait_for(timeout=WAIT_MS)
        folder = user_autosave_dir(autosaves, "ana")
        for _ in range(100):  # the autosave follows the edit
            saved = list(folder.glob("*.json"))
            if saved and len(json.loads(saved[0].read_text())["points"]) == 1:
                break
            ana.page.wait_for_timeout(200)
        assert len(saved) == 1 and not list(autosaves.glob("*.json"))  # in ana's folder, not the shared one
    finally:
        ctx.close()
    ctx, bo = open_as(browser, url, "bo", PASSWORD)
    try:
        bo.page.wait_for_timeout(1000)
        assert not bo.page.get_by_role("button", name="Restore last autosave").is_visible()
    finally:
        ctx.close()
    ctx, ana = open_as(browser, url, "ana", PASSWORD)
    try:
        ana.page.get_by_role("button", name="Restore last autosave").wait_for(timeout=WAIT_MS)
        ana.page.get_by_text(re.compile(r"Your last autosaved plan \(.*, 1 point\)")).wait_for(timeout=WAIT_MS)
        assert not ana.errors
    finally:
        ctx.close()
