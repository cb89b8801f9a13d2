"""pytest plugin (entry point ``pytest11``): the lw-remediate test kit's fixtures.

Hermetic by construction: AWS credentials and config in the environment are
replaced for the test session, so no developer credentials reach a test and every
AWS call goes to the moto server on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import structlog

from ..aws.session import AwsSession
from ..model import ActionRecord, Mode, Plan, RecordedCall, Status, Violation
from ..pipeline.runner import Runner
from ..remediation import Remediation, RemediationContext
from .contract import check_before_image
from .fake_lacework import FakeLacework
from .least_privilege import LeastPrivilege
from .moto import DEFAULT_ACCOUNT, DEFAULT_REGION, MotoServer
from .postgres import PostgresServer, find_bindir
from .violations import make_violation as _make_violation

_HERMETIC_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": DEFAULT_REGION,
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}


def pytest_configure(config: pytest.Config) -> None:
    for key, value in _HERMETIC_ENV.items():
        os.environ[key] = value
    os.environ.pop("MOTO_IAM_LOAD_MANAGED_POLICIES", None)
    for key in (
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "LW_API_KEY",
        "LW_API_SECRET",
    ):
        os.environ.pop(key, None)


@pytest.fixture(autouse=True)
def _isolated_logging_config() -> Iterator[None]:
    """A test that configures structlog (e.g. by running the CLI in-process) must not
    change what the next test's ``structlog.testing.capture_logs`` sees."""
    yield
    structlog.reset_defaults()


@pytest.fixture(scope="session")
def _moto_server_process() -> Iterator[MotoServer]:
    server = MotoServer()
    yield server
    server.stop()


@pytest.fixture
def moto_server(_moto_server_process: MotoServer) -> MotoServer:
    """A moto server on 127.0.0.1 (one per test session), reset before each test."""
    _moto_server_process.reset()
    return _moto_server_process


@pytest.fixture
def aws_managed_policies(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> MotoServer:
    """moto with AWS managed policies (``AWSSupportAccess``, ...) loaded; slower, so opt-in."""
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    moto_server.reset()
    return moto_server


@pytest.fixture
def aws_session(moto_server: MotoServer) -> AwsSession:
    """An admin :class:`~lw_remediate.AwsSession` for account 123456789012 bound to moto."""
    return moto_server.session(account=DEFAULT_ACCOUNT, region=DEFAULT_REGION)


@pytest.fixture
def admin_client(moto_server: MotoServer) -> Callable[..., Any]:
    """``admin_client("s3", account=...)``: a synchronous boto3 client for seeding state."""
    return moto_server.client


@pytest.fixture
def make_violation() -> Callable[..., Violation]:
    """``make_violation("LW_S3_16", "my-bucket")``: a violation factory."""
    return _make_violation


@pytest.fixture
def least_privilege(moto_server: MotoServer) -> LeastPrivilege:
    """``await least_privilege.run(REMEDIATION, violation, revert=True)``; see the kit docs."""
    return LeastPrivilege(moto_server)


@pytest.fixture
def run_remediation(moto_server: MotoServer) -> Callable[..., Any]:
    """``await run_remediation(REMEDIATION, violation, mode="auto", options={...}, approve=False)``.

    With ``approve=True``, an action that ends awaiting approval (approve mode, or a plan
    that ``requires_approval``) is approved once, as an operator would, and run again.

    Runs the core's lifecycle as an admin principal and returns the ActionRecord. Fails
    (:class:`~lw_remediate.testing.BeforeImageMissing`) when the run wrote to AWS without
    recording a before-image, unless the remediation is declared irreversible.
    """

    async def _run(
        remediation: Remediation,
        violation: Violation,
        *,
        mode: Mode | str = Mode.AUTO,
        options: dict[str, Any] | None = None,
        approve: bool = False,
    ) -> ActionRecord:
        session = moto_server.session(
            account=violation.account_id, region=violation.region or DEFAULT_REGION
        )
        runner = Runner(timeout=60)
        opts = remediation.parse_options(options or {})
        record = await runner.run(
            remediation, violation, aws=session, mode=Mode(mode), options=opts
        )
        if approve and record.status is Status.AWAITING_APPROVAL:
            record = await runner.approve(remediation, record, aws=session, options=opts)
        check_before_image(remediation, record)
        return record

    return _run


@pytest.fixture
def remediation_context(moto_server: MotoServer) -> Callable[..., RemediationContext[Any]]:
    """``remediation_context(REMEDIATION, violation, options={}, calls=list)``: the context
    a remediation's coroutines get (``ctx``), as an admin principal, dry-run, recording its
    AWS calls into ``calls``; ``checked`` is None (no ``check`` ran before). For calling
    ``check`` or ``plan`` directly; recording a before-image with it fails the test."""

    def _make(
        remediation: Remediation,
        violation: Violation,
        *,
        options: dict[str, Any] | None = None,
        calls: list[RecordedCall] | None = None,
    ) -> RemediationContext[Any]:
        async def no_writes(image: Any) -> None:
            raise AssertionError("a before-image outside apply")

        session = moto_server.session(
            account=violation.account_id, region=violation.region or DEFAULT_REGION
        )
        return RemediationContext(
            violation=violation,
            options=remediation.parse_options(options or {}),
            aws=session.with_sink(calls.append if calls is not None else None),
            log=structlog.get_logger(),
            dry_run=True,
            deadline=asyncio.get_running_loop().time() + 60,
            _before_sink=no_writes,
        )

    return _make


@pytest.fixture
def plan_alone(remediation_context: Callable[..., RemediationContext[Any]]) -> Callable[..., Any]:
    """``await plan_alone(REMEDIATION, violation, options={})`` -> ``(plan, operations)``.

    ``plan`` called with no ``check`` before it (``ctx.checked`` is None, as on an
    approval), as an admin principal, with the AWS operations it made, in order (those a
    call makes AWS check inside it, ``AwsCall(dependent=...)``, left out). Proves a plan
    that builds on ``ctx.checked`` still reads what it needs on its own. Fails when
    ``plan`` records a before-image.
    """

    async def _plan(
        remediation: Remediation, violation: Violation, *, options: dict[str, Any] | None = None
    ) -> tuple[Plan, list[str]]:
        calls: list[RecordedCall] = []
        ctx = remediation_context(remediation, violation, options=options, calls=calls)
        plan = await remediation.plan(ctx, violation)
        return plan, [c.operation for c in calls if not c.dependent]

    return _plan


@pytest.fixture
def plans_on_check(
    run_remediation: Callable[..., Any], plan_alone: Callable[..., Any]
) -> Callable[..., Any]:
    """``operations, alone = await plans_on_check(REMEDIATION, violation, read=None,
    options={}, each_once=False)``: ``plan`` builds on what ``check`` read
    (``ctx.checked``) and, alone, reads it itself.

    A dry run plans (status ``planned``), and ``plan`` alone (no ``check`` before it)
    plans the same change. ``operations`` are the dry run's AWS operations in order,
    ``alone`` plan alone's (dependent calls left out in both). With ``read``, an
    operation name, each makes that read exactly once; without, the dry run makes
    exactly the requests plan alone makes (plan reads nothing again that check read).
    With ``each_once``, no request of the dry run repeats (the same operation on the
    same resource).
    """

    async def _check(
        remediation: Remediation,
        violation: Violation,
        read: str | None = None,
        *,
        options: dict[str, Any] | None = None,
        each_once: bool = False,
    ) -> tuple[list[str], list[str]]:
        record = await run_remediation(remediation, violation, mode="dry-run", options=options)
        assert record.status is Status.PLANNED, record.detail
        requests = [(c.operation, c.resource) for c in record.calls if not c.dependent]
        if each_once:
            assert len(set(requests)) == len(requests), f"a request was repeated: {requests}"
        operations = [operation for operation, _ in requests]
        plan, alone = await plan_alone(remediation, violation, options=options)
        if read is None:
            assert operations == alone, (operations, alone)
        else:
            assert operations.count(read) == 1, operations
            assert alone.count(read) == 1, alone
        assert plan.to_dict() == record.plan.to_dict()
        return operations, alone

    return _check


@pytest.fixture
def revert_action(moto_server: MotoServer) -> Callable[..., Any]:
    """``await revert_action(REMEDIATION, record)``: run ``revert`` as an admin principal."""

    async def _revert(
        remediation: Remediation, record: ActionRecord, *, options: dict[str, Any] | None = None
    ) -> str:
        violation = record.violation
        session = moto_server.session(
            account=violation.account_id, region=violation.region or DEFAULT_REGION
        )
        return await Runner(timeout=60).revert(
            remediation, record, aws=session, options=remediation.parse_options(options or {})
        )

    return _revert


@pytest.fixture
async def fake_lacework() -> AsyncIterator[FakeLacework]:
    """A running fake Lacework API on 127.0.0.1; load alerts/reports into it."""
    async with FakeLacework() as fake:
        yield fake


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL cluster on 127.0.0.1 (one per session), started from the
    installed binaries. Skips without PostgreSQL, except under ``CI=true``, where it
    fails."""
    bindir = find_bindir()
    if bindir is None:
        reason = "PostgreSQL binaries (initdb, pg_ctl) not found: install Debian's postgresql"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI needs PostgreSQL: {reason}")
        pytest.skip(reason)
    server = PostgresServer(bindir).start()
    yield server
    server.stop()


@pytest.fixture
async def postgres_url(postgres_server: PostgresServer) -> str:
    """The URL of a new, empty database on :func:`postgres_server`."""
    return await postgres_server.create_database()
