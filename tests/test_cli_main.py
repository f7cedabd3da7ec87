"""The console entry point of the ``expressivity`` command."""

import subprocess
import sys

import pytest
import typer

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


def test_entry_point_interrupt_inside_typer(monkeypatch, capsys):
    # Typer catches KeyboardInterrupt itself and exits silently with 130.
    interrupted_app = typer.Typer()

    @interrupted_app.command()
    def slow() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(main, "app", interrupted_app)
    monkeypatch.setattr(sys, "argv", ["expressivity"])
    with pytest.raises(SystemExit) as exit_info:
        main.entry_point()
    assert exit_info.value.code == 130
    assert "interrupted" in capsys.readouterr().err


def test_sweep_worker_exits_quietly_on_interrupt():
    code = (
        "import os, signal, time\n"
        "from expressivity.experiments.sweep import _exit_quietly_on_interrupt\n"
        "_exit_quietly_on_interrupt()\n"
        "os.kill(os.getpid(), signal.SIGINT)\n"
        "time.sleep(5)\n"
    )
    worker = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert worker.returncode == 130
    assert "Traceback" not in worker.stderr
