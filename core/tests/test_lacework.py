from __future__ import annotations

import asyncio
import datetime as dt
import socket
import time
from typing import Any

import aiohttp
import pytest
import structlog

from lw_remediate.config import LaceworkConfig
from lw_remediate.errors import ConfigError, LwRemediateError
from lw_remediate.ingest.details import violations_from_alert_details
from lw_remediate.ingest.lacework import (
    LaceworkAuthError,
    LaceworkClient,
    LaceworkError,
    LaceworkNotFound,
    LaceworkUnavailable,
    parse_expires_at,
)
from lw_remediate.ingest.lacework_answers import error_message
from lw_remediate.ingest.reports import ReportSummary, violations_from_report
from lw_remediate.model import Violation
from lw_remediate.testing.fake_lacework import FakeLacework, load_fixture

ALERTS = "/api/v2/Alerts"
TOKENS = "/api/v2/access/tokens"
FAST = {"backoff_base": 0.001, "backoff_max": 0.05}


def make_client(fake: FakeLacework, **kw: Any) -> LaceworkClient:
    options: dict[str, Any] = {"max_attempts": 5, "timeout": 5.0, **FAST, **kw}
    return LaceworkClient(base_url=fake.url, key_id=fake.key_id, secret=fake.secret, **options)


def add_s3_alert(fake: FakeLacework, alert_id: str = "70001") -> None:
    fake.add_compliance_alert(
        alert_id,
        "lacework-global-97",
        [("arn:aws:s3:::versioning-off", "us-east-1", "123456789012")],
    )


def tokens_seen(fake: FakeLacework) -> set[str]:
    return {
        h["Authorization"].removeprefix("Bearer ")
        for h in fake.request_headers
        if "Authorization" in h
    }


# -- tokens --------------------------------------------------------------------------------


async def test_alert_details_returns_the_data_object(fake_lacework):
    add_s3_alert(fake_lacework)
    async with make_client(fake_lacework) as lw:
        details = await lw.alert_details("70001")
    assert details["alertId"] == 70001
    assert details["policyId"] == "lacework-global-97"
    assert violations_from_alert_details(details) == [
        Violation(
            rule_id="LW_S3_16",
            resource_arn="arn:aws:s3:::versioning-off",
            account_id="123456789012",
            region="us-east-1",
            source_rule_id="lacework-global-97",
            alert_id="70001",
        )
    ]


async def test_token_request_shape_and_bearer_header(fake_lacework):
    add_s3_alert(fake_lacework)
    async with make_client(fake_lacework) as lw:
        await lw.alert_details("70001")
    token_headers, data_headers = fake_lacework.request_headers
    assert token_headers["X-LW-UAKS"] == fake_lacework.secret
    assert "Authorization" not in token_headers
    assert data_headers["Authorization"].startswith("Bearer _")
    assert "X-LW-UAKS" not in data_headers
    assert "Account-Name" not in data_headers
    assert fake_lacework.requests[0] == ("POST", TOKENS, 201)
    assert fake_lacework.requests[1] == ("GET", "/api/v2/Alerts/70001?scope=Details", 200)


async def test_subaccount_is_sent_as_account_name(fake_lacework):
    add_s3_alert(fake_lacework)
    async with make_client(fake_lacework, subaccount="prod-org") as lw:
        await lw.alert_details("70001")
    assert fake_lacework.request_headers[-1]["Account-Name"] == "prod-org"


async def test_token_is_cached_across_many_calls(fake_lacework):
    add_s3_alert(fake_lacework)
    async with make_client(fake_lacework) as lw:
        for _ in range(5):
            await lw.alert_details("70001")
        await asyncio.gather(*(lw.alert_details("70001") for _ in range(20)))
    assert fake_lacework.tokens_issued == 1
    assert fake_lacework.count(TOKENS) == 1
    assert fake_lacework.count(ALERTS, 200) == 25


async def test_revoked_token_is_refreshed_once_and_the_call_succeeds(fake_lacework):
    add_s3_alert(fake_lacework)
    async with make_client(fake_lacework) as lw:
        await lw.alert_details("70001")
        fake_lacework.revoke_tokens()
        with structlog.testing.capture_logs() as logs:
            details = await lw.alert_details("70001")
        assert details["alertId"] == 70001
        await lw.alert_details("70001")
    assert fake_lacework.tokens_issued == 2
    assert fake_lacework.count(ALERTS, 401) == 1
    assert [e["event"] for e in logs] == ["lacework_token_rejected", "lacework_token_issued"]


async def test_revoked_token_with_concurrent_callers_fetches_few_tokens(fake_lacework):
    add_s3_alert(fake_lacework)
    async with make_client(fake_lacework) as lw:
        await lw.alert_details("70001")
        fake_lacework.revoke_tokens()
        await asyncio.gather(*(lw.alert_details("70001") for _ in range(10)))
    assert fake_lacework.tokens_issued == 2


async def test_403_is_treated_like_401_once(fake_lacework):
    add_s3_alert(fake_lacework)
    fake_lacework.fail_next(403, path_prefix=ALERTS)
    async with make_client(fake_lacework) as lw:
        assert (await lw.alert_details("70001"))["alertId"] == 70001
    assert fake_lacework.tokens_issued == 2


@pytest.mark.parametrize("status", [401, 403])
async def test_persistent_401_after_refresh_is_an_auth_error(fake_lacework, status):
    add_s3_alert(fake_lacework)
    fake_lacework.fail_next(status, count=5, path_prefix=ALERTS)
    async with make_client(fake_lacework) as lw:
        with pytest.raises(LaceworkAuthError) as info:
            await lw.alert_details("70001")
    assert info.value.status == status
    assert fake_lacework.tokens_issued == 2
    assert fake_lacework.count(ALERTS) == 2


async def test_bad_secret_is_an_auth_error_without_retries(fake_lacework):
    add_s3_alert(fake_lacework)
    lw = LaceworkClient(
        base_url=fake_lacework.url, key_id=fake_lacework.key_id, secret="_wrong" + "0" * 26, **FAST
    )
    async with lw:
        with pytest.raises(LaceworkAuthError) as info:
            await lw.alert_details("70001")
    assert "HTTP 401: Unauthorized" in str(info.value)
    assert fake_lacework.key_id in str(info.value)
    assert fake_lacework.count(TOKENS) == 1
    assert fake_lacework.count(ALERTS) == 0
    assert isinstance(info.value, LaceworkError) and isinstance(info.value, LwRemediateError)


async def test_bad_key_id_is_an_auth_error(fake_lacework):
    lw = LaceworkClient(base_url=fake_lacework.url, key_id="NOPE", secret=fake_lacework.secret)
    async with lw:
        with pytest.raises(LaceworkAuthError):
            await lw.report("123456789012", "AWS_CIS_S3")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_expiring_token_is_refreshed_before_expiry():
    clock = FakeClock()
    async with FakeLacework(token_ttl=61) as lw_api:
        add_s3_alert(lw_api)
        async with make_client(lw_api, clock=clock) as lw:
            await lw.alert_details("70001")
            clock.now += 25  # well inside the 61 s lifetime
            await lw.alert_details("70001")
            assert lw_api.tokens_issued == 1
            clock.now += 10  # past half the lifetime: too close to expiresAt to reuse
            await lw.alert_details("70001")
            assert lw_api.tokens_issued == 2
        assert lw_api.count(ALERTS, 401) == 0
        assert lw_api.count(ALERTS, 200) == 3


async def test_hour_token_is_reused_until_a_minute_before_expiry(fake_lacework):
    clock = FakeClock()
    add_s3_alert(fake_lacework)
    async with make_client(fake_lacework, clock=clock) as lw:
        await lw.alert_details("70001")
        clock.now += 3600 - 62
        await lw.alert_details("70001")
        assert fake_lacework.tokens_issued == 1
        clock.now += 4  # now under 60 s from expiresAt
        await lw.alert_details("70001")
        assert fake_lacework.tokens_issued == 2
    assert fake_lacework.count(ALERTS, 401) == 0


# -- retries -------------------------------------------------------------------------------


async def test_429_with_retry_after_is_honoured(fake_lacework):
    add_s3_alert(fake_lacework)
    async with make_client(fake_lacework, backoff_max=1.0) as lw:
        await lw.alert_details("70001")  # token now cached: only the data call is timed
        fake_lacework.fail_next(429, path_prefix=ALERTS, retry_after=0.2)
        with structlog.testing.capture_logs() as logs:
            started = time.monotonic()
            await lw.alert_details("70001")
            elapsed = time.monotonic() - started
    [retry] = [e for e in logs if e["event"] == "lacework_request_retry"]
    assert retry["status"] == 429 and retry["retry_after"] == 0.2 and retry["delay"] >= 0.2
    assert elapsed >= 0.2
    assert fake_lacework.count(ALERTS, 429) == 1
    assert fake_lacework.count(ALERTS, 200) == 2


async def test_503_retry_after_is_honoured(fake_lacework):
    add_s3_alert(fake_lacework)
    fake_lacework.fail_next(503, path_prefix=ALERTS, retry_after=0.03)
    async with make_client(fake_lacework) as lw:
        with structlog.testing.capture_logs() as logs:
            await lw.alert_details("70001")
    [retry] = [e for e in logs if e["event"] == "lacework_request_retry"]
    assert retry["delay"] >= 0.03


async def test_retry_after_beyond_backoff_max_defers_to_the_caller(fake_lacework):
    add_s3_alert(fake_lacework)
    fake_lacework.fail_next(429, path_prefix=ALERTS, retry_after=600)
    async with make_client(fake_lacework) as lw:
        with pytest.raises(LaceworkUnavailable) as info:
            await lw.alert_details("70001")
    assert info.value.retry_after == 600
    assert info.value.status == 429
    assert fake_lacework.count(ALERTS) == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_5xx_are_retried_then_succeed(fake_lacework, status):
    add_s3_alert(fake_lacework)
    fake_lacework.fail_next(status, count=3, path_prefix=ALERTS)
    async with make_client(fake_lacework) as lw:
        assert (await lw.alert_details("70001"))["alertId"] == 70001
    assert fake_lacework.count(ALERTS, status) == 3
    assert fake_lacework.count(ALERTS, 200) == 1


async def test_persistent_500_gives_up_after_max_attempts(fake_lacework):
    add_s3_alert(fake_lacework)
    fake_lacework.fail_next(500, count=100, path_prefix=ALERTS)
    async with make_client(fake_lacework, max_attempts=4) as lw:
        with structlog.testing.capture_logs() as logs, pytest.raises(LaceworkUnavailable) as info:
            await lw.alert_details("70001")
    assert fake_lacework.count(ALERTS) == 4
    message = str(info.value)
    assert "\n" not in message
    assert "HTTP 500: injected 500" in message and "4 attempts" in message
    assert info.value.status == 500
    events = [e["event"] for e in logs]
    assert events.count("lacework_request_retry") == 3
    assert events[-1] == "lacework_request_failed"


@pytest.mark.parametrize("status", [500, 503])
async def test_token_call_errors_are_reported_as_the_token_calls(fake_lacework, status):
    """Issue 15 case 7: they were reported as errors of GET /api/v2/Alerts/<id>."""
    add_s3_alert(fake_lacework)
    fake_lacework.fail_next(status, count=100, path_prefix=TOKENS)
    async with make_client(fake_lacework, max_attempts=2) as lw:
        with structlog.testing.capture_logs() as logs, pytest.raises(LaceworkUnavailable) as info:
            await lw.alert_details("70001")
    message = str(info.value)
    assert message.startswith(f"Lacework POST {TOKENS}: HTTP {status}"), message
    assert "Alerts" not in message
    failed = next(e for e in logs if e["event"] == "lacework_request_failed")
    assert failed["path"] == TOKENS
    assert fake_lacework.count(ALERTS) == 0


async def test_token_call_timeouts_are_reported_as_the_token_calls(fake_lacework):
    add_s3_alert(fake_lacework)
    fake_lacework.fail_next(200, count=100, path_prefix=TOKENS, delay=1.0)
    async with make_client(fake_lacework, max_attempts=2, timeout=0.1) as lw:
        with pytest.raises(LaceworkUnavailable) as info:
            await lw.alert_details("70001")
    assert str(info.value).startswith(f"Lacework POST {TOKENS}: timed out"), str(info.value)


async def test_the_last_retry_after_reaches_the_caller(fake_lacework):
    """Issue 15 case 5: a Retry-After within backoff_max is waited for in the client; when
    the attempts run out the caller still learns how long Lacework asked to wait."""
    add_s3_alert(fake_lacework)
    fake_lacework.fail_next(429, count=100, path_prefix=ALERTS, retry_after=0.01)
    async with make_client(fake_lacework, max_attempts=2) as lw:
        with pytest.raises(LaceworkUnavailable) as info:
            await lw.alert_details("70001")
    assert info.value.retry_after == 0.01


async def test_token_endpoint_errors_are_retried_too(fake_lacework):
    add_s3_alert(fake_lacework)
    fake_lacework.fail_next(503, count=2, path_prefix=TOKENS)
    async with make_client(fake_lacework) as lw:
        await lw.alert_details("70001")
    assert fake_lacework.count(TOKENS, 503) == 2
    assert fake_lacework.tokens_issued == 1


async def test_backoff_grows_and_is_capped(fake_lacework):
    add_s3_alert(fake_lacework)
    fake_lacework.fail_next(500, count=6, path_prefix=ALERTS)
    async with make_client(
        fake_lacework, max_attempts=7, backoff_base=0.002, backoff_max=0.01
    ) as lw:
        with structlog.testing.capture_logs() as logs:
            await lw.alert_details("70001")
    delays = [e["delay"] for e in logs if e["event"] == "lacework_request_retry"]
    assert len(delays) == 6
    assert all(0.0 < d <= 0.01 for d in delays)
    assert delays[0] <= 0.002  # first: at most backoff_base
    assert max(delays[3:]) >= 0.005  # later: at least half the cap


async def test_timeouts_are_retried(fake_lacework):
    add_s3_alert(fake_lacework)
    async with make_client(fake_lacework, timeout=0.2) as lw:
        await lw.alert_details("70001")
        fake_lacework.fail_next(200, path_prefix=ALERTS, delay=0.6)
        with structlog.testing.capture_logs() as logs:
            details = await lw.alert_details("70001")
    assert details["alertId"] == 70001
    [retry] = [e for e in logs if e["event"] == "lacework_request_retry"]
    assert retry["error"] == "timed out after 0.2s" and retry["status"] is None


async def test_persistent_timeouts_give_up(fake_lacework):
    add_s3_alert(fake_lacework)
    fake_lacework.fail_next(200, count=2, path_prefix=ALERTS, delay=0.5)
    async with make_client(fake_lacework, timeout=0.1, max_attempts=2) as lw:
        with pytest.raises(LaceworkUnavailable, match="timed out"):
            await lw.alert_details("70001")


async def test_connection_errors_are_retried_then_unavailable():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    lw = LaceworkClient(
        base_url=f"http://127.0.0.1:{port}", key_id="k", secret="_s", max_attempts=3, **FAST
    )
    async with lw:
        with (
            structlog.testing.capture_logs() as logs,
            pytest.raises(LaceworkUnavailable, match="connection error") as info,
        ):
            await lw.alert_details("1")
    assert "3 attempts" in str(info.value)
    assert [e["event"] for e in logs].count("lacework_request_retry") == 2


# -- other statuses ------------------------------------------------------------------------


async def test_unknown_alert_is_not_found(fake_lacework):
    async with make_client(fake_lacework) as lw:
        with pytest.raises(LaceworkNotFound) as info:
            await lw.alert_details("999")
    assert info.value.status == 404
    assert "HTTP 404: Not Found" in str(info.value)
    assert fake_lacework.count(ALERTS) == 1  # not retried


async def test_alert_id_is_quoted_into_the_path(fake_lacework):
    async with make_client(fake_lacework) as lw:
        with pytest.raises(LaceworkNotFound):
            await lw.alert_details("../Reports?x=1")
    # one path segment: "/" and "?" are escaped, so the id cannot reach another endpoint
    assert fake_lacework.requests[-1][1] == "/api/v2/Alerts/..%2FReports%3Fx=1?scope=Details"


async def test_other_4xx_is_a_plain_error_not_retried(fake_lacework):
    add_s3_alert(fake_lacework)
    fake_lacework.fail_next(400, path_prefix=ALERTS, body={"message": "scope is required"})
    async with make_client(fake_lacework) as lw:
        with pytest.raises(LaceworkError) as info:
            await lw.alert_details("70001")
    assert type(info.value) is LaceworkError
    assert str(info.value) == "Lacework GET /api/v2/Alerts/70001: HTTP 400: scope is required"
    assert fake_lacework.count(ALERTS) == 1


@pytest.mark.parametrize(
    ("fixture", "text"),
    [
        ("api_error_401.json", "Unauthorized"),
        ("api_error_429.json", "Rate limit exceeded"),
        (
            "api_error_429_data_errormsg_gosdk_mock.json",
            "This is an error message we should display!",
        ),
        (
            "api_error_v1_data_envelope_gosdk_mock.json",
            "We may receive error messages from here. Catch it!",
        ),
    ],
)
def test_error_message_from_every_error_shape(fixture, text):
    assert error_message(load_fixture(fixture)) == text


@pytest.mark.parametrize(
    "body",
    [None, {}, [], "x", {"message": "SUCCESS"}, {"data": {"message": ""}}, {"data": []}],
)
def test_error_message_absent(body):
    assert error_message(body) is None


def test_error_message_is_one_line_and_bounded():
    text = error_message({"data": {"message": "line one\nline two " + "x" * 500}})
    assert text is not None and "\n" not in text and len(text) <= 200


async def test_error_body_in_data_errormsg_reaches_the_exception(fake_lacework):
    add_s3_alert(fake_lacework)
    body = load_fixture("api_error_429_data_errormsg_gosdk_mock.json")
    fake_lacework.fail_next(429, count=10, path_prefix=ALERTS, body=body)
    async with make_client(fake_lacework, max_attempts=2) as lw:
        with pytest.raises(
            LaceworkUnavailable, match="This is an error message we should display!"
        ):
            await lw.alert_details("70001")


# -- reports -------------------------------------------------------------------------------


async def test_report_returns_data0_and_parses(fake_lacework):
    report = load_fixture("api_v2_report_aws_cis_s3_legacy.json")["data"][0]
    fake_lacework.add_report("123456789012", "AWS_CIS_S3", report)
    async with make_client(fake_lacework) as lw:
        got = await lw.report("123456789012", "AWS_CIS_S3")
    assert got == report
    path = fake_lacework.requests[-1][1]
    assert path == "/api/v2/Reports?primaryQueryId=123456789012&format=json&reportType=AWS_CIS_S3"
    summary = violations_from_report(got)
    assert summary.recommendations == 12
    assert (summary.non_compliant, summary.compliant, summary.not_assessed, summary.suppressed) == (
        7,
        4,
        1,
        0,
    )
    assert summary.skipped == 5
    assert summary.suppressed_resources == 0  # the suppressed bucket is not among VIOLATIONS
    got_rows = {(v.rule_id, v.resource_arn, v.region, v.reason) for v in summary.violations}
    assert got_rows == {
        ("LW_S3_1", "arn:aws:s3:::lacework-remediation-test", "us-east-1", "ReadAccessGranted"),
        ("LW_S3_1", "arn:aws:s3:::example-public-logs", "us-west-2", "ReadAccessGranted"),
        ("LW_S3_2", "arn:aws:s3:::lacework-remediation-test", "us-east-1", "WriteAccessGranted"),
        ("LW_S3_13", "arn:aws:s3:::lacework-remediation-test", "us-east-1", "LoggingNotEnabled"),
        (
            "LW_S3_14",
            "arn:aws:s3:::lacework-remediation-test",
            "us-east-1",
            "UnverifiedReasonPlaceholder",
        ),
        ("AWS_CIS_1_3", "arn:aws:iam::123456789012:user/test.user", None, "PasswordNotUsed"),
        ("AWS_CIS_1_3", "arn:aws:iam::123456789012:user/test.user", None, "AccessKey1NotUsed"),
        ("AWS_CIS_1_4", "arn:aws:iam::123456789012:user/test.user", None, "AccessKey1NotRotated"),
        (
            "AWS_CIS_1_9",
            "arn:aws:iam::123456789012:root",
            None,
            "PasswordPolicyHasWeakMinimumLength",
        ),
    }
    assert {v.account_id for v in summary.violations} == {"123456789012"}
    assert all(v.alert_id is None and v.source_rule_id == v.rule_id for v in summary.violations)
    assert summary.report_type == "AWS CIS Benchmark and S3 Report"
    assert summary.dropped == ()


async def test_missing_report_is_not_found(fake_lacework):
    async with make_client(fake_lacework) as lw:
        with pytest.raises(LaceworkNotFound, match="AWS_CIS_S3"):
            await lw.report("123456789012", "AWS_CIS_S3")


def test_report_new_style_ids_and_rule_filter():
    report = load_fixture("api_v2_report_aws_cis14_lacework_global.json")
    summary = violations_from_report(report)  # the whole {"data": [...]} works too
    assert {(v.rule_id, v.source_rule_id) for v in summary.violations} == {
        ("LW_S3_1", "lacework-global-130"),
        ("AWS_CIS_1_4", "lacework-global-43"),
    }
    only_s3 = violations_from_report(report, rules=["LW_S3_1"])
    assert [v.rule_id for v in only_s3.violations] == ["LW_S3_1"]
    assert only_s3.filtered_out == 4
    same = violations_from_report(report, rules=["lacework-global-130"])
    assert same.violations == only_s3.violations


def two_account_report() -> dict[str, Any]:
    def rec(
        account: str,
        rule: str,
        status: str,
        violations: list[dict[str, Any]],
        suppressions: list[str] | None = None,
    ) -> dict[str, Any]:
        return {
            "ACCOUNT_ID": account,
            "ACCOUNT_ALIAS": "alias",
            "STATUS": status,
            "REC_ID": rule,
            "SUPPRESSIONS": suppressions or [],
            "VIOLATIONS": violations,
            "SEVERITY": 2,
        }

    return {
        "reportType": "AWS_CIS_S3",
        "accountId": "123456789012",
        "recommendations": [
            rec(
                "123456789012",
                "LW_S3_16",
                "NonCompliant",
                [
                    {
                        "resource": "arn:aws:s3:::a-fix-me",
                        "region": "us-east-1",
                        "reasons": ["LW_S3_16_VersioningNotEnabled"],
                    },
                    {
                        "resource": "arn:aws:s3:::a-by-name",
                        "region": "us-east-1",
                        "reasons": ["VersioningNotEnabled"],
                    },
                    {"resource": "arn:aws:s3:::a-by-arn", "reasons": ["VersioningNotEnabled"]},
                    {"resource": "arn:aws:s3:::tmp-123", "reasons": []},
                ],
                suppressions=["a-by-name", "arn:aws:s3:::a-by-arn", "tmp-*"],
            ),
            rec(
                "210987654321",
                "LW_S3_16",
                "NonCompliant",
                [{"resource": "arn:aws:s3:::b-fix-me", "reasons": ["VersioningNotEnabled"]}],
            ),
            rec("210987654321", "LW_S3_1", "Compliant", []),
            rec(
                "210987654321",
                "LW_S3_2",
                "Suppressed",
                [{"resource": "arn:aws:s3:::b-sup", "reasons": ["x"]}],
            ),
            rec("210987654321", "LW_S3_13", "CouldNotAssess", []),
            rec("210987654321", "AWS_CIS_1_15", "RequiresManualAssessment", []),
            rec("210987654321", "LW_S3_14", "SomethingNew", [{"resource": "arn:aws:s3:::b-new"}]),
            rec(
                "210987654321",
                "AWS_CIS_1_4",
                "NonCompliant",
                [
                    {
                        "resource": "arn:aws:iam::210987654321:user/ok",
                        "reasons": ["AccessKey1NotRotated"],
                    },
                    {
                        "resource": "arn:aws:iam::123456789012:user/wrong-account",
                        "reasons": ["AccessKey1NotRotated"],
                    },
                    {"resource": "projects/gcp-thing", "reasons": ["x"]},
                ],
            ),
        ],
    }


def test_report_two_accounts_compliant_suppressed_and_violating():
    with structlog.testing.capture_logs() as logs:
        summary = violations_from_report(two_account_report())
    assert isinstance(summary, ReportSummary)
    got = {(v.account_id, v.resource_arn, v.region, v.reason) for v in summary.violations}
    assert got == {
        ("123456789012", "arn:aws:s3:::a-fix-me", "us-east-1", "VersioningNotEnabled"),
        ("210987654321", "arn:aws:s3:::b-fix-me", None, "VersioningNotEnabled"),
        ("210987654321", "arn:aws:iam::210987654321:user/ok", None, "AccessKey1NotRotated"),
    }
    assert summary.suppressed_resources == 3
    assert (summary.compliant, summary.suppressed, summary.not_assessed, summary.other_status) == (
        1,
        1,
        2,
        1,
    )
    assert summary.non_compliant == 3
    assert len(summary.dropped) == 2
    assert any("names another account" in d for d in summary.dropped)
    assert any("not an ARN" in d for d in summary.dropped)
    [event] = [e for e in logs if e["event"] == "report_violations_dropped"]
    assert event["dropped"] == 2
    assert sum(event["reasons"].values()) == 2 and event["reasons"] == summary.drop_reasons
    assert summary.to_dict()["suppressed_resources"] == 3


def test_report_keys_case_insensitive_and_account_fallbacks():
    report = two_account_report()
    rec = report["recommendations"][1]
    del rec["ACCOUNT_ID"]
    rec["violations"] = rec.pop("VIOLATIONS")
    rec["status"] = rec.pop("STATUS")
    # no ACCOUNT_ID and an S3 ARN: the report's accountId is the account asked for
    summary = violations_from_report(report, rules=["LW_S3_16"])
    accounts = {v.resource_arn: v.account_id for v in summary.violations}
    assert accounts["arn:aws:s3:::b-fix-me"] == "123456789012"


@pytest.mark.parametrize(
    "report", [{}, {"recommendations": "x"}, {"data": None}, {"recommendations": [None, 1, {}]}]
)
def test_report_garbage_is_empty_not_an_exception(report):
    summary = violations_from_report(report)
    assert summary.violations == ()


def test_violations_from_alert_details_accepts_the_envelope():
    body = load_fixture("api_v2_alert_details_compliance.json")
    assert violations_from_alert_details(body) == violations_from_alert_details(body["data"])
    assert len(violations_from_alert_details(body)) == 2


def test_violations_from_alert_details_drops_and_logs_unpairable_rows():
    details = load_fixture("api_v2_alert_details_compliance.json")["data"]
    del details["entityMap"]["Resource"][0]["KEY"]["account_id"]
    with structlog.testing.capture_logs() as logs:
        violations = violations_from_alert_details(details)
    assert [v.resource_arn for v in violations] == ["arn:aws:s3:::example-static-site"]
    assert [e["event"] for e in logs] == ["alert_violations_dropped"]


def test_violations_from_non_compliance_alert_is_empty():
    details = load_fixture("api_v2_alert_details_custom_fim_gosdk_mock.json")
    assert violations_from_alert_details(details) == []


# -- config, lifecycle, secrecy ------------------------------------------------------------


def test_from_config_names_the_missing_key():
    with pytest.raises(ConfigError, match=r"lacework\.account"):
        LaceworkClient.from_config(LaceworkConfig(key_id="k", secret="s"))
    with pytest.raises(ConfigError, match=r"lacework\.key_id"):
        LaceworkClient.from_config(LaceworkConfig(account="acme", secret="s"))
    with pytest.raises(ConfigError, match=r"lacework\.secret"):
        LaceworkClient.from_config(LaceworkConfig(account="acme", key_id="k"))


def test_from_config_builds_the_account_url_and_options(tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text("_from-file\n")
    cfg = LaceworkConfig(
        account="acme",
        subaccount="child",
        key_id="KEY",
        secret_file=str(secret_file),
        max_attempts=3,
        request_timeout_seconds=7,
    )
    lw = LaceworkClient.from_config(cfg, backoff_base=0.1)
    assert lw.base_url == "https://acme.lacework.net"
    assert (lw.subaccount, lw.max_attempts, lw.timeout, lw.backoff_base) == ("child", 3, 7, 0.1)
    assert (
        LaceworkClient.from_config(
            LaceworkConfig(api_url="http://x:1/", key_id="k", secret="s")
        ).base_url
        == "http://x:1"
    )


async def test_from_config_against_the_fake(fake_lacework):
    add_s3_alert(fake_lacework)
    cfg = LaceworkConfig.model_validate(fake_lacework.config)
    async with LaceworkClient.from_config(cfg) as lw:
        assert (await lw.alert_details("70001"))["policyId"] == "lacework-global-97"


async def test_given_session_is_not_closed(fake_lacework):
    add_s3_alert(fake_lacework)
    async with aiohttp.ClientSession() as session:
        async with make_client(fake_lacework, session=session) as lw:
            await lw.alert_details("70001")
        assert not session.closed


async def test_close_is_idempotent(fake_lacework):
    add_s3_alert(fake_lacework)
    lw = make_client(fake_lacework)
    await lw.alert_details("70001")
    await lw.close()
    await lw.close()


async def test_secret_and_token_never_in_logs_exceptions_or_repr(fake_lacework):
    add_s3_alert(fake_lacework)
    errors: list[str] = []
    with structlog.testing.capture_logs() as logs:
        async with make_client(fake_lacework, max_attempts=2) as lw:
            await lw.alert_details("70001")
            fake_lacework.revoke_tokens()
            await lw.alert_details("70001")
            fake_lacework.fail_next(401, count=2, path_prefix=ALERTS)
            with pytest.raises(LaceworkAuthError) as auth:
                await lw.alert_details("70001")
            errors.append(str(auth.value))
            fake_lacework.fail_next(500, count=2, path_prefix=ALERTS)
            with pytest.raises(LaceworkUnavailable) as unavailable:
                await lw.alert_details("70001")
            errors.append(str(unavailable.value))
            # an error body that echoes the credentials back is scrubbed
            token = fake_lacework.request_headers[-1]["Authorization"].removeprefix("Bearer ")
            fake_lacework.fail_next(
                400, path_prefix=ALERTS, body={"message": f"bad {fake_lacework.secret} {token}"}
            )
            with pytest.raises(LaceworkError) as echoed:
                await lw.alert_details("70001")
            errors.append(str(echoed.value))
            errors.append(repr(lw))
        bad = LaceworkClient(
            base_url=fake_lacework.url, key_id=fake_lacework.key_id, secret="_not-it-" + "9" * 20
        )
        async with bad:
            with pytest.raises(LaceworkAuthError) as rejected:
                await bad.alert_details("70001")
        errors += [str(rejected.value), repr(bad)]
    secrets = {fake_lacework.secret, "_not-it-" + "9" * 20, *tokens_seen(fake_lacework)}
    assert len(secrets) >= 4  # the secret, the wrong secret and at least two tokens
    assert "***" in errors[2]
    haystack = "\n".join(errors) + "\n" + "\n".join(repr(e) for e in logs)
    for secret in secrets:
        assert secret not in haystack
    assert {e["event"] for e in logs} >= {
        "lacework_token_issued",
        "lacework_token_rejected",
        "lacework_request_retry",
        "lacework_request_failed",
    }


# -- helpers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-07-12T19:42:43.512Z", dt.datetime(2024, 7, 12, 19, 42, 43, 512000, tzinfo=dt.UTC)),
        (
            "2024-07-12T19:42:43.512345678Z",
            dt.datetime(2024, 7, 12, 19, 42, 43, 512345, tzinfo=dt.UTC),
        ),
        ("2024-07-12T19:42:43Z", dt.datetime(2024, 7, 12, 19, 42, 43, tzinfo=dt.UTC)),
        ("2024-07-12T19:42:43.5z", dt.datetime(2024, 7, 12, 19, 42, 43, 500000, tzinfo=dt.UTC)),
        (
            "2024-07-12 19:42:43.512+02:00",
            dt.datetime(2024, 7, 12, 17, 42, 43, 512000, tzinfo=dt.UTC),
        ),
        (
            "2024-07-12T19:42:43.512-0130",
            dt.datetime(2024, 7, 12, 21, 12, 43, 512000, tzinfo=dt.UTC),
        ),
        ("2024-07-12T19:42:43.512", dt.datetime(2024, 7, 12, 19, 42, 43, 512000, tzinfo=dt.UTC)),
        ("2024-07-12T19:42Z", dt.datetime(2024, 7, 12, 19, 42, tzinfo=dt.UTC)),
        (" 2024-07-12T19:42:43.512Z ", dt.datetime(2024, 7, 12, 19, 42, 43, 512000, tzinfo=dt.UTC)),
        ("Jan 02 2006 15:04", None),
        ("2024-13-45T99:99:99Z", None),
        ("", None),
        (None, None),
        (1720813363, None),
    ],
)
def test_parse_expires_at(text, expected):
    assert parse_expires_at(text) == expected


def test_token_fixture_timestamp_parses():
    assert parse_expires_at(load_fixture("api_v2_token_response.json")["expiresAt"]) is not None
