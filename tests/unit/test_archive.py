from __future__ import annotations

import gzip
import hashlib
import os
import random
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import boto3
import orjson
import pytest
from moto import mock_aws

from redfeed.archive import (
    AlreadyExists,
    Archive,
    ArchiveStore,
    BatchIntegrityError,
    BatchKey,
    BatchWriter,
    FileStore,
    Manifest,
    S3Store,
    open_store,
)
from redfeed.archive.store import PART_SIZE
from redfeed.errors import ConfigError

START = datetime(2024, 1, 1, tzinfo=UTC)
END = datetime(2025, 1, 1, tzinfo=UTC)


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


def test_layout_is_feed_interval_run() -> None:
    k = key("scheduled__2024-01-01T00:00:00+00:00")
    assert k.prefix == "raw/confs-tech/20240101T000000Z/scheduled__2024-01-01T00:00:00+00:00/"
    assert k.manifest.endswith("/manifest.json")
    assert k.part("part", 3, "abc123").endswith("/part-00003-abc123.jsonl.gz")


@pytest.mark.parametrize("run_id", ["../x", "a/b", ".hidden", ""])
def test_batch_key_refuses_path_tricks(run_id: str) -> None:
    with pytest.raises(ConfigError):
        BatchKey("confs-tech", START, run_id)


def test_open_store_picks_the_backend(tmp_path: Path) -> None:
    assert isinstance(open_store("s3://bucket/some/prefix"), S3Store)
    assert isinstance(open_store(tmp_path.as_uri()), FileStore)
    with pytest.raises(ConfigError):
        open_store("gs://bucket")
    with pytest.raises(ConfigError):
        open_store("file://otherhost/x")


def test_batch_round_trip_with_manifest_written_last(store: ArchiveStore) -> None:
    writer = BatchWriter(store, key(), END, part_max_records=3, code_version="test 1")
    for i in range(7):
        writer.write_line(orjson.dumps({"name": f"conf {i}", "n": i}) + b"\n")
    assert not store.exists(key().manifest), "no manifest before commit"
    archive = Archive(store)
    assert archive.batches("confs-tech") == []
    manifest = writer.commit()

    assert manifest.records == 7
    assert [f.records for f in manifest.files] == [3, 3, 1]
    assert manifest.code_version == "test 1"
    assert manifest.interval_start == "2024-01-01T00:00:00Z"
    for entry in manifest.files:
        stored = store.get(entry.key)
        assert hashlib.sha256(stored).hexdigest() == entry.sha256
        assert len(stored) == entry.bytes
        assert len(gzip.decompress(stored)) == entry.uncompressed_bytes

    records = list(archive.records(manifest))
    assert [r["n"] for r in records] == list(range(7))
    first = records[0]
    assert first["_batch_id"] == "run-1"
    assert first["_feed"] == "confs-tech"
    assert first["_interval_start"] == "2024-01-01T00:00:00Z"
    assert first["_scraped_at"].endswith("Z")
    assert archive.batches("confs-tech") == [manifest]
    assert archive.latest("confs-tech", START) == manifest


def test_empty_batch_is_committed_with_a_manifest(store: ArchiveStore) -> None:
    manifest = BatchWriter(store, key(), END).commit()
    assert manifest.records == 0
    assert manifest.files == []
    assert Archive(store).manifest(key()) == manifest


def test_bad_lines_are_quarantined_with_their_reason(store: ArchiveStore) -> None:
    writer = BatchWriter(store, key(), END)
    writer.write_line(b'{"ok": 1}\n')
    writer.write_line(b'{"truncated": \n')
    writer.write_line(b"[1, 2]\n")
    writer.write_line(b'{"_reject": {"reason": "not an object", "value": "x"}}\n')
    writer.write_line(b"\n")
    manifest = writer.commit()
    assert manifest.records == 1
    assert manifest.rejected == 3
    rejects = list(Archive(store).rejects(manifest))
    assert "not valid JSON" in rejects[0]["reason"]
    assert rejects[0]["raw"] == '{"truncated":'
    assert "must be a JSON object, not list" in rejects[1]["reason"]
    assert rejects[1]["value"] == [1, 2]
    assert rejects[2] == {**rejects[2], "reason": "not an object", "value": "x"}
    assert all(r["_batch_id"] == "run-1" for r in rejects)


def test_streams_get_their_own_parts_and_manifest_entries(store: ArchiveStore) -> None:
    writer = BatchWriter(store, key(), END, part_max_records=2)
    writer.write_line(b'{"code": "T1"}\n')
    for n in range(3):
        writer.write_line(b'{"_stream": "speakers", "code": "S%d"}\n' % n)
    writer.write_line(b'{"_stream": "../x", "code": "bad"}\n')
    writer.write_line(b'{"_stream": 7}\n')
    manifest = writer.commit()
    assert manifest.records == 4
    assert manifest.rejected == 2
    assert [f.records for f in manifest.files_of(None)] == [1]
    speakers = manifest.files_of("speakers")
    assert [f.records for f in speakers] == [2, 1]
    assert [f.key.rsplit("/", 1)[1][:20] for f in speakers] == [
        "part-speakers-00000-",
        "part-speakers-00001-",
    ]
    records = [orjson.loads(line) for f in speakers for line in Archive(store).lines(f)]
    assert [r["code"] for r in records] == ["S0", "S1", "S2"]
    assert all("_stream" not in r and r["_batch_id"] == "run-1" for r in records)
    reasons = [r["reason"] for r in Archive(store).rejects(manifest)]
    assert all("_stream must be a name" in reason for reason in reasons)
    assert Manifest.from_json(manifest.to_json()) == manifest


def test_the_archive_never_overwrites(store: ArchiveStore) -> None:
    BatchWriter(store, key(), END).commit()
    with pytest.raises(AlreadyExists):
        BatchWriter(store, key(), END).commit()
    with pytest.raises(AlreadyExists):
        store.put_new(key().manifest, b"{}")


def test_abort_leaves_no_manifest_and_no_parts(store: ArchiveStore) -> None:
    writer = BatchWriter(store, key(), END, part_max_records=2)
    for i in range(5):
        writer.write_line(orjson.dumps({"n": i}))
    writer.abort()
    assert list(store.keys("raw/")) == []
    assert Archive(store).batches("confs-tech") == []


def test_content_digest_ignores_order_but_not_content(store: ArchiveStore) -> None:
    lines = [orjson.dumps({"n": i}) for i in range(5)]
    a = BatchWriter(store, key("a"), END)
    b = BatchWriter(store, key("b"), END)
    c = BatchWriter(store, key("c"), END)
    for line in lines:
        a.write_line(line)
    for line in reversed(lines):
        b.write_line(line)
    for line in [*lines[:4], orjson.dumps({"n": 99})]:
        c.write_line(line)
    assert a.content_digest == b.content_digest != c.content_digest


def test_reader_refuses_a_corrupted_part(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    writer = BatchWriter(store, key(), END)
    writer.write_line(b'{"n": 1}')
    manifest = writer.commit()
    path = tmp_path / manifest.files[0].key
    path.chmod(0o644)
    good = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(good.replace(b"1", b"2"), mtime=0))
    with pytest.raises(BatchIntegrityError, match="sha256"):
        list(Archive(store).records(manifest))
    path.write_bytes(b"not gzip")
    with pytest.raises(BatchIntegrityError):
        list(Archive(store).records(manifest))


@pytest.mark.parametrize("seed", range(40))
def test_every_kind_of_damaged_gzip_is_an_integrity_error(tmp_path: Path, seed: int) -> None:
    """Bytes flipped anywhere in a part: a bad header or CRC, a cut-off stream, a deflate block
    ISA-L refuses, or (with luck) a stream that still inflates but fails its sha256. Never
    anything but BatchIntegrityError."""
    store = FileStore(tmp_path)
    writer = BatchWriter(store, key(), END)
    for n in range(2000):
        writer.write_line(orjson.dumps({"n": n, "noise": random.Random(n).randbytes(8).hex()}))
    manifest = writer.commit()
    path = tmp_path / manifest.files[0].key
    path.chmod(0o644)
    damaged = bytearray(path.read_bytes())
    rng = random.Random(seed)
    for _ in range(3):
        damaged[rng.randrange(10, len(damaged))] = rng.randrange(256)
    path.write_bytes(bytes(damaged))
    with pytest.raises(BatchIntegrityError):
        list(Archive(store).lines(manifest.files[0]))


class _DiscardingS3:
    """Accepts multipart uploads and keeps only their sizes, so tracemalloc measures the writer,
    not an in-process S3 holding the bytes."""

    def __init__(self) -> None:
        self.parts: list[int] = []
        self.completed: list[str] = []

    def create_multipart_upload(self, **kw: object) -> dict[str, str]:
        return {"UploadId": "u1"}

    def upload_part(self, *, Body: bytes, **kw: object) -> dict[str, str]:
        self.parts.append(len(Body))
        return {"ETag": f"e{len(self.parts)}"}

    def complete_multipart_upload(self, *, Key: str, **kw: object) -> None:
        self.completed.append(Key)

    def put_object(self, *, Key: str, **kw: object) -> None:
        self.completed.append(Key)


def test_s3_memory_stays_flat_for_large_batches() -> None:
    """300k random records (~100 MB of JSON, ~40 MB gzipped, so several multipart parts): peak
    Python allocations stay near one S3 part (8 MiB) plus gzip state, not the batch size."""
    client = _DiscardingS3()
    store = S3Store("archive", client=client)  # type: ignore[arg-type]
    writer = BatchWriter(store, key(), END)
    tracemalloc.start()
    for n in range(300_000):
        writer.write_line(orjson.dumps({"name": os.urandom(100).hex(), "tags": ["a"] * 20, "n": n}))
    writer.commit()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(client.parts) >= 3, "multipart path not exercised"
    assert all(PART_SIZE <= size < PART_SIZE + 2**20 for size in client.parts[:-1])
    assert client.completed[-1].endswith("manifest.json")
    assert peak < 3 * PART_SIZE, f"peak {peak / 2**20:.1f} MiB"


def test_s3_multipart_round_trip_through_moto() -> None:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="archive")
        store = S3Store("archive", client=client)
        writer = BatchWriter(store, key(), END)
        for n in range(120_000):
            writer.write_line(orjson.dumps({"name": os.urandom(100).hex(), "n": n}))
        manifest = writer.commit()
        assert manifest.files[0].bytes > PART_SIZE, "multipart path not exercised"
        assert sum(1 for _ in Archive(store).records(manifest)) == 120_000
