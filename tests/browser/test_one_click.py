"""One click places one point (issue 12): each press is numbered by the page and its pick is sent once,
and the server places one point however often the same pick reaches it (before, a pick message that
reached the server twice placed two points)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator

import pytest
from browser_support import SCENE_CSS, VIEWPORT, AppPage
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

WAIT_MS = 60_000


@pytest.fixture
def doubled_picks(browser, app_url: str) -> Iterator[tuple[AppPage, list[str]]]:
    """A page whose websocket goes through the test: every message goes on to the server, and each pick
    message goes twice (as a browser that sent it twice would). Yields the page and the list of the
    picks doubled."""
    doubled: list[str] = []

    def route(ws) -> None:
        server = ws.connect_to_server()
        message: list[str | bytes] = []  # the frames of the message being sent: header, metadata, content...

        def to_server(frame: str | bytes) -> None:
            server.send(frame)
            if isinstance(frame, str) and frame.startswith('{"msgid"'):
                message[:] = [frame]
                return
            message.append(frame)
            if (len(message) == 3 and isinstance(frame, str) and '"data_event"' in frame
                    and '["pick",' in frame):
                header = json.loads(str(message[0]))
                header["msgid"] = uuid.uuid4().hex.upper()
                for again in (json.dumps(header), *message[1:]):
                    server.send(again)
                doubled.append(frame)

        ws.on_message(to_server)
        server.on_message(ws.send)

    ctx = browser.new_context(viewport=VIEWPORT)
    page = ctx.new_page()
    page.route_web_socket(re.compile(r"/ws(\?|$)"), route)
    yield AppPage(page, app_url, timed=False).open(), doubled
    ctx.close()


def _points(app: AppPage):
    """The plan's points, one label each over the scene (a label that would overlap is hidden, not left out;
    the plan table draws only the rows in sight)."""
    return app.page.locator(".injectmap-label-point")


def test_a_pick_that_reaches_the_server_twice_places_one_point(doubled_picks) -> None:
    app, doubled = doubled_picks
    page = app.page
    page.get_by_role("button", name=re.compile("Place points")).click()
    scene = page.locator(SCENE_CSS).first
    expect(scene).to_have_css("cursor", "crosshair", timeout=WAIT_MS)
    box = app.ready_canvas()
    count = _points(app).count()
    assert count >= 5
    for n, x in enumerate((0.45, 0.55), start=1):  # the forehead, left then right of the midline
        app.click_canvas(box["width"] * x, box["height"] * 0.2)  # the canvas sent the pick
        expect(_points(app)).to_have_count(count + n, timeout=WAIT_MS)
        expect(scene).to_have_attribute("data-picks-sent", str(n), timeout=WAIT_MS)  # one pick per press
        assert len(doubled) == n  # the server got each of them twice
        page.wait_for_timeout(3000)  # a second point would come with the second copy
        assert _points(app).count() == count + n, _points(app).all_text_contents()
    assert '"press",1]' in doubled[0] and '"press",2]' in doubled[1]
    assert not app.errors
