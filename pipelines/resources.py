"""Dagster resources for the platform's real parts, built from the settings object.

Each resource is a thin, configurable handle: the lake (a folder or S3), the
DuckDB warehouse (which reads the lake through the same filesystem), MLflow
(SQLite or PostgreSQL backend) and Spark. Assets receive them by name.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
from dagster import ConfigurableResource
from dagster_duckdb import DuckDBResource
from dagster_pyspark import LazyPySparkResource
from pydantic import Field

from pipelines.lake import Lake, S3Options
from pipelines.settings import Settings


class LakeResource(ConfigurableResource):
    """The lake: a local folder or an S3 prefix, with atomic writes and published datasets."""

    root_url: str = Field(description="Local folder or s3://bucket/prefix")
    s3_endpoint_url: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    s3_region: str | None = None

    def lake(self) -> Lake:
        """A Lake handle; cheap to build, so build one per use."""
        s3 = None
        if self.root_url.startswith("s3://"):
            s3 = S3Options(
                endpoint_url=self.s3_endpoint_url,
                key=self.s3_access_key_id,
                secret=self.s3_secret_access_key,
                region=self.s3_region,
            )
        return Lake(self.root_url, s3=s3)


class WarehouseResource(ConfigurableResource):
    """The DuckDB warehouse; its connections can read the lake (S3 through s3fs, no httpfs)."""

    database: str = Field(description="Path of the DuckDB file")
    lake: LakeResource
    threads: int = 2
    memory_limit: str = "8GB"

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection with the lake registered; closed when the block ends."""
        Path(self.database).parent.mkdir(parents=True, exist_ok=True)
        inner = DuckDBResource(
            database=self.database,
            connection_config={"threads": self.threads, "memory_limit": self.memory_limit},
        )
        with inner.get_connection() as con:
            self.lake.lake().register_with_duckdb(con)
            yield con


class MlflowResource(ConfigurableResource):
    """Where MLflow keeps runs, models and artifacts; SQLite locally, PostgreSQL in prod."""

    tracking_uri: str
    artifact_root: str
    s3_endpoint_url: str | None = None

    def configure(self) -> None:
        """Point the mlflow client library at this backend (it reads process-global state)."""
        import os

        import mlflow

        if self.tracking_uri.startswith("sqlite:///"):
            Path(self.tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        if self.s3_endpoint_url:
            os.environ["MLFLOW_S3_ENDPOINT_URL"] = self.s3_endpoint_url
        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)

    def get_or_create_experiment(self, name: str) -> str:
        """The experiment id for `name`, created with this resource's artifact root if new."""
        import mlflow

        self.configure()
        existing = mlflow.get_experiment_by_name(name)
        if existing is not None:
            return existing.experiment_id
        location = f"{self.artifact_root.rstrip('/')}/{name}"
        return mlflow.create_experiment(name, artifact_location=location)


class AudioToolsResource(ConfigurableResource):
    """ffmpeg and the acceptance bounds for uploaded audio, from settings."""

    ffmpeg_binary: str | None = None
    min_duration_s: float = 30.0
    max_duration_s: float = 1200.0
    workers: int = 2
    max_rejection_share: float = 0.6

    def bounds(self):  # -> audio.validate.AudioBounds (imported lazily: heavy)
        """The audio acceptance rules ingestion applies."""
        from audio.validate import AudioBounds

        return AudioBounds(min_duration_s=self.min_duration_s, max_duration_s=self.max_duration_s)


class AudioProcessingResource(ConfigurableResource):
    """What every accepted track is turned into (ladder, loudness, waveform, preview) and
    where content keys are kept."""

    ffmpeg_binary: str | None = None
    hls_bitrates_kbps: list[int] = Field(default_factory=lambda: [64, 128, 256])
    hls_lossless: bool = False
    hls_segment_s: float = 6.0
    hls_encrypt: bool = True
    hls_key_uri: str = "/v1/keys/{isrc}/{version}"
    key_store_url: str = Field(description="Private folder or s3:// prefix for AES-128 content keys")
    s3_endpoint_url: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    s3_region: str | None = None
    preview_length_s: float = 30.0
    loudness_target_lufs: float = -14.0
    loudness_ceiling_dbtp: float = -1.0
    waveform_pixels: int = 1800
    workers: int = 2

    def options(self):  # -> audio.transcode.TranscodeOptions (imported lazily: heavy)
        from audio.hls import Ladder
        from audio.transcode import TranscodeOptions

        ladder = Ladder.standard(self.hls_bitrates_kbps, lossless=self.hls_lossless, segment_s=self.hls_segment_s)
        return TranscodeOptions(
            ladder=ladder,
            preview_length_s=self.preview_length_s,
            loudness_target_lufs=self.loudness_target_lufs,
            loudness_ceiling_dbtp=self.loudness_ceiling_dbtp,
            waveform_pixels=self.waveform_pixels,
            ffmpeg_path=self.ffmpeg_binary,
        )

    def key_store(self):  # -> pipelines.keystore.KeyStore
        from pipelines.keystore import KeyStore

        s3 = None
        if self.key_store_url.startswith("s3://"):
            s3 = S3Options(
                endpoint_url=self.s3_endpoint_url, key=self.s3_access_key_id,
                secret=self.s3_secret_access_key, region=self.s3_region,
            )  # fmt: skip
        return KeyStore(Lake(self.key_store_url, s3=s3))

    def key_uri(self, isrc: str, version: int) -> str:
        return self.hls_key_uri.format(isrc=isrc, version=version)


class EventRulesResource(ConfigurableResource):
    """How play events are loaded, counted as streams and screened for fraud, from settings."""

    lateness_days: int = 7
    max_rejected_share: float = 0.01
    stream_threshold_ms: int = 30_000
    fraud_max_daily_hours: float = 16.0


def spark_config(settings: Settings) -> dict[str, Any]:
    """Spark settings shared by the Dagster resource, dbt's session target and benchmarks."""
    config: dict[str, Any] = {
        "spark.master": settings.spark_master,
        "spark.app.name": "congowave",
        "spark.driver.memory": settings.spark_driver_memory,
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": "8",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.warehouse.dir": str(settings.data_dir / "spark-warehouse"),
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={settings.data_dir / 'spark-derby'}",
    }
    if settings.profile == "prod" and settings.s3_endpoint_url:
        config["spark.hadoop.fs.s3a.endpoint"] = settings.s3_endpoint_url
        config["spark.hadoop.fs.s3a.path.style.access"] = "true"
    return config


def build_resources(settings: Settings) -> dict[str, Any]:
    """Every resource the platform's assets may ask for, configured from `settings`."""
    secret = settings.s3_secret_access_key.get_secret_value() if settings.s3_secret_access_key else None
    lake = LakeResource(
        root_url=settings.lake_root,
        s3_endpoint_url=settings.s3_endpoint_url,
        s3_access_key_id=settings.s3_access_key_id,
        s3_secret_access_key=secret,
        s3_region=settings.s3_region,
    )
    assert settings.warehouse_path is not None and settings.mlflow_tracking_uri is not None
    assert settings.mlflow_artifact_root is not None
    return {
        "lake": lake,
        "warehouse": WarehouseResource(
            database=str(settings.warehouse_path), lake=lake, memory_limit=settings.warehouse_memory_limit
        ),
        "mlflow": MlflowResource(
            tracking_uri=settings.mlflow_tracking_uri,
            artifact_root=settings.mlflow_artifact_root,
            s3_endpoint_url=settings.s3_endpoint_url,
        ),
        "spark": LazyPySparkResource(spark_config=spark_config(settings)),
        "audio_tools": AudioToolsResource(
            ffmpeg_binary=settings.ffmpeg_binary,
            min_duration_s=settings.upload_min_duration_s,
            max_duration_s=settings.upload_max_duration_s,
            workers=settings.workers,
            max_rejection_share=settings.ingestion_max_rejection_share,
        ),
        "event_rules": EventRulesResource(
            lateness_days=settings.events_lateness_days,
            max_rejected_share=settings.events_max_rejected_share,
            stream_threshold_ms=settings.stream_threshold_ms,
            fraud_max_daily_hours=settings.fraud_max_daily_hours,
        ),
        "audio_processing": AudioProcessingResource(
            ffmpeg_binary=settings.ffmpeg_binary,
            hls_bitrates_kbps=list(settings.hls_bitrates_kbps),
            hls_lossless=settings.hls_lossless,
            hls_segment_s=settings.hls_segment_s,
            hls_encrypt=settings.hls_encrypt,
            hls_key_uri=settings.hls_key_uri,
            key_store_url=str(settings.key_store_url),
            s3_endpoint_url=settings.s3_endpoint_url,
            s3_access_key_id=settings.s3_access_key_id,
            s3_secret_access_key=secret,
            s3_region=settings.s3_region,
            preview_length_s=settings.preview_length_s,
            loudness_target_lufs=settings.loudness_target_lufs,
            loudness_ceiling_dbtp=settings.loudness_ceiling_dbtp,
            waveform_pixels=settings.waveform_pixels,
            workers=settings.workers,
        ),
    }
