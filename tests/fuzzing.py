"""What the fuzz test (tests/test_fuzz.py) and the fuzz campaign (bench/fuzz.py) send.

Hypothesis strategies for whole HTTP requests to the daemon: webhook bodies of every
known shape (mutated), arbitrary JSON, deep nesting, every JSON encoding (UTF-8 with
and without BOM, UTF-16, UTF-32), lone surrogates, random bytes, sizes up to past the
cap; tokens right, wrong, empty, non-ASCII, in the path or a header; admin routes with
generated ids, query strings and bodies. And a raw HTTP/1.1 client that sends exactly
those bytes (header values that are not ASCII included, as curl would).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from hypothesis import strategies as st

from lw_remediate.testing.fake_lacework import fixture_names, load_fixture

#: Placeholders a request carries for the daemon's tokens (filled in when sent).
WEBHOOK, ADMIN = "{webhook}", "{admin}"

FIXTURES = [
    load_fixture(name)
    for name in fixture_names()
    if name.startswith(("webhook_classic", "eventbridge_", "api_v2_alert_details"))
]
ENCODINGS = (
    "utf-8",
    "utf-8-sig",
    "utf-16",
    "utf-16-le",
    "utf-16-be",
    "utf-32",
    "utf-32-le",
    "utf-32-be",
)
LACEWORK_KEYS = (
    "event_id",
    "rec_id",
    "event_type",
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
    "account",
    "resource",
)


@dataclass
class Request:
    """One HTTP request to send; ``{webhook}`` / ``{admin}`` in the path or a header
    value are replaced by the daemon's tokens."""

    method: str
    path: str
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    body: bytes = b""
    kind: str = ""  # what the body is (for the campaign's mix report)


# -- JSON values --------------------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=40)
    | st.sampled_from(["LW_S3_16", "lacework-global-97", "123456789012", "arn:aws:s3:::b"])
)
keys = st.text(max_size=16) | st.sampled_from(LACEWORK_KEYS)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=6) | st.dictionaries(keys, children, max_size=6),
    max_leaves=40,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def shaped(draw: st.DrawFn) -> Any:
    """A real Lacework body (classic, EventBridge, Alerts v2) with a few parts replaced
    by generated values or removed, sometimes wrapped in SQS ``Records``."""
    body = copy.deepcopy(draw(st.sampled_from(FIXTURES)))
    for _ in range(draw(st.integers(0, 4))):
        paths = _paths(body)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = body
        for part in path[:-1]:
            parent = parent[part]
        if draw(st.booleans()):
            parent[path[-1]] = draw(json_values)
        elif isinstance(parent, dict):
            del parent[path[-1]]
    if isinstance(body, dict) and "event_id" in body and draw(st.booleans()):
        body["event_id"] = str(draw(st.integers(1, 10**9)))  # a new delivery, not a dupe
    if draw(st.integers(0, 9)) == 0:
        body = {"Records": [{"body": json.dumps(body)}]}
    return body


# -- bodies -------------------------------------------------------------------------------


def _encode(text: str, encoding: str) -> bytes:
    try:
        return text.encode(encoding)
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


@st.composite
def encoded_json(draw: st.DrawFn, values: st.SearchStrategy[Any]) -> tuple[str, bytes]:
    value = draw(values)
    text = json.dumps(value, ensure_ascii=draw(st.booleans()))
    encoding = draw(st.sampled_from(ENCODINGS)) if draw(st.integers(0, 3)) == 0 else "utf-8"
    return f"json/{encoding}", _encode(text, encoding)


@st.composite
def nested(draw: st.DrawFn, max_depth: int) -> tuple[str, bytes]:
    depth = draw(st.one_of(st.integers(1, 200), st.integers(1, max_depth)))
    if draw(st.booleans()):
        return "nested/list", b"[" * depth + b"]" * depth
    return "nested/object", b'{"a":' * depth + b"1" + b"}" * depth


@st.composite
def surrogates(draw: st.DrawFn) -> tuple[str, bytes]:
    """JSON that is valid but not strict UTF-8: lone surrogate escapes or bytes."""
    escape = draw(st.sampled_from(["\\ud800", "\\udfff", "\\udc00x", "\\ud83d"]))
    where = draw(st.sampled_from(["event_id", "rec_id", "key"]))
    if where == "key":
        text = f'{{"{escape}": 1, "event_id": "1", "rec_id": "LW_S3_16"}}'
    else:
        other = "rec_id" if where == "event_id" else "event_id"
        text = f'{{"{where}": "{escape}", "{other}": "LW_S3_16"}}'
    if draw(st.booleans()):  # the surrogate as (invalid) UTF-8 bytes instead of an escape
        return "surrogate/bytes", text.encode("utf-8").replace(
            escape.encode(), json.loads(f'"{escape}"').encode("utf-8", "surrogatepass")
        )
    return "surrogate/escape", text.encode()


@st.composite
def padded(draw: st.DrawFn, max_size: int) -> tuple[str, bytes]:
    """A classic body padded to a generated size (some over the cap)."""
    body = dict(load_fixture("webhook_classic_compliance_lw_s3_16.json"))
    body["event_id"] = str(draw(st.integers(1, 10**9)))
    size = draw(st.one_of(st.integers(0, 2_000), st.integers(max_size // 2, max_size)))
    body["pad"] = "x" * size
    return "padded", json.dumps(body).encode()


def bodies(
    *, max_depth: int = 20_000, max_size: int = 70_000
) -> st.SearchStrategy[tuple[str, bytes]]:
    return st.one_of(
        encoded_json(shaped()),
        encoded_json(json_values),
        nested(max_depth),
        surrogates(),
        padded(max_size),
        st.binary(max_size=512).map(lambda b: ("bytes", b)),
        st.text(max_size=200).map(lambda t: ("text", t.encode("utf-8", "surrogatepass"))),
    )


# -- headers and routes -------------------------------------------------------------------

header_values = st.one_of(
    st.just(WEBHOOK.encode()),
    st.just(ADMIN.encode()),
    st.sampled_from([b"", b"nope", "t\u00f6ken".encode(), "\u2603".encode(), b"\xff\xfe", b" "]),
    st.text(max_size=40).map(lambda t: t.encode("utf-8", "surrogatepass")),
).map(lambda v: v.replace(b"\r", b"").replace(b"\n", b""))


@st.composite
def auth_headers(draw: st.DrawFn) -> list[tuple[str, bytes]]:
    headers: list[tuple[str, bytes]] = []
    how = draw(st.sampled_from(["none", "bearer", "x-api-key", "both", "basic"]))
    value = draw(header_values)
    if how in ("bearer", "both"):
        headers.append(("Authorization", b"Bearer " + value))
    if how in ("x-api-key", "both"):
        headers.append(("X-Api-Key", draw(header_values)))
    if how == "basic":
        headers.append(("Authorization", b"Basic " + value))
    content_type = draw(
        st.sampled_from(
            [None, b"application/json", b"text/plain", b"application/json; charset=utf-16"]
        )
    )
    if content_type is not None:
        headers.append(("Content-Type", content_type))
    return headers


def _segment(text: str) -> str:
    return quote(text, safe="") or "x"


@st.composite
def webhook_requests(draw: st.DrawFn, **body_kw: Any) -> Request:
    kind, body = draw(bodies(**body_kw))
    headers = draw(auth_headers())
    right = draw(st.integers(0, 3)) > 0  # mostly the right token: reach the parser
    if draw(st.integers(0, 3)) > 0:
        token = (
            WEBHOOK
            if right
            else draw(st.sampled_from([ADMIN, "wrong", "t%C3%B6ken", "%FF", "%00", "%ED%A0%80"]))
        )
        path = f"/webhooks/lacework/{token}"
    else:
        path = "/webhooks/lacework"
        if right:
            headers = [h for h in headers if h[0] not in ("Authorization", "X-Api-Key")]
            headers.append(("X-Api-Key", WEBHOOK.encode()))
    return Request("POST", path, headers, body, kind)


ADMIN_ROUTES = (
    ("GET", "/admin/actions?status={q}&limit={n}"),
    ("GET", "/admin/actions/{id}"),
    ("POST", "/admin/actions/{id}/approve"),
    ("POST", "/admin/actions/{id}/reject"),
    ("POST", "/admin/actions/{id}/undo"),
    ("GET", "/admin/kill-switch"),
    ("POST", "/admin/kill-switch/off"),
    ("GET", "/admin/exemptions"),
    ("POST", "/admin/exemptions"),
    ("DELETE", "/admin/exemptions/{id}?by={q}"),
    ("GET", "/admin/flapping"),
    ("POST", "/admin/flapping/clear"),
    ("GET", "/admin/audit?action_id={q}&limit={n}"),
    ("GET", "/admin/inbox?state={q}&limit={n}"),
    ("POST", "/admin/inbox/{id}/retry"),
    ("GET", "/admin/sweeps"),
    ("GET", "/admin/sweeps/{id}"),
)

exemption_like = st.fixed_dictionaries(
    {},
    optional={
        "arn": scalars,
        "account": scalars,
        "rule": scalars,
        "remediation": scalars,
        "tag": json_values,
        "owner": scalars,
        "reason": scalars,
        "expires": scalars | st.sampled_from(["2999-01-01", "2020-01-01", "30d"]),
        "id": scalars,
        "by": scalars,
        "resource_arn": scalars,
        "rule_id": scalars,
    },
)


@st.composite
def admin_requests(draw: st.DrawFn) -> Request:
    method, template = draw(st.sampled_from(ADMIN_ROUTES))
    path = template.format(
        q=quote(draw(st.text(max_size=12)), safe=""),
        n=quote(draw(st.sampled_from(["", "0", "-1", "5", "99999", "x", "1e3"])), safe=""),
        id=_segment(draw(st.text(max_size=16) | st.integers(-5, 10**12).map(str))),
    )
    headers = draw(auth_headers())
    if draw(st.integers(0, 2)) > 0:  # mostly authorised: exercise the handlers
        headers = [h for h in headers if h[0] not in ("Authorization", "X-Api-Key")]
        headers.append(("Authorization", b"Bearer " + ADMIN.encode()))
    kind, body = draw(
        st.one_of(
            encoded_json(exemption_like),
            encoded_json(json_values),
            bodies(max_depth=5_000, max_size=5_000),
            st.just(("empty", b"")),
        )
    )
    return Request(method, path, headers, body if method != "GET" else b"", f"admin/{kind}")


def requests(**body_kw: Any) -> st.SearchStrategy[Request]:
    return st.one_of(webhook_requests(**body_kw), webhook_requests(**body_kw), admin_requests())


# -- the raw client -----------------------------------------------------------------------


async def send(
    host: str, port: int, request: Request, *, webhook: str, admin: str, timeout: float = 60
) -> tuple[int, bytes]:
    """Send ``request`` as raw HTTP/1.1 bytes; return (status, body of the answer)."""

    def fill(value: bytes) -> bytes:
        return value.replace(WEBHOOK.encode(), webhook.encode()).replace(
            ADMIN.encode(), admin.encode()
        )

    path = request.path.replace(WEBHOOK, quote(webhook, safe="")).replace(
        ADMIN, quote(admin, safe="")
    )
    lines = [f"{request.method} {path} HTTP/1.1".encode(), f"Host: {host}:{port}".encode()]
    lines += [name.encode() + b": " + fill(value) for name, value in request.headers]
    lines += [f"Content-Length: {len(request.body)}".encode(), b"Connection: close"]
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(b"\r\n".join(lines) + b"\r\n\r\n")
        await writer.drain()
        # Read the answer while the body goes out: a body over the cap is answered 413
        # without being read, and the connection closed under the rest of it.
        head_task = asyncio.create_task(reader.readuntil(b"\r\n\r\n"))
        try:
            for start in range(0, len(request.body), 65536):
                if head_task.done():
                    break
                writer.write(request.body[start : start + 65536])
                await writer.drain()
        except ConnectionError:
            pass
        try:
            head = await asyncio.wait_for(head_task, timeout)
        except asyncio.IncompleteReadError as exc:
            raise ConnectionError(f"no HTTP answer: {exc.partial[:80]!r}") from None
        try:
            rest = await asyncio.wait_for(reader.read(), timeout)
        except ConnectionError:
            rest = b""
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()
    parts = head.split(b"\r\n", 1)[0].split(b" ")
    if len(parts) < 2 or not parts[1].isdigit():
        raise ConnectionError(f"no HTTP answer: {head[:80]!r}")
    return int(parts[1]), rest
