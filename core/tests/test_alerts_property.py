"""parse_payload on arbitrary JSON values (issue 15): it returns alerts or raises
PayloadError, never anything else, whatever it is given."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lw_remediate.ingest.alerts import Alert, PayloadError, parse_payload
from lw_remediate.ingest.fields import Keys, lookup
from lw_remediate.testing.fake_lacework import fixture_names, load_fixture

KEYS = st.sampled_from(
    [
        "event_id",
        "rec_id",
        "detail",
        "detail-type",
        "ENTITY_MAP",
        "NewViolation",
        "RecId",
        "Records",
        "body",
        "data",
        "alertId",
        "entityMap",
        "Resource",
        "policyId",
        "EVENT_DETAILS",
    ]
) | st.text(max_size=12)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats()
    | st.text(max_size=30)
)
JSON = st.recursive(
    SCALARS,
    lambda c: st.lists(c, max_size=5) | st.dictionaries(KEYS, c, max_size=6),
    max_leaves=50,
)
FIXTURES = [load_fixture(n) for n in fixture_names() if not n.startswith("api_error")]


def check(value) -> None:
    try:
        alerts = parse_payload(value)
    except PayloadError:
        return
    assert isinstance(alerts, list) and all(isinstance(a, Alert) for a in alerts)
    for alert in alerts:
        json.dumps(alert.raw)  # what the inbox stores must encode


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(JSON)
def test_parse_payload_on_arbitrary_json_raises_only_payload_error(value):
    check(value)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(FIXTURES), st.data())
def test_parse_payload_on_mutated_real_bodies(fixture, data):
    """Real bodies with one part replaced by a generated value: the same promise."""
    body = json.loads(json.dumps(fixture))
    node = body
    while isinstance(node, dict | list) and node and data.draw(st.booleans()):
        key = data.draw(st.sampled_from(list(node) if isinstance(node, dict) else range(len(node))))
        if not isinstance(node[key], dict | list) or data.draw(st.booleans()):
            node[key] = data.draw(JSON)
            break
        node = node[key]
    check(body)
    check({"Records": [{"body": json.dumps(body)}]})


CASED_KEYS = st.sampled_from(
    ["event_id", "Event_ID", "EVENT_ID", "detail", "Detail", "detail-type", "DETAILTYPE", "x", 7]
)


@given(
    st.dictionaries(CASED_KEYS, st.integers(), max_size=6),
    st.lists(
        st.sampled_from(["event_id", "EVENT_ID", "detail", "detail-type", "detailType"]),
        min_size=1,
        max_size=3,
    ),
)
def test_folded_keys_answer_as_lookup(obj, names):
    """``Keys(obj).get`` (the parser's shortcut) answers exactly as ``lookup``."""
    assert Keys(obj).get(*names) == lookup(obj, *names)
