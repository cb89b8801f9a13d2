"""What every S3 remediation does alike, checked once for all of them."""

from __future__ import annotations

import pytest

from lw_map_s3 import lw_remediate_remediations
from lw_remediate import Status

REMEDIATIONS = [pytest.param(r, id=r.id) for r in lw_remediate_remediations()]


@pytest.mark.parametrize("remediation", REMEDIATIONS)
async def test_a_bucket_that_no_longer_exists_is_resolved(
    remediation, moto_server, make_violation, run_remediation, writes
):
    for rule in remediation.rules:
        record = await run_remediation(remediation, make_violation(rule, "deleted-bucket"))
        assert record.status is Status.RESOLVED, (rule, record.detail)
        assert record.detail == "bucket deleted-bucket no longer exists"
        assert writes(record) == []
