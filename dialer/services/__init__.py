"""The application layer: one async function per use case, called alike by the CLI, the
REST API and the pages.

A use case opens its own transaction (or read-only snapshot), finds the caller's company
and acting user, checks that the user may do it, does it, and returns plain values; each
resource has one JSON shape (its `view` function or `as_dict()`), used by `--json` and the
API alike. Listings are async context managers yielding a `Page`, streamed inside their
snapshot. Refusals are the domain's own exceptions (NotPermitted, InvalidNumbers, ...):
the CLI turns them into an exit code and a message, the API into a problem document.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from compliance import Company, InvalidNumber, Permission, User, accounts, normalize
from dialer.app import App

__all__ = ["Acting", "Caller", "InvalidNumbers", "acting", "e164_all"]


@dataclass(frozen=True, slots=True)
class Caller:
    """Who asks. `company` None: the default_company setting. `user` None: the local
    operator at the command line, who holds the database anyway and may do anything
    (recorded as `accounts.LOCAL_OPERATOR`); the API always names its token's user."""

    company: str | None = None
    user: str | None = None


@dataclass(frozen=True, slots=True)
class Acting:
    """A caller resolved: its company, the actor its changes are recorded under, and the
    user (None for the local operator)."""

    company: Company
    actor: str
    user: User | None


async def acting(
    app: App, conn: AsyncConnection, caller: Caller, permission: Permission | None = None
) -> Acting:
    """The caller's company and user, if the user may do what needs `permission` (None: a
    reading, which any user of the company may do); NotPermitted or UnknownCompany else."""
    company = await accounts.find_company(conn, caller.company or app.settings.default_company)
    if caller.user is None:
        return Acting(company, accounts.LOCAL_OPERATOR, None)
    user = await accounts.find_user(conn, company, caller.user)
    if permission is None:
        if user is None:
            raise accounts.NotPermitted(f"refused: no user named {caller.user!r} in this company")
        return Acting(company, user.name, user)
    user = accounts.authorize(user, caller.user, permission)
    return Acting(company, user.name, user)


class InvalidNumbers(ValueError):
    """Some inputs are no valid numbers: the message names every one; nothing was done."""

    def __init__(self, errors: Sequence[str]) -> None:
        super().__init__(f"invalid number: {'; '.join(errors)}. Nothing was changed.")
        self.errors = list(errors)


def e164_all(values: Sequence[str], region: str) -> list[str]:
    """E.164 for every input, or InvalidNumbers naming every bad one."""
    numbers, errors = [], []
    for value in values:
        try:
            numbers.append(normalize(value, region).e164)
        except InvalidNumber as error:
            errors.append(str(error))
    if errors:
        raise InvalidNumbers(errors)
    return numbers
