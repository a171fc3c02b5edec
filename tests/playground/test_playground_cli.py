"""`chainrule playground`: its options, the missing extra, a busy port, and a real start."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from chainrule.cli.main import main


@pytest.fixture
def served(monkeypatch):
    pytest.importorskip("starlette")
    pytest.importorskip("uvicorn")
    import chainrule.playground.server as server

    calls = []
    monkeypatch.setattr(server, "serve", lambda *args: calls.append(args))
    return calls


def test_defaults_are_local_with_a_browser(served, capsys):
    assert main(["playground"]) == 0
    assert served == [("127.0.0.1", 8000, True)]
    assert "warning" not in capsys.readouterr().err


def test_another_host_needs_the_flag_and_prints_a_warning(served, capsys):
    assert main(["playground", "--host", "0.0.0.0", "--port", "9000", "--no-browser"]) == 0
    assert served == [("0.0.0.0", 9000, False)]
    assert "warning: listening on 0.0.0.0: anyone who can reach" in capsys.readouterr().err


@pytest.mark.parametrize("port", ["-1", "70000"])
def test_a_bad_port_is_a_usage_error(port, capsys):
    assert main(["playground", "--port", port]) == 2
    assert "--port expected 0 to 65535" in capsys.readouterr().err


def test_without_the_extra_the_message_names_it(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # import uvicorn raises ImportError
    assert main(["playground", "--no-browser"]) == 2
    err = capsys.readouterr().err
    assert "needs the 'playground' extra" in err and "pip install 'chainrule[playground]'" in err
    assert "Traceback" not in err


def test_a_busy_port_is_a_one_line_error(capsys):
    pytest.importorskip("uvicorn")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["playground", "--port", str(port), "--no-browser"]) == 2
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


def test_the_command_serves_the_page():
    pytest.importorskip("uvicorn")
    pytest.importorskip("starlette")
    process = subprocess.Popen(
        [sys.executable, "-m", "chainrule", "playground", "--port", "0", "--no-browser"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("chainrule playground: http://127.0.0.1:")
        url = line.split()[2]
        for _ in range(50):
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    assert b"chainrule playground" in response.read()
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise AssertionError("the server did not answer")
    finally:
        process.terminate()
        process.wait(timeout=10)
