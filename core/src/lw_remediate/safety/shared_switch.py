"""The kill switch on a store several instances share (PostgreSQL).

The file of :mod:`.killswitch` pauses the instance on its own host; with a ``shared``
store the switch is also a row in the database, turned on and off through any
instance and read right before each apply, so it pauses every instance's next apply.
``kill-switch off`` clears both. On SQLite the file is the whole switch.
"""

from __future__ import annotations

from ..store.base import KillSwitchRow, SafetyStore
from .killswitch import KillSwitch, KillSwitchState

#: Where the shared kill switch is, in its state and messages.
SHARED_SWITCH = "the shared store"


class SharedKillSwitch:
    """The local file and, on a ``shared`` store, the database's switch, as one."""

    def __init__(self, store: SafetyStore) -> None:
        self.store = store
        #: The database's switch as this process last read or set it.
        self._last: KillSwitchState | None = None

    async def state(self, local: KillSwitch) -> KillSwitchState:
        """On when the local file exists or, on a shared store, when the store says so."""
        here = local.state()
        if not self.store.shared:
            return here
        row = await self.store.get_kill_switch()
        self._last = (
            None
            if row is None
            else KillSwitchState(True, SHARED_SWITCH, since=row.at, by=row.by, reason=row.reason)
        )
        return here if here.on or self._last is None else self._last

    def known_state(self, local: KillSwitch) -> KillSwitchState:
        """Without waiting for the store: the local file, or the database's switch as
        this process last read it or set it (:meth:`state` is the exact reading)."""
        here = local.state()
        return here if here.on or self._last is None else self._last

    async def turn_on(
        self, local: KillSwitch, *, by: str, reason: str, now: float
    ) -> KillSwitchState:
        if not self.store.shared:
            return local.turn_on(by=by, reason=reason, now=now)
        await self.store.set_kill_switch(KillSwitchRow(now, by, reason))
        return await self.state(local)

    async def turn_off(self, local: KillSwitch) -> bool:
        """Off everywhere this process can reach (the store and the local file); True
        if it was on."""
        was_on = local.turn_off()
        if self.store.shared:
            was_on = await self.store.set_kill_switch(None) or was_on
            self._last = None
        return was_on
