"""Money is integer micro-dollars everywhere; floats appear only at the edges (config, display)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from omnirelay.errors import InvalidRequest

MICRO = 1_000_000
# Amounts stay well inside a signed 64-bit column once in micro-dollars.
MAX_USD = Decimal(10) ** 12


def usd_to_micro(usd: float | str | Decimal) -> int:
    """Convert a dollar amount written by a person into micro-dollars, rounding half up;
    not a number, infinite, or beyond a trillion dollars is an ``InvalidRequest``."""
    try:
        amount = Decimal(str(usd))
        if not amount.is_finite() or abs(amount) > MAX_USD:
            raise InvalidOperation
        return int((amount * MICRO).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    except (InvalidOperation, ValueError) as exc:
        raise InvalidRequest(
            f"'{str(usd)[:40]}' is not an amount of dollars (a finite number, at most 1e12)"
        ) from exc


def micro_to_usd(micro: int) -> str:
    """Render micro-dollars as a dollar string with six decimals (exact, no float)."""
    sign = "-" if micro < 0 else ""
    whole, frac = divmod(abs(micro), MICRO)
    return f"{sign}{whole}.{frac:06d}"


def per_million(units: int, price_per_million: int) -> int:
    """Cost of ``units`` at a price per million units, rounded up to a whole micro-dollar."""
    if units <= 0 or price_per_million <= 0:
        return 0
    return -(-units * price_per_million // MICRO)
