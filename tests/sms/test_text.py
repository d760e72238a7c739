"""The UCS-2 splitter: UTF-16 code units, 70 single / 67 per segment, surrogate pairs kept whole."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sms import text

# Mostly CJK, some Ext-B (surrogate pairs in UTF-16), ASCII and punctuation.
chars = st.one_of(
    st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF),
    st.characters(min_codepoint=0x20000, max_codepoint=0x2A6DF),
    st.characters(min_codepoint=0x20, max_codepoint=0x7E),
    st.sampled_from("，。：；！？【】（）"),
)
texts = st.text(alphabet=chars, min_size=0, max_size=600)


def lone_surrogate(part: str) -> bool:
    data = part.encode("utf-16-be")
    units = [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]
    return bool(units) and (0xDC00 <= units[0] <= 0xDFFF or 0xD800 <= units[-1] <= 0xDBFF)


@given(texts)
def test_split_joins_back_and_respects_limits(value: str) -> None:
    parts = text.split(value)
    assert "".join(parts) == value
    if len(parts) == 1:
        assert text.units(parts[0]) <= text.SINGLE_UNITS
    else:
        assert all(0 < text.units(p) <= text.SEGMENT_UNITS for p in parts)
        assert text.units(value) > text.SINGLE_UNITS
    assert not any(lone_surrogate(p) for p in parts)


@given(texts, st.integers(0, 255))
def test_encode_decode_round_trip(value: str, ref: int) -> None:
    parts = text.split(value)
    wire = text.encode(parts, ref)
    decoded = [text.decode(w.short_message, w.esm_class) for w in wire]
    assert "".join(d[0] for d in decoded) == value
    assert all(len(w.short_message) <= 140 for w in wire)
    if len(parts) > 1:
        assert [d[1] for d in decoded] == [(ref, len(parts), i) for i in range(1, len(parts) + 1)]


def test_counts_code_units_not_characters() -> None:
    assert text.units("𠮷") == 2
    assert text.units("你好") == 2
    assert text.split("字" * 70) == ["字" * 70]
    assert len(text.split("字" * 71)) == 2
    # 160 characters are billed 67 + 67 + 26
    assert [len(p) for p in text.split("字" * 160)] == [67, 67, 26]


def test_surrogate_pair_at_the_segment_boundary_moves_whole() -> None:
    value = "字" * 66 + "𠮷" + "字" * 10
    parts = text.split(value)
    assert parts[0] == "字" * 66  # 66 units; 𠮷 would make 68
    assert parts[1].startswith("𠮷")
    # 69 units with the pair at the end still fits in a single SMS of 70
    assert text.split("字" * 67 + "𠮷") == ["字" * 67 + "𠮷"]


def test_udh_header_bytes() -> None:
    wire = text.encode(["甲" * 67, "乙"], 0x2A)
    assert wire[0].short_message[:6] == bytes([5, 0, 3, 0x2A, 2, 1])
    assert wire[1].short_message[:6] == bytes([5, 0, 3, 0x2A, 2, 2])
    assert wire[0].esm_class == 0x40
    assert len(wire[0].short_message) == 140


def test_signature_once_in_front() -> None:
    assert text.sign("湖南社保", "正文") == "【湖南社保】正文"
