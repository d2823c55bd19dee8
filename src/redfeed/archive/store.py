"""Object stores behind the archive: S3 (or any S3-compatible endpoint via AWS_ENDPOINT_URL) and a
local directory. Both refuse to overwrite: the archive is append-only by construction, not by
convention (S3 conditional writes ``If-None-Match: *``; ``link(2)`` on the file system)."""

from __future__ import annotations

import functools
import io
import logging
import os
import secrets
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, ClassVar, Protocol
from urllib.parse import urlsplit

from redfeed.errors import ConfigError, TemporaryError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)

#: S3 parts must be at least 5 MiB (but the last); 8 MiB keeps memory flat and requests few.
PART_SIZE = 8 * 1024 * 1024


class AlreadyExists(Exception):
    """The key is taken: the archive never overwrites."""


class ObjectWriter(Protocol):
    """A binary sink for one new object: bytes become visible only on ``commit``."""

    def write(self, data: bytes) -> int: ...
    def commit(self) -> None: ...
    def abort(self) -> None: ...


class ArchiveStore(Protocol):
    url: str

    def uri(self, key: str) -> str: ...
    def check_writable(self) -> None: ...
    def new_object(self, key: str) -> ObjectWriter: ...
    def put_new(self, key: str, data: bytes) -> None: ...
    def get(self, key: str) -> bytes: ...
    def open(self, key: str) -> IO[bytes]: ...
    def exists(self, key: str) -> bool: ...
    def keys(self, prefix: str) -> Iterator[str]: ...
    def delete(self, key: str) -> None: ...


def open_store(url: str) -> ArchiveStore:
    """The store for ``s3://bucket/prefix`` or ``file:///path``."""
    parts = urlsplit(url)
    if parts.scheme == "s3":
        if not parts.netloc:
            raise ConfigError(f"archive URL {url!r} names no bucket")
        return S3Store(parts.netloc, parts.path.strip("/"))
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise ConfigError(f"archive URL {url!r}: file URLs must be file:///absolute/path")
        return FileStore(Path(parts.path))
    raise ConfigError(f"archive URL {url!r} must start with s3:// or file://")


def _check_key(key: str) -> str:
    if (
        not key
        or key.startswith("/")
        or any(p in ("", ".", "..") for p in key.rstrip("/").split("/"))
    ):
        raise ConfigError(f"refusing archive key {key!r} (empty, absolute or with '..')")
    return key


# ---------------------------------------------------------------------------------------- S3


@functools.cache
def _botocore_session() -> Any:
    """One botocore session a process: it caches the service models a client is built from."""
    import botocore.session

    return botocore.session.get_session()


def s3_client() -> S3Client:
    """A client configured from the standard AWS_* variables (AWS_ENDPOINT_URL included), with
    botocore's standard retry mode so throttling and 5xx are retried with backoff.

    botocore's own session, not boto3's: the client is the same, and importing boto3 (its
    resource layer) cost every archive process about 0.04 CPU seconds."""
    from botocore.config import Config

    config = Config(
        retries={"mode": "standard", "max_attempts": int(os.environ.get("AWS_MAX_ATTEMPTS", "5"))},
        connect_timeout=10,
        read_timeout=60,
    )
    client: S3Client = _botocore_session().create_client("s3", config=config)
    return client


def _s3_error(exc: Exception, what: str) -> Exception:
    """Map botocore failures to the contract's error kinds."""
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in ("PreconditionFailed", "ConditionalRequestConflict") or status == 412:
            return AlreadyExists(what)
        if code in (
            "NoSuchBucket",
            "AccessDenied",
            "InvalidAccessKeyId",
            "AllAccessDisabled",
            "SignatureDoesNotMatch",
            "InvalidBucketName",
            "403",
            "404",
        ):
            return ConfigError(f"{what}: {code} (check REDFEED_ARCHIVE_URL and AWS credentials)")
        return TemporaryError(f"{what}: {code or status}")
    if isinstance(exc, BotoCoreError):
        return TemporaryError(f"{what}: {exc}")
    return exc


class S3Store:
    #: Every store, so a forked child (the loader's pre-flight worker) can drop their clients:
    #: a boto3 client's pooled connections must not be shared across a fork.
    _instances: ClassVar[weakref.WeakSet[S3Store]] = weakref.WeakSet()

    def __init__(self, bucket: str, prefix: str = "", client: S3Client | None = None) -> None:
        self.bucket = bucket
        self.prefix = f"{prefix}/" if prefix else ""
        self.url = f"s3://{bucket}/{prefix}".rstrip("/")
        self._client = client
        self._own_client = client is None
        S3Store._instances.add(self)

    @classmethod
    def _after_fork_in_child(cls) -> None:
        for store in list(cls._instances):
            if store._own_client:
                store._client = None

    @property
    def client(self) -> S3Client:
        if self._client is None:
            self._client = s3_client()
        return self._client

    def _key(self, key: str) -> str:
        return self.prefix + _check_key(key)

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    def check_writable(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except Exception as exc:
            raise _s3_error(exc, f"archive bucket {self.bucket!r} is not reachable") from exc

    def new_object(self, key: str) -> ObjectWriter:
        return S3ObjectWriter(self.client, self.bucket, self._key(key))

    def put_new(self, key: str, data: bytes) -> None:
        try:
            self.client.put_object(
                Bucket=self.bucket, Key=self._key(key), Body=data, IfNoneMatch="*"
            )
        except Exception as exc:
            raise _s3_error(exc, f"cannot write {self.uri(key)}") from exc

    def get(self, key: str) -> bytes:
        with self.open(key) as body:
            return body.read()

    def open(self, key: str) -> IO[bytes]:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except Exception as exc:
            raise _s3_error(exc, f"cannot read {self.uri(key)}") from exc
        return response["Body"]  # type: ignore[return-value]

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
                return False
            raise _s3_error(exc, f"cannot check {self.uri(key)}") from exc
        except Exception as exc:
            raise _s3_error(exc, f"cannot check {self.uri(key)}") from exc
        return True

    def keys(self, prefix: str) -> Iterator[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
                for item in page.get("Contents", []):
                    yield item["Key"][len(self.prefix) :]
        except Exception as exc:
            raise _s3_error(exc, f"cannot list {self.url}/{prefix}") from exc

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except Exception as exc:
            raise _s3_error(exc, f"cannot delete {self.uri(key)}") from exc


class S3ObjectWriter:
    """Streams one object with multipart upload, holding at most one part in memory.

    Small objects (under one part) go up with a single conditional PUT instead.
    """

    def __init__(self, client: S3Client, bucket: str, key: str) -> None:
        self.client, self.bucket, self.key = client, bucket, key
        self.buffer = bytearray()
        self.upload_id: str | None = None
        self.parts: list[dict[str, Any]] = []

    def write(self, data: bytes) -> int:
        self.buffer += data
        if len(self.buffer) >= PART_SIZE:
            self._flush_part()
        return len(data)

    def _flush_part(self) -> None:
        try:
            if self.upload_id is None:
                self.upload_id = self.client.create_multipart_upload(
                    Bucket=self.bucket, Key=self.key, ContentType="application/gzip"
                )["UploadId"]
            number = len(self.parts) + 1
            etag = self.client.upload_part(
                Bucket=self.bucket,
                Key=self.key,
                UploadId=self.upload_id,
                PartNumber=number,
                Body=bytes(self.buffer),
            )["ETag"]
        except Exception as exc:
            raise _s3_error(exc, f"upload of s3://{self.bucket}/{self.key} failed") from exc
        self.parts.append({"ETag": etag, "PartNumber": number})
        self.buffer.clear()

    def commit(self) -> None:
        try:
            if self.upload_id is None:
                self.client.put_object(
                    Bucket=self.bucket,
                    Key=self.key,
                    Body=bytes(self.buffer),
                    ContentType="application/gzip",
                    IfNoneMatch="*",
                )
            else:
                if self.buffer:
                    self._flush_part()
                self.client.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=self.key,
                    UploadId=self.upload_id,
                    MultipartUpload={"Parts": self.parts},  # type: ignore[typeddict-item]
                    IfNoneMatch="*",
                )
        except Exception as exc:
            raise _s3_error(exc, f"cannot commit s3://{self.bucket}/{self.key}") from exc
        self.buffer.clear()

    def abort(self) -> None:
        self.buffer.clear()
        if self.upload_id is not None:
            try:
                self.client.abort_multipart_upload(
                    Bucket=self.bucket, Key=self.key, UploadId=self.upload_id
                )
            except Exception:  # best effort: a lifecycle rule reaps what is left
                log.warning("could not abort the upload of s3://%s/%s", self.bucket, self.key)
            self.upload_id = None


# ------------------------------------------------------------------------------- file system


class FileStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = root.as_uri() if root.is_absolute() else f"file://{root}"

    def _path(self, key: str) -> Path:
        return self.root / _check_key(key)

    def uri(self, key: str) -> str:
        return self._path(key).as_uri()

    def check_writable(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / f".write-probe-{secrets.token_hex(4)}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise ConfigError(f"archive directory {self.root} is not writable: {exc}") from exc

    def new_object(self, key: str) -> ObjectWriter:
        path = self._path(key)
        if path.exists():
            raise AlreadyExists(str(path))
        return FileObjectWriter(path)

    def put_new(self, key: str, data: bytes) -> None:
        writer = FileObjectWriter(self._path(key))
        writer.write(data)
        writer.commit()

    def get(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def open(self, key: str) -> IO[bytes]:
        return self._path(key).open("rb")

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def keys(self, prefix: str) -> Iterator[str]:
        base = self.root / prefix.rsplit("/", 1)[0] if "/" in prefix else self.root
        if not base.is_dir():
            return
        for path in sorted(base.rglob("*")):
            key = path.relative_to(self.root).as_posix()
            if path.is_file() and key.startswith(prefix) and ".tmp-" not in path.name:
                yield key

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


class FileObjectWriter:
    """Writes to a temporary name and links it into place: ``link(2)`` fails if the name is
    taken, so a commit can never replace an existing object, and readers never see half a file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = path.with_name(f"{path.name}.tmp-{secrets.token_hex(4)}")
        self.file: io.BufferedWriter | None = self.tmp.open("xb")

    def write(self, data: bytes) -> int:
        assert self.file is not None
        return self.file.write(data)

    def commit(self) -> None:
        assert self.file is not None
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        self.file = None
        try:
            os.link(self.tmp, self.path)
        except FileExistsError as exc:
            raise AlreadyExists(str(self.path)) from exc
        finally:
            self.tmp.unlink(missing_ok=True)

    def abort(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None
        self.tmp.unlink(missing_ok=True)


os.register_at_fork(after_in_child=S3Store._after_fork_in_child)
