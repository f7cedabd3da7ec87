"""The console entry point of the ``expressivity`` command."""

import pytest

from expressivity.cli import main


def test_entry_point_interrupt_exits_130(monkeypatch, capsys):
    def interrupted() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(main, "app", interrupted)
    with pytest.raises(SystemExit) as exit_info:
        main.entry_point()
    assert exit_info.value.code == 130
    captured = capsys.readouterr()
    assert "interrupted" in captured.err
    assert "Traceback" not in captured.err


def test_entry_point_runs_the_app(monkeypatch):
    calls = []
    monkeypatch.setattr(main, "app", lambda: calls.append("ran"))
    main.entry_point()
    assert calls == ["ran"]
