"""Blob storage: one contract, run against the disk store and an S3 store on a real local S3
server (moto's ThreadedMotoServer on a loopback port, over HTTP with boto3)."""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from client_portal_rp.storage import (
    BlobNotFound,
    BlobStore,
    LocalBlobStore,
    S3BlobStore,
    StorageConfigError,
    blob_store_from_config,
)

BUCKET = "portal-documents"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **CREDENTIALS)
    client.create_bucket(Bucket=BUCKET)
    yield endpoint
    server.stop()


def s3_client(endpoint: str) -> Any:
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **CREDENTIALS)


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs")
    endpoint = request.getfixturevalue("s3_endpoint")
    return S3BlobStore(BUCKET, client=s3_client(endpoint))


def sample(tmp_path: Path, content: bytes, name: str = "sample.bin") -> tuple[Path, str]:
    path = tmp_path / name
    path.write_bytes(content)
    return path, hashlib.sha256(content).hexdigest()


def test_put_then_read_back_the_same_bytes(store: BlobStore, tmp_path: Path) -> None:
    content = os.urandom(300_000)
    path, digest = sample(tmp_path, content)
    assert not store.exists(digest)
    assert store.put(path, digest) is True
    assert store.exists(digest)
    assert store.size(digest) == len(content)
    with store.open(digest) as stream:
        first = stream.read(1000)
        rest = stream.read()
    assert first + rest == content


def test_the_blob_outlives_the_source_file(store: BlobStore, tmp_path: Path) -> None:
    """The upload's temporary file is removed after the deposit: the blob stays whole (a local
    store links it rather than copying it)."""
    content = os.urandom(200_000)
    path, digest = sample(tmp_path, content)
    store.put(path, digest)
    path.unlink()
    with store.open(digest) as stream:
        assert stream.read() == content


def test_put_twice_says_already_there(store: BlobStore, tmp_path: Path) -> None:
    path, digest = sample(tmp_path, b"releve de banque mars")
    assert store.put(path, digest) is True
    assert store.put(path, digest) is False
    assert store.size(digest) == len(b"releve de banque mars")


def test_big_file_goes_up_whole(store: BlobStore, tmp_path: Path) -> None:
    """Above the multipart threshold on S3 (8 MiB): the parts join back into the same bytes."""
    content = os.urandom(9 * 1024 * 1024 + 123)
    path, digest = sample(tmp_path, content)
    assert store.put(path, digest)
    assert store.size(digest) == len(content)
    with store.open(digest) as stream:
        assert hashlib.sha256(stream.read()).hexdigest() == digest


def test_delete_removes_and_is_idempotent(store: BlobStore, tmp_path: Path) -> None:
    path, digest = sample(tmp_path, b"facture 42")
    store.put(path, digest)
    store.delete(digest)
    assert not store.exists(digest)
    store.delete(digest)
    with pytest.raises(BlobNotFound):
        store.open(digest)
    with pytest.raises(BlobNotFound):
        store.size(digest)


@pytest.mark.parametrize(
    "digest",
    [
        "../" * 21 + "a",
        "../../etc/passwd",
        "A" * 64,
        "a" * 63,
        "a" * 65,
        "a" * 63 + "/",
        "a" * 62 + "\x00a",
        "",
        "g" * 64,
    ],
)
def test_non_digest_names_are_refused(store: BlobStore, tmp_path: Path, digest: str) -> None:
    path, _ = sample(tmp_path, b"x")
    for call in (
        lambda: store.put(path, digest),
        lambda: store.exists(digest),
        lambda: store.open(digest),
        lambda: store.size(digest),
        lambda: store.delete(digest),
    ):
        with pytest.raises(ValueError, match="SHA-256"):
            call()


def test_local_layout_is_two_levels_of_digest(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    path, digest = sample(tmp_path, b"bilan 2024")
    store.put(path, digest)
    stored = tmp_path / "blobs" / digest[:2] / digest[2:4] / digest
    assert stored.read_bytes() == b"bilan 2024"
    # Nothing else is left in the folder: the temporary file was renamed into place.
    assert sorted(p.name for p in stored.parent.iterdir()) == [digest]


def test_s3_key_layout(s3_endpoint: str, tmp_path: Path) -> None:
    client = s3_client(s3_endpoint)
    store = S3BlobStore(BUCKET, client=client)
    path, digest = sample(tmp_path, b"liasse fiscale")
    store.put(path, digest)
    body = client.get_object(Bucket=BUCKET, Key=f"blobs/{digest[:2]}/{digest}")["Body"].read()
    assert body == b"liasse fiscale"


def test_config_defaults_to_local_under_instance(tmp_path: Path) -> None:
    store = blob_store_from_config({}, str(tmp_path))
    assert isinstance(store, LocalBlobStore)
    assert store.root == tmp_path / "documents"
    chosen = blob_store_from_config(
        {"PORTAL_STORAGE": "local", "PORTAL_STORAGE_PATH": str(tmp_path / "ailleurs")}, "/nowhere"
    )
    assert isinstance(chosen, LocalBlobStore) and chosen.root == tmp_path / "ailleurs"


def test_config_s3_reaches_the_endpoint(
    s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    store = blob_store_from_config(
        {
            "PORTAL_STORAGE": "s3",
            "PORTAL_S3_BUCKET": BUCKET,
            "PORTAL_S3_ENDPOINT_URL": s3_endpoint,
        },
        str(tmp_path),
    )
    assert isinstance(store, S3BlobStore)
    path, digest = sample(tmp_path, b"via la configuration")
    assert store.put(path, digest)
    assert store.exists(digest)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"PORTAL_STORAGE": "ftp"}, "local or s3"),
        ({"PORTAL_STORAGE": "s3"}, "PORTAL_S3_BUCKET"),
    ],
)
def test_config_errors_are_clear(config: dict[str, str], message: str) -> None:
    with pytest.raises(StorageConfigError, match=message):
        blob_store_from_config(config, "/tmp")
