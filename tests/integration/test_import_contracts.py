"""The import contracts of pyproject.toml's [tool.importlinter] hold (the layers anatomy < planning <
teaching < reports < viewer < cli, and no GUI or plotting library below reports), in the fast lane too."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_are_kept(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    lint = pytest.importorskip("importlinter.cli", reason="import-linter is a dev dependency")
    monkeypatch.chdir(ROOT)
    monkeypatch.syspath_prepend(str(ROOT))  # grimp finds injectmap on sys.path: this checkout's
    code = lint.lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "BROKEN" not in out and out.count("KEPT") >= 4, out
