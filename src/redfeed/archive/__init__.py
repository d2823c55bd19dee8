"""The archive: every scraped record, kept forever as gzip JSON lines, in batches that exist for
downstream only once their manifest is written (last)."""

from redfeed.archive.layout import BatchKey
from redfeed.archive.manifest import FileEntry, Manifest
from redfeed.archive.reader import Archive, BatchIntegrityError
from redfeed.archive.store import AlreadyExists, ArchiveStore, FileStore, S3Store, open_store
from redfeed.archive.writer import BatchWriter

__all__ = [
    "AlreadyExists",
    "Archive",
    "ArchiveStore",
    "BatchIntegrityError",
    "BatchKey",
    "BatchWriter",
    "FileEntry",
    "FileStore",
    "Manifest",
    "S3Store",
    "open_store",
]
