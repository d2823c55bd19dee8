"""redfeed: feed many sources into Amazon Redshift, archived and exactly-once."""

#: The package version (pyproject.toml reads it from here).
__version__ = "0.1.0"
