"""The sweep's gate: a remediation ``off`` in the configuration stays off in a sweep.

:data:`IN_SWEEP` is set while a sweep calls the engine, so the gate (appended to the
engine's list once, :func:`install_gate`) can tell a sweep's calls apart.
"""

from __future__ import annotations

import contextvars

from ...model import Mode, Status
from ...pipeline.engine import Engine
from ...safety import Candidate, Decision

#: Set while a sweep calls the engine, so the sweep's gate can tell its calls apart.
IN_SWEEP: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "lw_remediate_sweep", default=None
)


class OffStaysOff:
    """Gate: a remediation that is ``off`` in the configuration stays off in a sweep,
    whatever ``--mode`` says (the other gates only see the mode they are handed)."""

    def __init__(self, engine: Engine) -> None:
        self.config = engine.config

    def __call__(self, c: Candidate) -> Decision | None:
        if IN_SWEEP.get() is None or self.config.mode_for(c.remediation.id) is not Mode.OFF:
            return None
        return Decision(
            Status.REFUSED,
            f"remediation {c.remediation.id} is off in the configuration "
            "(a sweep's mode does not turn it on)",
        )


def install_gate(engine: Engine) -> None:
    """Append the sweep's gate to the engine's list, once."""
    if not any(isinstance(g, OffStaysOff) for g in engine.gates):
        engine.gates.append(OffStaysOff(engine))
