"""A small round-robin reverse proxy for the carrier's webhooks, as a load balancer in front
of several `dialer serve` nodes: each request goes to the next node, its method, path,
query, headers and body passed on unchanged (X-Forwarded-* headers included, as a proxy
that does not strip them would); a node that refuses the connection is skipped for the
next one, as nginx's `proxy_next_upstream error` does."""

from __future__ import annotations

import itertools
from types import TracebackType
from typing import Self

import aiohttp
from aiohttp import web

from tests.faultproxy import HOP_BY_HOP


class Balancer:
    def __init__(self, upstreams: list[str]) -> None:
        self.upstreams = upstreams
        self._turns = itertools.cycle(range(len(upstreams)))
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None
        self.url = ""

    async def __aenter__(self) -> Self:
        self._client = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        assert self._runner is not None
        assert self._client is not None
        await self._runner.cleanup()
        await self._client.close()

    async def _handle(self, request: web.Request) -> web.Response:
        assert self._client is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        headers["X-Forwarded-For"] = request.remote or ""
        for _ in self.upstreams:
            upstream = self.upstreams[next(self._turns)]
            try:
                async with self._client.request(
                    request.method,
                    upstream + request.path_qs,
                    headers=headers,
                    data=body or None,
                    allow_redirects=False,
                ) as answer:
                    content = await answer.read()
                    kept = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP}
                    return web.Response(status=answer.status, body=content, headers=kept)
            except aiohttp.ClientConnectorError:
                continue  # that node is down: the next one
        return web.Response(status=502, text="no node answered")
