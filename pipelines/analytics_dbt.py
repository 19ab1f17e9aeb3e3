"""The dbt analytics project (`dbt/`) as Dagster sees it: project, environment, vars, resource.

No asset code lives here (that is `assets/analytics.py`). Everything dbt needs from the
platform's configuration goes through two functions, so nothing else reads os.environ:

* :func:`dbt_env` maps the Settings object to the environment variables that
  `dbt/profiles.yml` reads with ``env_var()`` (warehouse file, Spark conf, Thrift server,
  S3 credentials for DuckDB's fsspec filesystem);
* :func:`dbt_vars` maps it, and a range of play days, to the project's vars.

The Definitions need a parsed manifest at load time; :func:`ensure_manifest` makes one
when it is missing or older than the project's files (a fresh clone, the tests).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import sys
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from dagster_dbt import DbtCliInvocation, DbtCliResource, DbtProject
from pydantic import Field

from pipelines.resources import spark_config
from pipelines.settings import PROJECT_ROOT, Settings

__all__ = [
    "DBT_DIR",
    "AnalyticsDbtResource",
    "analytics_project",
    "dbt_env",
    "dbt_executable",
    "dbt_resource",
    "dbt_target",
    "dbt_vars",
    "ensure_manifest",
    "temporary_environ",
]

DBT_DIR = PROJECT_ROOT / "dbt"
"""The dbt project (dbt_project.yml, profiles.yml, models/, macros/, tests/)."""

_SOURCE_SUFFIXES = frozenset({".sql", ".yml", ".yaml", ".csv", ".md", ".jinja"})
_IGNORED_DIRS = frozenset({"target", "logs", "dbt_packages"})


def dbt_target(settings: Settings) -> str:
    """The profiles.yml target: `duckdb`, `spark` (in-process session) or `spark_thrift` (a cluster)."""
    if settings.dbt_target == "spark":
        return "spark_thrift" if settings.spark_thrift_host else "spark"
    return "duckdb"


def dbt_env(settings: Settings) -> dict[str, str]:
    """Environment variables for `dbt/profiles.yml`, all of them from `settings`.

    S3 credentials go in botocore's standard ``AWS_*`` variables (profiles.yml never holds
    them), so s3fs finds them the way it finds an instance role's.
    """
    assert settings.warehouse_path is not None
    env = {
        "DBT_CONGOWAVE_DUCKDB_PATH": str(settings.warehouse_path),
        "DBT_CONGOWAVE_THREADS": str(max(1, settings.workers)),
        "DBT_CONGOWAVE_DUCKDB_MEMORY_LIMIT": settings.warehouse_memory_limit,
        "DBT_CONGOWAVE_LAKE_PROTOCOL": "s3" if settings.lake_root.startswith("s3://") else "file",
        "DBT_CONGOWAVE_SPARK_CONF": json.dumps(spark_config(settings), sort_keys=True),
        "DBT_CONGOWAVE_SPARK_THRIFT_HOST": settings.spark_thrift_host or "localhost",
        "DBT_CONGOWAVE_SPARK_THRIFT_PORT": str(settings.spark_thrift_port),
        "DBT_CONGOWAVE_S3_ENDPOINT_URL": settings.s3_endpoint_url or "",
        "DBT_CONGOWAVE_S3_REGION": settings.s3_region or "us-east-1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DO_NOT_TRACK": "1",
    }
    # S3 credentials reach s3fs (DuckDB's filesystem) through botocore's standard variables;
    # unset settings leave botocore's chain (profile, instance role) alone.
    if settings.s3_access_key_id:
        env["AWS_ACCESS_KEY_ID"] = settings.s3_access_key_id
    if settings.s3_secret_access_key:
        env["AWS_SECRET_ACCESS_KEY"] = settings.s3_secret_access_key.get_secret_value()
    return env


def _vars(
    lake_root: str, stream_threshold_ms: int, start: dt.date | str | None, end: dt.date | str | None
) -> dict[str, Any]:
    values: dict[str, Any] = {
        "lake_root": lake_root,
        "stream_threshold_ms": int(stream_threshold_ms),
    }
    if (start is None) != (end is None):
        raise ValueError("give both start and end play days, or neither (everything)")
    if start is not None and end is not None:
        first = start if isinstance(start, dt.date) else dt.date.fromisoformat(start)
        last = end if isinstance(end, dt.date) else dt.date.fromisoformat(end)
        if last < first:
            raise ValueError(f"end {last} is before start {first}")
        values["start_date"] = first.isoformat()
        values["end_date"] = last.isoformat()
    return values


def dbt_vars(
    settings: Settings, start: dt.date | str | None = None, end: dt.date | str | None = None
) -> dict[str, Any]:
    """The project's vars for (re)building play days `start`..`end` (inclusive; None: all days)."""
    return _vars(settings.lake_root, settings.stream_threshold_ms, start, end)


def dbt_executable() -> str:
    """The dbt next to this interpreter (a virtual environment's bin/), else the one on PATH."""
    beside = Path(sys.executable).parent / "dbt"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("dbt")
    if found is None:
        raise FileNotFoundError("no dbt executable beside the interpreter or on PATH")
    return found


def analytics_project(settings: Settings) -> DbtProject:
    """The DbtProject for `settings`' target; its manifest lives in dbt/target/<target>/ (ignored)."""
    target = dbt_target(settings)
    return DbtProject(
        project_dir=DBT_DIR,
        profiles_dir=DBT_DIR,
        target=target,
        target_path=Path("target") / target,
    )


def _newest_project_file(project_dir: Path) -> float:
    newest = 0.0
    for root, dirs, files in os.walk(project_dir):
        dirs[:] = [d for d in dirs if d not in _IGNORED_DIRS and not d.startswith(".")]
        for name in files:
            if Path(name).suffix in _SOURCE_SUFFIXES:
                newest = max(newest, os.stat(os.path.join(root, name)).st_mtime)
    return newest


def manifest_is_stale(project: DbtProject) -> bool:
    """Whether the manifest is missing or older than a file of the project."""
    path = Path(project.manifest_path)
    if not path.is_file():
        return True
    return path.stat().st_mtime < _newest_project_file(Path(project.project_dir))


def ensure_manifest(project: DbtProject, env: Mapping[str, str] | None = None) -> Path:
    """Run `dbt parse` when the manifest is missing or stale; return the manifest's path.

    Parses into a private folder and moves the manifest into place atomically, so that
    processes loading the Definitions at the same time never read a half-written file.
    """
    final = Path(project.manifest_path)
    if not manifest_is_stale(project):
        return final
    project_dir = Path(project.project_dir)
    scratch = project_dir / "target" / f".parse-{uuid.uuid4().hex[:12]}"
    resource = DbtCliResource(project_dir=project, dbt_executable=dbt_executable())
    try:
        with temporary_environ(
            {"DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DO_NOT_TRACK": "1", **(env or {})}
        ):
            resource.cli(["parse", "--quiet"], target_path=scratch, raise_on_error=True).wait()
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(scratch / "manifest.json", final)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return final


@contextlib.contextmanager
def temporary_environ(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the block (dbt's subprocess copies them when it starts)."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old


class AnalyticsDbtResource(DbtCliResource):
    """A DbtCliResource that runs dbt with the environment and base vars built from Settings.

    dagster-dbt starts dbt with a copy of this process's environment; `cli` sets `env`
    around that start, so the profile's env_var() calls see the settings' values.
    """

    env: dict[str, str] = Field(
        default_factory=dict, description="Variables for profiles.yml (dbt_env)."
    )
    lake_root: str = Field(description="Lake root URL, the lake_root var.")
    stream_threshold_ms: int = Field(30_000, description="The stream_threshold_ms var.")

    def run_vars(
        self, start: dt.date | str | None = None, end: dt.date | str | None = None
    ) -> dict[str, Any]:
        """Vars for (re)building play days start..end (inclusive)."""
        return _vars(self.lake_root, self.stream_threshold_ms, start, end)

    def cli(self, args: Sequence[str], **kwargs: Any) -> DbtCliInvocation:  # type: ignore[override]
        duckdb_path = self.env.get("DBT_CONGOWAVE_DUCKDB_PATH")
        if self.target == "duckdb" and duckdb_path:
            Path(duckdb_path).parent.mkdir(parents=True, exist_ok=True)
        with temporary_environ(self.env):
            return super().cli(args, **kwargs)


def dbt_resource(settings: Settings) -> AnalyticsDbtResource:
    """The `dbt` resource for `settings`."""
    project = analytics_project(settings)
    return AnalyticsDbtResource(
        project_dir=project,
        dbt_executable=dbt_executable(),
        env=dbt_env(settings),
        lake_root=settings.lake_root,
        stream_threshold_ms=settings.stream_threshold_ms,
    )
