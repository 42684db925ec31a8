"""The expression stills kept on disk (reports/stills_cache.py): a second report or handout of the same plan
renders nothing, a changed plan or a damaged file renders again, the folder is the owner's only and keeps
its budget, and a cache that cannot be written changes nothing but the time."""

from __future__ import annotations

import io
import os
import stat
import time
from pathlib import Path

import pytest
from PIL import Image

from injectmap.planning.protocols import protocol_plan
from injectmap.reports import stills as stills_mod
from injectmap.reports.stills import expression_stills
from injectmap.reports.stills_cache import ENV, StillsCache

pytestmark = pytest.mark.slow

SMALL = (140, 160)


@pytest.fixture
def counted_render(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The real renderer, counting the pictures it draws."""
    drawn: list[int] = []
    real = stills_mod._render

    def render(model, displacements, *args, **kwargs):
        drawn.append(len(displacements))
        return real(model, displacements, *args, **kwargs)

    monkeypatch.setattr(stills_mod, "_render", render)
    return drawn


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "stills"
    monkeypatch.setenv(ENV, str(folder))
    return folder


def _png(shade: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (shade, shade, shade)).save(buf, format="PNG")
    return buf.getvalue()


def test_a_second_call_for_the_same_plan_renders_nothing(model, cache_dir: Path, counted_render: list[int]) -> None:
    plan = protocol_plan("glabella_five_point")
    first = expression_stills(model, plan, size=SMALL)
    assert counted_render == [3] and len(first) == 3
    files = sorted(cache_dir.glob("*.png"))
    assert len(files) == 3
    # owner-only: a plan is patient data
    assert stat.S_IMODE(cache_dir.stat().st_mode) == 0o700
    assert {stat.S_IMODE(f.stat().st_mode) for f in files} == {0o600}

    second = expression_stills(model, plan, size=SMALL)
    assert counted_render == [3]  # nothing drawn the second time
    assert [s.png for s in second] == [s.png for s in first]
    assert [(s.caption, s.day, s.strength) for s in second] == [(s.caption, s.day, s.strength) for s in first]
    assert Image.open(io.BytesIO(second[1].png)).size == SMALL

    # another plan (one dose changed) is drawn again: the key is the plan's content, not its name
    raw = protocol_plan("glabella_five_point")
    raw["points"][0]["units"] = float(raw["points"][0]["units"]) + 2.0
    expression_stills(model, raw, size=SMALL)
    assert len(counted_render) == 2 and counted_render[1] >= 1
    assert len(list(cache_dir.glob("*.png"))) == 3 + counted_render[1]

    # a damaged file is not used: only that picture is drawn again
    files[0].write_bytes(files[0].read_bytes()[:100])
    again = expression_stills(model, plan, size=SMALL)
    assert counted_render[2:] == [1]
    assert [s.png for s in again] == [s.png for s in first]


def test_the_cache_keeps_its_budget_deleting_the_least_recently_read(tmp_path: Path) -> None:
    pngs = [_png(i * 40) for i in range(4)]
    size = len(pngs[0])
    cache = StillsCache(tmp_path / "s", budget_bytes=size * 2.5)
    assert cache.put("a", pngs[0]) and cache.put("b", pngs[1])
    old = time.time() - 100
    os.utime(tmp_path / "s" / "a.png", (old, old))
    os.utime(tmp_path / "s" / "b.png", (old + 10, old + 10))
    assert cache.get("a") == pngs[0]  # read: now the most recent
    assert cache.put("c", pngs[2])
    assert sorted(p.stem for p in (tmp_path / "s").glob("*.png")) == ["a", "c"]
    assert cache.get("b") is None


def test_an_unwritable_cache_still_gives_the_stills(model, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(ENV, str(blocker / "stills"))
    calls: list[int] = []

    def fake_render(model, displacements, *args, **kwargs):
        calls.append(len(displacements))
        return [_png(10 * i) for i in range(len(displacements))]

    monkeypatch.setattr(stills_mod, "_render", fake_render)
    plan = protocol_plan("glabella_five_point")
    assert len(expression_stills(model, plan, size=SMALL)) == 3
    assert len(expression_stills(model, plan, size=SMALL)) == 3
    assert calls == [3, 3]  # nothing kept, nothing failed
