"""A real S3 API for tests: a moto server on loopback.

The moto helper lives here as a plain context manager (:func:`start_moto_s3`) so other
test folders can reuse it, either by importing it or by copying the ``moto_s3`` fixture.
A real HTTP server (rather than ``mock_aws`` patching botocore in-process) is used
because DuckDB, s3fs's aiobotocore and boto3 must all see the same endpoint.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

from pipelines.lake import S3Options

_DUMMY_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    # Never wait on (or reach) the EC2 metadata service or a developer's real profile.
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}


@dataclass(frozen=True)
class MotoS3:
    """Where the fake S3 listens and how to authenticate against it."""

    endpoint_url: str
    bucket: str
    key: str
    secret: str
    region: str = "us-east-1"

    def s3_options(self) -> S3Options:
        return S3Options(
            endpoint_url=self.endpoint_url, key=self.key, secret=self.secret, region=self.region
        )

    def fresh_root(self, label: str = "t") -> str:
        """A unique ``s3://`` root so tests sharing the session bucket never see each other."""
        return f"s3://{self.bucket}/{label}-{uuid.uuid4().hex[:12]}"


@contextmanager
def start_moto_s3(bucket: str = "congowave-test") -> Iterator[MotoS3]:
    """Run a moto S3 server on 127.0.0.1 (OS-chosen port) with one bucket and dummy creds."""
    import boto3
    from moto.server import ThreadedMotoServer

    with pytest.MonkeyPatch.context() as mp:
        for name, value in _DUMMY_ENV.items():
            mp.setenv(name, value)
        mp.delenv("AWS_PROFILE", raising=False)
        # One INFO line per request would bury real failures in the captured log.
        werkzeug_log = logging.getLogger("werkzeug")
        previous_level = werkzeug_log.level
        werkzeug_log.setLevel(logging.WARNING)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        try:
            host, port = server.get_host_and_port()
            moto = MotoS3(
                endpoint_url=f"http://{host}:{port}",
                bucket=bucket,
                key=_DUMMY_ENV["AWS_ACCESS_KEY_ID"],
                secret=_DUMMY_ENV["AWS_SECRET_ACCESS_KEY"],
            )
            boto3.client(
                "s3",
                endpoint_url=moto.endpoint_url,
                region_name=moto.region,
                aws_access_key_id=moto.key,
                aws_secret_access_key=moto.secret,
            ).create_bucket(Bucket=bucket)
            yield moto
        finally:
            server.stop()
            werkzeug_log.setLevel(previous_level)
