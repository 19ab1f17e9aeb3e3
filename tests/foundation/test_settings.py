"""The typed settings object: profile defaults, sources and refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from pipelines.settings import Settings

PROD_ENV = {
    "CONGOWAVE_PROFILE": "prod",
    "CONGOWAVE_LAKE_URL": "s3://lake/prefix",
    "CONGOWAVE_S3_ENDPOINT_URL": "http://127.0.0.1:9000",
    "CONGOWAVE_DAGSTER_POSTGRES_URL": "postgresql://u@127.0.0.1:5432/dagster",
    "CONGOWAVE_MLFLOW_TRACKING_URI": "postgresql://u@127.0.0.1:5432/mlflow",
    "CONGOWAVE_REDIS_URL": "redis://127.0.0.1:6379/0",
}


def test_local_profile_is_the_default_and_fully_embedded(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path)
    assert s.profile == "local"
    assert s.lake_root == str(tmp_path / "lake")
    assert s.warehouse_path == tmp_path / "warehouse.duckdb"
    assert s.dagster_home == tmp_path / "dagster"
    assert s.mlflow_tracking_uri == f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}"
    assert s.dbt_target == "duckdb"
    assert s.redis_url is None and s.dagster_postgres_url is None


def test_prod_profile_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in PROD_ENV.items():
        monkeypatch.setenv(name, value)
    s = Settings()
    assert s.profile == "prod"
    assert s.lake_root == "s3://lake/prefix"
    assert s.dbt_target == "spark"
    assert s.mlflow_artifact_root == "s3://lake/prefix/mlflow"
    assert s.s3_storage_options()["client_kwargs"]["endpoint_url"] == "http://127.0.0.1:9000"


@pytest.mark.parametrize("missing", ["CONGOWAVE_LAKE_URL", "CONGOWAVE_DAGSTER_POSTGRES_URL",
                                     "CONGOWAVE_MLFLOW_TRACKING_URI", "CONGOWAVE_REDIS_URL"])
def test_prod_refuses_to_fall_back_to_local_parts(monkeypatch: pytest.MonkeyPatch, missing: str) -> None:
    for name, value in PROD_ENV.items():
        if name != missing:
            monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=missing):
        Settings()


def test_prod_lake_must_be_s3(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in PROD_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CONGOWAVE_LAKE_URL", "/tmp/lake")
    with pytest.raises(ValidationError, match="must be on S3"):
        Settings()


def test_toml_file_is_read_and_environment_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "congowave.toml"
    config.write_text(f'data_dir = "{tmp_path}"\nsample_seed = 11\nspark_master = "local[1]"\n')
    monkeypatch.setenv("CONGOWAVE_CONFIG", str(config))
    monkeypatch.setenv("CONGOWAVE_SPARK_MASTER", "spark://cluster:7077")
    s = Settings()
    assert s.sample_seed == 11
    assert s.data_dir == tmp_path
    assert s.spark_master == "spark://cluster:7077"


def test_unknown_keys_in_the_file_are_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "congowave.toml"
    config.write_text('lake_ulr = "/typo"\n')
    monkeypatch.setenv("CONGOWAVE_CONFIG", str(config))
    with pytest.raises(ValidationError, match="lake_ulr"):
        Settings()


def test_missing_config_file_named_explicitly_is_an_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CONGOWAVE_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(ValidationError, match="nope.toml"):
        Settings()


def test_bad_values_are_refused_with_the_field_name() -> None:
    with pytest.raises(ValidationError, match="profile"):
        Settings(profile="staging")
    with pytest.raises(ValidationError, match="sample_scale"):
        Settings(sample_scale="huge")


def test_secrets_never_print(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in PROD_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CONGOWAVE_S3_SECRET_ACCESS_KEY", "hunter2")
    s = Settings()
    assert "hunter2" not in s.model_dump_json()
    assert s.s3_storage_options()["secret"] == "hunter2"


def test_readme_documents_every_setting() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for env, _default, _description in Settings.described():
        assert f"`{env}`" in readme, f"README's settings table lacks {env}"
