"""Content-addressed blob storage of the portal's documents: on disk or in an S3 bucket.

A document's bytes are stored under their SHA-256 hex digest and nothing else: no name a user
sent ever reaches the disk or a bucket key, the same file deposited twice is stored once, and a
digest is validated (64 lowercase hex characters) before it names anything, so no path traversal
can happen. Both implementations satisfy the `BlobStore` protocol and run the same contract test
(tests/client_portal_rp/test_storage.py); `blob_store_from_config` picks one from PORTAL_STORAGE.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO, Protocol, cast

SHA256_HEX = re.compile(r"[0-9a-f]{64}")
DEFAULT_S3_REGION = "eu-west-3"  # Paris
S3_PREFIX = "blobs"
# Files above this size go up to S3 in parts (boto3's TransferConfig default is 8 MiB too).
S3_MULTIPART_THRESHOLD = 8 * 1024 * 1024


class StorageConfigError(ValueError):
    """The PORTAL_STORAGE settings cannot build a store (raised at startup, not per request)."""


class BlobNotFound(LookupError):
    """No blob is stored under this digest."""

    def __init__(self, sha256: str) -> None:
        super().__init__(f"no blob {sha256}")
        self.sha256 = sha256


def check_digest(sha256: str) -> str:
    """The digest itself when it is 64 lowercase hex characters; ValueError otherwise.

    Every store calls it before the digest names a path or a key: it is the only thing that
    stands between a caller's string and the file system."""
    if not isinstance(sha256, str) or not SHA256_HEX.fullmatch(sha256):
        raise ValueError("a blob is named by a SHA-256 digest: 64 lowercase hex characters")
    return sha256


class BlobStore(Protocol):
    """Where documents' bytes live, named by their SHA-256 digest."""

    def put(self, path: Path, sha256: str) -> bool:
        """Store the local file `path` whose digest the caller computed while receiving it.
        True when stored now, False when the blob was already there (nothing written)."""
        ...

    def exists(self, sha256: str) -> bool: ...

    def open(self, sha256: str) -> BinaryIO:
        """A readable stream of the blob (for `send_file`); the caller closes it.
        Raises BlobNotFound."""
        ...

    def size(self, sha256: str) -> int:
        """The blob's size in bytes. Raises BlobNotFound."""
        ...

    def delete(self, sha256: str) -> None:
        """Remove the blob; nothing happens when it is absent."""
        ...


class LocalBlobStore:
    """Blobs in files root/ab/cd/<sha256>, each written whole or not at all (temp + rename)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, sha256: str) -> Path:
        digest = check_digest(sha256)
        return self.root / digest[:2] / digest[2:4] / digest

    def put(self, path: Path, sha256: str) -> bool:
        target = self._path(sha256)
        if target.exists():
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp_name = str(target.parent / f".incoming-{secrets.token_hex(8)}")
        try:
            try:
                # An upload streamed beside the store is on the same file system: a second name
                # for its bytes instead of a copy (~20 ms saved per 25 MB). Its own name is
                # removed by the upload's cleanup; nothing writes to it any more.
                os.link(path, tmp_name)
                with open(tmp_name, "rb") as linked:
                    os.fsync(linked.fileno())
            except OSError:  # another file system, or links refused: copy
                Path(tmp_name).unlink(missing_ok=True)
                self._copy(path, tmp_name)
            os.chmod(tmp_name, 0o640)
            # Two requests storing the same bytes race harmlessly: the contents are identical.
            os.replace(tmp_name, target)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        return True

    @staticmethod
    def _copy(path: Path, tmp_name: str) -> None:
        with open(tmp_name, "xb") as out, open(path, "rb") as src:
            while chunk := src.read(1024 * 1024):
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())

    def exists(self, sha256: str) -> bool:
        return self._path(sha256).is_file()

    def open(self, sha256: str) -> BinaryIO:
        try:
            return open(self._path(sha256), "rb")  # the caller closes it
        except FileNotFoundError:
            raise BlobNotFound(sha256) from None

    def size(self, sha256: str) -> int:
        try:
            return self._path(sha256).stat().st_size
        except FileNotFoundError:
            raise BlobNotFound(sha256) from None

    def delete(self, sha256: str) -> None:
        self._path(sha256).unlink(missing_ok=True)


class S3BlobStore:
    """Blobs as objects blobs/ab/<sha256> of one bucket (AWS S3 or any S3-compatible service)."""

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str = DEFAULT_S3_REGION,
        client: Any = None,
    ) -> None:
        if client is None:
            import boto3  # imported here: a portal on local storage never loads boto3

            client = boto3.client("s3", endpoint_url=endpoint_url or None, region_name=region)
        self.bucket = bucket
        self.client = client

    @staticmethod
    def key(sha256: str) -> str:
        digest = check_digest(sha256)
        return f"{S3_PREFIX}/{digest[:2]}/{digest}"

    def _head(self, sha256: str) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        try:
            return cast(
                dict[str, Any], self.client.head_object(Bucket=self.bucket, Key=self.key(sha256))
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return None
            raise

    def put(self, path: Path, sha256: str) -> bool:
        from boto3.s3.transfer import TransferConfig

        if self._head(sha256) is not None:
            return False
        # upload_file sends a big file in parts, a few at a time, never whole in memory.
        self.client.upload_file(
            str(path),
            self.bucket,
            self.key(sha256),
            ExtraArgs={"ContentType": "application/octet-stream"},
            Config=TransferConfig(multipart_threshold=S3_MULTIPART_THRESHOLD),
        )
        return True

    def exists(self, sha256: str) -> bool:
        return self._head(sha256) is not None

    def open(self, sha256: str) -> BinaryIO:
        from botocore.exceptions import ClientError

        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self.key(sha256))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                raise BlobNotFound(sha256) from None
            raise
        # botocore's StreamingBody reads the HTTP answer as it comes (read(n), iteration, close).
        return cast(BinaryIO, answer["Body"])

    def size(self, sha256: str) -> int:
        head = self._head(sha256)
        if head is None:
            raise BlobNotFound(sha256)
        return int(head["ContentLength"])

    def delete(self, sha256: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.key(sha256))


def blob_store_from_config(config: Mapping[str, Any], instance_path: str) -> BlobStore:
    """The store PORTAL_STORAGE names: `local` (default) or `s3`.

    local: PORTAL_STORAGE_PATH, default <instance_path>/documents.
    s3: PORTAL_S3_BUCKET (required), PORTAL_S3_ENDPOINT_URL (an S3-compatible service),
    PORTAL_S3_REGION; credentials come the usual boto3 way (AWS_ACCESS_KEY_ID, AWS_PROFILE,
    an instance role...), never from the portal's settings."""
    kind = (config.get("PORTAL_STORAGE") or "local").strip().lower()
    if kind == "local":
        root = config.get("PORTAL_STORAGE_PATH") or os.path.join(instance_path, "documents")
        return LocalBlobStore(Path(root))
    if kind == "s3":
        bucket = config.get("PORTAL_S3_BUCKET")
        if not bucket:
            raise StorageConfigError("PORTAL_STORAGE=s3 needs PORTAL_S3_BUCKET (the bucket name)")
        return S3BlobStore(
            bucket,
            endpoint_url=config.get("PORTAL_S3_ENDPOINT_URL") or None,
            region=config.get("PORTAL_S3_REGION") or DEFAULT_S3_REGION,
        )
    raise StorageConfigError(f"PORTAL_STORAGE must be local or s3, not {kind!r}")


BLOB_STORE_EXTENSION = "portal_blob_store"


def init_blob_store(app: Any) -> None:
    """Bind the configured store to the app (client_portal_rp.create_app)."""
    app.extensions[BLOB_STORE_EXTENSION] = blob_store_from_config(app.config, app.instance_path)


def current_blob_store() -> BlobStore:
    """The app's blob store (one per app; tests and deployments choose it by configuration)."""
    from flask import current_app

    store: BlobStore = current_app.extensions[BLOB_STORE_EXTENSION]
    return store
