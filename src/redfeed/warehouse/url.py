"""A database URL in SQLAlchemy's spelling (``postgresql+psycopg://…``, ``redshift+psycopg2://…``)
read without importing SQLAlchemy.

The loader's PostgreSQL path, verify and the compose healthchecks need only the back-end's name
and the URI libpq reads, and importing SQLAlchemy for that costs each of those processes 0.2 s
of CPU. Anything that needs more (the Redshift destination, Alembic) uses SQLAlchemy's own URL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from redfeed.errors import ConfigError

#: SQLAlchemy's ``dialect[+driver]`` (its own pattern: names of letters, digits, ``_`` and ``.``)
_SCHEME = re.compile(r"(?P<backend>[\w.]+)(?:\+(?P<driver>[\w.]+))?", re.ASCII)


@dataclass(frozen=True)
class DatabaseURL:
    backend: str
    driver: str | None
    #: everything after ``://``, as written (percent-encoding kept: libpq decodes it)
    rest: str

    @classmethod
    def parse(cls, url: str) -> DatabaseURL:
        scheme, sep, rest = url.partition("://")
        match = _SCHEME.fullmatch(scheme)
        if not sep or match is None:
            raise ConfigError(f"{redacted(url)!r} is not a database URL (backend+driver://…)")
        return cls(match["backend"], match["driver"], rest)

    @property
    def scheme(self) -> str:
        return self.backend if self.driver is None else f"{self.backend}+{self.driver}"

    @property
    def libpq(self) -> str:
        """The URI libpq (psycopg, psycopg2) connects with: the same URL as ``postgresql://``."""
        return f"postgresql://{self.rest}"

    @property
    def query(self) -> dict[str, list[str]]:
        """The query parameters (libpq's connection parameters for PostgreSQL)."""
        return parse_qs(urlsplit(self.libpq).query, keep_blank_values=True)

    def __str__(self) -> str:
        return redacted(f"{self.scheme}://{self.rest}")


def redacted(url: str) -> str:
    """``url`` with its password, if any, as ``***`` (for logs and error messages)."""
    scheme, sep, rest = url.partition("://")
    netloc, slash, path = rest.partition("/")
    userinfo, at, hostport = netloc.rpartition("@")
    user, colon, _password = userinfo.partition(":")
    if not (sep and at and colon):
        return url
    return f"{scheme}://{user}:***@{hostport}{slash}{path}"
