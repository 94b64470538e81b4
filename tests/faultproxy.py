"""A fault-injecting HTTP proxy between the Twilio adapter and a Twilio-compatible upstream.

Point the adapter's `base_url` at the proxy. Each request is forwarded as it came (method,
path, query, headers, body) unless a fault is set for its kind of request; `seen` records
what the proxy did with every request, so a test counts what the carrier really received.

    python -m tests.faultproxy --upstream http://127.0.0.1:8089 --port 0 --mode refuse-503
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from types import TracebackType
from typing import Self

import aiohttp
from aiohttp import web

from bench.balancer import HOP_BY_HOP

# A proxy's error page in a charset that is not UTF-8, under a header that claims it is.
NON_UTF8_PAGE = b"\xff\xfe<html>Bad gateway \xe9</html>"


class Mode(StrEnum):
    """What the proxy does with a request."""

    PASS = "pass"  # forward it and return the upstream's answer
    REFUSE_503 = "refuse-503"  # answer 503 without forwarding
    REFUSE_429 = "refuse-429"  # answer 429 without forwarding
    DROP = "drop"  # close the connection without forwarding
    FORWARD_THEN_DROP = "forward-then-drop"  # the upstream acts; the client gets no answer
    FORWARD_THEN_STALL = "forward-then-stall"  # the upstream acts; the answer comes too late
    NON_UTF8_502 = "non-utf8-502"  # answer 502 with a page that is not UTF-8, not forwarding
    NOT_FOUND_PAGE = "not-found-page"  # a misrouted proxy's HTML 404, not forwarding


class Route(StrEnum):
    """The kinds of request a fault can be set for."""

    CALLS = "calls"  # POST …/Calls.json: create a call
    MESSAGES = "messages"  # POST …/Messages.json: send a text
    OTHER = "other"  # status fetches, lists


FORWARDS = frozenset({Mode.PASS, Mode.FORWARD_THEN_DROP, Mode.FORWARD_THEN_STALL})
REFUSALS = {
    Mode.REFUSE_503: (503, 20503, "Service Unavailable"),
    Mode.REFUSE_429: (429, 20429, "Too Many Requests"),
}


@dataclass(frozen=True, slots=True)
class Seen:
    """One request the proxy received, and what it did with it."""

    at: datetime
    method: str
    path: str
    route: Route
    form: dict[str, str]
    mode: Mode
    forwarded: bool
    upstream_status: int | None


def route_of(method: str, path: str) -> Route:
    """The kind of request `method` on `path` is."""
    if method == "POST" and path.endswith("/Calls.json"):
        return Route.CALLS
    if method == "POST" and path.endswith("/Messages.json"):
        return Route.MESSAGES
    return Route.OTHER


class FaultProxy:
    """The proxy; `stall` is how long FORWARD_THEN_STALL holds an answer back (seconds)."""

    def __init__(self, upstream: str, *, stall: float = 5.0) -> None:
        self.upstream = upstream.rstrip("/")
        self.stall = stall
        self.url = ""
        self.seen: list[Seen] = []
        # Per route, None for every route: a mode with its deadline, and one-shot faults.
        self._modes: dict[Route | None, tuple[Mode, float]] = {}
        self._next: dict[Route | None, deque[Mode]] = {}
        self._stopping = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None

    def set_mode(
        self, mode: Mode, *, route: Route | None = None, for_seconds: float | None = None
    ) -> None:
        """Apply `mode` to requests of `route` (None: all) from now, for a while or for good."""
        deadline = time.monotonic() + for_seconds if for_seconds is not None else float("inf")
        self._modes[route] = (mode, deadline)

    def fail_next(self, count: int, mode: Mode, *, route: Route | None = None) -> None:
        """Apply `mode` to the next `count` requests of `route` (None: of any route)."""
        self._next.setdefault(route, deque()).extend([mode] * count)

    def seen_on(self, route: Route) -> list[Seen]:
        """The requests of `route` received so far."""
        return [seen for seen in self.seen if seen.route is route]

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on host:port (0: any free port); returns the proxy's base URL."""
        self._client = aiohttp.ClientSession(auto_decompress=False)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        self.url = f"http://{host}:{self._runner.addresses[0][1]}"
        return self.url

    async def stop(self) -> None:
        self._stopping.set()  # stalled answers give up rather than hold the shutdown
        if self._runner is not None:
            await self._runner.cleanup()
        if self._client is not None:
            await self._client.close()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def _mode_for(self, route: Route) -> Mode:
        for scope in (route, None):
            if pending := self._next.get(scope):
                return pending.popleft()
        now = time.monotonic()
        for scope in (route, None):
            mode, deadline = self._modes.get(scope, (Mode.PASS, 0.0))
            if now < deadline:
                return mode
        return Mode.PASS

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        route = route_of(request.method, request.path)
        mode = self._mode_for(route)
        status: int | None = None
        answer: web.Response | None = None
        if mode in FORWARDS:
            answer = await self._forward(request, body)
            status = answer.status
        form = await request.post()  # empty unless the body is a form
        fields = {name: str(value) for name, value in form.items()}
        self.seen.append(
            Seen(
                datetime.now(UTC),
                request.method,
                request.path,
                route,
                fields,
                mode,
                mode in FORWARDS,
                status,
            )
        )
        return await self._answer(request, mode, answer)

    async def _answer(
        self, request: web.Request, mode: Mode, forwarded: web.Response | None
    ) -> web.StreamResponse:
        if mode in (Mode.DROP, Mode.FORWARD_THEN_DROP):
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=204)  # never sent: the connection is gone
        if mode is Mode.FORWARD_THEN_STALL:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.stall)
        if forwarded is not None:
            return forwarded
        if mode in REFUSALS:
            status, code, message = REFUSALS[mode]
            error = {"code": code, "message": message, "status": status}
            return web.json_response(error, status=status)
        if mode is Mode.NON_UTF8_502:
            return web.Response(
                status=502, body=NON_UTF8_PAGE, headers={"Content-Type": "text/html; charset=utf-8"}
            )
        return web.Response(status=404, text="<html>Not Found</html>", content_type="text/html")

    async def _forward(self, request: web.Request, body: bytes) -> web.Response:
        assert self._client is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        async with self._client.request(
            request.method,
            self.upstream + request.path_qs,
            headers=headers,
            data=body or None,
            allow_redirects=False,
        ) as upstream:
            content = await upstream.read()
            kept = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP}
            return web.Response(status=upstream.status, body=content, headers=kept)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.faultproxy", description=__doc__)
    parser.add_argument("--upstream", required=True, help="the Twilio-compatible API's base URL")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--mode", type=Mode, choices=list(Mode), default=Mode.PASS)
    parser.add_argument("--route", type=Route, choices=list(Route), help="default: every route")
    parser.add_argument("--for-seconds", type=float, help="default: for as long as it runs")
    parser.add_argument("--stall", type=float, default=5.0, help="seconds, for forward-then-stall")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))


async def _serve(args: argparse.Namespace) -> None:
    async with FaultProxy(args.upstream, stall=args.stall) as proxy:
        proxy.set_mode(args.mode, route=args.route, for_seconds=args.for_seconds)
        print(f"fault proxy listening on {proxy.url}", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    main()
