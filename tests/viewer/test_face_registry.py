"""The registry of loaded faces: one load per face at a time, a bound, and display meshes that go with the face."""

from __future__ import annotations

import dataclasses
import gc
import threading
import time
import weakref

import pytest

from injectmap.anatomy import model as model_mod
from injectmap.anatomy.model import FaceRegistry
from injectmap.anatomy.params import FaceParams
from injectmap.viewer.face_panel import load_face
from injectmap.viewer.scene import DISPLAY_KEY, display_meshes


def _copy(face_model):
    """A face of its own (same geometry, no derived data), as a load of another variant would give."""
    return dataclasses.replace(face_model, derived={})


def test_two_threads_asking_for_one_face_load_it_once(face_model) -> None:
    reg = FaceRegistry(max_faces=4)
    calls: list[str] = []
    started = threading.Barrier(2)

    def slow_load():
        calls.append(threading.current_thread().name)
        time.sleep(0.3)  # long enough for the other thread to ask meanwhile
        return _copy(face_model)

    got: dict[str, object] = {}

    def ask(name: str) -> None:
        started.wait()
        got[name] = reg.get((FaceParams(masseter=0.5), "t"), slow_load)

    threads = [threading.Thread(target=ask, args=(n,), name=n) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(calls) == 1 and reg.loads == 1
    assert got["a"] is got["b"] and got["a"] is not face_model


def test_different_faces_load_in_parallel(face_model) -> None:
    reg = FaceRegistry(max_faces=4)
    inside = threading.Semaphore(0)
    both = threading.Event()
    count = {"n": 0}
    lock = threading.Lock()

    def load():
        with lock:
            count["n"] += 1
            if count["n"] == 2:
                both.set()
        inside.release()
        assert both.wait(5), "the second face waited for the first one's load"
        return _copy(face_model)

    threads = [threading.Thread(target=reg.get, args=((FaceParams(sex=s), "t"), load)) for s in (0.0, 1.0)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert both.is_set() and reg.loads == 2


def test_a_fifth_face_lets_the_least_recently_used_go_with_its_display_meshes(face_model) -> None:
    reg = FaceRegistry(max_faces=4)
    keys = [(FaceParams(sex=s), "t") for s in (0.1, 0.2, 0.3, 0.4, 0.6)]
    first = reg.get(keys[0], lambda: _copy(face_model))
    meshes = display_meshes(first)
    assert first.derived[DISPLAY_KEY] is meshes  # kept with the face, not in a table of the scene
    face_ref, skin_ref = weakref.ref(first), weakref.ref(meshes["skin"])
    del first, meshes
    for k in keys[1:4]:
        display_meshes(reg.get(k, lambda: _copy(face_model)))
    assert reg.loaded() == keys[:4] and reg.loads == 4
    display_meshes(reg.get(keys[4], lambda: _copy(face_model)))  # a fifth face: the first one goes
    assert reg.loaded() == keys[1:] and reg.loads == 5
    gc.collect()
    assert keys[0] not in reg
    assert face_ref() is None and skin_ref() is None  # the face and its display meshes were freed


def test_a_face_asked_for_again_is_the_most_recently_used(face_model) -> None:
    reg = FaceRegistry(max_faces=4)
    keys = [(FaceParams(sex=s), "t") for s in (0.1, 0.2, 0.3, 0.4, 0.6)]
    for k in keys[:4]:
        reg.get(k, lambda: _copy(face_model))
    reg.get(keys[0], pytest.fail)  # found, not loaded again
    reg.get(keys[4], lambda: _copy(face_model))
    assert reg.loaded() == [keys[2], keys[3], keys[0], keys[4]]  # the second face went, not the first
    gc.collect()
    assert keys[1] not in reg  # nothing else held it: freed


def test_a_face_still_in_use_is_not_loaded_twice(face_model) -> None:
    reg = FaceRegistry(max_faces=1)
    held = reg.get((FaceParams(sex=0.1), "t"), lambda: _copy(face_model))
    reg.get((FaceParams(sex=0.2), "t"), lambda: _copy(face_model))  # held is let go by the registry...
    assert reg.loaded() == [(FaceParams(sex=0.2), "t")]
    assert reg.get((FaceParams(sex=0.1), "t"), pytest.fail) is held  # ...but found while a session holds it


def test_load_model_and_the_viewer_share_the_registry(face_model) -> None:
    assert model_mod.load_model() is face_model
    assert load_face(FaceParams()) is face_model
    assert (FaceParams(), "None") in model_mod.FACES
    assert DISPLAY_KEY in face_model.derived  # load_face prepared the display meshes on the face
