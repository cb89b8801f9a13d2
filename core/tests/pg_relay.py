"""A TCP relay on 127.0.0.1 in front of the test's PostgreSQL server, for the store's
tests of a server that hangs or a network that silently drops what it carries
(test_postgres_listen.py, test_postgres_close.py)."""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit


class Link:
    """One relayed connection; once ``cut``, what either side sends is dropped."""

    cut = False


class Relay:
    """A TCP relay on 127.0.0.1 in front of the server: new connections are forwarded,
    or, while ``hold`` is set, accepted and never answered (a server that hangs);
    ``held`` is set when one arrives, ``released`` when its client gives up on it.
    :meth:`cut` silently drops everything on the connections relayed so far (a
    network that loses packets without a reset reaching either side); ``dropped`` is
    set when something sent on a cut connection was dropped."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.hold = False
        self.held = asyncio.Event()
        self.released = asyncio.Event()
        self.dropped = asyncio.Event()
        self._writers: list[asyncio.StreamWriter] = []
        self._links: list[Link] = []
        self._clients: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self.port = 0

    @classmethod
    def before(cls, url: str) -> Relay:
        """A relay in front of the server of ``url`` (see :meth:`url`)."""
        server = urlsplit(url)
        assert server.hostname and server.port
        return cls(server.hostname, server.port)

    def url(self, url: str) -> str:
        """``url`` through this relay (once it is entered)."""
        return url.replace(f":{self.target[1]}/", f":{self.port}/", 1)

    async def __aenter__(self) -> Relay:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        await asyncio.gather(*self._clients, return_exceptions=True)
        await self._server.wait_closed()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._clients.add(task)
        self._writers.append(writer)
        if self.hold:
            self.held.set()
            with contextlib.suppress(OSError):
                await reader.read()  # until EOF: the client closed it
            self.released.set()
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self._writers.append(up_writer)
        link = Link()
        self._links.append(link)
        await asyncio.gather(
            self._pipe(reader, up_writer, link), self._pipe(up_reader, writer, link)
        )

    def cut(self) -> None:
        for link in self._links:
            link.cut = True

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, link: Link
    ) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                if link.cut:
                    self.dropped.set()
                else:
                    writer.write(data)
                    await writer.drain()
        writer.close()
