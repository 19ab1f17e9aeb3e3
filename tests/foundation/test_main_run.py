"""The README's first command: the main job on the embedded default, and under prod."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pipelines.main_run import place_sample_world, run_main
from pipelines.resources import build_resources
from pipelines.settings import Settings


def test_main_job_leaves_the_sample_world_in_the_lake(small_world_dir: Path) -> None:
    info = json.loads((small_world_dir / "world.json").read_text())
    assert (info["scale"], info["seed"]) == ("small", 7)
    assert small_world_dir.name == "lake"
    for part in ("landing/uploads", "landing/events", "landing/users/users.parquet",
                 "landing/finance/revenue.parquet", "reference/catalog/tracks.parquet",
                 "truth/expected_rejections.json", "truth/tracks_truth.parquet"):
        assert (small_world_dir / part).exists(), part


def test_a_second_run_reuses_the_world(small_world_dir: Path, ingested_small_world: Path) -> None:
    settings = Settings(data_dir=ingested_small_world)
    before = (small_world_dir / "world.json").stat().st_mtime_ns
    messages: list[str] = []
    assert run_main(settings, progress=messages.append) == 0
    assert any("reusing" in m for m in messages)
    assert any("0 new track partitions" in m for m in messages)
    assert (small_world_dir / "world.json").stat().st_mtime_ns == before
    assert (small_world_dir.parent / "dagster" / "dagster.yaml").is_file()


@pytest.mark.services
def test_prod_profile_puts_the_world_on_s3(
    small_world_dir: Path, tmp_path: Path, moto_s3, postgres_url: str
) -> None:
    settings = Settings(
        profile="prod", data_dir=tmp_path, lake_url=moto_s3.fresh_root("main"),
        s3_endpoint_url=moto_s3.endpoint_url, s3_access_key_id=moto_s3.key,
        s3_secret_access_key=moto_s3.secret, dagster_postgres_url=postgres_url,
        mlflow_tracking_uri=postgres_url, redis_url="redis://127.0.0.1:6379/15",
    )
    # the world is generated locally first; reuse the session's copy instead of generating again
    shutil.copytree(small_world_dir, tmp_path / "sample-world" / "small-7",
                    ignore=shutil.ignore_patterns("dagster", "*.duckdb"))
    lake = build_resources(settings)["lake"].lake()
    place_sample_world(settings, lake, progress=lambda _m: None)
    info = json.loads(lake.read_bytes("world.json"))
    some = sorted(info["files"])[:: max(1, len(info["files"]) // 20)]
    for rel in some:
        assert lake.sha256(rel) == info["files"][rel]
    assert lake.copy_tree_from_local(tmp_path / "sample-world" / "small-7", "") == 0
