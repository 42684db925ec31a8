"""The server's upload limits agree with each other: whatever the Face card allows arrives (and so gets a message,
or its fit) rather than ending the connection, as a file over Bokeh's websocket limit does (docs/deploying.md)."""

from __future__ import annotations

from injectmap.anatomy.fit.photo import MAX_PHOTOS
from injectmap.viewer.limits import int_limit

#: a file travels base64-encoded in the websocket message (4 bytes for 3), with its name and type beside it
BASE64 = 4 / 3
OVERHEAD_BYTES = 64_000


def test_a_front_photo_and_two_obliques_at_the_limit_arrive_in_one_message(monkeypatch) -> None:
    for name in ("INJECTMAP_MAX_PHOTO_BYTES", "INJECTMAP_MAX_SCAN_BYTES", "INJECTMAP_MAX_UPLOAD_BYTES"):
        monkeypatch.delenv(name, raising=False)
    message = int_limit("websocket_max_message_bytes")
    assert MAX_PHOTOS * int_limit("max_photo_bytes") * BASE64 + OVERHEAD_BYTES < message
    assert int_limit("max_scan_bytes") * BASE64 + OVERHEAD_BYTES < message
    assert int_limit("max_upload_bytes") * BASE64 + OVERHEAD_BYTES < message
