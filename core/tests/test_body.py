"""Reading a received body strictly (issue 15 cases 1 and 2)."""

from __future__ import annotations

import pytest

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
