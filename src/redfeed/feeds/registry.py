"""Feed name -> spider class. A new feed is one spider module plus one line here.

Spiders are named by dotted path and imported only when asked for, so importing the registry
(the CLI, the DAG factory, the loader) does not import Scrapy.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import import_module
from typing import TYPE_CHECKING

from redfeed.errors import ConfigError

if TYPE_CHECKING:
    import scrapy

#: feed name -> "module:ClassName" of its spider
FEEDS: dict[str, str] = {
    "confs-tech": "redfeed.feeds.confs_tech:ConfsTechSpider",
    # One spider, many feeds: `pretalx-<event>` feeds run it (see family_of).
    "pretalx": "redfeed.feeds.pretalx:PretalxSpider",
    "python-organizers": "redfeed.feeds.python_organizers:PythonOrganizersSpider",
    "homepages": "redfeed.feeds.homepages:HomepagesSpider",
}


def feed_names() -> list[str]:
    return sorted(FEEDS)


def family_of(feed: str, families: Iterable[str]) -> str | None:
    """The family ``feed`` belongs to: ``feed`` itself if it is one of ``families``, else the
    longest of them it extends as ``<family>-<member>`` (``pretalx-europython-2024`` is a
    ``pretalx`` feed); ``None`` if none. One spider, and one set of tables, serves a family."""
    if feed in families:
        return feed
    members = [family for family in families if feed.startswith(family + "-")]
    return max(members, key=len, default=None)


def spider_class(name: str) -> type[scrapy.Spider]:
    """The spider class of feed ``name``; ``ConfigError`` (exit 78) for an unknown feed."""
    try:
        target = FEEDS[name]
    except KeyError:
        known = ", ".join(feed_names()) or "(none)"
        raise ConfigError(f"unknown feed {name!r}; known feeds: {known}") from None
    module_name, _, attribute = target.partition(":")
    cls: type[scrapy.Spider] = getattr(import_module(module_name), attribute)
    return cls
