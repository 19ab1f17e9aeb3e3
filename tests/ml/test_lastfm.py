"""The Last.fm HetRec 2011 loader, on the real files (skipped when they are absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml.lastfm import LastFMFormatError, artist_tag_matrix, available, load_lastfm, read_table

needs_data = pytest.mark.skipif(not available(), reason="Last.fm data set not in ../shared")


@needs_data
def test_loads_the_real_files() -> None:
    data = load_lastfm()
    assert data.interactions.height == 92834
    assert data.interactions["user"].n_unique() == 1892
    assert data.interactions["item"].n_unique() == 17632
    assert data.artists.height == 17632
    assert data.tags.height == 11946
    # 108,469 + 78,009: the README's 108,470 counts the first part's trailing blank line.
    assert data.tag_assignments.height == 186478
    assert data.interactions.null_count().row(0) == (0, 0, 0)
    assert (data.interactions["weight"] > 0).all()
    values = set(data.tags["tag_value"])
    assert "rock français" in values and "español" in values  # latin-1 decoded
    assert "Röyksopp" in set(data.artists["name"])  # UTF-8 decoded
    features, tag_ids = artist_tag_matrix(data, data.artists["item"].to_list(), min_artists=2)
    assert features.shape == (17632, len(tag_ids)) and features.nnz > 0


def test_malformed_and_missing_files(tmp_path: Path) -> None:
    bad = tmp_path / "user_artists.dat"
    bad.write_bytes(b"userID\tartistID\tweight\r\n2\t51\t13883\r\n2\tfifty\t3\r\n")
    with pytest.raises(LastFMFormatError, match="malformed"):
        read_table(bad)
    bad.write_bytes(b"user\tartist\tweight\r\n2\t51\t1\r\n")
    with pytest.raises(LastFMFormatError, match="expected header"):
        read_table(bad)
    bad.write_bytes(b"userID\tartistID\tweight\r\n2\t51\t1\r\n\r\n3\t4\t5\r\n")
    with pytest.raises(LastFMFormatError, match="line 3"):
        read_table(bad)
    with pytest.raises(LastFMFormatError, match="not found"):
        load_lastfm(tmp_path / "nowhere")
