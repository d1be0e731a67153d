"""RFC 8785 (JCS) canonical form: the RFC's own examples and number table (Appendix B)."""

from __future__ import annotations

import json
import struct
from decimal import Decimal

import pytest

from ail_shared.canonical import CanonicalFormError, canonical_json, format_number, recanonicalize

# RFC 8785 Appendix B: IEEE-754 bit patterns and their canonical text.
APPENDIX_B = [
    ("0000000000000000", "0"),
    ("8000000000000000", "0"),
    ("0000000000000001", "5e-324"),
    ("8000000000000001", "-5e-324"),
    ("7fefffffffffffff", "1.7976931348623157e+308"),
    ("ffefffffffffffff", "-1.7976931348623157e+308"),
    ("4340000000000000", "9007199254740992"),
    ("c340000000000000", "-9007199254740992"),
    ("4430000000000000", "295147905179352830000"),
    ("44b52d02c7e14af5", "9.999999999999997e+22"),
    ("44b52d02c7e14af6", "1e+23"),
    ("44b52d02c7e14af7", "1.0000000000000001e+23"),
    ("444b1ae4d6e2ef4e", "999999999999999700000"),
    ("444b1ae4d6e2ef4f", "999999999999999900000"),
    ("444b1ae4d6e2ef50", "1e+21"),
    ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
    ("3eb0c6f7a0b5ed8d", "0.000001"),
    ("41b3de4355555553", "333333333.3333332"),
    ("41b3de4355555554", "333333333.33333325"),
    ("41b3de4355555555", "333333333.3333333"),
    ("41b3de4355555556", "333333333.3333334"),
    ("41b3de4355555557", "333333333.33333343"),
    ("becbf647612f3696", "-0.0000033333333333333333"),
    ("43143ff3c1cb0959", "1424953923781206.2"),
]


@pytest.mark.parametrize(("bits", "text"), APPENDIX_B)
def test_numbers_follow_appendix_b(bits: str, text: str) -> None:
    value = struct.unpack(">d", bytes.fromhex(bits))[0]
    assert format_number(value) == text


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_numbers_are_refused(value: float) -> None:
    with pytest.raises(ValueError, match="not a finite number"):
        canonical_json({"x": value})


def test_rfc_example_3_2_2() -> None:
    raw = (
        '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],'
        ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",'
        ' "literals": [null, true, false]}'
    )
    expected = (
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    )
    assert recanonicalize(raw.encode()) == expected.encode()


def test_members_sort_by_utf16_code_units() -> None:
    obj = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    keys = list(json.loads(canonical_json(obj)))
    assert keys == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


def test_application_like_snapshot_round_trips_and_keeps_chinese_literal() -> None:
    snapshot = {
        "enterprise_name": "北京示例进出口有限公司",
        "goods": [{"quantity": Decimal("12.500"), "unit": "千克", "line_no": 1}],
        "total": 1234.5,
        "ok": True,
        "note": None,
    }
    data = canonical_json(snapshot)
    assert (
        data
        == (
            '{"enterprise_name":"北京示例进出口有限公司","goods":[{"line_no":1,"quantity":"12.500",'
            '"unit":"千克"}],"note":null,"ok":true,"total":1234.5}'
        ).encode()
    )
    assert recanonicalize(data) == data


def test_non_canonical_bytes_differ_after_recanonicalization() -> None:
    assert recanonicalize(b'{"b": 1, "a": 2.0}') == b'{"a":2,"b":1}'


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "not JSON"),
        (b'{"a":1,"a":2}', "duplicate member name"),
        (b"\xff\xfe", "not UTF-8"),
        (b'{"a":NaN}', "not a JSON number"),
        (b'{"n":12345678901234567890}', "not exactly representable"),
    ],
)
def test_recanonicalize_refuses_what_jcs_cannot_carry(raw: bytes, reason: str) -> None:
    with pytest.raises(CanonicalFormError, match=reason):
        recanonicalize(raw)


def test_other_types_are_refused_with_their_path() -> None:
    with pytest.raises(TypeError, match=r"\$\.goods\[0\]: set"):
        canonical_json({"goods": [set()]})
    with pytest.raises(TypeError, match="member name 1"):
        canonical_json({1: "x"})


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a":1e+21}',
        b'{"a":1e21}',
        b'{"a":3.0}',
        b'{"a":-0.0}',
        b'{"a":0.00001}',
        b'{"a":1e-7}',
        b'{"a":10000000000000000.0}',
        b'{"\xf0\x9f\x98\x80":1,"\xef\xac\xb3":2}',
        b'{"a":"\\u00e9"}',
        b'{"a":1,"a":1}',
        b'{"b":1,"a":2}',
        b'{"a":9007199254740993}',
    ],
)
def test_fast_path_agrees_with_the_general_path(raw: bytes) -> None:
    """Whatever the fast check accepts is exactly what the general path produces."""
    from ail_shared.canonical import _is_canonical_fast

    try:
        general = canonical_json(json.loads(raw, object_pairs_hook=lambda p: dict(p)))
    except ValueError:
        general = None
    if _is_canonical_fast(raw):
        assert general == raw
    try:
        assert recanonicalize(raw) == general
    except CanonicalFormError:
        assert general is None or b'"a":1,"a"' in raw


def test_fast_path_takes_ordinary_snapshots_and_long_digit_strings() -> None:
    from ail_shared.canonical import _is_canonical_fast

    data = canonical_json({"form_no": "123456789012345678", "price": 4.25, "n": [1, 22, 333], "neg": -0.5})
    assert _is_canonical_fast(data)
    assert not _is_canonical_fast(b'{"a":[1,12345678901234567]}')
