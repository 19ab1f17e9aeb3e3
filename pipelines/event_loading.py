"""Turn the events landing area into the ``listening_events`` lake table, one PLAY day at a time.

Events land partitioned by the day they *arrived* (``landing/events/date=A/*.parquet``)
while every consumer wants them by the day they were *played*. A play day ``D``
is therefore assembled from the arrival partitions ``D .. D + lateness_days``;
after that window the day is closed and republishing it would silently rewrite
history that downstream jobs (royalties, charts) have already consumed.

Each arrival partition ``A`` is also inspected, exactly once, from the *arrival
side*, by the load of play day ``A`` (the partition whose name equals the play
day). That load reports the rows of partition ``A`` that belong to no open play
day: ``TOO_LATE`` (played before ``A - lateness_days``), ``STARTED_AFTER_ARRIVAL``
(played after the end of ``A``, a clock or producer bug) and rows whose
``started_at`` is null. Every delivered row is therefore either loaded or reported
by exactly one day's load, and nothing has to scan an unbounded future of
partitions to find a day's stragglers. :func:`find_too_late` gives the same
arrival-side view on its own.

The module is pure logic (no Dagster): a thin asset calls :func:`load_play_day`
then :func:`publish_play_day`. Reading goes through DuckDB over the lake's URLs
(``Lake.duckdb_glob`` / ``register_with_duckdb``) so the same code works on a
local folder and on S3, stays vectorised and lets Parquet statistics skip the row
groups of other play days.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import tempfile
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.lake import Lake
from pipelines.event_contract import EVENT_SCHEMA, LANDING_EVENTS, PLATFORMS, SOURCES

if TYPE_CHECKING:
    import duckdb

__all__ = [
    "EVENTS_TABLE",
    "LANDING_EVENTS",
    "PARQUET_WRITE_OPTIONS",
    "REJECTED_SCHEMA",
    "REJECTED_TABLE",
    "DayLoad",
    "EventLoadError",
    "Reason",
    "events_prefix",
    "find_too_late",
    "landing_partition",
    "load_known_tracks",
    "load_play_day",
    "publish_play_day",
    "published_days",
    "publish_tables",
    "quarantine_play_day",
    "write_parquet_file",
    "rejected_prefix",
    "schema_problem",
]

EVENTS_TABLE = "listening_events"
REJECTED_TABLE = "rejected_events"
CATALOG_TRACKS = "reference/catalog/tracks.parquet"
PART_NAME = "part-00000.parquet"

LATENESS_WINDOW_DAYS = 7
"""Default lateness window; the platform reads it from ``Settings.events_lateness_days``."""

DAY_MS = 86_400_000
MAX_MS_PLAYED = DAY_MS
"""A play longer than a whole day is a client bug, not a very long song."""

PARQUET_WRITE_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "compression_level": 3,
    "use_dictionary": True,
    "write_statistics": True,
    "version": "2.6",
    "data_page_version": "1.0",
    "row_group_size": 1 << 20,
}
"""Fixed writer settings: with sorted rows and one Arrow chunk, equal days give equal bytes.

pyarrow writes no timestamps into Parquet metadata; ``created_by`` names its
version, so byte-identity holds for a given pyarrow version.
"""


class Reason:
    """Reason codes of ``rejected_events`` rows (stable strings: dashboards group by them)."""

    NULL_FIELD = "NULL_FIELD"
    MS_PLAYED_OUT_OF_RANGE = "MS_PLAYED_OUT_OF_RANGE"
    UNKNOWN_SOURCE = "UNKNOWN_SOURCE"
    UNKNOWN_PLATFORM = "UNKNOWN_PLATFORM"
    BAD_COUNTRY = "BAD_COUNTRY"
    UNKNOWN_TRACK = "UNKNOWN_TRACK"
    STARTED_AFTER_ARRIVAL = "STARTED_AFTER_ARRIVAL"
    TOO_LATE = "TOO_LATE"
    DUPLICATE_CONFLICT = "DUPLICATE_CONFLICT"


_DUPLICATE = "DUPLICATE"  # internal fate of identical copies: counted, never stored

REJECTED_SCHEMA = pa.schema(
    [
        # Rejected rows may hold nulls, and an int64 source's out-of-range ms_played must survive.
        pa.field(f.name, pa.int64() if f.name == "ms_played" else f.type, nullable=True)
        for f in EVENT_SCHEMA
    ]
    + [
        pa.field("reason", pa.string(), nullable=False),
        pa.field("source_file", pa.string(), nullable=False),
    ]
)
"""The event's columns as delivered, plus why the row was set aside and which landing file held it."""

_EVENT_COLUMNS = tuple(EVENT_SCHEMA.names)
_CONTENT_COLUMNS = tuple(c for c in _EVENT_COLUMNS if c != "event_id")
_COUNTRY_RE = "[A-Z]{2}"
_ARRIVAL_DIR_RE = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")
_UTC_NAMES = frozenset({"UTC", "Etc/UTC", "+00:00", "Z", "utc"})


class EventLoadError(RuntimeError):
    """A play day cannot be loaded or published as asked (bad arguments, unreadable lake)."""


@dataclass(frozen=True)
class DayLoad:
    """Everything one play day's load produced; ``events`` and ``rejected`` are what gets published.

    ``files_rejected`` maps a landing file to why it was refused whole; ``late_loaded``
    counts loaded rows whose kept copy arrived after the play day; ``too_late`` counts
    distinct event ids that arrived in this day's own arrival partition for a play
    day already closed (see the module docstring for why they are reported here).
    """

    day: dt.date
    lateness_days: int
    events: pa.Table
    rejected: pa.Table
    files_read: tuple[str, ...]
    files_rejected: dict[str, str] = field(default_factory=dict)
    duplicates_dropped: int = 0
    late_loaded: int = 0
    too_late: int = 0

    def rejected_counts(self) -> dict[str, int]:
        """Rejected rows per reason code, sorted by code."""
        if self.rejected.num_rows == 0:
            return {}
        counts = pc.value_counts(self.rejected["reason"]).to_pylist()
        return {c["values"]: int(c["counts"]) for c in sorted(counts, key=lambda c: c["values"])}

    def to_json(self) -> str:
        """A deterministic summary for run logs and asset metadata (no row data)."""
        payload = {
            "day": self.day.isoformat(),
            "lateness_days": self.lateness_days,
            "events": self.events.num_rows,
            "rejected": self.rejected.num_rows,
            "rejected_by_reason": self.rejected_counts(),
            "files_read": len(self.files_read),
            "files_rejected": dict(sorted(self.files_rejected.items())),
            "duplicates_dropped": self.duplicates_dropped,
            "late_loaded": self.late_loaded,
            "too_late": self.too_late,
        }
        return json.dumps(payload, sort_keys=True, indent=2)


# ----------------------------------------------------------------------------- paths


def landing_partition(arrival_day: dt.date) -> str:
    """Lake prefix of one arrival day's landing files."""
    return f"{LANDING_EVENTS}/date={arrival_day.isoformat()}"


def events_prefix(day: dt.date) -> str:
    """Lake prefix of one play day of ``listening_events``."""
    return f"{EVENTS_TABLE}/date={day.isoformat()}"


def rejected_prefix(day: dt.date) -> str:
    """Lake prefix of the rows one day's load set aside."""
    return f"{REJECTED_TABLE}/date={day.isoformat()}"


def published_days(lake: Lake, table: str) -> list[dt.date]:
    """The ``date=YYYY-MM-DD`` partitions of a daily lake table that are published, in order.

    Unpublished (in-flight or abandoned) partitions and names that are not dates are skipped.
    """
    days = []
    for name in lake.ls(table):
        if not name.startswith("date="):
            continue
        try:
            day = dt.date.fromisoformat(name[5:])
        except ValueError:
            continue
        if lake.is_published(f"{table}/{name}"):
            days.append(day)
    return sorted(days)


def _landing_files(lake: Lake, arrival_day: dt.date) -> list[str]:
    """The partition's Parquet files, sorted by name (the tie-break between equal arrivals)."""
    prefix = landing_partition(arrival_day)
    return [f"{prefix}/{name}" for name in lake.ls(prefix) if name.endswith(".parquet")]


# ----------------------------------------------------------------------------- schema checks


def _type_ok(expected: pa.DataType, actual: pa.DataType) -> bool:
    """Whether a delivered column type can be read as the contract's type without guessing.

    Width changes are accepted (string/large_string, any signed integer for ms_played,
    any timestamp unit); a timestamp without a UTC zone is not, since its instant is
    ambiguous.
    """
    if pa.types.is_dictionary(actual):
        actual = actual.value_type
    if pa.types.is_string(expected):
        return pa.types.is_string(actual) or pa.types.is_large_string(actual)
    if pa.types.is_timestamp(expected):
        return pa.types.is_timestamp(actual) and actual.tz in _UTC_NAMES
    if pa.types.is_integer(expected):
        return pa.types.is_signed_integer(actual)
    return bool(actual.equals(expected))


def schema_problem(schema: pa.Schema) -> str | None:
    """Why a batch with this schema cannot be loaded, naming the column; ``None`` if it can."""
    for expected in EVENT_SCHEMA:
        matches = schema.get_all_field_indices(expected.name)
        if not matches:
            return f"missing column {expected.name!r}"
        if len(matches) > 1:
            return f"column {expected.name!r} appears {len(matches)} times"
        actual = schema.field(matches[0]).type
        if not _type_ok(expected.type, actual):
            return f"column {expected.name!r} has type {actual}, expected {expected.type}"
    return None


def _check_files(lake: Lake, relpaths: Iterable[str]) -> tuple[list[str], dict[str, str]]:
    """Split files into loadable ones and rejected ones (with a reason naming file and column).

    Only the footer is read, so checking a whole window costs a few small reads.
    """
    good: list[str] = []
    bad: dict[str, str] = {}
    for relpath in relpaths:
        try:
            with lake.open(relpath) as f:
                schema = pq.read_schema(f)
        except (OSError, pa.ArrowException) as exc:
            bad[relpath] = f"{relpath}: not a readable Parquet file ({exc})"
            continue
        problem = schema_problem(schema)
        if problem is None:
            good.append(relpath)
        else:
            bad[relpath] = f"{relpath}: {problem}"
    return good, bad


# ----------------------------------------------------------------------------- loading


def load_play_day(
    lake: Lake,
    day: dt.date,
    *,
    lateness_days: int = LATENESS_WINDOW_DAYS,
    known_tracks: set[str] | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> DayLoad:
    """Assemble play day ``day`` from the arrival partitions ``day .. day + lateness_days``.

    Broken files are refused whole and the rest still load; invalid rows go to
    ``rejected`` with a reason; copies of one ``event_id`` collapse to the earliest
    arrival (ties by file name). Partitions of the window that do not exist yet are
    simply skipped: re-run the day when they land, until the window closes.
    """
    if not isinstance(day, dt.date) or isinstance(day, dt.datetime):
        raise EventLoadError(f"day must be a datetime.date, got {type(day).__name__}")
    if not isinstance(lateness_days, int) or isinstance(lateness_days, bool) or lateness_days < 0:
        raise EventLoadError(f"lateness_days must be a non-negative int, got {lateness_days!r}")
    window = [day + dt.timedelta(days=k) for k in range(lateness_days + 1)]
    listed = [(k, relpath) for k, arrival in enumerate(window) for relpath in _landing_files(lake, arrival)]
    good, bad = _check_files(lake, (relpath for _, relpath in listed))
    good_set = set(good)
    files = [(k, relpath) for k, relpath in listed if relpath in good_set]
    scan = _Scan(day=day, lateness_days=lateness_days, files=files, known_tracks=known_tracks)
    result = _run(lake, scan, con)
    return DayLoad(
        day=day,
        lateness_days=lateness_days,
        events=result.events,
        rejected=result.rejected,
        files_read=tuple(relpath for _, relpath in files),
        files_rejected=dict(sorted(bad.items())),
        duplicates_dropped=result.duplicates,
        late_loaded=result.late_loaded,
        too_late=result.too_late,
    )


def find_too_late(
    lake: Lake,
    arrival_day: dt.date,
    lateness_days: int = LATENESS_WINDOW_DAYS,
    *,
    con: duckdb.DuckDBPyConnection | None = None,
) -> pa.Table:
    """Rows of arrival partition ``arrival_day`` whose play day closed before they arrived.

    The same ``TOO_LATE`` rows the load of play day ``arrival_day`` puts in its
    ``rejected`` table, without loading that play day (``REJECTED_SCHEMA``).
    """
    files, _bad = _check_files(lake, _landing_files(lake, arrival_day))
    scan = _Scan(
        day=arrival_day,
        lateness_days=lateness_days,
        files=[(0, relpath) for relpath in files],
        known_tracks=None,
        arrival_side_only=True,
    )
    rejected = _run(lake, scan, con).rejected
    return rejected.filter(pc.equal(rejected["reason"], Reason.TOO_LATE))


def load_known_tracks(lake: Lake, relpath: str = CATALOG_TRACKS) -> set[str]:
    """The catalog's track ids (ISRCs), for the ``UNKNOWN_TRACK`` check."""
    if not lake.exists(relpath):
        raise EventLoadError(f"catalog reference {relpath!r} is not in the lake")
    table = pq.read_table(lake.open(relpath), columns=["track_id"])
    return set(table["track_id"].drop_null().to_pylist())


@dataclass(frozen=True)
class _Scan:
    """What one DuckDB pass reads: (arrival offset, file) pairs, sorted by arrival then name."""

    day: dt.date
    lateness_days: int
    files: Sequence[tuple[int, str]]
    known_tracks: set[str] | None
    arrival_side_only: bool = False

    @property
    def day_start_ms(self) -> int:
        return (self.day - dt.date(1970, 1, 1)).days * DAY_MS

    @property
    def day_end_ms(self) -> int:
        return self.day_start_ms + DAY_MS

    @property
    def closed_before_ms(self) -> int:
        """Plays before this instant belong to play days whose window had closed on arrival."""
        return self.day_start_ms - self.lateness_days * DAY_MS


@dataclass(frozen=True)
class _ScanResult:
    events: pa.Table
    rejected: pa.Table
    duplicates: int
    late_loaded: int
    too_late: int


def _run(lake: Lake, scan: _Scan, con: duckdb.DuckDBPyConnection | None) -> _ScanResult:
    """Run the scan on ``con`` (or a private in-memory DuckDB), cleaning up what it registered."""
    import duckdb

    own = con is None
    conn = duckdb.connect() if con is None else con
    tag = uuid.uuid4().hex[:12]  # caller's connection: never collide with their names
    names = {"files": f"_el_files_{tag}", "known": f"_el_known_{tag}", "rows": f"_el_rows_{tag}"}
    try:
        lake.register_with_duckdb(conn)
        if not scan.files:
            return _ScanResult(_empty(EVENT_SCHEMA), _empty(REJECTED_SCHEMA), 0, 0, 0)
        urls = {relpath: lake.duckdb_glob(relpath) for _, relpath in scan.files}
        conn.register(
            names["files"],
            pa.table(
                {
                    "url": [urls[r] for _, r in scan.files],
                    "relpath": [r for _, r in scan.files],
                    "lag": pa.array([k for k, _ in scan.files], pa.int32()),
                    "arrival_rank": pa.array(range(len(scan.files)), pa.int32()),
                }
            ),
        )
        if scan.known_tracks is not None:
            known = pa.table({"track_id": pa.array(sorted(scan.known_tracks), pa.string())})
            conn.register(names["known"], known)
        sql, params = _rows_sql(scan, urls, names)
        conn.execute(f"CREATE TEMP TABLE {names['rows']} AS {sql}", params)
        return _collect(conn, names["rows"])
    finally:
        for key in ("files", "known"):
            try:
                conn.unregister(names[key])
            except Exception:  # noqa: BLE001 - never registered: nothing to undo
                pass
        if not own:
            conn.execute(f"DROP TABLE IF EXISTS {names['rows']}")
        else:
            conn.close()


def _sql_col(name: str) -> str:
    """The working column for an event column: time is handled as epoch milliseconds."""
    return "started_ms" if name == "started_at" else name


def _select_raw(files_param: str, where: str) -> str:
    """One read of delivered rows, normalised: epoch ms for time (zone-proof), int64 ms_played."""
    return f"""
        SELECT event_id, user_id, track_id, epoch_ms(started_at) AS started_ms,
               CAST(ms_played AS BIGINT) AS ms_played, country, platform, source, saved, skipped,
               filename, file_row_number
        FROM read_parquet(${files_param}, filename = true, file_row_number = true,
                          union_by_name = true)
        WHERE {where}"""


def _rows_sql(scan: _Scan, urls: dict[str, str], names: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """SQL giving every relevant delivered row its fate: NULL (load), DUPLICATE, or a reason.

    Two reads feed it: the play-day rows of the whole window (row groups of other
    days are skipped via Parquet statistics) and, from the day's own arrival
    partition only, the rows no open play day owns.
    """
    # DuckDB refuses unused named parameters, so each part adds only what it uses.
    params: dict[str, Any] = {"d1": scan.day_end_ms / 1000}
    parts = []
    if not scan.arrival_side_only:
        params["d0"] = scan.day_start_ms / 1000
        params["window_files"] = [urls[r] for _, r in scan.files]
        parts.append(
            _select_raw("window_files", "started_at >= to_timestamp($d0) AND started_at < to_timestamp($d1)")
        )
    own = [urls[r] for k, r in scan.files if k == 0]
    if own:
        params["own_files"] = own
        params["closed"] = scan.closed_before_ms / 1000
        parts.append(
            _select_raw(
                "own_files",
                "started_at IS NULL OR started_at >= to_timestamp($d1) "
                "OR started_at < to_timestamp($closed)",
            )
        )
    raw = " UNION ALL ".join(parts)
    any_null = " OR ".join(f"{_sql_col(c)} IS NULL" for c in _EVENT_COLUMNS)
    sources = ", ".join(f"'{s}'" for s in SOURCES)
    platforms = ", ".join(f"'{p}'" for p in PLATFORMS)
    unknown_track = (
        f"WHEN track_id NOT IN (SELECT track_id FROM {names['known']}) THEN '{Reason.UNKNOWN_TRACK}'"
        if scan.known_tracks is not None
        else ""
    )
    content = "row(" + ", ".join(_sql_col(c) for c in _CONTENT_COLUMNS) + ")"
    sql = f"""
        WITH raw AS ({raw}),
        checked AS (
            SELECT raw.* EXCLUDE (filename), f.relpath AS source_file, f.lag, f.arrival_rank,
                CASE
                    WHEN {any_null} THEN '{Reason.NULL_FIELD}'
                    WHEN started_ms >= {scan.day_end_ms} THEN '{Reason.STARTED_AFTER_ARRIVAL}'
                    WHEN started_ms < {scan.closed_before_ms} THEN '{Reason.TOO_LATE}'
                    WHEN ms_played < 0 OR ms_played > {MAX_MS_PLAYED} THEN '{Reason.MS_PLAYED_OUT_OF_RANGE}'
                    WHEN source NOT IN ({sources}) THEN '{Reason.UNKNOWN_SOURCE}'
                    WHEN platform NOT IN ({platforms}) THEN '{Reason.UNKNOWN_PLATFORM}'
                    WHEN NOT regexp_full_match(country, '{_COUNTRY_RE}') THEN '{Reason.BAD_COUNTRY}'
                    {unknown_track}
                END AS reason
            FROM raw JOIN {names["files"]} AS f ON raw.filename = f.url
        ),
        ranked AS (
            SELECT *,
                row_number() OVER w AS copy_no,
                {content} = first_value({content}) OVER w AS same_as_kept
            FROM checked
            WINDOW w AS (PARTITION BY reason IS NULL, event_id ORDER BY arrival_rank, file_row_number)
        )
        SELECT * EXCLUDE (reason, copy_no, same_as_kept),
            CASE
                WHEN reason IS NOT NULL THEN reason
                WHEN copy_no = 1 THEN NULL
                WHEN same_as_kept THEN '{_DUPLICATE}'
                ELSE '{Reason.DUPLICATE_CONFLICT}'
            END AS fate
        FROM ranked
    """
    return sql, params


def _collect(conn: duckdb.DuckDBPyConnection, rows: str) -> _ScanResult:
    """Pull the loaded rows, the rejected rows and the counts out of the fated rows table."""
    cols = ", ".join(_sql_col(c) for c in _EVENT_COLUMNS)
    events = conn.sql(f"SELECT {cols} FROM {rows} WHERE fate IS NULL ORDER BY started_ms, event_id")
    rejected = conn.sql(
        f"""SELECT {cols}, fate AS reason, source_file FROM {rows}
            WHERE fate IS NOT NULL AND fate <> '{_DUPLICATE}'
            ORDER BY reason, source_file, started_ms, event_id, {cols}"""
    )
    dups, late, too_late = conn.sql(
        f"""SELECT count(*) FILTER (WHERE fate = '{_DUPLICATE}'),
                   count(*) FILTER (WHERE fate IS NULL AND lag > 0),
                   count(DISTINCT event_id) FILTER (WHERE fate = '{Reason.TOO_LATE}')
            FROM {rows}"""
    ).fetchall()[0]
    return _ScanResult(
        events=_to_schema(events.to_arrow_table(), EVENT_SCHEMA),
        rejected=_to_schema(rejected.to_arrow_table(), REJECTED_SCHEMA),
        duplicates=int(dups),
        late_loaded=int(late),
        too_late=int(too_late),
    )


def _to_schema(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """DuckDB's Arrow output (epoch ms, wide ints) cast to the contract, as one chunk.

    One chunk matters: the Parquet writer's page boundaries follow chunk boundaries,
    and DuckDB's chunking can vary with thread scheduling.
    """
    arrays = []
    for f in schema:
        col = table["started_ms"] if f.name == "started_at" else table[f.name]
        arrays.append(pc.cast(col.combine_chunks(), f.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def _empty(schema: pa.Schema) -> pa.Table:
    return schema.empty_table()


# ----------------------------------------------------------------------------- publishing


def table_parquet_bytes(table: pa.Table) -> bytes:
    """``table`` as Parquet with the fixed writer settings (the bytes :func:`publish_play_day` writes)."""
    sink = pa.BufferOutputStream()
    pq.write_table(table.combine_chunks(), sink, **PARQUET_WRITE_OPTIONS)
    return bytes(sink.getvalue())


def write_parquet_file(table: pa.Table, path: str | Path) -> Path:
    """``table`` as a local Parquet file with the fixed writer settings (same table, same bytes)."""
    pq.write_table(table.combine_chunks(), path, **PARQUET_WRITE_OPTIONS)
    return Path(path)


def publish_tables(
    lake: Lake, prefix: str, tables: Mapping[str, pa.Table], extra: Mapping[str, bytes] | None = None
) -> None:
    """Publish ``tables`` (file name -> table) and ``extra`` files as one dataset under ``prefix``.

    Goes through :meth:`Lake.publish` (manifest last, stale files pruned), so readers
    see the old dataset or the new one, never a mix. Tables are staged on local disk
    rather than held as bytes, since a large day is tens of MB per file.
    """
    with tempfile.TemporaryDirectory(prefix="lake-publish-") as tmp:
        files: dict[str, Path | bytes] = {
            name: write_parquet_file(table, Path(tmp) / name) for name, table in tables.items()
        }
        files.update(extra or {})
        lake.publish(prefix, files)


def publish_play_day(lake: Lake, load: DayLoad) -> None:
    """Replace the day's ``listening_events`` and ``rejected_events`` partitions.

    Rejected rows are published first: a reader that sees the new events can trust
    the rejects shown beside them are at least as new.
    """
    publish_tables(lake, rejected_prefix(load.day), {PART_NAME: load.rejected})
    publish_tables(lake, events_prefix(load.day), {PART_NAME: load.events})


QUARANTINE = "quarantine/listening_events"


def quarantine_play_day(lake: Lake, load: DayLoad, report: Mapping[str, Any]) -> None:
    """Keep a day that failed its money checks where people can inspect it, never in the lake table.

    ``report`` is the data-quality report (JSON-able) stored beside the rows as ``data_quality.json``.
    """
    payload = {"report": report, "load": json.loads(load.to_json())}
    publish_tables(
        lake,
        f"{QUARANTINE}/date={load.day.isoformat()}",
        {PART_NAME: load.events, "rejected.parquet": load.rejected},
        {"data_quality.json": json.dumps(payload, sort_keys=True, indent=2).encode("utf-8")},
    )
