"""Benchmark: fraud detection on a sample world, scored against its planted bots.

For a world folder whose ``listening_events`` are loaded (lake root = the world
folder), it screens every play day as the ``fraud_flags`` asset does (read the
day and the history window's baseline through DuckDB, detect, write the three
Parquet files, here to a temporary folder: the world is never written to), then
scores all flags against ``truth/fraud_accounts.parquet``: account- and
play-level precision and recall, recall per bot kind, and the share of honest
listening wrongly excluded. Progress goes to stderr, one line per day; the
result (markdown, or JSON with ``--json``) to stdout.

    .venv/bin/python benchmarks/fraud.py --world /tmp/worlds/small
    .venv/bin/python benchmarks/fraud.py --world /tmp/worlds/medium --json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import polars as pl  # noqa: E402

from ml.fraud import FraudRules, detect_inputs, read_day_inputs, write_detection  # noqa: E402
from ml.fraud_evaluation import evaluate, load_truth  # noqa: E402
from pipelines.event_loading import EVENTS_TABLE, published_days  # noqa: E402
from pipelines.lake import Lake  # noqa: E402


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run(world: Path, rules: FraudRules) -> dict:
    lake = Lake(str(world))
    days = published_days(lake, EVENTS_TABLE)
    if not days:
        raise SystemExit(f"{world}: no published listening_events days (load the events first)")
    timings = {"read": 0.0, "detect": 0.0, "write": 0.0}
    flags, events = [], []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fraud-bench-") as tmp:
        for i, day in enumerate(days, 1):
            t0 = time.perf_counter()
            inputs = read_day_inputs(lake, day, rules)
            t1 = time.perf_counter()
            det = detect_inputs(inputs, rules)
            t2 = time.perf_counter()
            write_detection(det, Path(tmp) / day.isoformat())
            t3 = time.perf_counter()
            timings["read"] += t1 - t0
            timings["detect"] += t2 - t1
            timings["write"] += t3 - t2
            flags.append(pl.from_arrow(det.flags).select("event_id", "user_id", "reason"))
            events.append(inputs.events.select("event_id", "user_id", "ms_played"))
            s = det.summary()
            _log(
                f"[{i}/{len(days)}] {day}: {s['plays']:,} plays, {s['flagged_plays']:,} flagged "
                f"({s['flagged_accounts']} accounts, {s['flagged_tracks']} tracks) in {t3 - t0:.2f}s"
                + (f"  [{'; '.join(s['notes'])}]" if s["notes"] else "")
            )
    total = time.perf_counter() - started
    score = evaluate(pl.concat(flags), pl.concat(events), load_truth(lake))
    plays = score.plays
    return {
        "world": str(world),
        "days": len(days),
        "plays": plays,
        "seconds": round(total, 2),
        "seconds_by_step": {k: round(v, 2) for k, v in timings.items()},
        "plays_per_second": round(plays / total) if total else None,
        "score": score.to_dict(),
        "markdown": score.to_markdown(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--world", type=Path, required=True, help="world folder with listening_events loaded"
    )
    parser.add_argument(
        "--max-daily-hours", type=float, default=16.0, help="setting fraud_max_daily_hours"
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    result = run(args.world, FraudRules(max_daily_hours=args.max_daily_hours))
    if args.json:
        print(
            json.dumps(
                {k: v for k, v in result.items() if k != "markdown"}, indent=2, sort_keys=True
            )
        )
        return 0
    steps = ", ".join(f"{k} {v:.1f}s" for k, v in result["seconds_by_step"].items())
    print(f"# Fraud detection on {result['world']}\n")
    print(
        f"{result['days']} play days, {result['plays']:,} plays screened in {result['seconds']:.1f}s "
        f"({steps}; {result['plays_per_second']:,} plays/s)\n"
    )
    print(result["markdown"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
