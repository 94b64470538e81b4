"""`dialer inbound`: the inbound texts a company received, and their review."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from campaigns.inbound import InboundMessage
from compliance import MessageClass
from dialer.app import App
from dialer.cli.output import hint_if_more, limit_options, print_listing
from dialer.cli.support import (
    caller_of,
    company_option,
    emit_json,
    iso,
    json_option,
    parse_optional_instant,
    run,
)
from dialer.services import inbound as service
from dialer.services.inbound import message_view


@click.group("inbound")
def inbound_group() -> None:
    """Inbound texts: what each said, its class, what was done, and their review.

    Every text posted to the webhook `POST /webhooks/sms` is stored with the class it was
    given (opt_out, opt_out_presumed, opt_in, help, other), what it did to the lists and
    the reply. A presumed opt-out ("please stop texting me") is acted on at once and waits
    for a person's review, as does a message the classifier is unsure of ("don't stop"):
    `inbound review` lists them, `inbound resolve` keeps or releases each.
    """


TABLE_COLUMNS = ("id", "received_at", "from", "to", "classification", "body", "action", "review")


@inbound_group.command("list")
@click.option(
    "--classification",
    type=click.Choice([kind.value for kind in MessageClass]),
    help="Only messages of this class.",
)
@click.option(
    "--since",
    metavar="ISO",
    callback=parse_optional_instant,
    help="Only messages received at or after this instant.",
)
@limit_options("message")
@company_option
@json_option
def inbound_list(
    classification: str | None,
    since: datetime | None,
    limit: int | None,
    company: str | None,
    as_json: bool,
) -> None:
    """Show the company's inbound texts, oldest first.

    The newest 100 unless --limit N or --all; standard error says when older ones were
    left out. --json adds the MessageSid, keyword, spam flag, reply and review details.
    """

    async def body(app: App) -> bool:
        async with service.messages(
            app,
            caller_of(company),
            classification=None if classification is None else MessageClass(classification),
            since=since,
            limit=limit,
        ) as page:
            await print_listing(
                page.rows, as_json, message_view, TABLE_COLUMNS, _row, "No inbound messages."
            )
        return page.more

    hint_if_more(run(body), limit, "message")


@inbound_group.command("review")
@company_option
@json_option
def inbound_review(company: str | None, as_json: bool) -> None:
    """Show the messages waiting for review, oldest first.

    Every one of them, in the columns of `inbound list`. Each was acted on already (a
    presumed opt-out is on the lists); decide each with `dialer inbound resolve ID
    --keep|--release --by USER --reason TEXT`.
    """

    async def body(app: App) -> None:
        async with service.review_queue(app, caller_of(company)) as page:
            await print_listing(
                page.rows,
                as_json,
                message_view,
                TABLE_COLUMNS,
                _row,
                "No message waits for review.",
            )

    run(body)


@inbound_group.command("resolve")
@click.argument("message_id", metavar="MESSAGE_ID", type=click.IntRange(min=1))
@click.option("--keep", is_flag=True, help="The opt-out stands: its list entries stay.")
@click.option(
    "--release",
    is_flag=True,
    help="It was no opt-out: take off the lists the entries this message added.",
)
@click.option(
    "--by",
    "by",
    metavar="USER",
    required=True,
    help="The reviewer: a manager or admin; --release needs an admin or can_remove_dnc.",
)
@click.option("--reason", required=True, help="Why, e.g. 'asked a question, not to stop'.")
@company_option
@json_option
def inbound_resolve(
    message_id: int,
    keep: bool,
    release: bool,
    by: str,
    reason: str,
    company: str | None,
    as_json: bool,
) -> None:
    """Keep or release a message waiting for review.

    MESSAGE_ID is its id in `inbound review`. --keep: the opt-out stands. --release
    removes only the entries this message added to the company's dnc and dnt lists; an
    entry an earlier opt-out, a person, an upload or a call status added stays. The removal
    is audited (`dnc log`) with the reviewer and the reason. Who decided, when and why are
    kept on the message. A message not waiting for review is refused.
    """
    if keep == release:
        raise click.UsageError("give exactly one of --keep or --release")
    resolved = run(
        lambda app: service.resolve(
            app, caller_of(company, by), message_id, release=release, reason=reason
        )
    )
    if as_json:
        emit_json(service.resolved_view(resolved))
        return
    removed = [list_name.value for list_name in resolved.removed_from]
    message = resolved.message
    if keep:
        click.echo(f"Kept message {message.id} from {message.sender}: its list entries stay.")
    elif removed:
        click.echo(
            f"Released message {message.id}: {message.sender} removed from {', '.join(removed)}."
        )
    else:
        click.echo(
            f"Released message {message.id}; nothing removed: no list holds an entry it "
            f"added for {message.sender} (it added none, or the entry was removed or "
            "replaced since)."
        )


def _row(message: InboundMessage) -> tuple[Any, ...]:
    return (
        message.id,
        iso(message.received_at),
        message.sender,
        message.to,
        message.classification.value,
        message.body,
        message.action,
        message.review,
    )
