"""The errors of operator requests (CLI, admin API, console): each carries the HTTP
status the web layers answer it with."""

from __future__ import annotations

from ..errors import LwRemediateError


class ControlError(LwRemediateError):
    """An operator request that cannot be carried out; ``status`` is its HTTP status."""

    status = 409


class NotFound(ControlError):
    status = 404


class BadRequest(ControlError):
    status = 400
