"""Money rounding (CONVENTIONS.md: Decimal, to the fen, ROUND_HALF_UP)."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.rules.money import FEN, to_fen

amounts = st.decimals(min_value=Decimal("-1e9"), max_value=Decimal("1e9"), allow_nan=False, places=6)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1.005", "1.01"),  # exactly half a fen rounds up
        ("1.004999", "1.00"),  # just below half a fen rounds down
        ("-1.005", "-1.01"),  # half up means away from zero for negatives
        ("2451.59412", "2451.59"),
        ("100", "100.00"),
    ],
)
def test_to_fen_examples(raw: str, expected: str) -> None:
    assert to_fen(Decimal(raw)) == Decimal(expected)
    assert to_fen(Decimal(raw)).as_tuple().exponent == -2


def test_to_fen_refuses_float() -> None:
    with pytest.raises(TypeError):
        to_fen(1.005)  # type: ignore[arg-type]


def test_to_fen_refuses_non_finite() -> None:
    with pytest.raises(ValueError, match="finite"):
        to_fen(Decimal("NaN"))


@given(amounts)
def test_to_fen_is_idempotent(x: Decimal) -> None:
    assert to_fen(to_fen(x)) == to_fen(x)


@given(amounts)
def test_to_fen_is_within_half_a_fen(x: Decimal) -> None:
    assert abs(to_fen(x) - x) <= FEN / 2


@given(st.integers(min_value=0, max_value=10**11))
def test_to_fen_rounds_half_fen_up(fen: int) -> None:
    # k fen + 0.5 fen must become k + 1 fen.
    x = Decimal(fen) / 100 + Decimal("0.005")
    assert to_fen(x) == Decimal(fen + 1) / 100
