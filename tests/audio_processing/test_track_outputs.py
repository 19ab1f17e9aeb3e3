"""Publishing track outputs: build folders, manifest last, pointer switch, pruning, partial builds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.lake import Lake, LakeError
from pipelines.track_outputs import BuildRef, build_id, current, is_complete, publish_build, set_current, track_prefix

ISRC = "CDA012600001"


def _local(tmp_path: Path, name: str, files: dict[str, bytes]) -> Path:
    folder = tmp_path / name
    for rel, data in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
    return folder


@pytest.fixture()
def lake(tmp_path) -> Lake:
    return Lake(str(tmp_path / "lake"))


def test_publish_then_read_the_current_build(lake, tmp_path) -> None:
    ref = BuildRef("hls", ISRC, 1, build_id(a=1))
    assert current(lake, "hls", ISRC, 1) is None
    assert publish_build(lake, ref, _local(tmp_path, "b1", {"master.m3u8": b"#EXTM3U\n", "x/seg.m4s": b"123"}))
    assert current(lake, "hls", ISRC, 1) == ref
    assert is_complete(lake, ref)
    assert lake.read_bytes(ref.path("x/seg.m4s")) == b"123"
    pointer = json.loads(lake.read_bytes(f"{track_prefix('hls', ISRC, 1)}/current.json"))
    assert pointer["build"] == ref.build_id


def test_same_build_again_is_reused_without_rewriting(lake, tmp_path) -> None:
    ref = BuildRef("loudness", ISRC, 1, build_id(a=1))
    folder = _local(tmp_path, "b", {"loudness.json": b"{}"})
    assert publish_build(lake, ref, folder) is True
    stamp = lake.modified_at(ref.path("loudness.json"))
    assert publish_build(lake, ref, folder) is False
    assert lake.modified_at(ref.path("loudness.json")) == stamp


def test_new_build_switches_the_pointer_and_keeps_only_the_previous_one(lake, tmp_path) -> None:
    refs = [BuildRef("preview", ISRC, 2, build_id(n=n)) for n in range(3)]
    for n, ref in enumerate(refs):
        publish_build(lake, ref, _local(tmp_path, f"b{n}", {"preview.m4a": bytes([n]) * 10}))
        assert current(lake, "preview", ISRC, 2) == ref
    builds = set(lake.ls(track_prefix("preview", ISRC, 2))) - {"current.json"}
    assert builds == {refs[1].build_id, refs[2].build_id}  # the one being replaced stays for in-flight players


def test_a_half_written_build_is_invisible_and_the_rerun_completes(lake, tmp_path, monkeypatch) -> None:
    old = BuildRef("hls", ISRC, 1, build_id(v=1))
    publish_build(lake, old, _local(tmp_path, "old", {"a": b"old-a", "b": b"old-b"}))
    new = BuildRef("hls", ISRC, 1, build_id(v=2))
    folder = _local(tmp_path, "new", {"a": b"new-a", "b": b"new-b", "c": b"new-c"})

    real_put = Lake._put_file
    calls = {"n": 0}

    def dying_put(self, local_path, relpath):  # the process "dies" after the first file
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("killed")
        return real_put(self, local_path, relpath)

    monkeypatch.setattr(Lake, "_put_file", dying_put)
    with pytest.raises(KeyboardInterrupt):
        publish_build(lake, new, folder)
    monkeypatch.setattr(Lake, "_put_file", real_put)

    assert current(lake, "hls", ISRC, 1) == old  # readers still get the old, complete build
    assert is_complete(lake, old) and not is_complete(lake, new)
    assert publish_build(lake, new, folder) is True
    assert current(lake, "hls", ISRC, 1) == new and is_complete(lake, new)


def test_pointer_never_names_an_unpublished_build(lake) -> None:
    with pytest.raises(LakeError, match="unpublished"):
        set_current(lake, BuildRef("waveform", ISRC, 1, "deadbeefdeadbeef"))


def test_a_tampered_build_is_not_complete(lake, tmp_path) -> None:
    ref = BuildRef("waveform", ISRC, 1, build_id(a=1))
    publish_build(lake, ref, _local(tmp_path, "b", {"waveform.json": b"{}"}))
    Path(lake.resolve(ref.path("waveform.json"))).write_bytes(b"{changed}")
    assert not is_complete(lake, ref)
    assert publish_build(lake, ref, _local(tmp_path, "b", {"waveform.json": b"{}"})) is True  # repaired
    assert is_complete(lake, ref)


def test_bad_kind_and_corrupt_pointer_are_reported(lake) -> None:
    with pytest.raises(ValueError, match="unknown audio output kind"):
        track_prefix("video", ISRC, 1)
    lake.write_bytes(f"{track_prefix('hls', ISRC, 3)}/current.json", b"not json")
    with pytest.raises(LakeError, match="unreadable pointer"):
        current(lake, "hls", ISRC, 3)


def test_build_id_is_stable_and_input_sensitive() -> None:
    assert build_id(a=1, b="x") == build_id(b="x", a=1)
    assert build_id(a=1) != build_id(a=2)
    assert len(build_id(a=1)) == 16
