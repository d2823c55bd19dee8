"""The mirror's REST-style answers: ``<path>.json`` answers ``<path>/``, arrays paginated the way
pretalx (Django REST framework) paginates them, everything else as before."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from redfeed.errors import ConfigError
from redfeed.mirror import DEFAULT_PAGE_SIZE, MirrorServer, read_options

TALKS = [{"code": f"T{n:04d}", "title": f"Talk {n}"} for n in range(5)]
EVENT = {"slug": "demo", "name": {"en": "Demo"}}


@pytest.fixture
def source(tmp_path: Path) -> Path:
    events = tmp_path / "api" / "events"
    (events / "demo").mkdir(parents=True)
    (events / "demo.json").write_text(json.dumps(EVENT))
    (events / "demo" / "talks.json").write_text(json.dumps(TALKS))
    (events / "demo" / "speakers.json").write_text("[]")
    (events / "demo" / "broken.json").write_text('[{"code": ')
    return tmp_path


@pytest.fixture
def web() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.trust_env = False
        yield session


@pytest.fixture
def mirror(source: Path) -> Iterator[MirrorServer]:
    with MirrorServer(source, page_size=2) as server:
        yield server


def get(web: requests.Session, url: str, status: int = 200) -> Any:
    response = web.get(url, timeout=10)
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    return response.json()


def test_an_array_is_served_page_by_page_following_next(
    mirror: MirrorServer, web: requests.Session
) -> None:
    url = f"{mirror.url}/api/events/demo/talks/"
    pages = []
    while url:
        page = get(web, url)
        pages.append(page)
        url = page["next"]
    assert [len(page["results"]) for page in pages] == [2, 2, 1]
    assert all(page["count"] == len(TALKS) for page in pages)
    assert [item for page in pages for item in page["results"]] == TALKS
    assert pages[0]["previous"] is None
    assert pages[1]["next"] == f"{mirror.url}/api/events/demo/talks/?page=3"
    assert pages[1]["previous"] == f"{mirror.url}/api/events/demo/talks/"  # DRF drops page=1
    assert pages[2]["previous"] == f"{mirror.url}/api/events/demo/talks/?page=2"
    assert mirror.requests["/api/events/demo/talks/"] == 3  # counted by path, query excluded


def test_next_follows_the_host_header(mirror: MirrorServer, web: requests.Session) -> None:
    response = web.get(
        f"{mirror.url}/api/events/demo/talks/", headers={"Host": "mirror:8000"}, timeout=10
    )
    assert response.json()["next"] == "http://mirror:8000/api/events/demo/talks/?page=2"


def test_an_empty_array_is_one_empty_page(mirror: MirrorServer, web: requests.Session) -> None:
    page = get(web, f"{mirror.url}/api/events/demo/speakers/")
    assert page == {"count": 0, "next": None, "previous": None, "results": []}


@pytest.mark.parametrize("page", ["0", "4", "-1", "two", "1e1", "²"])
def test_a_page_out_of_range_is_404_like_drf(
    mirror: MirrorServer, web: requests.Session, page: str
) -> None:
    body = get(web, f"{mirror.url}/api/events/demo/talks/?page={page}", status=404)
    assert body == {"detail": "Invalid page."}


def test_an_object_is_served_as_it_is(mirror: MirrorServer, web: requests.Session) -> None:
    assert get(web, f"{mirror.url}/api/events/demo/") == EVENT


def test_bytes_that_are_not_json_are_served_unchanged(
    mirror: MirrorServer, web: requests.Session
) -> None:
    response = web.get(f"{mirror.url}/api/events/demo/broken/", timeout=10)
    assert response.status_code == 200
    assert response.content == b'[{"code": '


def test_without_the_trailing_slash_the_github_behaviour_is_unchanged(
    mirror: MirrorServer, web: requests.Session
) -> None:
    listing = get(web, f"{mirror.url}/api/events/demo")  # the directory: a contents listing
    assert {entry["name"] for entry in listing} == {
        "broken.json",
        "speakers.json",
        "talks.json",
    }
    assert get(web, f"{mirror.url}/api/events/demo.json") == EVENT  # the file itself
    get(web, f"{mirror.url}/api/events/nope/", status=404)  # no nope.json, no nope/


def test_faults_apply_to_every_page(source: Path, web: requests.Session) -> None:
    with MirrorServer(source, page_size=2) as server:
        server.set_faults(
            [{"path": "/api/events/demo/talks/", "status": 429, "retry_after": 1, "times": 1}]
        )
        throttled = web.get(f"{server.url}/api/events/demo/talks/?page=2", timeout=10)
        assert throttled.status_code == 429
        assert throttled.headers["Retry-After"] == "1"
        assert len(get(web, f"{server.url}/api/events/demo/talks/?page=2")["results"]) == 2


def test_page_size_comes_from_the_option_or_the_environment(tmp_path: Path) -> None:
    assert read_options([], {}).page_size == DEFAULT_PAGE_SIZE
    assert read_options([], {"REDFEED_MIRROR_PAGE_SIZE": "25"}).page_size == 25
    assert read_options(["--page-size", "3"], {"REDFEED_MIRROR_PAGE_SIZE": "25"}).page_size == 3
    with pytest.raises(ConfigError, match="REDFEED_MIRROR_PAGE_SIZE"):
        read_options([], {"REDFEED_MIRROR_PAGE_SIZE": "0"})
    with pytest.raises(ConfigError, match="page size"):
        MirrorServer(tmp_path, page_size=0).start()
