"""The Dagster instance (run, event and schedule storage) for the active profile.

Dagster reads its instance from `$DAGSTER_HOME/dagster.yaml`; we write that
file from the settings so the same code runs on SQLite files locally and on
PostgreSQL in prod. Telemetry is off: this platform runs without internet.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from pipelines.settings import Settings


def instance_config(settings: Settings) -> dict[str, Any]:
    """The dagster.yaml contents for the settings' profile."""
    assert settings.dagster_home is not None
    config: dict[str, Any] = {
        "telemetry": {"enabled": False},
        "nux": {"enabled": False},
        "run_coordinator": {
            "module": "dagster.core.run_coordinator",
            "class": "QueuedRunCoordinator",
            "config": {"max_concurrent_runs": 2},
        },
        "local_artifact_storage": {
            "module": "dagster.core.storage.root",
            "class": "LocalArtifactStorage",
            "config": {"base_dir": str(settings.dagster_home / "storage")},
        },
    }
    if settings.profile == "prod":
        config["storage"] = {"postgres": {"postgres_url": settings.dagster_postgres_url}}
    else:
        config["storage"] = {"sqlite": {"base_dir": str(settings.dagster_home / "history")}}
    return config


def ensure_instance(settings: Settings) -> Path:
    """Write dagster.yaml (only when it changed) and point DAGSTER_HOME at it; returns the home."""
    assert settings.dagster_home is not None
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(instance_config(settings), sort_keys=True)
    target = home / "dagster.yaml"
    if not target.is_file() or target.read_text() != text:
        tmp = home / ".dagster.yaml.tmp"
        tmp.write_text(text)
        tmp.replace(target)
    os.environ["DAGSTER_HOME"] = str(home)
    return home
