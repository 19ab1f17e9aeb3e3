"""The ingestion CLI commands and the rejection-spike rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assets.ingestion import _spikes
from pipelines.cli import main


@pytest.fixture(scope="module")
def expected(small_world_dir: Path) -> dict:
    return json.loads((small_world_dir / "truth" / "expected_rejections.json").read_text())


def _upload_folder(small_world_dir: Path, delivery_id: str) -> Path:
    return small_world_dir / "landing" / "uploads" / delivery_id


def test_audio_validate_accepts_a_good_upload(small_world_dir: Path, expected: dict, capsys) -> None:
    delivery = next(d for d in expected["accepted"] if (_upload_folder(small_world_dir, d) / "metadata.json").exists())
    folder = _upload_folder(small_world_dir, delivery)
    meta = json.loads((folder / "metadata.json").read_text())
    code = main(["audio", "validate", str(folder / meta["audio_file"]), "--metadata", str(folder / "metadata.json")])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["decision"] == "accepted" and report["problems"] == []
    assert report["metadata"]["isrc"] == meta["isrc"].replace("-", "").upper()


@pytest.mark.parametrize("kind", ["silent", "too_short", "bad_isrc"])
def test_audio_validate_rejects_with_the_reason(small_world_dir: Path, expected: dict, kind: str, capsys) -> None:
    bad = next(r for r in expected["rejections"] if r["kind"] == kind)
    folder = _upload_folder(small_world_dir, bad["delivery_id"])
    meta = json.loads((folder / "metadata.json").read_text())
    code = main(["audio", "validate", str(folder / meta["audio_file"]), "--metadata", str(folder / "metadata.json")])
    report = json.loads(capsys.readouterr().out)
    assert code == 1 and report["decision"] == "rejected"
    assert set(bad["reasons"]) <= {p["code"] for p in report["problems"]}


def test_ingest_drops_a_delivery_with_the_marker_last(
    small_world_dir: Path, expected: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setenv("CONGOWAVE_DATA_DIR", str(tmp_path))
    source = _upload_folder(small_world_dir, expected["pending"][0])  # a folder without a marker
    assert main(["ingest", str(source), "--delivery-id", "label-drop-001"]) == 0
    landed = tmp_path / "lake" / "landing" / "uploads" / "label-drop-001"
    assert (landed / "BatchComplete").is_file()
    marker_time = (landed / "BatchComplete").stat().st_mtime_ns
    assert all(p.stat().st_mtime_ns <= marker_time for p in landed.iterdir())
    assert json.loads(capsys.readouterr().out)["files"] == len([p for p in source.iterdir() if p.is_file()])
    assert main(["ingest", str(source), "--delivery-id", "label-drop-001"]) == 2  # never twice
    assert main(["ingest", str(source), "--delivery-id", "../escape"]) == 2  # never outside the lake


def test_rejection_spike_rule() -> None:
    steady = [("d1", 0.4, 20), ("d2", 0.5, 20), ("d3", 0.45, 20)]
    assert _spikes(steady, 0.6) == []
    assert _spikes([*steady, ("d4", 0.95, 20)], 0.6) == [("d4", 0.95, 20)]
    assert _spikes([*steady, ("d4", 1.0, 3)], 0.6) == []  # too few tracks to call it a spike
