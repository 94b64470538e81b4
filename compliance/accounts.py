"""Companies and users: a company owns its lists and leads; users act on its behalf."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

import phonenumbers
import structlog
from sqlalchemy import Row, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from compliance.tables import Page, companies, stream_last, users

log = structlog.get_logger("compliance.accounts")


@dataclass(frozen=True, slots=True)
class Company:
    id: int
    name: str
    default_region: str


class Role(StrEnum):
    ADMIN = "admin"
    MANAGER = "manager"
    VIEWER = "viewer"


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: Role
    can_remove_dnc: bool


class Permission(StrEnum):
    """What a change needs of the user who names themselves its actor (`--by`)."""

    CHANGE = "change"
    MANAGE_USERS = "manage_users"
    REMOVE = "remove"


_WHAT = {
    Permission.CHANGE: (
        "change lists, leads, statuses, campaigns, sending numbers, blackouts or dispositions"
    ),
    Permission.MANAGE_USERS: "manage users",
    Permission.REMOVE: "take numbers off lists, end blackouts or release opt-outs",
}

# The actor recorded for a change made at the command line without --by: whoever runs the
# CLI holds the database anyway. No user may take this name.
LOCAL_OPERATOR = "cli"
# Long enough for any person's name or login; an audit trail shows it in full.
MAX_USER_NAME = 100


class NotPermitted(PermissionError):
    """The named actor is no user of the company, or their role does not allow the change;
    nothing was changed."""


def may(user: User, permission: Permission) -> bool:
    """A viewer changes nothing; a manager changes; an admin also manages users; taking
    something off a list needs the admin role or a manager's can_remove_dnc."""
    if user.role is Role.ADMIN:
        return True
    if permission is Permission.CHANGE:
        return user.role is Role.MANAGER
    if permission is Permission.REMOVE:
        return user.role is Role.MANAGER and user.can_remove_dnc
    return False


def authorize(user: User | None, name: str, permission: Permission) -> User:
    """`user`, found under `name` (None: the company has no such user), if it may make a
    change needing `permission`; otherwise NotPermitted naming the user, role and change."""
    if user is None:
        raise NotPermitted(
            f"refused: no user named {name!r} in this company; add one with `dialer users add`"
        )
    if may(user, permission):
        return user
    if permission is Permission.REMOVE and user.role is Role.MANAGER:
        raise NotPermitted(
            f"refused: {user.name} ({user.role}) lacks the can_remove_dnc permission "
            f"to {_WHAT[permission]}"
        )
    raise NotPermitted(f"refused: {user.name} ({user.role}) may not {_WHAT[permission]}")


class InvalidUser(ValueError):
    """A user that cannot be created as given; nothing was changed."""


class UnknownUser(LookupError):
    """No user of that name in the company; nothing was changed."""


class LastAdmin(InvalidUser):
    """A change that would leave the company without an admin; nothing was changed."""


def check_user(name: str, role: Role, can_remove_dnc: bool) -> None:
    """Refuse a name that could not be told apart in the audit trail, or a permission the
    role cannot use."""
    if not name.strip():
        raise InvalidUser("a user needs a name that is not empty or blank")
    if name != name.strip():
        raise InvalidUser(f"the name {name.strip()!r} has spaces around it; remove them")
    if len(name) > MAX_USER_NAME:
        raise InvalidUser(f"a user name has at most {MAX_USER_NAME} characters")
    if any(unicodedata.category(char).startswith("C") for char in name):
        raise InvalidUser("a user name cannot hold control or invisible characters")
    if name == LOCAL_OPERATOR:
        raise InvalidUser(f"{LOCAL_OPERATOR!r} is the actor of changes made without --by")
    if can_remove_dnc and role is Role.VIEWER:
        raise InvalidUser("a viewer changes nothing: can_remove_dnc needs the manager role")


class UnknownCompany(LookupError):
    """No company of that name."""


async def find_company(conn: AsyncConnection, name: str) -> Company:
    """The company named `name`; UnknownCompany if there is none."""
    row = (await conn.execute(select(companies).where(companies.c.name == name))).first()
    if row is None:
        raise UnknownCompany(f"no company named {name!r}; run `dialer init` or check --company")
    return Company(row.id, row.name, row.default_region)


async def get_company(conn: AsyncConnection, company_id: int) -> Company:
    """The company with this id (it must exist)."""
    row = (await conn.execute(select(companies).where(companies.c.id == company_id))).one()
    return Company(row.id, row.name, row.default_region)


async def ensure_company(
    conn: AsyncConnection, name: str, now: datetime, default_region: str = "US"
) -> tuple[Company, bool]:
    """The company named `name`, created if missing; the flag says whether it was created."""
    try:
        return await find_company(conn, name), False
    except UnknownCompany:
        pass
    company_id = (
        await conn.execute(
            insert(companies)
            .values(name=name, default_region=default_region, created_at=now)
            .returning(companies.c.id)
        )
    ).scalar_one()
    log.info("company.created", company=name, company_id=company_id)
    return Company(company_id, name, default_region), True


class InvalidCountries(ValueError):
    """A list of countries that names no country, or something that is not one."""


def parse_countries(text: str) -> frozenset[str]:
    """'us, pr' -> {'US', 'PR'}: region codes as phonenumbers knows them (ISO 3166)."""
    codes = {code.strip().upper() for code in text.split(",")} - {""}
    if not codes:
        raise InvalidCountries("give at least one country, e.g. US,PR")
    unknown = sorted(codes - phonenumbers.SUPPORTED_REGIONS)
    if unknown:
        raise InvalidCountries(
            f"not a country code: {', '.join(unknown)} (two letters, e.g. US, PR, CA)"
        )
    return frozenset(codes)


async def company_countries(conn: AsyncConnection, company: Company) -> frozenset[str]:
    """The countries whose numbers the company may contact.

    Read under a share lock (PostgreSQL): a change waits for the screening that read the
    countries until its dial intents commit, and a screening waits for a change under way.
    """
    text = (
        await conn.execute(
            select(companies.c.countries)
            .where(companies.c.id == company.id)
            .with_for_update(read=True)
        )
    ).scalar_one()
    return frozenset(text.split(","))


async def set_countries(conn: AsyncConnection, company: Company, countries: frozenset[str]) -> None:
    """Let the company contact numbers of these countries only (`parse_countries` checks
    them)."""
    await conn.execute(
        update(companies)
        .where(companies.c.id == company.id)
        .values(countries=",".join(sorted(countries)))
    )
    log.info("company.countries_set", company=company.name, countries=sorted(countries))


class Reply(StrEnum):
    """What an inbound text is answered with, by what it asked."""

    OPT_OUT = "opt_out"  # the one confirmation of an opt-out
    HELP = "help"
    OPT_IN = "opt_in"  # START


_REPLY_COLUMNS = {
    Reply.OPT_OUT: companies.c.opt_out_reply,
    Reply.HELP: companies.c.help_reply,
    Reply.OPT_IN: companies.c.opt_in_reply,
}
# The defaults, each within one SMS segment (160 GSM-7 characters) for a company name of up
# to MAX_NAME_IN_ONE_SEGMENT characters: a reply longer than that is sent, and billed, as
# several messages.
_DEFAULT_REPLIES = {
    Reply.OPT_OUT: "{name}: you are unsubscribed and will get no more messages. "
    "Reply START to resubscribe.",
    Reply.HELP: "{name}: reply STOP to unsubscribe, START to resubscribe.",
    Reply.OPT_IN: "{name}: you are subscribed again. Reply STOP to unsubscribe.",
}
MAX_NAME_IN_ONE_SEGMENT = 70
# Two segments' worth: longer replies are more likely a mistake than a message.
MAX_REPLY = 320


@dataclass(frozen=True, slots=True)
class ReplyTexts:
    """The texts a company answers inbound messages with, one per `Reply` of that name."""

    opt_out: str
    help: str
    opt_in: str


class InvalidReply(ValueError):
    """A reply text that cannot be sent as given; nothing was changed."""


def check_reply(text: str) -> str:
    """`text` if it can be sent as a reply: not blank, at most MAX_REPLY characters, no
    control characters but line breaks (TwiML, an XML document, cannot carry them)."""
    if not text.strip():
        raise InvalidReply("a reply needs a text that is not empty or blank")
    if len(text) > MAX_REPLY:
        raise InvalidReply(
            f"a reply has at most {MAX_REPLY} characters; this one has {len(text):,}"
        )
    if any(unicodedata.category(char) == "Cc" and char not in "\r\n" for char in text):
        raise InvalidReply("a reply cannot hold control characters other than line breaks")
    return text


def default_reply(reply: Reply, company_name: str) -> str:
    """The reply of a company that set none: its name and how to opt out or back in."""
    return _DEFAULT_REPLIES[reply].format(name=company_name)


async def reply_texts(conn: AsyncConnection, company: Company) -> ReplyTexts:
    """The company's replies: those it set, the defaults for the others."""
    row = (
        await conn.execute(select(*_REPLY_COLUMNS.values()).where(companies.c.id == company.id))
    ).one()
    stored = dict(zip(_REPLY_COLUMNS, row, strict=True))
    return ReplyTexts(
        **{reply.value: stored[reply] or default_reply(reply, company.name) for reply in Reply}
    )


async def set_replies(conn: AsyncConnection, company: Company, texts: dict[Reply, str]) -> None:
    """Answer inbound messages with `texts` (each checked by `check_reply`) from now on."""
    if not texts:
        return
    await conn.execute(
        update(companies)
        .where(companies.c.id == company.id)
        .values({_REPLY_COLUMNS[reply]: check_reply(text) for reply, text in texts.items()})
    )
    log.info("company.replies_set", company=company.name, replies=sorted(texts))


async def add_user(
    conn: AsyncConnection,
    company: Company,
    name: str,
    role: Role,
    can_remove_dnc: bool,
    now: datetime,
    by: str = LOCAL_OPERATOR,
    password_hash: str | None = None,
) -> User:
    """Create a user of `company` (checked by `check_user`), with a password if given its
    hash (`passwords.hash_password`); a duplicate name raises sqlalchemy's IntegrityError."""
    check_user(name, role, can_remove_dnc)
    with_password = password_hash is not None
    await conn.execute(
        insert(users).values(
            company_id=company.id,
            name=name,
            role=role.value,
            can_remove_dnc=can_remove_dnc,
            created_at=now,
            password_hash=password_hash,
            password_changed_at=now if with_password else None,
            password_changed_by=by if with_password else None,
        )
    )
    log.info(
        "user.created",
        company=company.name,
        user=name,
        role=role.value,
        can_remove_dnc=can_remove_dnc,
        has_password=with_password,
        by=by,
    )
    return User(name, role, can_remove_dnc)


@dataclass(frozen=True, slots=True)
class Account:
    """A user as the company's admins see them: whether they have a password, never its
    hash."""

    user: User
    created_at: datetime
    has_password: bool
    password_changed_at: datetime | None
    password_changed_by: str | None
    id: int


_ACCOUNTS = select(
    users.c.id,
    users.c.name,
    users.c.role,
    users.c.can_remove_dnc,
    users.c.created_at,
    users.c.password_hash.is_not(None).label("has_password"),
    users.c.password_changed_at,
    users.c.password_changed_by,
)


async def list_users(conn: AsyncConnection, company: Company) -> Page[Account]:
    """Every user of `company`, by name, streamed."""
    query = _ACCOUNTS.where(users.c.company_id == company.id)
    page = await stream_last(conn, query, (users.c.name, users.c.id), None)
    return Page(rows=(_account(row) async for row in page.rows), more=page.more)


async def users_after(
    conn: AsyncConnection, company: Company, *, after: int | None = None, limit: int | None = None
) -> list[Account]:
    """The users of `company` in the order they were added (by id), from after the user
    of id `after`, at most `limit`: one query."""
    query = _ACCOUNTS.where(users.c.company_id == company.id).order_by(users.c.id).limit(limit)
    if after is not None:
        query = query.where(users.c.id > after)
    return [_account(row) for row in await conn.execute(query)]


async def account(conn: AsyncConnection, company: Company, name: str) -> Account:
    """The user of `company` named `name` as its admins see them; UnknownUser if none."""
    query = _ACCOUNTS.where(users.c.company_id == company.id, users.c.name == name)
    row = (await conn.execute(query)).first()
    if row is None:
        raise UnknownUser(f"no user named {name!r} in this company")
    return _account(row)


def _account(row: Row) -> Account:
    return Account(
        User(row.name, Role(row.role), row.can_remove_dnc),
        row.created_at,
        bool(row.has_password),
        row.password_changed_at,
        row.password_changed_by,
        row.id,
    )


async def find_user(conn: AsyncConnection, company: Company, name: str) -> User | None:
    """The user of `company` named `name`, None if there is none."""
    row = (
        await conn.execute(
            select(users.c.name, users.c.role, users.c.can_remove_dnc).where(
                users.c.company_id == company.id, users.c.name == name
            )
        )
    ).first()
    return None if row is None else User(row.name, Role(row.role), row.can_remove_dnc)


async def change_user(
    conn: AsyncConnection,
    company: Company,
    name: str,
    *,
    role: Role | None = None,
    can_remove_dnc: bool | None = None,
    by: str,
) -> Account:
    """Give the user `name` of `company` a new role or can_remove_dnc (None keeps it):
    UnknownUser when there is none; InvalidUser for a viewer who may remove; LastAdmin
    when it would leave the company without an admin.

    The company's admins are read under a row lock (PostgreSQL): of two admins demoting
    each other at once, the second sees the first's change and is refused."""
    admins = set(
        (
            await conn.execute(
                select(users.c.name)
                .where(users.c.company_id == company.id, users.c.role == Role.ADMIN.value)
                .with_for_update()
            )
        ).scalars()
    )
    found = await account(conn, company, name)
    was = found.user
    now = User(
        name,
        was.role if role is None else role,
        was.can_remove_dnc if can_remove_dnc is None else can_remove_dnc,
    )
    check_user(name, now.role, now.can_remove_dnc)
    if now.role is not Role.ADMIN and admins == {name}:
        raise LastAdmin(f"{name} is the company's last admin: make another user admin first")
    await conn.execute(
        update(users)
        .where(users.c.company_id == company.id, users.c.name == name)
        .values(role=now.role.value, can_remove_dnc=now.can_remove_dnc)
    )
    log.info(
        "user.changed",
        company=company.name,
        user=name,
        role=now.role.value,
        can_remove_dnc=now.can_remove_dnc,
        was_role=was.role.value,
        was_can_remove_dnc=was.can_remove_dnc,
        by=by,
    )
    return replace(found, user=now)


async def find_actor(
    conn: AsyncConnection, company: Company, name: str, permission: Permission
) -> User:
    """The user of `company` named `name`, if it may make a change needing `permission`;
    NotPermitted otherwise."""
    return authorize(await find_user(conn, company, name), name, permission)
