"""Host names to addresses, through the system's resolver (what the SDKs will connect to)."""

from __future__ import annotations

import asyncio
import socket

from promptworks_eventkit.errors import DomainError


class SystemResolver:
    async def resolve(self, host: str) -> list[str]:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, None, type=socket.SOCK_STREAM
            )
        except socket.gaierror as error:
            raise DomainError(
                f"the host {host!r} of base_url does not resolve: {error.strerror}",
                field="base_url",
                rule="unresolvable",
            ) from error
        return sorted({str(info[4][0]) for info in infos})
