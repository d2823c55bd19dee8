from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from redfeed.errors import ConfigError, ExitCode
from redfeed.mirror import MirrorServer, main, parse_faults

REPO = Path(__file__).resolve().parents[2]

ROBOTS = b"User-agent: *\nDisallow: /private/\n"
BERLIN = [{"name": "JSConf", "url": "https://jsconf.com", "startDate": "2023-05-01"}]


def blob_sha(content: bytes) -> str:
    return hashlib.sha1(b"blob " + str(len(content)).encode() + b"\0" + content).hexdigest()


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A small tree laid out like tech-conferences/conference-data, plus a secret next to it."""
    (tmp_path / "secret.txt").write_text("top secret\n")
    root = tmp_path / "root"
    (root / "conferences" / "2023").mkdir(parents=True)
    (root / "conferences" / "2023" / "javascript.json").write_text(json.dumps(BERLIN))
    (root / "conferences" / "2023" / "css.json").write_text("[]")
    (root / "conferences" / "2023" / "extra").mkdir()
    (root / "conferences" / "2023" / "extra" / "notes.csv").write_text("a,b\n1,2\n")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("[core]\n")
    return root


@pytest.fixture
def web() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.trust_env = False  # never route the loopback mirror through a proxy
        yield session


@pytest.fixture
def mirror(source: Path) -> Iterator[MirrorServer]:
    with MirrorServer(source) as server:
        yield server


def raw_get(mirror: MirrorServer, target: str) -> tuple[int, bytes]:
    """GET a request target exactly as written; clients like requests normalise ``..`` away."""
    parts = urlsplit(mirror.url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        connection.request("GET", target)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


# --- files ------------------------------------------------------------------------------------


def test_file_is_served_with_its_bytes_type_and_etag(
    mirror: MirrorServer, source: Path, web: requests.Session
) -> None:
    content = (source / "conferences" / "2023" / "javascript.json").read_bytes()
    response = web.get(f"{mirror.url}/conferences/2023/javascript.json?ref=main", timeout=10)
    assert response.status_code == 200
    assert response.content == content
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Content-Length"] == str(len(content))
    assert response.headers["ETag"] == f'"{blob_sha(content)}"'
    assert response.json() == BERLIN


def test_matching_if_none_match_gets_304_without_body(
    mirror: MirrorServer, web: requests.Session
) -> None:
    url = f"{mirror.url}/conferences/2023/javascript.json"
    etag = web.get(url, timeout=10).headers["ETag"]
    unchanged = web.get(url, headers={"If-None-Match": etag}, timeout=10)
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    assert unchanged.headers["ETag"] == etag
    weak = web.get(url, headers={"If-None-Match": f'"other", W/{etag}'}, timeout=10)
    assert weak.status_code == 304
    stale = web.get(url, headers={"If-None-Match": '"0000"'}, timeout=10)
    assert stale.status_code == 200
    assert stale.json() == BERLIN


def test_csv_has_text_csv_type_and_head_sends_headers_only(
    mirror: MirrorServer, web: requests.Session
) -> None:
    url = f"{mirror.url}/conferences/2023/extra/notes.csv"
    assert web.get(url, timeout=10).headers["Content-Type"] == "text/csv"
    head = web.head(url, timeout=10)
    assert head.status_code == 200
    assert head.headers["Content-Length"] == str(len(b"a,b\n1,2\n"))
    assert head.content == b""


def test_keep_alive_connection_serves_several_requests(mirror: MirrorServer) -> None:
    parts = urlsplit(mirror.url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        bodies = []
        for name in ("css.json", "javascript.json", "css.json"):
            connection.request("GET", f"/conferences/2023/{name}")
            response = connection.getresponse()
            assert response.version == 11
            bodies.append(response.read())
        assert bodies == [b"[]", json.dumps(BERLIN).encode(), b"[]"]
    finally:
        connection.close()


def test_robots_txt_is_served_from_root_only_if_present(
    mirror: MirrorServer, source: Path, web: requests.Session
) -> None:
    assert web.get(f"{mirror.url}/robots.txt", timeout=10).status_code == 404
    (source / "robots.txt").write_bytes(ROBOTS)
    response = web.get(f"{mirror.url}/robots.txt", timeout=10)
    assert response.status_code == 200
    assert response.content == ROBOTS
    assert response.headers["Content-Type"].startswith("text/plain")


# --- listings ---------------------------------------------------------------------------------


def test_directory_listing_is_shaped_like_github_contents(
    mirror: MirrorServer, source: Path, web: requests.Session
) -> None:
    response = web.get(f"{mirror.url}/conferences/2023", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    listing = response.json()
    assert [entry["name"] for entry in listing] == ["css.json", "extra", "javascript.json"]
    css, extra, javascript = listing
    js_bytes = (source / "conferences" / "2023" / "javascript.json").read_bytes()
    assert javascript == {
        "name": "javascript.json",
        "path": "conferences/2023/javascript.json",
        "type": "file",
        "size": len(js_bytes),
        "sha": blob_sha(js_bytes),
        "url": f"{mirror.url}/conferences/2023/javascript.json",
        "download_url": f"{mirror.url}/conferences/2023/javascript.json",
    }
    assert css["sha"] == blob_sha(b"[]")
    assert extra["type"] == "dir"
    assert extra["path"] == "conferences/2023/extra"
    assert extra["sha"] is None
    assert extra["download_url"] is None
    assert extra["url"] == f"{mirror.url}/conferences/2023/extra"

    downloaded = web.get(javascript["download_url"], timeout=10)
    assert downloaded.content == js_bytes
    sub = web.get(extra["url"], timeout=10).json()
    assert [(e["path"], e["type"]) for e in sub] == [("conferences/2023/extra/notes.csv", "file")]


def test_listing_ignores_trailing_slash_and_query(
    mirror: MirrorServer, web: requests.Session
) -> None:
    plain = web.get(f"{mirror.url}/conferences/2023", timeout=10).json()
    assert web.get(f"{mirror.url}/conferences/2023/", timeout=10).json() == plain
    assert web.get(f"{mirror.url}/conferences/2023?ref=main", timeout=10).json() == plain


def test_root_listing_hides_git_and_refuses_to_serve_it(
    mirror: MirrorServer, web: requests.Session
) -> None:
    listing = web.get(f"{mirror.url}/", timeout=10).json()
    assert [(e["name"], e["path"], e["type"]) for e in listing] == [
        ("conferences", "conferences", "dir")
    ]
    assert web.get(f"{mirror.url}/.git/config", timeout=10).status_code == 404


def test_listing_urls_follow_the_host_header(mirror: MirrorServer, web: requests.Session) -> None:
    listing = web.get(
        f"{mirror.url}/conferences/2023", headers={"Host": "source-mirror:8000"}, timeout=10
    ).json()
    assert listing[0]["download_url"] == "http://source-mirror:8000/conferences/2023/css.json"


def test_listing_etag_supports_304(mirror: MirrorServer, web: requests.Session) -> None:
    url = f"{mirror.url}/conferences/2023"
    etag = web.get(url, timeout=10).headers["ETag"]
    assert web.get(url, headers={"If-None-Match": etag}, timeout=10).status_code == 304


def test_missing_year_is_404_json_like_github(mirror: MirrorServer, web: requests.Session) -> None:
    response = web.get(f"{mirror.url}/conferences/1999", timeout=10)
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == {"message": "Not Found"}
    # A file addressed as a directory does not exist either.
    assert web.get(f"{mirror.url}/conferences/2023/css.json/", timeout=10).status_code == 404


def test_confs_tech_2024_listing_is_fully_fetchable(
    confs_tech_dir: Path, web: requests.Session
) -> None:
    expected = sorted(p.name for p in (confs_tech_dir / "conferences" / "2024").glob("*.json"))
    assert expected, "fixture has no 2024 files"
    with MirrorServer(confs_tech_dir) as server:
        listing = web.get(f"{server.url}/conferences/2024", timeout=10).json()
        files = [entry for entry in listing if entry["type"] == "file"]
        assert [entry["name"] for entry in files if entry["name"].endswith(".json")] == expected
        for entry in files:
            response = web.get(entry["download_url"], timeout=10)
            assert response.status_code == 200, entry["path"]
            assert blob_sha(response.content) == entry["sha"]
            assert len(response.content) == entry["size"]
            if entry["name"].endswith(".json"):
                conferences = response.json()
                assert isinstance(conferences, list), entry["path"]
                assert all("name" in conference for conference in conferences), entry["path"]
        assert sum(server.requests.values()) == len(files) + 1


# --- containment ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "/../secret.txt",
        "/conferences/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/conferences/%2E%2E/%2E%2E/secret.txt",
        "/..%2fsecret.txt",
        "/../",
    ],
)
def test_traversal_never_leaves_the_root(mirror: MirrorServer, target: str) -> None:
    status, body = raw_get(mirror, target)
    assert status in (403, 404)
    assert b"top secret" not in body
    assert b"secret.txt" not in body


def test_symlinks_pointing_outside_the_root_are_not_followed(
    source: Path, web: requests.Session
) -> None:
    (source / "conferences" / "leak.txt").symlink_to(source.parent / "secret.txt")
    (source / "conferences" / "outside").symlink_to(source.parent)
    (source / "conferences" / "inside.json").symlink_to(
        source / "conferences" / "2023" / "css.json"
    )
    with MirrorServer(source) as server:
        for path in ("/conferences/leak.txt", "/conferences/outside/secret.txt"):
            response = web.get(f"{server.url}{path}", timeout=10)
            assert response.status_code == 404
            assert b"top secret" not in response.content
        names = [e["name"] for e in web.get(f"{server.url}/conferences", timeout=10).json()]
        assert names == ["2023", "inside.json"]
        assert web.get(f"{server.url}/conferences/inside.json", timeout=10).content == b"[]"


# --- faults -----------------------------------------------------------------------------------


def test_500_twice_then_the_real_file(source: Path, web: requests.Session) -> None:
    faults = [{"path": "/conferences/2023/*", "status": 500, "times": 2}]
    with MirrorServer(source, faults=faults) as server:
        url = f"{server.url}/conferences/2023/javascript.json"
        first, second, third = (web.get(url, timeout=10) for _ in range(3))
        assert (first.status_code, second.status_code, third.status_code) == (500, 500, 200)
        assert first.json()["message"] == "Internal Server Error"
        assert third.json() == BERLIN
        # The listing itself does not match the glob, and is counted separately.
        assert web.get(f"{server.url}/conferences/2023", timeout=10).status_code == 200
        assert server.requests == {
            "/conferences/2023/javascript.json": 3,
            "/conferences/2023": 1,
        }


def test_429_carries_retry_after(source: Path, web: requests.Session) -> None:
    faults = [{"path": "/conferences/*", "status": 429, "retry_after": 7, "times": 1}]
    with MirrorServer(source, faults=faults) as server:
        throttled = web.get(f"{server.url}/conferences/2023", timeout=10)
        assert throttled.status_code == 429
        assert throttled.headers["Retry-After"] == "7"
        after = web.get(f"{server.url}/conferences/2023", timeout=10)
        assert after.status_code == 200
        assert "Retry-After" not in after.headers


def test_truncate_sends_full_length_but_cuts_the_body(source: Path) -> None:
    content = (source / "conferences" / "2023" / "javascript.json").read_bytes()
    faults = [{"path": "/conferences/2023/javascript.json", "truncate": 10, "times": 1}]
    with MirrorServer(source, faults=faults) as server:
        parts = urlsplit(server.url)
        connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
        try:
            connection.request("GET", "/conferences/2023/javascript.json")
            response = connection.getresponse()
            assert response.status == 200
            assert response.getheader("Content-Length") == str(len(content))
            with pytest.raises(http.client.IncompleteRead) as cut:
                response.read()
            assert cut.value.partial == content[:10]
        finally:
            connection.close()
        with requests.Session() as session:
            session.trust_env = False
            # The rule is used up: the same file now arrives whole.
            assert session.get(f"{server.url}/conferences/2023/javascript.json").content == content


def test_truncate_is_a_connection_error_for_requests(source: Path, web: requests.Session) -> None:
    faults = [{"path": "/conferences/2023/javascript.json", "truncate": 3}]
    with (
        MirrorServer(source, faults=faults) as server,
        pytest.raises(requests.exceptions.RequestException),
    ):
        web.get(f"{server.url}/conferences/2023/javascript.json", timeout=10)


def test_delay_ms_only_slows_matching_paths(source: Path, web: requests.Session) -> None:
    faults = [{"path": "/conferences/2023/css.json", "delay_ms": 500}]
    with MirrorServer(source, faults=faults) as server:
        started = time.monotonic()
        slow = web.get(f"{server.url}/conferences/2023/css.json", timeout=10)
        slow_s = time.monotonic() - started
        started = time.monotonic()
        web.get(f"{server.url}/conferences/2023/javascript.json", timeout=10)
        fast_s = time.monotonic() - started
    assert slow.status_code == 200
    assert slow.content == b"[]"
    assert slow_s >= 0.5
    assert fast_s < 0.5


def test_latency_applies_to_every_request(source: Path, web: requests.Session) -> None:
    with MirrorServer(source, latency_ms=200) as server:
        started = time.monotonic()
        assert web.get(f"{server.url}/nothing-here", timeout=10).status_code == 404
        assert time.monotonic() - started >= 0.2


def test_body_override_replaces_the_answer(source: Path, web: requests.Session) -> None:
    faults = [
        {"path": "/conferences/2023/css.json", "body": "not json at all"},
        {"path": "/conferences/2023/javascript.json", "status": 502, "body": '{"oops": 1}'},
    ]
    with MirrorServer(source, faults=faults) as server:
        text = web.get(f"{server.url}/conferences/2023/css.json", timeout=10)
        assert text.status_code == 200
        assert text.text == "not json at all"
        assert text.headers["Content-Type"].startswith("text/plain")
        assert "ETag" not in text.headers
        bad = web.get(f"{server.url}/conferences/2023/javascript.json", timeout=10)
        assert bad.status_code == 502
        assert bad.json() == {"oops": 1}


def test_first_matching_rule_with_times_left_wins(source: Path, web: requests.Session) -> None:
    faults = [
        {"path": "/conferences/2023/css.json", "status": 503, "times": 1},
        {"path": "/conferences/*", "status": 500, "times": 2},
    ]
    with MirrorServer(source, faults=faults) as server:
        url = f"{server.url}/conferences/2023/css.json"
        assert [web.get(url, timeout=10).status_code for _ in range(4)] == [503, 500, 500, 200]


def test_set_faults_replaces_rules_while_running(
    mirror: MirrorServer, web: requests.Session
) -> None:
    url = f"{mirror.url}/conferences/2023/css.json"
    assert web.get(url, timeout=10).status_code == 200
    mirror.set_faults([{"path": "/conferences/**", "status": 503}])
    assert web.get(url, timeout=10).status_code == 503
    mirror.set_faults([])
    assert web.get(url, timeout=10).status_code == 200
    assert mirror.requests["/conferences/2023/css.json"] == 3


# --- configuration ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[{path: 1}]", r"REDFEED_MIRROR_FAULTS is not valid JSON .*expected a list of rules"),
        ('{"path": "/x", "status": 500}', r"must be a JSON list of rules.*got dict"),
        ('["/x"]', r"REDFEED_MIRROR_FAULTS\[0\] must be an object.*got str"),
        ('[{"path": "/x", "stauts": 500}]', r"\[0\] has unknown key\(s\) stauts; known keys: path"),
        ('[{"status": 500}]', r"\[0\] needs \"path\".*got None"),
        ('[{"path": "x", "status": 500}]', r"\[0\] needs \"path\": a glob.*starting with"),
        (
            '[{"path": "/x", "status": 600}]',
            r"\[0\]\.status must be an integer 200\.\.599, got 600",
        ),
        ('[{"path": "/x", "status": "500"}]', r"\[0\]\.status must be an integer"),
        ('[{"path": "/x", "status": 500, "times": true}]', r"\[0\]\.times must be an integer"),
        ('[{"path": "/x", "delay_ms": -5}]', r"\[0\]\.delay_ms must be an integer >= 0, got -5"),
        ('[{"path": "/x", "body": 5}]', r"\[0\]\.body must be a string"),
        ('[{"path": "/x"}, {"path": "/y"}]', r"\[0\] does nothing"),
    ],
)
def test_fault_parsing_errors_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_faults(text)


def test_fault_parsing_accepts_rules() -> None:
    rules = parse_faults(
        '[{"path": "/a/*", "status": 500, "times": 2}, {"path": "/b", "truncate": 0}]'
    )
    assert [(r.path, r.status, r.times, r.truncate) for r in rules] == [
        ("/a/*", 500, 2, None),
        ("/b", None, None, 0),
    ]
    assert parse_faults("") == ()
    assert parse_faults(None) == ()


def test_mirror_server_rejects_bad_rules_before_starting(source: Path) -> None:
    with pytest.raises(ConfigError, match=r"faults\[0\]\.times"):
        MirrorServer(source, faults=[{"path": "/x", "status": 500, "times": -1}])


def test_main_reports_bad_faults_env_as_config_error(
    source: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("REDFEED_MIRROR_FAULTS", "[{oops")
    with caplog.at_level(logging.ERROR, logger="redfeed.mirror"):
        code = main(["--root", str(source), "--port", "0", "--host", "127.0.0.1"])
    assert code == ExitCode.CONFIG
    assert "REDFEED_MIRROR_FAULTS is not valid JSON" in caplog.text


def test_main_reports_missing_root_as_config_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="redfeed.mirror"):
        code = main(["--root", str(tmp_path / "absent"), "--port", "0"])
    assert code == ExitCode.CONFIG
    assert "is not a directory" in caplog.text


def test_main_serves_logs_requests_and_exits_0_on_sigterm(source: Path) -> None:
    env = {
        **os.environ,
        "REDFEED_MIRROR_ROOT": str(source),
        "REDFEED_MIRROR_PORT": "0",
        "REDFEED_MIRROR_FAULTS": '[{"path": "/conferences/2023/css.json", "status": 503}]',
        "PYTHONPATH": str(REPO / "src"),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "redfeed.mirror", "--host", "127.0.0.1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        match = re.search(r"serving .* at (http://127\.0\.0\.1:\d+) \(1 fault rule", line)
        assert match, line
        base = match.group(1)
        with requests.Session() as session:
            session.trust_env = False
            assert session.get(f"{base}/conferences/2023/css.json", timeout=10).status_code == 503
            listing = session.get(f"{base}/conferences/2023", timeout=10).json()
            assert [e["name"] for e in listing] == ["css.json", "extra", "javascript.json"]
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0
    assert stdout == ""
    assert '"GET /conferences/2023/css.json HTTP/1.1" 503' in stderr
    assert "fault=/conferences/2023/css.json[status=503]" in stderr
    assert "received SIGTERM" in stderr
