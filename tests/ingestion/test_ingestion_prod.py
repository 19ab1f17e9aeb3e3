"""Ingestion under the prod profile: deliveries on S3 (moto), instance on PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterInstance, materialize

from assets.ingestion import INGESTION_ASSETS, INGESTION_CHECKS, track_deliveries
from pipelines.instance import ensure_instance
from pipelines.resources import build_resources
from pipelines.sensors import register_new_deliveries
from pipelines.settings import Settings

pytestmark = [pytest.mark.slow, pytest.mark.services]


def test_deliveries_on_s3_are_judged_and_catalogued(
    small_world_dir: Path, tmp_path: Path, moto_s3, postgres_url: str
) -> None:
    expected = json.loads((small_world_dir / "truth" / "expected_rejections.json").read_text())
    good = next(d for d in expected["accepted"] if d.startswith("ern-"))  # an album: several tracks
    bad = next(r for r in expected["rejections"] if r["kind"] == "bad_upc")
    settings = Settings(
        profile="prod", data_dir=tmp_path, lake_url=moto_s3.fresh_root("ingest"),
        s3_endpoint_url=moto_s3.endpoint_url, s3_access_key_id=moto_s3.key,
        s3_secret_access_key=moto_s3.secret, dagster_postgres_url=postgres_url,
        mlflow_tracking_uri=postgres_url, redis_url="redis://127.0.0.1:6379/15", workers=1,
    )  # fmt: skip
    resources = build_resources(settings)
    lake = resources["lake"].lake()
    for delivery_id in (good, bad["delivery_id"]):
        lake.copy_tree_from_local(small_world_dir / "landing" / "uploads" / delivery_id,
                                  f"landing/uploads/{delivery_id}")  # fmt: skip
    ensure_instance(settings)
    with DagsterInstance.get() as instance:
        found = register_new_deliveries(lake, instance, seen=set())
        assert len(found.partition_keys) >= 4
        for key in found.partition_keys:
            result = materialize([INGESTION_ASSETS[0]], partition_key=key, instance=instance,
                                 resources=resources, selection=[INGESTION_ASSETS[0]])  # fmt: skip
            assert result.success
        result = materialize([*INGESTION_ASSETS, *INGESTION_CHECKS], instance=instance, resources=resources,
                             selection=INGESTION_ASSETS[1:])  # fmt: skip
        assert result.success
        assert instance.get_dynamic_partitions(track_deliveries.name) == found.partition_keys
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True)
    decided = dict(con.execute("SELECT delivery_id, list(DISTINCT decision) FROM ingestion_decisions GROUP BY 1").fetchall())
    tracks = con.execute("SELECT count(*) FROM catalog WHERE is_current").fetchone()[0]
    con.close()
    assert decided == {good: ["accepted"], bad["delivery_id"]: ["rejected"]}
    assert tracks == len(found.partition_keys) - 1
    assert lake.exists(f"quarantine/{bad['delivery_id']}/report.json")
    assert lake.exists("catalog/fingerprints/index.npz")
