"""Reading a received body strictly (issue 15 cases 1 and 2)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lw_remediate.ingest.body import MAX_DEPTH, BodyError, decode_json_body


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (b'{"a": 1}', {"a": 1}),
        (b'\xef\xbb\xbf{"a": 1}', {"a": 1}),  # a UTF-8 BOM may be ignored (RFC 8259)
        ('{"a": "\u00e9\U0001f600"}'.encode(), {"a": "\u00e9\U0001f600"}),
        (b'{"a": "\\ud83d\\ude00"}', {"a": "\U0001f600"}),  # a surrogate pair is text
        (b"[" * MAX_DEPTH + b"]" * MAX_DEPTH, [[]] if MAX_DEPTH == 2 else None),
    ],
)
def test_accepted_bodies(raw, value):
    decoded = decode_json_body(raw)
    if value is not None:
        assert decoded == value


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "not JSON"),
        (b"{not json", "not JSON"),
        (b"\xff\xfe\x00", "looks like utf-16"),
        (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), "deeper than 64"),
        (b"[" * 200_000 + b"]" * 200_000, "deeper than 64"),
        (b'["\\udc00"]', "lone surrogate"),
        (b'{"\\ud800x": 1}', "lone surrogate"),
        (b'"\xc3\x28"', "not valid UTF-8"),
    ],
)
def test_refused_bodies(raw, reason):
    with pytest.raises(BodyError, match=reason):
        decode_json_body(raw)


def _reference(raw: bytes) -> str:
    """What the standard library reads in ``raw``, written back (1 and 1.0 differ)."""
    return json.dumps(json.loads(raw.decode("utf-8-sig")))


@pytest.mark.parametrize(
    "raw",
    [
        # orjson reads integers outside 64 bits as floats: these keep their value.
        b'{"event_id": 123456789012345678901234567890}',
        b"[18446744073709551616, -9223372036854775809, 9999999999999999999]",
        b"[18446744073709551615, -9223372036854775808, 123456789012345678]",
        # The standard library reads these and orjson does not: still accepted.
        b'{"a": NaN, "b": Infinity, "c": -Infinity, "d": 1e400}',
        b'\xef\xbb\xbf{"a": [1, 2.5, "x"]}',
        b'{"a": "' + b"[" * 100 + b'"}',  # brackets in a string are no nesting
        b"[" * MAX_DEPTH + b"]" * MAX_DEPTH,
        b'{"k": 1, "k": 2}',
        b'{"a": 1, "b": {"x": 1, "y": 2, "x": 3}, "A": 0, "a": 3}',  # the last value, the first place
        b"[0.1, 1e-400, -0.0, 4.9e-324, 1.7976931348623157e308, 1E5]",
    ],
)
def test_read_as_the_standard_library_reads_it(raw):
    assert json.dumps(decode_json_body(raw)) == _reference(raw)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**100), max_value=2**100)
    | st.floats()
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@given(JSON_VALUES, st.booleans())
def test_any_json_value_reads_as_the_standard_library_reads_it(value, ascii_only):
    raw = json.dumps(value, ensure_ascii=ascii_only).encode()
    assert json.dumps(decode_json_body(raw)) == _reference(raw)
