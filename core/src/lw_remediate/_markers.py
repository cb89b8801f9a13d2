"""The pluggy markers; kept apart so hookspecs and the public API share them."""

from __future__ import annotations

import pluggy

PROJECT_NAME = "lw_remediate"
ENTRY_POINT_GROUP = "lw_remediate.maps"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
