"""S3-only lake behaviour, against a real moto server on loopback.

The backend-independent contract (atomic writes, publish/verify, path safety...) runs
on S3 too, via the parametrized ``lake`` fixture in ``test_lake_local.py``; this file
covers what only S3 has: HTTP-level ordering, object metadata, multipart uploads and
other writers sharing the bucket.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import s3fs

from pipelines.lake import Lake, LakeError


@pytest.fixture
def s3_client(moto_s3):
    return boto3.client(
        "s3",
        endpoint_url=moto_s3.endpoint_url,
        region_name=moto_s3.region,
        aws_access_key_id=moto_s3.key,
        aws_secret_access_key=moto_s3.secret,
    )


@pytest.fixture
def s3_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, str]]]:
    """Every S3 API call s3fs makes, as (operation, key), in order."""
    calls: list[tuple[str, str]] = []
    original = s3fs.S3FileSystem._call_s3

    async def recording(self, method, *args, **kwargs):
        params = args[0] if args and isinstance(args[0], dict) else {}
        key = kwargs.get("Key") or params.get("Key", "")
        calls.append((method, key))
        return await original(self, method, *args, **kwargs)

    monkeypatch.setattr(s3fs.S3FileSystem, "_call_s3", recording)
    yield calls


def _key(lake: Lake, relpath: str) -> str:
    return lake.resolve(relpath).split("/", 3)[3]  # s3://bucket/<key>


def test_objects_land_under_the_root_prefix(s3_lake: Lake, s3_client, moto_s3) -> None:
    s3_lake.write_bytes("landing/events/e.json", b"{}")
    prefix = s3_lake.root_url.removeprefix(f"s3://{moto_s3.bucket}/")
    assert s3_lake.url("landing", "events") == f"s3://{moto_s3.bucket}/{prefix}/landing/events"
    head = s3_client.head_object(Bucket=moto_s3.bucket, Key=f"{prefix}/landing/events/e.json")
    assert head["ContentLength"] == 2


def test_other_writers_are_seen_immediately(moto_s3, s3_client) -> None:
    root = moto_s3.fresh_root()
    reader = Lake(root, moto_s3.s3_options())
    writer = Lake(root, moto_s3.s3_options())

    assert reader.ls("gold") == [] and not reader.is_published("gold/x")
    writer.publish("gold/x", {"a.bin": b"a"})
    assert reader.ls("gold") == ["x"]
    assert reader.is_published("gold/x")
    assert reader.walk_files("gold/x") == ["a.bin"]

    # A writer that is not a Lake at all (another service using boto3).
    s3_client.put_object(Bucket=moto_s3.bucket, Key=_key(reader, "gold/x/b.bin"), Body=b"b")
    assert reader.walk_files("gold/x") == ["a.bin", "b.bin"]
    s3_client.delete_object(Bucket=moto_s3.bucket, Key=_key(reader, "gold/x/_manifest.json"))
    assert not reader.is_published("gold/x")
    with pytest.raises(LakeError):
        reader.read_parquet("gold/x")


def test_manifest_is_the_last_request_of_a_publish(s3_lake: Lake, s3_calls, tmp_path: Path) -> None:
    s3_lake.publish("ds", {"old.bin": b"old"})
    src = tmp_path / "c.bin"
    src.write_bytes(b"c")
    s3_calls.clear()

    s3_lake.publish("ds", {"a.bin": b"a", "b/b.bin": b"b", "c.bin": src})

    writes = [(op, key.rsplit("/", 1)[-1]) for op, key in s3_calls if op != "list_objects_v2"]
    assert writes[0] == ("delete_object", "_manifest.json")  # unpublish before touching data
    puts = [name for op, name in writes if op == "put_object"]
    assert sorted(puts[:-1]) == ["a.bin", "b.bin", "c.bin"] and puts[-1] == "_manifest.json"
    assert writes[-1] == ("delete_object", "old.bin")  # pruned only after the manifest landed
    assert s3_lake.verify("ds") == []


def test_objects_carry_their_sha256(s3_lake: Lake, s3_client, moto_s3, tmp_path: Path) -> None:
    src = tmp_path / "x.bin"
    src.write_bytes(b"payload")
    s3_lake.write_bytes("a.bin", b"payload")
    s3_lake.put_file(src, "b.bin")
    for name in ("a.bin", "b.bin"):
        head = s3_client.head_object(Bucket=moto_s3.bucket, Key=_key(s3_lake, name))
        assert head["Metadata"]["sha256"] == s3_lake.sha256(name)


def test_copy_tree_rerun_does_not_download(s3_lake: Lake, s3_calls, tmp_path: Path) -> None:
    src = tmp_path / "landing"
    src.mkdir()
    for i in range(3):
        (src / f"track-{i}.wav").write_bytes(bytes([i]) * 1000)
    assert s3_lake.copy_tree_from_local(src, "landing/audio") == 3

    s3_calls.clear()
    assert s3_lake.copy_tree_from_local(src, "landing/audio") == 0
    ops = {op for op, _ in s3_calls}
    assert "get_object" not in ops and "put_object" not in ops, s3_calls


def test_copy_tree_compares_content_of_foreign_objects(
    s3_lake: Lake, s3_client, moto_s3, tmp_path: Path
) -> None:
    # Objects uploaded by something else have no sha256 metadata: fall back to hashing.
    src = tmp_path / "landing"
    src.mkdir()
    (src / "same.txt").write_bytes(b"same")
    (src / "diff.txt").write_bytes(b"new!")
    for name, body in (("same.txt", b"same"), ("diff.txt", b"old!")):
        s3_client.put_object(Bucket=moto_s3.bucket, Key=_key(s3_lake, f"in/{name}"), Body=body)

    assert s3_lake.copy_tree_from_local(src, "in") == 1
    assert s3_lake.read_bytes("in/diff.txt") == b"new!"


def test_failed_multipart_upload_leaves_previous_object(
    s3_lake: Lake, s3_client, moto_s3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3_lake.write_bytes("audio/master.wav", b"previous complete version")
    big = tmp_path / "master.wav"
    big.write_bytes(b"\x01" * (11 * 2**20))
    # s3fs goes multipart from 2 parts up; shrink parts to S3's 5 MiB minimum to get there.
    monkeypatch.setattr(s3fs.core, "calculate_chunksize", lambda *a, **k: 5 * 2**20)

    original = s3fs.S3FileSystem._call_s3
    seen: list[str] = []

    async def flaky(self, method, *args, **kwargs):
        seen.append(method)
        if method == "upload_part" and kwargs.get("PartNumber") == 2:
            raise ConnectionError("simulated network drop mid-upload")
        return await original(self, method, *args, **kwargs)

    monkeypatch.setattr(s3fs.S3FileSystem, "_call_s3", flaky)
    with pytest.raises(ConnectionError):
        s3_lake.put_file(big, "audio/master.wav")
    monkeypatch.undo()

    assert "create_multipart_upload" in seen
    assert s3_lake.read_bytes("audio/master.wav") == b"previous complete version"
    uploads = s3_client.list_multipart_uploads(Bucket=moto_s3.bucket).get("Uploads", [])
    assert not [u for u in uploads if u["Key"] == _key(s3_lake, "audio/master.wav")]
