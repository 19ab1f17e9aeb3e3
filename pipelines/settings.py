"""The platform's one typed settings object.

Every knob lives here so that switching between the embedded default (`local`)
and the real parts (`prod`) changes settings, never code. Values come, highest
priority first, from `CONGOWAVE_*` environment variables, then an optional TOML
file (path in `CONGOWAVE_CONFIG`, default `congowave.toml` in the working
folder if it exists), then profile defaults.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

Profile = Literal["local", "prod"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _config_file() -> Path:
    """Where the optional settings file lives; read at load time so tests can point elsewhere."""
    return Path(os.environ.get("CONGOWAVE_CONFIG", "congowave.toml"))


class Settings(BaseSettings):
    """Typed configuration for every part of the platform."""

    model_config = SettingsConfigDict(
        env_prefix="CONGOWAVE_",
        extra="forbid",
        validate_default=True,
    )

    profile: Profile = Field("local", description="`local` (embedded default) or `prod`.")
    data_dir: Path = Field(
        PROJECT_ROOT / "data",
        description="Folder for everything the local profile keeps on disk.",
    )

    # lake
    lake_url: str | None = Field(
        None, description="Lake root: a folder (local) or `s3://bucket/prefix` (prod)."
    )
    s3_endpoint_url: str | None = Field(None, description="S3 endpoint (MinIO, moto, ...); None = AWS.")
    s3_access_key_id: str | None = Field(None, description="S3 access key id.")
    s3_secret_access_key: SecretStr | None = Field(None, description="S3 secret access key.")
    s3_region: str | None = Field("us-east-1", description="S3 region.")

    # warehouse and dbt
    warehouse_path: Path | None = Field(None, description="DuckDB warehouse file (local).")
    warehouse_memory_limit: str = Field(
        "4GB", description="Most memory a DuckDB warehouse connection (and dbt on DuckDB) may use; it spills beyond."
    )
    dbt_target: Literal["duckdb", "spark"] | None = Field(
        None, description="dbt target: `duckdb` (local) or `spark` (prod)."
    )

    # Dagster instance
    dagster_home: Path | None = Field(None, description="DAGSTER_HOME for the instance.")
    dagster_postgres_url: str | None = Field(
        None, description="PostgreSQL URL for the Dagster instance (prod)."
    )

    # MLflow
    mlflow_tracking_uri: str | None = Field(
        None, description="MLflow backend store: SQLite (local) or PostgreSQL (prod)."
    )
    mlflow_artifact_root: str | None = Field(
        None, description="MLflow artifact root: a folder (local) or `s3://...` (prod)."
    )

    # Spark
    spark_master: str = Field("local[2]", description="Spark master URL.")
    spark_driver_memory: str = Field("2g", description="Spark driver memory.")
    spark_thrift_host: str | None = Field(None, description="Spark Thrift server host for dbt (prod).")
    spark_thrift_port: int = Field(10000, description="Spark Thrift server port for dbt (prod).")

    # serving store
    redis_url: str | None = Field(None, description="Redis URL for the serving store (prod).")

    # audio
    ffmpeg_binary: str | None = Field(
        None, description="Path to an ffmpeg binary; default is the imageio-ffmpeg wheel's."
    )

    # audio processing (HLS ladder, loudness, waveform, preview)
    hls_bitrates_kbps: list[int] = Field(
        [64, 128, 256], description="AAC-LC bit rates of the HLS ladder, in kbps (JSON list)."
    )
    hls_lossless: bool = Field(False, description="Add a FLAC rendition (the future lossless tier).")
    hls_segment_s: float = Field(6.0, description="HLS segment length in seconds (Apple's authoring spec: 6).")
    hls_encrypt: bool = Field(True, description="Encrypt HLS segments with a per-track AES-128 key.")
    hls_key_uri: str = Field(
        "/v1/keys/{isrc}/{version}",
        description="Key URI written into playlists; `{isrc}` and `{version}` are filled in.",
    )
    key_store_url: str | None = Field(
        None, description="Private store of AES-128 content keys: a folder or `s3://...`, never the CDN's."
    )
    preview_length_s: float = Field(30.0, description="Length of the preview clip, in seconds.")
    loudness_target_lufs: float = Field(-14.0, description="Playback loudness target (LUFS).")
    loudness_ceiling_dbtp: float = Field(-1.0, description="True-peak ceiling for positive playback gain (dBTP).")
    waveform_pixels: int = Field(1800, description="About how many min/max points a track's waveform has.")

    # ingestion
    upload_min_duration_s: float = Field(30.0, description="Shortest accepted upload, in seconds.")
    upload_max_duration_s: float = Field(1200.0, description="Longest accepted upload, in seconds.")
    ingestion_max_rejection_share: float = Field(
        0.6, description="A day whose share of rejected tracks exceeds this fails the ingestion check."
    )
    workers: int = Field(2, description="Worker processes for audio-heavy assets.")

    # listening events, streams, fraud
    events_lateness_days: int = Field(
        7, ge=0, le=60, description="Days after its play day an event may still arrive and be loaded."
    )
    stream_threshold_ms: int = Field(
        30_000, ge=1, description="A play of at least this many milliseconds is one (qualified) stream."
    )
    events_max_rejected_share: float = Field(
        0.01, ge=0, le=1, description="A play day with a larger share of rejected rows fails its blocking check."
    )
    fraud_max_daily_hours: float = Field(
        16.0, gt=0, le=24, description="More listening than this in one UTC day is implausible for a person."
    )

    # sample world used by the main job
    sample_scale: Literal["small", "medium", "large"] = Field(
        "small", description="Scale of the sample world the main job generates."
    )
    sample_seed: int = Field(7, description="Seed of the sample world the main job generates.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _config_file()
        if path.is_file():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    @model_validator(mode="before")
    @classmethod
    def _reject_unknown_file(cls, data: Any) -> Any:
        explicit = os.environ.get("CONGOWAVE_CONFIG")
        if explicit and not Path(explicit).is_file():
            raise ValueError(f"CONGOWAVE_CONFIG points at {explicit!r}, which is not a file")
        return data

    @model_validator(mode="after")
    def _fill_profile_defaults(self) -> Settings:
        """Fill what the profile implies, and refuse a prod profile that would silently run local."""
        data = self.data_dir.resolve()
        object.__setattr__(self, "data_dir", data)
        if self.profile == "local":
            defaults: dict[str, Any] = {
                "lake_url": str(data / "lake"),
                "warehouse_path": data / "warehouse.duckdb",
                "dbt_target": "duckdb",
                "dagster_home": data / "dagster",
                "mlflow_tracking_uri": f"sqlite:///{data / 'mlflow' / 'mlflow.db'}",
                "mlflow_artifact_root": str(data / "mlflow" / "artifacts"),
                "key_store_url": str(data / "keys"),
            }
        else:
            defaults = {
                "warehouse_path": data / "warehouse.duckdb",
                "dbt_target": "spark",
                "dagster_home": data / "dagster",
            }
        for name, value in defaults.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        if self.profile == "prod":
            missing = [
                f"CONGOWAVE_{name.upper()}"
                for name in ("lake_url", "dagster_postgres_url", "mlflow_tracking_uri", "redis_url")
                if getattr(self, name) is None
            ]
            if missing:
                raise ValueError("the prod profile needs " + ", ".join(missing))
            if not str(self.lake_url).startswith("s3://"):
                raise ValueError(f"the prod lake must be on S3 (s3://...), got {self.lake_url!r}")
            if self.key_store_url is None:
                object.__setattr__(self, "key_store_url", f"{str(self.lake_url).rstrip('/')}/private/keys")
            if self.mlflow_artifact_root is None:
                object.__setattr__(
                    self, "mlflow_artifact_root", f"{str(self.lake_url).rstrip('/')}/mlflow"
                )
        return self

    @model_validator(mode="after")
    def _check_audio(self) -> Settings:
        if "{isrc}" not in self.hls_key_uri or "{version}" not in self.hls_key_uri:
            raise ValueError(f"hls_key_uri must contain {{isrc}} and {{version}}, got {self.hls_key_uri!r}")
        if not self.hls_bitrates_kbps:
            raise ValueError("hls_bitrates_kbps needs at least one bit rate")
        return self

    @property
    def lake_root(self) -> str:
        """The lake root URL; always set after validation."""
        assert self.lake_url is not None
        return self.lake_url

    def s3_storage_options(self) -> dict[str, Any]:
        """Keyword arguments for s3fs, shared by the lake, DuckDB and MLflow's artifact store."""
        options: dict[str, Any] = {}
        if self.s3_access_key_id:
            options["key"] = self.s3_access_key_id
        if self.s3_secret_access_key:
            options["secret"] = self.s3_secret_access_key.get_secret_value()
        client: dict[str, Any] = {}
        if self.s3_endpoint_url:
            client["endpoint_url"] = self.s3_endpoint_url
        if self.s3_region:
            client["region_name"] = self.s3_region
        if client:
            options["client_kwargs"] = client
        return options

    @classmethod
    def described(cls) -> list[tuple[str, str, str]]:
        """(environment variable, default, description) rows: the README's settings table."""
        rows = []
        for name, field in cls.model_fields.items():
            if name in PROFILE_DEFAULTS_DOC:
                shown = PROFILE_DEFAULTS_DOC[name]
            else:
                shown = "unset" if field.default is None else f"`{field.default}`"
            rows.append((f"CONGOWAVE_{name.upper()}", shown, field.description or ""))
        return rows


PROFILE_DEFAULTS_DOC = {
    "data_dir": "`./data`",
    "lake_url": "local: `data/lake`; prod: required",
    "warehouse_path": "`data/warehouse.duckdb`",
    "dbt_target": "local: `duckdb`; prod: `spark`",
    "dagster_home": "`data/dagster`",
    "dagster_postgres_url": "local: unused; prod: required",
    "mlflow_tracking_uri": "local: `sqlite:///data/mlflow/mlflow.db`; prod: required",
    "mlflow_artifact_root": "local: `data/mlflow/artifacts`; prod: `<lake>/mlflow`",
    "redis_url": "local: unused; prod: required",
    "key_store_url": "local: `data/keys`; prod: `<lake>/private/keys`",
}


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; tests build their own `Settings(...)` instead."""
    return Settings()
