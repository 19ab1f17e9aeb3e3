"""Audio features on the small world: the table, accuracy against ground truth, embeddings, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pyarrow.parquet as pq
import pytest

from assets.features import TARGETS, feature_problems
from pipelines.cli import main

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def warehouse(ingested_small_world: Path):
    con = duckdb.connect(str(ingested_small_world / "warehouse.duckdb"), read_only=True)
    yield con
    con.close()


def _rows(con, sql: str) -> list[dict]:
    cursor = con.execute(sql)
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, r)) for r in cursor.fetchall()]


def test_every_catalog_version_has_valid_features(warehouse) -> None:
    versions = {(r["isrc"], r["version"]) for r in _rows(warehouse, "SELECT isrc, version FROM catalog")}
    rows = _rows(warehouse, "SELECT * FROM track_features")
    assert {(r["isrc"], r["version"]) for r in rows} == versions
    for row in rows:
        assert feature_problems(row) == [], (row["isrc"], feature_problems(row))
        assert row["extractor"] == "essentia", row["fallback_reason"]
        assert row["bpm_librosa"] is not None and row["tempo_agrees"] is not None


def test_tempo_and_key_meet_the_accuracy_targets(ingested_small_world: Path) -> None:
    report = json.loads((ingested_small_world / "lake" / "reports" / "feature_accuracy.json").read_text())
    assert report["tracks"] >= 30
    for name, target in TARGETS.items():
        assert report[name] >= target, (name, report[name], report["failures"])


def test_accuracy_is_measured_against_the_truth_file(ingested_small_world: Path, warehouse) -> None:
    """Recompute Accuracy1 independently from the truth file and the table."""
    truth = pq.read_table(ingested_small_world / "lake" / "truth" / "tracks_truth.parquet").to_pylist()
    bpm = {t["isrc"]: t["bpm"] for t in truth if t["bpm"]}
    rows = _rows(warehouse, "SELECT isrc, bpm FROM track_features WHERE is_current")
    scored = [abs(r["bpm"] - bpm[r["isrc"]]) <= 0.04 * bpm[r["isrc"]] for r in rows if r["isrc"] in bpm]
    report = json.loads((ingested_small_world / "lake" / "reports" / "feature_accuracy.json").read_text())
    assert report["accuracy1"] == pytest.approx(sum(scored) / len(scored), abs=1e-6)


def test_similar_tracks_share_genre_and_tempo_band(warehouse) -> None:
    """Cosine neighbours of each music track: same genre and tempo band far more often than chance."""
    tracks = {r["isrc"]: r for r in _rows(
        warehouse,
        "SELECT c.isrc, c.genre, f.bpm FROM catalog c JOIN track_features f USING (isrc, version) "
        "WHERE c.is_current AND c.genre <> 'sleep_sounds'")}  # fmt: skip
    neighbours = _rows(warehouse, "SELECT isrc, rank, neighbour_isrc, similarity FROM content_neighbours WHERE rank <= 3")

    def alike(a: dict, b: dict) -> bool:
        return a["genre"] == b["genre"] and abs(a["bpm"] - b["bpm"]) <= 0.08 * a["bpm"]

    found: dict[str, int] = {}
    for n in neighbours:
        if n["isrc"] in tracks and n["neighbour_isrc"] in tracks:
            found[n["isrc"]] = found.get(n["isrc"], 0) + alike(tracks[n["isrc"]], tracks[n["neighbour_isrc"]])
    # A track with fewer than 3 alike partners in the catalog cannot fill its top 3 with them.
    ceiling = sum(min(3, sum(alike(tracks[i], tracks[j]) for j in tracks if j != i)) for i in found)
    isrcs = sorted(tracks)
    chance = np.mean([alike(tracks[a], tracks[b]) for a in isrcs for b in isrcs if a != b])
    precision = sum(found.values()) / (3 * len(found))
    assert len(found) >= 30 and ceiling >= 40
    assert sum(found.values()) >= 0.85 * ceiling, (sum(found.values()), ceiling)
    assert precision >= 5 * chance, (precision, chance)
    assert all(n["isrc"] != n["neighbour_isrc"] for n in neighbours)
    ranks = _rows(warehouse, "SELECT isrc, count(*) AS n FROM content_neighbours GROUP BY 1")
    assert {r["n"] for r in ranks} == {10}


def test_embeddings_are_unit_length_and_versioned(warehouse) -> None:
    rows = _rows(warehouse, "SELECT embedding, embedding_version FROM track_embeddings")
    norms = [np.linalg.norm(np.asarray(r["embedding"], dtype=float)) for r in rows]
    assert np.allclose(norms, 1.0, atol=1e-4)
    assert len({len(r["embedding"]) for r in rows}) == 1 and len({r["embedding_version"] for r in rows}) == 1


def test_features_cli_prints_json(ingested_small_world: Path, warehouse, capsys) -> None:
    path = _rows(warehouse, "SELECT audio_path FROM catalog LIMIT 1")[0]["audio_path"]
    assert main(["audio", "features", str(ingested_small_world / "lake" / path)]) == 0
    row = json.loads(capsys.readouterr().out)
    assert feature_problems(row) == []
    with pytest.raises(SystemExit, match="no such audio file"):
        main(["audio", "features", str(ingested_small_world / "nope.wav")])
