"""Money helpers: amounts are ``Decimal`` and rounded to the fen (CONVENTIONS.md)."""

from decimal import ROUND_HALF_UP, Decimal

FEN = Decimal("0.01")


def to_fen(x: Decimal) -> Decimal:
    """Round ``x`` to the fen, half up.

    Floats are refused: a binary float has already lost the exact fen value, so accepting one
    would hide the error rather than round it.
    """
    if isinstance(x, float):
        raise TypeError("money must be Decimal, not float")
    if isinstance(x, bool) or not isinstance(x, Decimal | int):
        raise TypeError(f"money must be Decimal, not {type(x).__name__}")
    value = Decimal(x)
    if not value.is_finite():
        raise ValueError(f"money must be finite, got {value}")
    return value.quantize(FEN, rounding=ROUND_HALF_UP)
