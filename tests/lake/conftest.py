"""Fixtures for lake tests: lakes parametrized over the local folder and S3 (moto)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pipelines.lake import Lake
from tests.support.s3 import MotoS3


@pytest.fixture
def local_lake(tmp_path) -> Lake:
    # A not-yet-existing root: the lake must create it on first write.
    return Lake(str(tmp_path / "lake"))


@pytest.fixture
def s3_lake(moto_s3: MotoS3) -> Lake:
    return Lake(moto_s3.fresh_root(), moto_s3.s3_options())


@pytest.fixture(params=["local", "s3"])
def lake(request: pytest.FixtureRequest) -> Lake:
    """The same contract test runs once per backend."""
    return request.getfixturevalue(f"{request.param}_lake")


def _raw_files(lake: Lake) -> list[str]:
    base = lake.url().removeprefix("s3://")
    return sorted(p.removeprefix(base).lstrip("/") for p in lake.fs.find(base, withdirs=False))


@pytest.fixture
def raw_files() -> Callable[[Lake], list[str]]:
    """Lists every object under a lake root with no filtering, to catch temp-file litter.

    A fixture rather than an importable helper so test modules need no package import.
    """
    return _raw_files
