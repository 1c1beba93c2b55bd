"""Serving from the command line binds its port before it prints the address (issue 28, item 2):
a taken port is one error line naming it and --port, --port 0 a free port that answers."""

from __future__ import annotations

import re
import socket
import sys

import httpx
import pytest

from tests.conftest import started, write_project
from toontag.cli import main
from toontag.errors import ToontagError
from toontag.serve.local import listen


def run_cli(monkeypatch, capsys, *args) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["toontag", *map(str, args)])
    with pytest.raises(SystemExit) as exit_info:
        main()
    captured = capsys.readouterr()
    return exit_info.value.code or 0, captured.out, captured.err


@pytest.mark.parametrize("command", ["serve", "label serve"])
def test_a_taken_port_is_one_error_line_naming_it_and_the_option(
    command, served, tmp_path, monkeypatch, capsys
):
    bare = write_project(tmp_path / "project", "path,labels\n")
    args = ["--db", served] if command == "serve" else [bare]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, out, err = run_cli(monkeypatch, capsys, *command.split(), *args, "--port", port)
    assert code == 1 and "Traceback" not in err, err
    [line] = err.strip().splitlines()
    assert line.startswith("error:") and f"port {port} " in line and "--port" in line, line
    assert "http://" not in out  # no address for a server that is not there


def test_listen_names_the_port_and_port_0_is_a_free_one():
    with listen("127.0.0.1", 0) as first:
        port = first.getsockname()[1]
        assert port != 0
        with pytest.raises(ToontagError, match=f"port {port} on 127.0.0.1 is taken.*--port"):
            listen("127.0.0.1", port)


def test_serve_on_port_0_prints_the_address_it_serves(served):
    with started(["serve", "--db", served, "--port", "0"]) as server:
        line = server.wait_for("http://", timeout=300)
        port = int(re.search(r"http://127\.0\.0\.1:(\d+)/", line)[1])
        assert port != 0
        assert httpx.get(f"http://127.0.0.1:{port}/api/videos", timeout=30).status_code == 200
