"""The face basis is read once per process, also when two fits ask for it at the same moment."""

from __future__ import annotations

import threading
import time

import injectmap.anatomy.fit.basis as basis_mod


def test_two_fits_starting_together_read_the_targets_once(monkeypatch) -> None:
    reads = []

    def slow_read():
        reads.append(threading.get_ident())
        time.sleep(0.2)  # the real read takes seconds: long enough for the second fit to arrive
        return object()

    monkeypatch.setattr(basis_mod, "_BASIS", [])
    monkeypatch.setattr(basis_mod, "_read_face_basis", slow_read)
    start = threading.Barrier(2)
    got = []

    def fit():
        start.wait()
        got.append(basis_mod.face_basis())

    threads = [threading.Thread(target=fit) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(reads) == 1
    assert len(got) == 2 and got[0] is got[1]
    assert basis_mod.face_basis() is got[0] and len(reads) == 1  # later calls take the one read
