"""The whole sample world: determinism, schemas and catalog/finance invariants.

Uploads and events have their own, deeper tests in tests/sample_world/.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from audio.taxonomy import GENRE_IDS, genre
from pipelines.cli import main
from pipelines.sample_world.catalog import gtin_check_digit
from pipelines.sample_world.geography import MARKET_CODES
from pipelines.sample_world.world import WorldMismatchError, generate_world

ISRC = re.compile(r"^[A-Z]{2}[A-Z0-9]{3}\d{2}\d{5}$")


@pytest.fixture(scope="module")
def catalog_dir(small_world_dir: Path) -> Path:
    return small_world_dir / "reference" / "catalog"


@pytest.mark.slow
def test_same_seed_same_bytes_through_the_cli(small_world_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "again"
    assert main(["sample-world", "--scale", "small", "--seed", "7", "--out", str(out)]) == 0
    first = json.loads((small_world_dir / "world.json").read_text())
    second = json.loads((out / "world.json").read_text())
    assert first["files"] == second["files"]
    assert len(first["files"]) > 100


def test_another_world_is_never_mixed_into_a_folder(small_world_dir: Path) -> None:
    with pytest.raises(WorldMismatchError, match="seed 7"):
        generate_world("small", 8, small_world_dir)


def test_cli_reports_a_world_mismatch_without_a_traceback(small_world_dir: Path, capsys) -> None:
    assert main(["sample-world", "--scale", "small", "--seed", "9", "--out", str(small_world_dir)]) == 2
    assert "refusing to mix" in capsys.readouterr().err


def test_catalog_identifiers_are_valid_and_unique(catalog_dir: Path) -> None:
    tracks = pl.read_parquet(catalog_dir / "tracks.parquet")
    albums = pl.read_parquet(catalog_dir / "albums.parquet")
    assert 35 <= tracks.height <= 45
    assert tracks["track_id"].n_unique() == tracks.height
    assert all(ISRC.match(i) for i in tracks["isrc"])
    assert all(int(u[-1]) == gtin_check_digit(u[:-1]) and len(u) == 12 for u in albums["upc"])
    assert set(tracks["album_id"]) <= set(albums["album_id"])
    assert set(tracks["genre"]) <= set(GENRE_IDS)
    for territories in tracks["territories"].to_list():
        assert territories == ["WW"] or set(territories) <= set(MARKET_CODES)


def test_african_genres_are_prominent(catalog_dir: Path) -> None:
    tracks = pl.read_parquet(catalog_dir / "tracks.parquet")
    african = sum(genre(g).african for g in tracks["genre"])
    assert african / tracks.height >= 0.6


def test_rights_splits_sum_to_exactly_100_per_right(catalog_dir: Path) -> None:
    splits = pl.read_parquet(catalog_dir / "rights_splits.parquet")
    payees = pl.read_parquet(catalog_dir / "payees.parquet")
    tracks = pl.read_parquet(catalog_dir / "tracks.parquet")
    totals: dict[tuple[str, str], Decimal] = {}
    for row in splits.iter_rows(named=True):
        key = (row["track_id"], row["right_type"])
        totals[key] = totals.get(key, Decimal(0)) + Decimal(row["share_pct"])
        assert Decimal(row["share_pct"]) > 0
    assert set(totals.values()) == {Decimal("100.00")}
    assert {t for t, _ in totals} == set(tracks["track_id"])
    assert {r for _, r in totals} == {"recording", "publishing"}
    assert set(splits["payee_id"]) <= set(payees["payee_id"])
    assert splits.group_by("track_id").len()["len"].max() >= 3  # several payees on a track


def test_users_have_plans_countries_and_onboarding(small_world_dir: Path) -> None:
    users = pl.read_parquet(small_world_dir / "landing" / "users" / "users.parquet")
    assert users.columns == ["user_id", "country", "plan", "signup_date", "platform", "onboarding_genres"]
    assert users.height >= 500 and users["user_id"].n_unique() == users.height
    assert set(users["plan"]) == {"free", "premium", "family", "student"}
    assert set(users["country"]) <= set(MARKET_CODES)
    assert users.filter(pl.col("onboarding_genres").list.len() == 0).height > 0
    assert not any(c.startswith("_") for c in users.columns)


def test_finance_inputs_are_exact_decimals_with_fx(small_world_dir: Path) -> None:
    revenue = pl.read_parquet(small_world_dir / "landing" / "finance" / "revenue.parquet")
    fx = pl.read_parquet(small_world_dir / "landing" / "finance" / "fx_rates.parquet")
    assert isinstance(revenue.schema["subscription_revenue"], pl.Decimal)
    assert isinstance(fx.schema["usd_per_unit"], pl.Decimal)
    assert set(revenue["month"]) == {"2026-09", "2026-10"}
    assert set(revenue["country"]) == set(MARKET_CODES)
    free = revenue.filter(pl.col("plan") == "free")
    assert (free["subscription_revenue"] == 0).all() and (free["ad_revenue"] > 0).any()
    paid = revenue.filter(pl.col("plan") != "free")
    assert (paid["ad_revenue"] == 0).all() and (paid["subscription_revenue"] > 0).any()
    assert revenue.join(fx, on=["month", "currency"], how="anti").height == 0
