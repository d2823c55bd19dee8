"""The mirror's ``reset`` fault: no answer, a TCP RST, so the fault suite can show what a scraper
does when a source (or a middlebox) resets connections."""

from __future__ import annotations

import socket
import urllib.request
from pathlib import Path

import pytest

from redfeed.errors import ConfigError
from redfeed.mirror import MirrorServer, parse_faults


def test_a_reset_rule_is_parsed_and_described() -> None:
    [rule] = parse_faults('[{"path": "/a/*", "reset": true, "times": 1}]')
    assert rule.reset is True
    assert rule.describe() == "/a/*[reset]"
    with pytest.raises(ConfigError, match="reset must be true or false"):
        parse_faults('[{"path": "/a", "reset": "yes"}]')
    with pytest.raises(ConfigError, match="does nothing"):
        parse_faults('[{"path": "/a", "reset": false}]')


def read_until_closed(client: socket.socket) -> None:
    """An orderly close (FIN) ends this loop; a reset (RST) raises."""
    while client.recv(65536):
        pass


def test_a_reset_rule_resets_the_connection_then_the_real_answer_follows(tmp_path: Path) -> None:
    (tmp_path / "data.json").write_text("[1, 2]")
    with MirrorServer(tmp_path, faults=[{"path": "/data.json", "reset": True, "times": 1}]) as m:
        host, port = m.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=5) as client:
            client.sendall(b"GET /data.json HTTP/1.1\r\nHost: mirror\r\n\r\n")
            with pytest.raises(ConnectionResetError):
                read_until_closed(client)
        with urllib.request.urlopen(f"{m.url}/data.json", timeout=5) as answer:
            assert answer.read() == b"[1, 2]"
        assert m.requests["/data.json"] == 2
