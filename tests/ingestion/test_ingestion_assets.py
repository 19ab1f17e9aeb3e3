"""Ingestion end to end on the small world: sensor, verdicts, catalog, quarantine, report, checks."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest
from dagster import AssetCheckKey, AssetKey, DagsterInstance, build_sensor_context

from assets.ingestion import QUARANTINE, VERDICTS, track_deliveries
from pipelines.main_run import run_main
from pipelines.resources import build_resources
from pipelines.sensors import discover_deliveries, upload_sensor
from pipelines.settings import Settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def expected(small_world_dir: Path) -> dict:
    return json.loads((small_world_dir / "truth" / "expected_rejections.json").read_text())


@pytest.fixture(scope="module")
def decisions(ingested_small_world: Path) -> dict[str, list[dict]]:
    con = duckdb.connect(str(ingested_small_world / "warehouse.duckdb"), read_only=True)
    rows = con.execute(
        "SELECT delivery_id, partition_key, decision, reasons, duplicate_of, version FROM ingestion_decisions"
    ).fetchall()
    con.close()
    out: dict[str, list[dict]] = {}
    for delivery_id, key, decision, reasons, duplicate_of, version in rows:
        out.setdefault(delivery_id, []).append(
            {"key": key, "decision": decision, "reasons": set(reasons), "duplicate_of": duplicate_of, "version": version}
        )
    return out


def test_every_planted_bad_upload_is_rejected_with_its_reason(expected: dict, decisions: dict) -> None:
    assert len(expected["rejections"]) >= 30
    for bad in expected["rejections"]:
        tracks = decisions[bad["delivery_id"]]
        assert all(t["decision"] == "rejected" for t in tracks), bad
        found = set().union(*(t["reasons"] for t in tracks))
        assert set(bad["reasons"]) <= found, (bad["kind"], found)


def test_every_good_upload_is_accepted(expected: dict, decisions: dict) -> None:
    for delivery_id in expected["accepted"]:
        assert decisions[delivery_id], delivery_id
        assert {t["decision"] for t in decisions[delivery_id]} == {"accepted"}, decisions[delivery_id]


def test_half_uploaded_deliveries_are_left_alone(expected: dict, decisions: dict) -> None:
    for delivery_id in expected["pending"]:
        assert delivery_id not in decisions


def test_duplicate_names_its_original(expected: dict, decisions: dict) -> None:
    [dup] = [r for r in expected["rejections"] if "DUPLICATE_AUDIO" in r["reasons"]]
    [track] = decisions[dup["delivery_id"]]
    assert track["duplicate_of"] == dup["duplicate_of"]


def test_catalog_holds_every_accepted_track_with_fingerprint_and_provenance(ingested_small_world: Path) -> None:
    con = duckdb.connect(str(ingested_small_world / "warehouse.duckdb"), read_only=True)
    rows = con.execute(
        "SELECT isrc, version, is_current, delivery_id, partition_key, fingerprint_b64, audio_path, genre "
        "FROM catalog"
    ).fetchall()
    con.close()
    assert len(rows) == 40 and all(r[2] for r in rows)
    lake = ingested_small_world / "lake"
    for isrc, version, _, delivery_id, key, fp, audio_path, genre in rows:
        assert version == 1 and fp and genre and key.startswith(delivery_id)
        assert (lake / audio_path).is_file()


def test_rejected_deliveries_are_copied_to_quarantine_untouched(ingested_small_world: Path, expected: dict) -> None:
    lake = ingested_small_world / "lake"
    for bad in expected["rejections"]:
        folder = lake / QUARANTINE / bad["delivery_id"]
        report = json.loads((folder / "report.json").read_text())
        assert set(bad["reasons"]) <= {c for t in report["tracks"] for c in t["reasons"]}
        original = lake / "landing" / "uploads" / bad["delivery_id"]
        for path in original.rglob("*"):
            if path.is_file():
                copy = folder / "files" / path.relative_to(original)
                assert copy.read_bytes() == path.read_bytes()
                assert path.exists()  # nothing is ever deleted


def test_checks_pass_on_the_small_world(ingested_small_world: Path) -> None:
    with DagsterInstance.from_config(str(ingested_small_world / "dagster")) as instance:
        for asset, name in [("ingestion_report", "rejection_spike"), ("catalog", "every_track_decided"),
                            ("catalog", "one_current_version_per_isrc")]:  # fmt: skip
            key = AssetCheckKey(AssetKey(asset), name)
            record = instance.event_log_storage.get_latest_asset_check_execution_by_key([key])[key]
            assert record.status.value == "SUCCEEDED", name


def test_rerun_is_idempotent(ingested_small_world: Path) -> None:
    lake = ingested_small_world / "lake"
    before = {p: p.read_bytes() for p in (lake / VERDICTS).glob("*.json")}
    assert run_main(Settings(data_dir=ingested_small_world), progress=lambda _m: None) == 0
    after = {p: p.read_bytes() for p in (lake / VERDICTS).glob("*.json")}
    assert before == after


def test_sensor_registers_each_delivery_once_and_skips_incomplete(
    small_world_dir: Path, tmp_path: Path, expected: dict
) -> None:
    settings = Settings(data_dir=tmp_path)
    lake_resource = build_resources(settings)["lake"]
    lake = lake_resource.lake()
    uploads = small_world_dir / "landing" / "uploads"
    chosen = [expected["accepted"][0], expected["pending"][0], expected["rejections"][0]["delivery_id"]]
    for delivery_id in chosen:
        shutil.copytree(uploads / delivery_id, Path(lake.root_url) / "landing" / "uploads" / delivery_id)
    with DagsterInstance.ephemeral() as instance:
        context = build_sensor_context(instance=instance, resources={"lake": lake_resource})
        result = upload_sensor(context)
        keys = result.dynamic_partitions_requests[0].partition_keys
        assert {k.split(".t")[0] for k in keys} == {chosen[0], chosen[2]}
        assert len(result.run_requests) == 1
        instance.add_dynamic_partitions(track_deliveries.name, keys)
        again = upload_sensor(build_sensor_context(instance=instance, cursor=result.cursor,
                                                   resources={"lake": lake_resource}))  # fmt: skip
        assert not getattr(again, "run_requests", None)
    assert discover_deliveries(lake, seen=set(chosen)).deliveries == []


def test_a_redelivery_with_new_metadata_is_a_new_version(ingested_small_world: Path, expected: dict, tmp_path: Path) -> None:
    """Same ISRC, changed title: version 2 becomes current; version 1 stays in the catalog."""
    data_dir = tmp_path / "redeliver"
    shutil.copytree(ingested_small_world, data_dir, ignore=shutil.ignore_patterns("*.wal"))
    lake = data_dir / "lake"
    original = expected["accepted"][1]
    source = lake / "landing" / "uploads" / original
    if not (source / "metadata.json").exists():
        original = next(d for d in expected["accepted"] if (lake / "landing/uploads" / d / "metadata.json").exists())
        source = lake / "landing" / "uploads" / original
    target = lake / "landing" / "uploads" / "zz-redelivery-0001"
    shutil.copytree(source, target)
    meta = json.loads((target / "metadata.json").read_text())
    meta["title"] = meta["title"] + " (Remastered)"
    meta["delivery"]["submitted_at"] = "2030-01-01T00:00:00Z"
    (target / "metadata.json").write_text(json.dumps(meta))
    assert run_main(Settings(data_dir=data_dir), progress=lambda _m: None) == 0
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
    rows = con.execute(
        "SELECT version, is_current, title FROM catalog WHERE delivery_id IN (?, ?) ORDER BY version",
        [original, "zz-redelivery-0001"],
    ).fetchall()
    con.close()
    assert [(v, c) for v, c, _ in rows] == [(1, False), (2, True)]
    assert rows[1][2].endswith("(Remastered)")
    # the new version gets its own audio outputs; the old one's stay published for whoever plays it
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
    audio = con.execute(
        "SELECT a.version, a.playable, a.master_playlist FROM track_audio a JOIN catalog c USING (isrc, version) "
        "WHERE c.delivery_id IN (?, ?) ORDER BY a.version", [original, "zz-redelivery-0001"],
    ).fetchall()  # fmt: skip
    con.close()
    assert [(v, p) for v, p, _ in audio] == [(1, True), (2, True)]
    assert audio[0][2] != audio[1][2]
    assert all((lake / m).is_file() for _, _, m in audio)
