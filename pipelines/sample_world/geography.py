"""Markets of the sample world: where users and artists live, and their money."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Market:
    """One country: listeners' share, currency, region (for cultural affinity) and languages."""

    code: str
    name: str
    currency: str
    region: str
    languages: tuple[str, ...]
    user_weight: float
    artist_weight: float
    premium_share: float  # share of users on a paid plan
    monthly_fee: str  # premium fee in local currency, as a decimal string
    usd_per_unit: str  # FX rate at the world's start, USD per one local unit


MARKETS: tuple[Market, ...] = (
    Market("CD", "DR Congo", "CDF", "central", ("fr", "ln", "sw"), 0.22, 0.20, 0.18, "9900", "0.00035"),
    Market("CG", "Congo", "XAF", "central", ("fr", "ln"), 0.05, 0.06, 0.22, "2500", "0.00165"),
    Market("CM", "Cameroon", "XAF", "central", ("fr", "en"), 0.06, 0.05, 0.22, "2500", "0.00165"),
    Market("NG", "Nigeria", "NGN", "west", ("en", "yo", "ig"), 0.17, 0.16, 0.20, "1900", "0.00065"),
    Market("GH", "Ghana", "GHS", "west", ("en", "tw"), 0.06, 0.07, 0.22, "25", "0.080"),
    Market("CI", "Côte d'Ivoire", "XOF", "west", ("fr",), 0.07, 0.07, 0.20, "2500", "0.00165"),
    Market("SN", "Senegal", "XOF", "west", ("fr", "wo"), 0.04, 0.03, 0.20, "2500", "0.00165"),
    Market("ZA", "South Africa", "ZAR", "south", ("en", "zu", "xh"), 0.11, 0.12, 0.35, "65", "0.055"),
    Market("TZ", "Tanzania", "TZS", "east", ("sw", "en"), 0.06, 0.07, 0.15, "5000", "0.00038"),
    Market("KE", "Kenya", "KES", "east", ("sw", "en"), 0.07, 0.06, 0.22, "270", "0.0077"),
    Market("FR", "France", "EUR", "diaspora", ("fr",), 0.04, 0.05, 0.55, "10.99", "1.08"),
    Market("BE", "Belgium", "EUR", "diaspora", ("fr", "nl"), 0.02, 0.03, 0.55, "10.99", "1.08"),
    Market("GB", "United Kingdom", "GBP", "diaspora", ("en",), 0.02, 0.02, 0.55, "11.99", "1.27"),
    Market("US", "United States", "USD", "diaspora", ("en",), 0.01, 0.01, 0.60, "11.99", "1.0"),
)

MARKET_CODES: tuple[str, ...] = tuple(m.code for m in MARKETS)
_BY_CODE = {m.code: m for m in MARKETS}


def market(code: str) -> Market:
    """Look a market up by ISO 3166-1 alpha-2 code."""
    return _BY_CODE[code]
