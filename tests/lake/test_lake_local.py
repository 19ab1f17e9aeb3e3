"""Lake contract tests.

Tests taking the ``lake`` fixture run twice, on a local folder and on moto S3, since
the point of :class:`Lake` is that callers cannot tell the two apart. Tests taking
``local_lake``/``tmp_path`` cover local-only mechanics (rename, fsync, symlinks).
S3-only behaviour lives in ``test_lake_s3.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
import tracemalloc
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines import lake as lake_module
from pipelines.lake import FileEntry, Lake, LakeError, Manifest, S3Options

NASTY_PATHS = [
    "",
    "../x",
    "..",
    ".",
    "a/../../b",
    "a/./b",
    "/etc/passwd",
    "//server/share",
    "a\\b",
    "..\\..\\windows",
    "C:\\x",
    "C:/x",
    "a\x00b",
    "a\nb",
    "a//b",
    "a/",
    "~",
    "~/secrets",
    "~root/x",
    "s3://other-bucket/x",
    "file:///etc/passwd",
    "a/*.parquet",
    "x?versionId=1",
    " a",
    "a/.tmp-0123-hidden",
    "x" * 256,
]


def _table(n: int = 5, offset: int = 0) -> pa.Table:
    return pa.table(
        {
            "track_id": pa.array(range(offset, offset + n), pa.int64()),
            "title": pa.array([f"song {i}" for i in range(offset, offset + n)]),
            "plays": pa.array([i * 10 for i in range(n)], pa.int64()),
        }
    )


def _parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------- path safety


@pytest.fixture(params=["local", "s3"])
def offline_lake(request: pytest.FixtureRequest, tmp_path: Path) -> Lake:
    """Path validation is pure; an S3 lake is built without any server behind it."""
    if request.param == "local":
        return Lake(str(tmp_path / "lake"))
    return Lake("s3://bucket/prefix", S3Options("http://127.0.0.1:9", "k", "s"))


@pytest.mark.parametrize("bad", NASTY_PATHS)
def test_resolve_rejects_nasty_paths(offline_lake: Lake, bad: str) -> None:
    with pytest.raises(LakeError):
        offline_lake.resolve(bad)
    with pytest.raises(LakeError):
        offline_lake.url("landing", bad)  # also when it is just one part of several


@pytest.mark.parametrize("bad", ["../x", "/etc/passwd", "a/../../b", "a\\b", "a\x00b"])
def test_every_entry_point_validates(local_lake: Lake, tmp_path: Path, bad: str) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(b"x")
    attempts = [
        lambda: local_lake.write_bytes(bad, b"x"),
        lambda: local_lake.put_file(src, bad),
        lambda: local_lake.write_parquet(bad, _table()),
        lambda: local_lake.read_bytes(bad),
        lambda: local_lake.exists(bad),
        lambda: local_lake.ls(bad),
        lambda: local_lake.walk_files(bad),
        lambda: local_lake.publish("ok", {bad: b"x"}),
        lambda: local_lake.publish(bad, {"ok": b"x"}),
        lambda: local_lake.copy_tree_from_local(tmp_path, bad),
        lambda: local_lake.duckdb_glob(bad),
    ]
    for attempt in attempts:
        with pytest.raises(LakeError):
            attempt()
    assert not (tmp_path / "x").exists()
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize(
    "good",
    [
        "landing/events/date=2026-01-01/part-0.parquet",
        "audio/Mbongwana Star – Malukayi.mp3",
        "audio/don't stop.flac",
        "a.b/c..d/.hidden",
    ],
)
def test_resolve_accepts_ordinary_names(offline_lake: Lake, good: str) -> None:
    assert offline_lake.resolve(good) == offline_lake.url(*good.split("/"))
    assert offline_lake.resolve(good).endswith("/" + good)


def test_url_shapes(tmp_path: Path) -> None:
    options = S3Options(None, "key-id", "very-secret")
    assert "very-secret" not in repr(options)  # options end up in Dagster logs
    s3 = Lake("s3://bucket/prefix/", options)
    assert s3.protocol == "s3"
    assert s3.root_url == "s3://bucket/prefix"
    assert s3.url("landing", "events") == "s3://bucket/prefix/landing/events"
    assert Lake("s3://bucket").url("x") == "s3://bucket/x"

    local = Lake(f"file://{tmp_path}/lake")
    assert local.protocol == "file"
    assert local.root_url == f"{tmp_path}/lake"
    assert local.url("landing", "events") == f"{tmp_path}/lake/landing/events"
    assert local.url() == local.root_url


@pytest.mark.parametrize(
    "root",
    ["", "http://host/x", "gs://b/x", "s3://", "s3://Bad_Bucket", "s3://b/../x", "s3://bk/a//b"],
)
def test_bad_roots_are_rejected(root: str) -> None:
    with pytest.raises(LakeError):
        Lake(root)


def test_symlink_out_of_the_lake_is_refused(local_lake: Lake, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"top secret")
    root = Path(local_lake.root_url)
    root.mkdir()
    (root / "link").symlink_to(outside)

    with pytest.raises(LakeError):
        local_lake.read_bytes("link/secret")
    with pytest.raises(LakeError):
        local_lake.write_bytes("link/new", b"x")
    assert not (outside / "new").exists()


# --------------------------------------------------------------------- local atomicity


def test_local_root_is_created_on_first_write(local_lake: Lake) -> None:
    root = Path(local_lake.root_url)
    assert not root.exists()
    assert not local_lake.exists("")
    assert local_lake.ls() == []
    local_lake.write_bytes("a/b/c.txt", b"hello")
    assert (root / "a" / "b" / "c.txt").read_bytes() == b"hello"


@pytest.mark.parametrize("failing", ["replace", "fsync"])
def test_local_crash_before_commit_keeps_old_content(
    local_lake: Lake, raw_files, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    local_lake.write_bytes("data/x.bin", b"old complete content")

    def crash(*args, **kwargs):
        raise OSError("simulated crash")

    monkeypatch.setattr(os, failing, crash)
    with pytest.raises(OSError, match="simulated crash"):
        local_lake.write_bytes("data/x.bin", b"new content that never lands")
    with pytest.raises(OSError, match="simulated crash"):
        local_lake.write_bytes("data/fresh.bin", b"never lands either")
    monkeypatch.undo()

    assert local_lake.read_bytes("data/x.bin") == b"old complete content"
    assert not local_lake.exists("data/fresh.bin")
    assert raw_files(local_lake) == ["data/x.bin"]  # no .tmp-* litter


def test_local_put_file_streams(local_lake: Lake, tmp_path: Path) -> None:
    size = 24 * 2**20
    src = tmp_path / "big.wav"
    with open(src, "wb") as f:
        for i in range(size // 2**20):
            f.write(bytes([i]) * 2**20)

    tracemalloc.start()
    try:
        local_lake.put_file(src, "audio/big.wav")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < size // 4, f"put_file buffered {peak} bytes for a {size}-byte file"
    assert local_lake.size("audio/big.wav") == size
    assert local_lake.sha256("audio/big.wav") == hashlib.sha256(src.read_bytes()).hexdigest()


def test_local_temp_name_is_recognisable(local_lake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    real_replace = os.replace

    def spy(src, dst):
        seen.append(os.path.basename(src))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    local_lake.write_bytes("x/track.json", b"{}")
    assert len(seen) == 1 and seen[0].startswith(".tmp-") and seen[0].endswith("-track.json")


# --------------------------------------------------------------------- manifest format


def test_manifest_json_is_deterministic_and_round_trips() -> None:
    a = Manifest({"b.parquet": FileEntry(2, "0" * 64), "a/x.parquet": FileEntry(1, "f" * 64)})
    b = Manifest({"a/x.parquet": FileEntry(1, "f" * 64), "b.parquet": FileEntry(2, "0" * 64)})
    assert a.to_json() == b.to_json()
    assert list(a.files) == ["a/x.parquet", "b.parquet"]
    assert Manifest.from_json(a.to_json()) == a
    assert Manifest.from_json(a.to_json().encode()) == a
    assert a.total_size == 3
    payload = json.loads(a.to_json())
    assert list(payload) == sorted(payload)


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        '{"files": {}}',
        '{"format": "congowave-lake-manifest/1", "files": []}',
        '{"format": "congowave-lake-manifest/1", "files": {"a": {"size": -1, "sha256": "%s"}}}'
        % ("0" * 64),
        '{"format": "congowave-lake-manifest/1", "files": {"a": {"size": 1, "sha256": "xyz"}}}',
        '{"format": "congowave-lake-manifest/1", "files": {"../a": {"size": 1, "sha256": "%s"}}}'
        % ("0" * 64),
        '{"format": "congowave-lake-manifest/1", "files": {"a": {"size": 1}}}',
    ],
)
def test_malformed_manifests_are_rejected(text: str) -> None:
    with pytest.raises(LakeError):
        Manifest.from_json(text)


# --------------------------------------------------------------------- contract: both backends


def test_write_read_overwrite(lake: Lake) -> None:
    assert not lake.exists("landing/a.json")
    lake.write_bytes("landing/a.json", b'{"v": 1}')
    assert lake.exists("landing/a.json")
    assert lake.exists("landing")
    assert lake.read_bytes("landing/a.json") == b'{"v": 1}'

    lake.write_bytes("landing/a.json", b'{"v": 2, "longer": true}')
    assert lake.read_bytes("landing/a.json") == b'{"v": 2, "longer": true}'
    assert lake.size("landing/a.json") == len(b'{"v": 2, "longer": true}')
    assert lake.sha256("landing/a.json") == _sha(b'{"v": 2, "longer": true}')
    with lake.open("landing/a.json") as f:
        assert f.read(5) == b'{"v":'
    with pytest.raises(LakeError):
        lake.open("landing/a.json", "wb")
    with pytest.raises(FileNotFoundError):
        lake.read_bytes("landing/missing.json")


def test_listing_is_sorted_relative_and_fresh(lake: Lake, tmp_path: Path) -> None:
    assert lake.ls("nothing/here") == []
    assert lake.walk_files("nothing/here") == []
    lake.write_bytes("d/b.txt", b"b")
    assert lake.ls("d") == ["b.txt"]  # a listing right after a write sees it (no stale cache)
    lake.write_bytes("d/a.txt", b"a")
    lake.write_bytes("d/sub/c.txt", b"c")
    src = tmp_path / "f.bin"
    src.write_bytes(b"f")
    lake.put_file(src, "d/sub/f.bin")
    lake.publish("d/pub", {"p.bin": b"p"})

    assert lake.ls("d") == ["a.txt", "b.txt", "pub", "sub"]
    assert lake.ls() == ["d"]
    assert lake.walk_files("d") == ["a.txt", "b.txt", "pub/p.bin", "sub/c.txt", "sub/f.bin"]
    assert "pub/_manifest.json" in lake.walk_files("d", include_manifests=True)
    assert lake.walk_files() == ["d/" + p for p in lake.walk_files("d")]
    assert lake.walk_files("d/a.txt") == []


def test_crash_mid_parquet_write_leaves_nothing_torn(
    lake: Lake, raw_files, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake.write_parquet("t/x.parquet", _table(3))
    before = lake.read_bytes("t/x.parquet")
    real_write = pq.write_table

    def half_write_then_die(table, where, **kwargs):
        # Emit a plausible partial file first, exactly like a process killed mid-flush.
        data = b"PAR1" + b"\x15\x04" * 8  # a parquet header and some page bytes, no footer
        if isinstance(where, str):
            Path(where).write_bytes(data)
        else:
            where.write(data)
        raise KeyboardInterrupt("simulated kill")

    monkeypatch.setattr(lake_module.pq, "write_table", half_write_then_die)
    with pytest.raises(KeyboardInterrupt):
        lake.write_parquet("t/x.parquet", _table(50))
    with pytest.raises(KeyboardInterrupt):
        lake.write_parquet("t/new.parquet", _table(50))
    monkeypatch.setattr(lake_module.pq, "write_table", real_write)

    assert lake.read_bytes("t/x.parquet") == before
    assert lake.read_parquet("t/x.parquet").equals(_table(3))
    assert not lake.exists("t/new.parquet")
    assert raw_files(lake) == ["t/x.parquet"]


def test_parquet_bytes_are_deterministic(lake: Lake) -> None:
    lake.write_parquet("a/one.parquet", _table(100))
    lake.write_parquet("b/two.parquet", _table(100))
    lake.write_parquet("c/three.parquet", _table(100), compression="zstd")
    lake.write_parquet("d/four.parquet", _table(100), compression="zstd")
    assert lake.sha256("a/one.parquet") == lake.sha256("b/two.parquet")
    assert lake.sha256("c/three.parquet") == lake.sha256("d/four.parquet")
    assert lake.read_parquet("a/one.parquet").equals(_table(100))


def test_publish_manifest_verify_and_tamper(lake: Lake, tmp_path: Path) -> None:
    src = tmp_path / "cover.jpg"
    src.write_bytes(b"\xff\xd8jpeg")
    files = {
        "date=2026-01-01/part-0.parquet": _parquet_bytes(_table(3)),
        "date=2026-01-02/part-0.parquet": _parquet_bytes(_table(2, offset=3)),
        "assets/cover.jpg": src,
    }
    manifest = lake.publish("gold/tracks", files)

    assert lake.is_published("gold/tracks")
    assert lake.manifest("gold/tracks") == manifest
    assert set(manifest.files) == set(files)
    assert manifest.files["assets/cover.jpg"] == FileEntry(6, _sha(b"\xff\xd8jpeg"))
    raw = lake.read_bytes("gold/tracks/_manifest.json")
    assert raw == manifest.to_json().encode()
    assert lake.verify("gold/tracks") == []

    table = lake.read_parquet("gold/tracks").sort_by("track_id")
    assert table.column("track_id").to_pylist() == [0, 1, 2, 3, 4]
    assert table.column("date").to_pylist() == ["2026-01-01"] * 3 + ["2026-01-02"] * 2

    # Same size, different bytes -> hash mismatch; truncation -> size; deletion -> missing.
    lake.write_bytes("gold/tracks/assets/cover.jpg", b"\xff\xd8JPEG")
    lake.write_bytes("gold/tracks/date=2026-01-02/part-0.parquet", b"PAR1")
    doomed = lake.resolve("gold/tracks/date=2026-01-01/part-0.parquet")
    lake.fs.rm_file(doomed.removeprefix("s3://"))
    problems = lake.verify("gold/tracks")
    assert len(problems) == 3
    assert any("cover.jpg" in p and "sha256" in p for p in problems)
    assert any("date=2026-01-02" in p and "size" in p for p in problems)
    assert any("date=2026-01-01" in p and "missing" in p for p in problems)


def test_publish_is_deterministic(lake: Lake) -> None:
    files = {"b.bin": b"bbb", "a/x.bin": b"a"}
    first = lake.publish("p1", files)
    second = lake.publish("p2", dict(reversed(list(files.items()))))
    assert first == second
    assert lake.read_bytes("p1/_manifest.json") == lake.read_bytes("p2/_manifest.json")


def test_unpublished_prefix_is_not_trusted(lake: Lake) -> None:
    lake.write_bytes("silver/plays/part-0.parquet", _parquet_bytes(_table(3)))
    assert not lake.is_published("silver/plays")
    assert lake.manifest("silver/plays") is None
    with pytest.raises(LakeError, match="not a published dataset"):
        lake.read_parquet("silver/plays")
    assert lake.verify("silver/plays") and "not published" in lake.verify("silver/plays")[0]

    lake.write_bytes("silver/broken/_manifest.json", b"{half a manif")
    assert not lake.is_published("silver/broken")
    with pytest.raises(LakeError):
        lake.manifest("silver/broken")
    assert "unreadable manifest" in lake.verify("silver/broken")[0]


def test_readers_only_read_files_the_manifest_lists(lake: Lake) -> None:
    lake.publish("gold/x", {"part-0.parquet": _parquet_bytes(_table(3))})
    # A straggler from a crashed writer, or an attacker, drops an extra file in.
    lake.write_bytes("gold/x/part-1.parquet", _parquet_bytes(_table(100, offset=1000)))
    assert lake.read_parquet("gold/x").num_rows == 3
    assert lake.verify("gold/x") == []


def test_manifest_is_written_last(
    lake: Lake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    order: list[str] = []
    if lake.protocol == "s3":
        fs = lake.fs
        for method in ("pipe_file", "put_file"):
            real = getattr(fs, method)

            def record(*args, _real=real, _method=method, **kwargs):
                target = args[0] if _method == "pipe_file" else args[1]
                order.append(target.rsplit("/", 1)[-1])
                return _real(*args, **kwargs)

            monkeypatch.setattr(fs, method, record)
    else:
        real_replace = os.replace

        def record_replace(src, dst):
            order.append(os.path.basename(dst))
            real_replace(src, dst)

        monkeypatch.setattr(os, "replace", record_replace)

    src = tmp_path / "z.bin"
    src.write_bytes(b"zz")
    lake.publish("ds", {"a.bin": b"a", "sub/b.bin": b"b", "z.bin": src})
    assert order[-1] == "_manifest.json"
    assert sorted(order[:-1]) == ["a.bin", "b.bin", "z.bin"]


def test_republish_unpublishes_first_and_prunes(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake.publish("ds", {"date=1/a.parquet": b"one", "date=2/a.parquet": b"two"})

    published_during_write: list[bool] = []
    real_write = lake.write_bytes

    def spy(relpath: str, data: bytes) -> None:
        if not relpath.endswith("_manifest.json"):
            published_during_write.append(lake.is_published("ds"))
        real_write(relpath, data)

    monkeypatch.setattr(lake, "write_bytes", spy)
    lake.publish("ds", {"date=2/a.parquet": b"TWO", "date=3/a.parquet": b"three"})
    monkeypatch.undo()

    assert published_during_write == [False, False]
    assert lake.walk_files("ds") == ["date=2/a.parquet", "date=3/a.parquet"]
    assert lake.ls("ds") == ["_manifest.json", "date=2", "date=3"]  # no empty date=1 left behind
    assert lake.read_bytes("ds/date=2/a.parquet") == b"TWO"
    assert lake.verify("ds") == []


def test_publish_rejects_reserved_and_odd_inputs(lake: Lake) -> None:
    with pytest.raises(LakeError):
        lake.publish("ds", {"_manifest.json": b"{}"})
    with pytest.raises(LakeError):
        lake.publish("ds", {"sub/_manifest.json": b"{}"})
    with pytest.raises(LakeError):
        lake.publish("ds", {})
    with pytest.raises(TypeError):
        lake.publish("ds", {"a.txt": "a str is ambiguous"})  # type: ignore[dict-item]
    assert lake.walk_files("ds", include_manifests=True) == []


def test_publish_dir(lake: Lake, tmp_path: Path) -> None:
    out = tmp_path / "spark-out"
    (out / "date=2026-01-01").mkdir(parents=True)
    (out / "date=2026-01-02").mkdir(parents=True)
    pq.write_table(_table(2), out / "date=2026-01-01" / "part-0.parquet")
    pq.write_table(_table(3, offset=2), out / "date=2026-01-02" / "part-0.parquet")
    (out / "_SUCCESS").write_bytes(b"")

    manifest = lake.publish_dir(out, "gold/plays")
    assert sorted(manifest.files) == [
        "_SUCCESS",
        "date=2026-01-01/part-0.parquet",
        "date=2026-01-02/part-0.parquet",
    ]
    assert manifest.files["_SUCCESS"] == FileEntry(0, _sha(b""))
    assert lake.verify("gold/plays") == []
    assert lake.read_parquet("gold/plays").num_rows == 5


def test_copy_tree_from_local_skips_identical_files(lake: Lake, tmp_path: Path) -> None:
    src = tmp_path / "landing"
    (src / "2026" / "01").mkdir(parents=True)
    (src / "2026" / "01" / "events-1.jsonl").write_bytes(b'{"e": 1}\n')
    (src / "2026" / "01" / "events-2.jsonl").write_bytes(b'{"e": 2}\n')
    (src / "readme.txt").write_bytes(b"hi")

    assert lake.copy_tree_from_local(src, "landing/events") == 3
    assert lake.walk_files("landing/events") == [
        "2026/01/events-1.jsonl",
        "2026/01/events-2.jsonl",
        "readme.txt",
    ]
    assert lake.copy_tree_from_local(src, "landing/events") == 0  # rerun is a no-op

    (src / "2026" / "01" / "events-2.jsonl").write_bytes(b'{"e": 3}\n')  # same size, new bytes
    assert lake.copy_tree_from_local(src, "landing/events") == 1
    assert lake.read_bytes("landing/events/2026/01/events-2.jsonl") == b'{"e": 3}\n'
    assert not lake.is_published("landing/events")  # plain upload, not a dataset
