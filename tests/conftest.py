"""Fixtures shared by the whole suite: clean settings, and the machine's real services."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.s3 import MotoS3, start_moto_s3

POSTGRES_ADMIN_URL = os.environ.get("CONGOWAVE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_TEST_URL = os.environ.get("CONGOWAVE_TEST_REDIS", "redis://127.0.0.1:6379/15")


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test sees a developer's CONGOWAVE_* variables or congowave.toml, or their DAGSTER_HOME."""
    for name in list(os.environ):
        if name.startswith("CONGOWAVE_") and not name.startswith("CONGOWAVE_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CONGOWAVE_CONFIG", str(_empty_config(tmp_path_factory)))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    from pipelines.settings import get_settings

    get_settings.cache_clear()


def _empty_config(factory: pytest.TempPathFactory) -> Path:
    path = factory.getbasetemp() / "empty-congowave.toml"
    if not path.exists():
        path.write_text("")
    return path


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database on the machine's server, dropped after the test.

    One per test: Dagster and MLflow both own a table called `runs`, so in prod
    they get separate databases, and tests must not share one either.
    """
    import psycopg2

    name = f"congowave_test_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(POSTGRES_ADMIN_URL)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with admin.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
            )
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.close()


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[MotoS3]:
    """One moto S3 server on loopback for the whole session; tests take fresh roots in its bucket."""
    with start_moto_s3() as moto:
        yield moto


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The machine's Redis (database 15, flushed by the tests that use it)."""
    return REDIS_TEST_URL


@pytest.fixture(scope="session")
def small_world_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small sample world (seed 7), generated once per test session by the main job's own code."""
    from pipelines.main_run import place_sample_world
    from pipelines.resources import build_resources
    from pipelines.settings import Settings

    data_dir = tmp_path_factory.mktemp("main-data")
    settings = Settings(data_dir=data_dir, sample_scale="small", sample_seed=7)
    lake = build_resources(settings)["lake"].lake()
    return place_sample_world(settings, lake, progress=lambda _m: None)


@pytest.fixture(scope="session")
def ingested_small_world(small_world_dir: Path) -> Path:
    """The small world after the main job ran on it once (ingestion and everything after); its data dir."""
    from pipelines.main_run import run_main
    from pipelines.settings import Settings

    data_dir = small_world_dir.parent
    assert run_main(Settings(data_dir=data_dir), progress=lambda _m: None) == 0
    return data_dir
