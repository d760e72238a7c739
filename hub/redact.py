"""Masking of personal numbers in free text bound for logs (no full ID number, phone or code is logged)."""

from __future__ import annotations

import re

# Runs of 6+ digits (codes, phones, ID numbers, card and account numbers), optionally ending in X.
_DIGITS = re.compile(r"\d{6,}[Xx]?")


def _mask(match: re.Match[str]) -> str:
    text = match.group(0)
    return text[:2] + "*" * (len(text) - 4) + text[-2:] if len(text) > 8 else "*" * len(text)


def redact(text: str) -> str:
    """Replace long digit runs by a masked form that keeps at most 4 of their characters."""
    return _DIGITS.sub(_mask, text)
