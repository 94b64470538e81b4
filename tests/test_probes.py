"""`/healthz`, `/readyz` and `/metrics` on the webhook port of a real `dialer serve`, without
authentication: ready when up, 503 naming the database while it is cut off (through a TCP
proxy), ready again once it is back; a scrape answers throughout."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import make_url

from dialer.probes import Readiness, Unready
from dialer.scheduling import nodes
from tests.support import NOW
from tests.test_database_outage import TcpProxy
from tests.test_simulator_replies import free_port


@asynccontextmanager
async def serving(database_url: str) -> AsyncIterator[str]:
    """`dialer serve` on a free port, once it answers /healthz; yields its base URL."""
    port = free_port()
    env = {
        **os.environ,
        "DIALER_DATABASE_URL": database_url,
        "DIALER_LOG_LEVEL": "WARNING",
        "DIALER_WEBHOOK_PORT": str(port),
    }
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dialer", "serve", env=env, stdout=asyncio.subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with asyncio.timeout(20):
            while await status_of(f"{url}/healthz") != 200:
                assert server.returncode is None, "serve exited early"
                await asyncio.sleep(0.1)
        yield url
    finally:
        server.send_signal(signal.SIGTERM)
        await server.wait()
    assert server.returncode == 0


async def status_of(url: str) -> int | None:
    """The status a GET answers, None when nothing listens."""
    try:
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            return response.status
    except aiohttp.ClientConnectionError:
        return None


async def get(url: str) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.json()


async def gauges(url: str) -> dict[str, float]:
    async with aiohttp.ClientSession() as session, session.get(f"{url}/metrics") as response:
        assert response.status == 200
        text = await response.text()
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if not sample.labels
    }


async def until(probe, wanted, seconds: float = 20.0):
    """Ask `probe` until it gives `wanted(answer)`; returns that answer."""
    async with asyncio.timeout(seconds):
        while True:
            answer = await probe()
            if wanted(answer):
                return answer
            await asyncio.sleep(0.2)


async def test_a_serving_node_is_healthy_ready_and_scraped_without_a_token(database_url):
    async with serving(database_url) as url:
        assert await get(f"{url}/healthz") == (200, {"status": "ok"})
        assert await until(lambda: get(f"{url}/readyz"), lambda a: a[0] == 200) == (
            200,
            {"status": "ready"},
        )
        scraped = await gauges(url)
        assert scraped["dialer_scrape_database_up"] == 1
        assert scraped["dialer_nodes_alive"] == 1  # this node, by its heartbeat


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgresql)], indirect=True
)
async def test_readiness_names_the_database_while_it_is_cut_off_and_returns_after(
    database_url,
):
    url = make_url(database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    through_proxy = url.set(port=await proxy.start()).render_as_string(hide_password=False)
    try:
        async with serving(through_proxy) as node:
            await until(lambda: get(f"{node}/readyz"), lambda a: a[0] == 200)
            proxy.cut()
            _, body = await until(lambda: get(f"{node}/readyz"), lambda a: a[0] == 503)
            assert body["status"] == "unready"
            assert body["reasons"][0] == "database_unavailable"
            assert await get(f"{node}/healthz") == (200, {"status": "ok"})
            # A scrape still answers, saying the database did not (once its cache is old).
            scraped = await until(
                lambda: gauges(node), lambda g: g["dialer_scrape_database_up"] == 0
            )
            assert "dialer_nodes_alive" not in scraped
            proxy.restore()
            assert await until(lambda: get(f"{node}/readyz"), lambda a: a[0] == 200) == (
                200,
                {"status": "ready"},
            )
    finally:
        await proxy.stop()


def test_a_node_is_unready_once_its_heartbeat_is_stale_or_its_scheduler_stopped():
    readiness = Readiness(heartbeat_at=NOW, scheduler_running=True)
    assert readiness.reasons(NOW + nodes.STALE_AFTER - timedelta(seconds=1)) == []
    assert readiness.reasons(NOW + nodes.STALE_AFTER) == [Unready.HEARTBEAT_STALE]
    readiness.scheduler_running = False
    assert readiness.reasons(NOW) == [Unready.SCHEDULER_STOPPED]
    assert Readiness().reasons(NOW) == [Unready.HEARTBEAT_STALE, Unready.SCHEDULER_STOPPED]
