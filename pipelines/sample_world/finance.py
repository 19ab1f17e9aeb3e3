"""Finance inputs: what listeners paid and what ads earned, per month, country and plan.

Royalties are paid out of these pools. Amounts are exact decimals in the
market's local currency (never binary floats), with the month's FX rate to
USD recorded beside them, as a finance system would hand them over.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np
import polars as pl

from pipelines.sample_world.geography import MARKETS
from pipelines.sample_world.scales import Scale

# plan fee as a multiple of the premium fee
PLAN_FEE_FACTOR = {"premium": Decimal("1"), "family": Decimal("1.6"), "student": Decimal("0.5")}
# VAT and payment-processing fees, deducted before pools are formed
VAT_RATE = {"CD": "0.16", "CG": "0.18", "CM": "0.1925", "NG": "0.075", "GH": "0.15", "CI": "0.18",
            "SN": "0.18", "ZA": "0.15", "TZ": "0.18", "KE": "0.16", "FR": "0.20", "BE": "0.21",
            "GB": "0.20", "US": "0.00"}
# monthly ad revenue per free user, in USD
AD_ARPU_USD = {"central": "0.04", "west": "0.05", "south": "0.09", "east": "0.04", "diaspora": "0.35"}
PAYMENT_FEE_RATE = "0.03"
CENT = Decimal("0.01")
AMOUNT = pl.Decimal(18, 2)
RATE = pl.Decimal(18, 8)


def months_of(scale: Scale) -> list[str]:
    """Every calendar month the listening window touches, as YYYY-MM."""
    months, day = [], scale.start.replace(day=1)
    while day <= scale.end:
        months.append(day.strftime("%Y-%m"))
        day = (day + dt.timedelta(days=32)).replace(day=1)
    return months


def fx_rates(scale: Scale, seed: int) -> pl.DataFrame:
    """Monthly USD rate per currency: the market's base rate drifting a few percent a month."""
    rng = np.random.default_rng([seed, 5])
    currencies = sorted({(m.currency, m.usd_per_unit) for m in MARKETS})
    rows = []
    for currency, base in currencies:
        rate = Decimal(base)
        for month in months_of(scale):
            drift = Decimal(str(round(float(rng.normal(0.0, 0.02)), 4)))
            if currency != "USD":
                rate = (rate * (1 + drift)).quantize(Decimal("0.00000001"), ROUND_HALF_EVEN)
            rows.append({"month": month, "currency": currency, "usd_per_unit": rate})
    return pl.DataFrame(rows, schema={"month": pl.Utf8, "currency": pl.Utf8, "usd_per_unit": RATE})


def revenue(scale: Scale, seed: int, users: pl.DataFrame, fx: pl.DataFrame) -> pl.DataFrame:
    """Gross subscription and ad revenue per month, country and plan, in local currency."""
    rng = np.random.default_rng([seed, 6])
    rows = []
    for month in months_of(scale):
        month_end = _month_end(month)
        active = users.filter(pl.col("signup_date") <= month_end)
        counts = {(r["country"], r["plan"]): r["len"] for r in active.group_by("country", "plan").len().iter_rows(named=True)}
        for m in MARKETS:
            usd = fx.filter((pl.col("month") == month) & (pl.col("currency") == m.currency))["usd_per_unit"][0]
            for plan in ("free", "premium", "family", "student"):
                n = counts.get((m.code, plan), 0)
                if plan == "free":
                    # ad revenue varies month to month with the ad market
                    per_user_usd = Decimal(AD_ARPU_USD[m.region]) * Decimal(str(round(float(rng.uniform(0.85, 1.15)), 3)))
                    subscription, ads = Decimal(0), (n * per_user_usd / usd).quantize(CENT, ROUND_HALF_EVEN)
                else:
                    fee = Decimal(m.monthly_fee) * PLAN_FEE_FACTOR[plan]
                    subscription, ads = (n * fee).quantize(CENT, ROUND_HALF_EVEN), Decimal(0)
                rows.append({
                    "month": month, "country": m.code, "plan": plan, "currency": m.currency,
                    "accounts": n, "subscription_revenue": subscription, "ad_revenue": ads,
                    "vat_rate": Decimal(VAT_RATE[m.code]), "payment_fee_rate": Decimal(PAYMENT_FEE_RATE),
                })
    return pl.DataFrame(rows, schema={
        "month": pl.Utf8, "country": pl.Utf8, "plan": pl.Utf8, "currency": pl.Utf8, "accounts": pl.Int64,
        "subscription_revenue": AMOUNT, "ad_revenue": AMOUNT, "vat_rate": pl.Decimal(6, 4),
        "payment_fee_rate": pl.Decimal(6, 4),
    })


def _month_end(month: str) -> dt.date:
    first = dt.date.fromisoformat(f"{month}-01")
    return (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
