"""Slice-aware archive parts (REDFEED_COPY_SLICES): Redshift COPY loads one file per slice in
parallel, so a large batch must come out as a multiple of the slice count, in parts of about
equal size of at least 1 MiB compressed; a small batch stays one part."""

from __future__ import annotations

import hashlib
import os
import statistics
import tracemalloc
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import boto3
import orjson
import pytest
from moto import mock_aws

from redfeed.archive import Archive, ArchiveStore, BatchKey, BatchWriter, FileStore, S3Store
from redfeed.archive.store import PART_SIZE
from redfeed.archive.writer import DEAL_RUN
from redfeed.contract import Settings
from redfeed.errors import ConfigError
from tests.unit.test_archive import _DiscardingS3

START = datetime(2024, 1, 1, tzinfo=UTC)
END = datetime(2025, 1, 1, tzinfo=UTC)
#: Small enough that a test batch of random text proves large after a few hundred KiB.
MIN_PART = 32 * 1024


@pytest.fixture(params=["file", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ArchiveStore]:
    if request.param == "file":
        yield FileStore(tmp_path / "archive")
        return
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="archive")
        yield S3Store("archive", "redfeed", client=boto3.client("s3", region_name="us-east-1"))


def key(run_id: str = "run-1") -> BatchKey:
    return BatchKey("confs-tech", START, run_id)


def random_lines(n: int, stream: str | None = None) -> list[bytes]:
    """Records of random text (gzip cannot shrink them much), numbered."""
    extra = {"_stream": stream} if stream else {}
    return [orjson.dumps({**extra, "n": i, "text": os.urandom(150).hex()}) for i in range(n)]


def write(writer: BatchWriter, lines: list[bytes]) -> None:
    for line in lines:
        writer.write_line(line)


@pytest.mark.parametrize("count", [1, 50, DEAL_RUN * 4 * 3 + 17])
def test_a_small_batch_stays_one_part_in_scraped_order(store: ArchiveStore, count: int) -> None:
    """Dealt to 4 spools (several turns, the last one partial), merged back in order."""
    writer = BatchWriter(store, key(), END, slices=4, min_part_bytes=MIN_PART)
    write(writer, [orjson.dumps({"n": i}) for i in range(count)])
    assert list(store.keys("raw/")) == [], "spooled locally until the batch is committed"
    manifest = writer.commit()
    assert [f.records for f in manifest.files] == [count]
    assert manifest.files[0].key.rsplit("/", 1)[1].startswith("part-00000-")
    assert [r["n"] for r in Archive(store).records(manifest)] == list(range(count))


def test_a_large_batch_is_split_into_slices_parts_of_equal_size(store: ArchiveStore) -> None:
    lines = random_lines(4000)  # ~1.2 MB of JSON, ~0.7 MB compressed
    writer = BatchWriter(store, key(), END, slices=4, min_part_bytes=MIN_PART)
    write(writer, lines)
    manifest = writer.commit()

    counts = [f.records for f in manifest.files]
    assert len(counts) == 4
    assert max(counts) - min(counts) <= DEAL_RUN, counts
    sizes = [f.bytes for f in manifest.files]
    assert min(sizes) >= MIN_PART
    assert max(sizes) < 1.1 * statistics.median(sizes), sizes
    assert len({f.key for f in manifest.files}) == 4
    names = sorted(f.key.rsplit("/", 1)[1][:11] for f in manifest.files)
    assert names == ["part-00000-", "part-00001-", "part-00002-", "part-00003-"]
    for entry in manifest.files:  # the manifest describes the stored bytes exactly
        stored = store.get(entry.key)
        assert len(stored) == entry.bytes
        assert hashlib.sha256(stored).hexdigest() == entry.sha256
        # One gzip stream, begun in the spool and continued in the store (not two members).
        inflate = zlib.decompressobj(wbits=31)
        assert len(inflate.decompress(stored)) == entry.uncompressed_bytes
        assert inflate.eof
        assert inflate.unused_data == b""
    records = list(Archive(store).records(manifest))
    assert sorted(r["n"] for r in records) == list(range(4000))
    assert all(r["_batch_id"] == "run-1" for r in records)


def test_slices_do_not_change_the_content_digest(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    lines = random_lines(3000)
    plain = BatchWriter(store, key("plain"), END)
    sliced = BatchWriter(store, key("sliced"), END, slices=3, min_part_bytes=MIN_PART)
    write(plain, lines)
    write(sliced, lines)
    assert len(sliced.commit().files) == 3
    assert plain.commit().content_digest == sliced.content_digest


@pytest.mark.parametrize("slices", [2, 3, 5])
def test_full_parts_are_committed_a_round_at_a_time(store: ArchiveStore, slices: int) -> None:
    """Part limits still hold: when one part is full, its whole round is committed, so the
    part count stays a multiple of the slice count."""
    writer = BatchWriter(
        store, key(), END, slices=slices, min_part_bytes=MIN_PART, part_max_records=4
    )
    total = slices * 4 * 3  # three full rounds
    write(writer, [orjson.dumps({"n": i}) for i in range(total)])
    manifest = writer.commit()
    counts = [f.records for f in manifest.files]
    assert len(counts) == 4 * slices, counts  # three full rounds and the rest
    for round_start in range(0, len(counts), slices):
        this_round = counts[round_start : round_start + slices]
        assert max(this_round) - min(this_round) <= 1, counts
    assert max(counts) <= 4
    assert sum(counts) == total == manifest.records
    assert sorted(r["n"] for r in Archive(store).records(manifest)) == list(range(total))
    indexes = sorted(int(f.key.rsplit("/", 1)[1].split("-")[1]) for f in manifest.files)
    assert indexes == list(range(len(counts))), "part numbers are unique and dense"


def test_each_stream_is_split_on_its_own(store: ArchiveStore) -> None:
    writer = BatchWriter(store, key(), END, slices=3, min_part_bytes=MIN_PART)
    lines = random_lines(3000)
    for i, line in enumerate(lines):
        writer.write_line(line)
        if i % 100 == 0:
            writer.write_line(orjson.dumps({"_stream": "speakers", "n": i}))
    manifest = writer.commit()
    assert [f.stream for f in manifest.files_of(None)] == [None] * 3
    speakers = manifest.files_of("speakers")
    assert [f.records for f in speakers] == [30], "the small stream stays one part"
    assert speakers[0].key.rsplit("/", 1)[1].startswith("part-speakers-00000-")
    assert manifest.records == 3030


def test_abort_after_the_split_leaves_nothing(store: ArchiveStore) -> None:
    writer = BatchWriter(
        store, key(), END, slices=2, min_part_bytes=MIN_PART, part_max_records=1000
    )
    write(writer, random_lines(2500))  # one round committed, one open
    assert writer.records == 2500
    writer.abort()
    assert list(store.keys("raw/")) == []
    assert Archive(store).batches("confs-tech") == []


def test_abort_while_spooling_leaves_nothing(store: ArchiveStore) -> None:
    writer = BatchWriter(store, key(), END, slices=8, min_part_bytes=MIN_PART)
    write(writer, random_lines(10))
    writer.abort()
    assert list(store.keys("raw/")) == []


def test_memory_stays_flat_with_slices() -> None:
    """~21 MB gzipped into 2 slices (so each uploads in several multipart parts): the peak is
    one upload buffer per slice (and the spools before the split), not the batch size."""
    client = _DiscardingS3()
    store = S3Store("archive", client=client)  # type: ignore[arg-type]
    writer = BatchWriter(store, key(), END, slices=2)
    tracemalloc.start()
    for n in range(160_000):
        writer.write_line(orjson.dumps({"name": os.urandom(100).hex(), "tags": ["a"] * 20, "n": n}))
    manifest = writer.commit()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(manifest.files) == 2
    assert len(client.parts) >= 4, "multipart path not exercised"
    assert peak < (2 + 2) * PART_SIZE, f"peak {peak / 2**20:.1f} MiB"


def test_slices_come_from_the_environment() -> None:
    env = {"REDFEED_FEED": "confs-tech", "REDFEED_ARCHIVE_URL": "s3://b/p"}
    assert Settings.from_env(env).copy_slices == 1
    assert Settings.from_env({**env, "REDFEED_COPY_SLICES": "16"}).copy_slices == 16
    with pytest.raises(ConfigError, match="REDFEED_COPY_SLICES"):
        Settings.from_env({**env, "REDFEED_COPY_SLICES": "0"})
    with pytest.raises(ValueError, match="slices"):
        BatchWriter(FileStore(Path("/nonexistent")), key(), END, slices=0)
