"""The carrier's webhooks behind a real reverse proxy, as the README's production section
sets them up: a request signed for the public URL passes through; one signed for the URL a
forged X-Forwarded-Host, or a forged Host, names is refused with 403, and nothing changes.
Through the small aiohttp balancer, and through nginx running config/examples/nginx.conf
when nginx is installed."""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from campaigns.tables import inbound_messages
from compliance.numbers import add_sending_numbers
from compliance.tables import dnc_entries
from dialer.carriers import TwilioCarrier
from dialer.clock import SimClock
from dialer.dispatch import Dispatcher
from dialer.runner import listening
from tests.balancer import Balancer
from tests.support import NOW
from tests.test_engine import rows
from tests.test_simulator_replies import free_port

ACCOUNT = "AC" + "5" * 32
TOKEN = "proxy-auth-token"
OURS = "+13055550100"
SENDER = "+13055550142"
EXAMPLE = Path(__file__).resolve().parent.parent / "config" / "examples" / "nginx.conf"


def nginx_site(node: str, listen: str) -> str:
    """The example site with the test's addresses: one node (host:port), plain HTTP on
    `listen`."""
    site = EXAMPLE.read_text(encoding="utf-8")
    site = re.sub(r"^\s*ssl_certificate.*\n", "", site, flags=re.MULTILINE)
    site = site.replace("listen 443 ssl;", f"listen {listen};")
    [first, *others] = re.findall(r"^\s*server 10\.0\.0\.\d+:8080.*\n", site, re.MULTILINE)
    for other in others:
        site = site.replace(other, "")
    return site.replace(first, first.replace(first.split()[1], node))


@asynccontextmanager
async def nginx(node: str, folder: Path) -> AsyncIterator[str]:
    """nginx in the foreground, running the example site in front of `node`; its URL."""
    port = free_port()
    (folder / "dialer.conf").write_text(nginx_site(node, f"127.0.0.1:{port}"))
    (folder / "nginx.conf").write_text(
        f"daemon off;\nmaster_process off;\npid {folder}/nginx.pid;\nerror_log stderr;\n"
        "events {}\nhttp {\n  access_log off;\n"
        + "".join(
            f"  {kind}_temp_path {folder}/{kind};\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        + f"  include {folder}/dialer.conf;\n}}\n"
    )
    process = await asyncio.create_subprocess_exec(
        "nginx", "-p", str(folder), "-e", "stderr", "-c", str(folder / "nginx.conf"),
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        async with asyncio.timeout(10), aiohttp.ClientSession() as session:
            while True:  # until it listens: every path but the webhooks' is a 404 there
                assert process.returncode is None, (await process.communicate())[1].decode()
                try:
                    async with session.get(f"{url}/"):
                        break
                except aiohttp.ClientConnectorError:
                    await asyncio.sleep(0.05)
        yield url
    finally:
        if process.returncode is None:
            process.terminate()
        await process.wait()


@asynccontextmanager
async def balancer(node: str, folder: Path) -> AsyncIterator[str]:
    async with Balancer([f"http://{node}"]) as proxy:
        yield proxy.url


PROXIES = {"balancer": balancer, "nginx": nginx}


@pytest.fixture(params=sorted(PROXIES))
def proxy(request):
    if request.param == "nginx" and shutil.which("nginx") is None:
        pytest.skip("nginx is not installed")
    return PROXIES[request.param]


def fields(sid: str) -> dict[str, str]:
    return {"AccountSid": ACCOUNT, "MessageSid": sid, "From": SENDER, "To": OURS, "Body": "STOP"}


async def test_only_a_request_signed_for_the_public_url_passes_the_proxy(
    app, company, proxy, tmp_path
):
    async with app.transaction() as conn:
        await add_sending_numbers(conn, company, [OURS], NOW)
    port = free_port()
    node = f"127.0.0.1:{port}"
    sign = RequestValidator(TOKEN).compute_signature
    async with (
        proxy(node, tmp_path) as public,
        TwilioCarrier(ACCOUNT, TOKEN) as carrier,
        aiohttp.ClientSession() as session,
    ):
        dispatcher = Dispatcher(app, carrier, clock=SimClock(NOW))
        async with listening(dispatcher, "127.0.0.1", port, public):
            # Signed by the carrier, for a host the attacker names in the headers.
            elsewhere = "https://attacker.example/webhooks/sms"
            refused = []
            for sid, headers in (
                ("1", {"X-Forwarded-Host": "attacker.example", "X-Forwarded-Proto": "https"}),
                ("3", {"Host": "attacker.example"}),
            ):
                forged = fields("SM" + sid * 32)
                url = elsewhere.replace("https", "http") if "Host" in headers else elsewhere
                headers["X-Twilio-Signature"] = sign(url, forged)
                async with session.post(
                    f"{public}/webhooks/sms", data=forged, headers=headers
                ) as answer:
                    refused.append(answer.status)
            listed_after_forgery = await rows(app, select(dnc_entries.c.number))
            genuine = fields("SM" + "2" * 32)
            async with session.post(
                f"{public}/webhooks/sms?From=unchanged",
                data=genuine,
                headers={
                    "X-Twilio-Signature": sign(f"{public}/webhooks/sms?From=unchanged", genuine)
                },
            ) as accepted:
                accepted_status = accepted.status

    assert refused == [403, 403]
    assert listed_after_forgery == []
    assert accepted_status == 200
    stored = await rows(app, select(inbound_messages.c.message_sid))
    assert stored == [(genuine["MessageSid"],)]
    assert await rows(app, select(dnc_entries.c.number)) == [(int(SENDER[1:]),)]
