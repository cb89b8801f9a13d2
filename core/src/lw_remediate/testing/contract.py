"""Contract checks the kit applies to every run: no write to AWS without a before-image."""

from __future__ import annotations

from ..aws.iam_actions import is_write
from ..model import ActionRecord
from ..remediation import Remediation


class BeforeImageMissing(AssertionError):
    """``apply`` wrote to AWS without calling ``ctx.record_before`` first."""


def check_before_image(remediation: Remediation, record: ActionRecord) -> None:
    """Raise :class:`BeforeImageMissing` when the record shows a successful write (an IAM
    ``Write``, ``Permissions management`` or ``Tagging`` action) but no before-image,
    unless the remediation is declared ``irreversible``."""
    if remediation.irreversible or record.before_image is not None:
        return
    writes = sorted(
        {
            c.action
            for c in record.calls
            if c.error is None and not c.dependent and is_write(c.service, c.operation)
        }
    )
    if writes:
        raise BeforeImageMissing(
            f"{remediation.id} wrote to AWS ({', '.join(writes)}) without recording a "
            "before-image: call `await ctx.record_before(image)` in apply before the first "
            "write, or declare the remediation irreversible=True if nothing can restore it"
        )
