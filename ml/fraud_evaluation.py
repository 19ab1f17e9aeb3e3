"""Score fraud flags against a sample world's planted bots (``truth/fraud_accounts.parquet``).

The truth is used here only, never by detection. Every play of a planted bot
account is a fraud play (bots never listen as honest users); every other play is
honest. :func:`evaluate` gives

* account-level precision and recall (an account counts as flagged if any of
  its plays was flagged on any day);
* play-level precision and recall (flagged event ids against bot event ids);
* recall per bot kind (accounts and plays);
* the honest exclusion share: honest plays flagged / honest plays, also weighted
  by ``ms_played`` (what the flags would wrongly take out of royalties).

Bots planned for the window that have no loaded play cannot be found by any
detector and are left out of the account recall (reported as ``bots_without_plays``).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from ml.fraud import as_polars

if TYPE_CHECKING:
    from pipelines.lake import Lake

__all__ = ["FraudScore", "KindScore", "evaluate", "load_truth", "read_flags"]

TRUTH_ACCOUNTS = "truth/fraud_accounts.parquet"


@dataclass(frozen=True)
class KindScore:
    """Recall for one bot kind."""

    accounts: int
    accounts_flagged: int
    plays: int
    plays_flagged: int

    @property
    def account_recall(self) -> float:
        return _ratio(self.accounts_flagged, self.accounts)

    @property
    def play_recall(self) -> float:
        return _ratio(self.plays_flagged, self.plays)


@dataclass(frozen=True)
class FraudScore:
    """How flags compare with the truth (ratios are 1.0 where their denominator is empty)."""

    plays: int
    bot_plays: int
    flagged_plays: int
    flagged_bot_plays: int
    honest_plays: int
    honest_plays_flagged: int
    honest_ms: int
    honest_ms_flagged: int
    bot_accounts: int
    flagged_accounts: int
    flagged_bot_accounts: int
    bots_without_plays: int
    by_kind: dict[str, KindScore] = field(default_factory=dict)
    flagged_plays_by_reason: dict[str, int] = field(default_factory=dict)
    honest_flagged_by_reason: dict[str, int] = field(default_factory=dict)

    @property
    def account_precision(self) -> float:
        return _ratio(self.flagged_bot_accounts, self.flagged_accounts)

    @property
    def account_recall(self) -> float:
        return _ratio(self.flagged_bot_accounts, self.bot_accounts)

    @property
    def play_precision(self) -> float:
        return _ratio(self.flagged_bot_plays, self.flagged_plays)

    @property
    def play_recall(self) -> float:
        return _ratio(self.flagged_bot_plays, self.bot_plays)

    @property
    def honest_exclusion_share(self) -> float:
        """Honest plays flagged / honest plays (0.0 when there are none)."""
        return self.honest_plays_flagged / self.honest_plays if self.honest_plays else 0.0

    @property
    def honest_exclusion_share_ms(self) -> float:
        """Honest listening time flagged / honest listening time."""
        return self.honest_ms_flagged / self.honest_ms if self.honest_ms else 0.0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["by_kind"] = {
            kind: {
                **asdict(k),
                "account_recall": round(k.account_recall, 4),
                "play_recall": round(k.play_recall, 4),
            }
            for kind, k in self.by_kind.items()
        }
        for name in ("account_precision", "account_recall", "play_precision", "play_recall"):
            out[name] = round(getattr(self, name), 4)
        out["honest_exclusion_share"] = round(self.honest_exclusion_share, 6)
        out["honest_exclusion_share_ms"] = round(self.honest_exclusion_share_ms, 6)
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, indent=2)

    def to_markdown(self) -> str:
        lines = [
            "| measure | value |",
            "|---|---|",
            f"| account precision | {self.account_precision:.4f} ({self.flagged_bot_accounts}/{self.flagged_accounts}) |",
            f"| account recall | {self.account_recall:.4f} ({self.flagged_bot_accounts}/{self.bot_accounts}) |",
            f"| play precision | {self.play_precision:.4f} ({self.flagged_bot_plays:,}/{self.flagged_plays:,}) |",
            f"| play recall | {self.play_recall:.4f} ({self.flagged_bot_plays:,}/{self.bot_plays:,}) |",
            (
                f"| honest plays excluded | {self.honest_exclusion_share:.4%} "
                f"({self.honest_plays_flagged:,}/{self.honest_plays:,}) |"
            ),
            f"| honest listening time excluded | {self.honest_exclusion_share_ms:.4%} |",
            "",
            "| bot kind | accounts | account recall | plays | play recall |",
            "|---|---|---|---|---|",
        ]
        for kind, k in self.by_kind.items():
            lines.append(
                f"| {kind} | {k.accounts} | {k.account_recall:.4f} | {k.plays:,} | {k.play_recall:.4f} |"
            )
        if self.bots_without_plays:
            lines += [
                "",
                f"{self.bots_without_plays} planted bot(s) had no loaded play (not scored).",
            ]
        return "\n".join(lines)


def _ratio(num: int, den: int) -> float:
    return num / den if den else 1.0




def evaluate(
    flags_all_days: pl.DataFrame | pa.Table,
    events_all_days: pl.DataFrame | pa.Table,
    truth_accounts: pl.DataFrame | pa.Table,
) -> FraudScore:
    """Score the flags of some days against the truth, over the plays of those same days.

    ``flags_all_days``: event_id, user_id and reason (the ``fraud_flags`` columns);
    ``events_all_days``: event_id, user_id, ms_played of every screened play;
    ``truth_accounts``: user_id and kind (``truth/fraud_accounts.parquet``).
    Flags whose event is not among the events are ignored (other days).
    """
    events = as_polars(events_all_days).select(
        pl.col("event_id").cast(pl.String),
        pl.col("user_id").cast(pl.String),
        pl.col("ms_played").cast(pl.Int64),
    )
    truth = as_polars(truth_accounts).select(
        pl.col("user_id").cast(pl.String), pl.col("kind").cast(pl.String)
    )
    truth = truth.unique("user_id", keep="first", maintain_order=True)
    flags = as_polars(flags_all_days).select(
        pl.col("event_id").cast(pl.String), pl.col("reason").cast(pl.String)
    )
    flags = flags.unique("event_id", keep="first", maintain_order=True)

    plays = (
        events.join(truth, on="user_id", how="left")
        .join(flags, on="event_id", how="left")
        .with_columns(bot=pl.col("kind").is_not_null(), flagged=pl.col("reason").is_not_null())
    )
    bot = plays.filter(pl.col("bot"))
    honest = plays.filter(~pl.col("bot"))
    flagged = plays.filter(pl.col("flagged"))

    flagged_accounts = set(flagged["user_id"].unique().to_list())
    active_bots = bot.select("user_id", "kind").unique()
    kinds = sorted(truth["kind"].unique().to_list())
    by_kind = {}
    for kind in kinds:
        kb = bot.filter(pl.col("kind") == kind)
        users = set(active_bots.filter(pl.col("kind") == kind)["user_id"].to_list())
        by_kind[kind] = KindScore(
            accounts=len(users),
            accounts_flagged=len(users & flagged_accounts),
            plays=kb.height,
            plays_flagged=int(kb["flagged"].sum()),
        )
    active = set(active_bots["user_id"].to_list())
    return FraudScore(
        plays=plays.height,
        bot_plays=bot.height,
        flagged_plays=flagged.height,
        flagged_bot_plays=int(bot["flagged"].sum()),
        honest_plays=honest.height,
        honest_plays_flagged=int(honest["flagged"].sum()),
        honest_ms=int(honest["ms_played"].sum() or 0),
        honest_ms_flagged=int(honest.filter(pl.col("flagged"))["ms_played"].sum() or 0),
        bot_accounts=len(active),
        flagged_accounts=len(flagged_accounts),
        flagged_bot_accounts=len(active & flagged_accounts),
        bots_without_plays=truth.height - len(active),
        by_kind=by_kind,
        flagged_plays_by_reason=_counts(flagged, "reason"),
        honest_flagged_by_reason=_counts(honest.filter(pl.col("flagged")), "reason"),
    )


def _counts(df: pl.DataFrame, column: str) -> dict[str, int]:
    if df.height == 0:
        return {}
    counts = df.group_by(column).len().sort(column)
    return dict(zip(counts[column].to_list(), counts["len"].to_list(), strict=True))


def load_truth(lake: Lake) -> pl.DataFrame:
    """The world's planted bot accounts (user_id, kind, target_track_ids, first_day, last_day)."""
    with lake.open(TRUTH_ACCOUNTS) as f:
        return as_polars(pq.read_table(f))


def read_flags(lake: Lake, days: list[dt.date]) -> pl.DataFrame:
    """The published ``fraud_flags`` of some days, concatenated (empty frame with the schema if none)."""
    from ml.fraud import FLAGS_SCHEMA, flags_prefix

    tables = []
    for day in days:
        relpath = f"{flags_prefix(day)}/part-00000.parquet"
        if lake.exists(relpath):
            with lake.open(relpath) as f:
                tables.append(pq.read_table(f))
    if not tables:
        return as_polars(FLAGS_SCHEMA.empty_table())
    return as_polars(pa.concat_tables(tables))
