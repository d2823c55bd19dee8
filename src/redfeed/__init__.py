"""redfeed: feed many sources into Amazon Redshift, archived and exactly-once."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("redfeed")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+unknown"
