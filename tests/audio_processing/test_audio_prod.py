"""Audio assets under the prod profile: lake and key store on S3 (moto), instance on PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dagster import DagsterInstance, materialize

from assets.audio import AUDIO_ASSETS, AUDIO_PARTITIONED_ASSETS
from assets.features import FEATURE_ASSETS, FEATURE_PARTITIONED_ASSETS
from assets.ingestion import INGESTION_ASSETS, catalog_tracks
from pipelines.instance import ensure_instance
from pipelines.resources import build_resources
from pipelines.sensors import register_new_deliveries
from pipelines.settings import Settings
from pipelines.track_outputs import KINDS, current, is_complete

pytestmark = [pytest.mark.slow, pytest.mark.services]


def test_a_track_on_s3_is_transcoded_published_and_keyed_on_s3(
    small_world_dir: Path, tmp_path: Path, moto_s3, postgres_url: str
) -> None:
    expected = json.loads((small_world_dir / "truth" / "expected_rejections.json").read_text())
    good = next(d for d in expected["accepted"] if d.startswith("up-"))  # one audio file + metadata.json
    settings = Settings(
        profile="prod", data_dir=tmp_path, lake_url=moto_s3.fresh_root("audio"),
        s3_endpoint_url=moto_s3.endpoint_url, s3_access_key_id=moto_s3.key,
        s3_secret_access_key=moto_s3.secret, dagster_postgres_url=postgres_url,
        mlflow_tracking_uri=postgres_url, redis_url="redis://127.0.0.1:6379/15", workers=1,
    )  # fmt: skip
    assert str(settings.key_store_url).startswith("s3://")
    resources = build_resources(settings)
    lake = resources["lake"].lake()
    lake.copy_tree_from_local(small_world_dir / "landing" / "uploads" / good, f"landing/uploads/{good}")
    ensure_instance(settings)
    with DagsterInstance.get() as instance:
        found = register_new_deliveries(lake, instance, seen=set())
        for key in found.partition_keys:
            assert materialize([INGESTION_ASSETS[0]], partition_key=key, instance=instance, resources=resources).success
        assert materialize(INGESTION_ASSETS, instance=instance, resources=resources,
                           selection=INGESTION_ASSETS[1:2]).success  # fmt: skip
        (track_key,) = instance.get_dynamic_partitions(catalog_tracks.name)
        every = [*INGESTION_ASSETS, *AUDIO_ASSETS, *FEATURE_ASSETS]
        result = materialize(every, partition_key=track_key, instance=instance, resources=resources,
                             selection=[*AUDIO_PARTITIONED_ASSETS, *FEATURE_PARTITIONED_ASSETS])  # fmt: skip
        assert result.success
        checks = [e.asset_check_evaluation_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
        assert len(checks) == 8 and all(c.passed for c in checks), [(c.check_name, c.metadata) for c in checks]
        assert materialize(every, instance=instance, resources=resources,
                           selection=[AUDIO_ASSETS[-1], FEATURE_ASSETS[1]]).success  # fmt: skip
    isrc, version = track_key.rsplit(".v", 1)
    for kind in KINDS:
        ref = current(lake, kind, isrc, int(version))
        assert ref is not None and is_complete(lake, ref), kind
    keys = resources["audio_processing"].key_store()
    assert len(keys.get(isrc, int(version))) == 16
    assert lake.exists(f"private/keys/hls-keys/{isrc}/v{version}.key")
    assert lake.verify("audio/index") == []
    assert lake.verify("features/index") == []
