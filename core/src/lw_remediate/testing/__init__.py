"""The lw-remediate test kit for map authors (``pip install "lw-remediate[testing]"``).

It is also a pytest plugin (entry point ``pytest11``): installing lw-remediate with
the ``testing`` extra gives every test suite the fixtures ``moto_server``,
``aws_session``, ``admin_client``, ``make_violation``, ``least_privilege``,
``run_remediation`` and ``fake_lacework``. See ``docs/testing.md``.
"""

from __future__ import annotations

from .contract import BeforeImageMissing, check_before_image
from .fake_lacework import FakeLacework
from .least_privilege import (
    LeastPrivilege,
    LeastPrivilegeError,
    LeastPrivilegeReport,
    validate_actions,
)
from .moto import MotoServer, moto_view
from .violations import make_violation

__all__ = [
    "BeforeImageMissing",
    "FakeLacework",
    "LeastPrivilege",
    "LeastPrivilegeError",
    "LeastPrivilegeReport",
    "MotoServer",
    "check_before_image",
    "make_violation",
    "moto_view",
    "validate_actions",
]
