"""Users and the company's settings through the API: any user of the company reads them;
admins manage users, managers change the settings (as `dialer users` and `dialer company`).
A password goes in, never out: no answer holds one or its hash."""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, Field, SecretStr, model_validator

from compliance import Role, accounts
from compliance.accounts import MAX_REPLY, MAX_USER_NAME
from compliance.passwords import MAX_PASSWORD
from dialer.api import paging
from dialer.api.routing import Routes, respond
from dialer.api.schemas import Instant, PageQuery, Request, Text
from dialer.api.state import APP, CALLER
from dialer.services import company as company_service
from dialer.services import users as service

ROUTES = Routes()

# A region code, as `company set --countries` takes it (the service checks it is one).
Country = Annotated[str, Field(pattern="^[A-Za-z]{2}$")]


class User(BaseModel):
    """A user as `dialer users list --json` shows them: never a password or its hash."""

    name: str
    role: Role
    can_remove_dnc: bool
    created_at: Instant
    has_password: bool
    password_changed_at: Instant | None
    password_changed_by: str | None


class UserPage(BaseModel):
    data: list[User]
    next_cursor: str | None
    next_url: str | None


class UserCreate(Request):
    name: Text = Field(min_length=1, max_length=MAX_USER_NAME)
    role: Role
    can_remove_dnc: bool = Field(
        False,
        description="A manager who may take numbers off lists, end blackouts and release opt-outs.",
    )
    # SecretStr: an error, a log or an idempotency fingerprint shows it as **********.
    password: SecretStr | None = Field(
        None,
        max_length=MAX_PASSWORD,
        description="15 to 256 characters; common ones and ones holding the user's or the "
        "company's name are refused. Without one the user cannot sign in yet.",
    )


class UserPath(BaseModel):
    name: Text = Field(min_length=1, max_length=MAX_USER_NAME)


class UserChange(Request):
    role: Role | None = None
    can_remove_dnc: bool | None = None

    @model_validator(mode="after")
    def _changes_something(self) -> UserChange:
        if self.role is None and self.can_remove_dnc is None:
            raise ValueError("give role or can_remove_dnc")
        return self


class PasswordChange(Request):
    password: SecretStr = Field(max_length=MAX_PASSWORD, description="As for a new user.")


@ROUTES.route(
    "GET",
    "/users",
    "The company's users, in the order they were added",
    response=UserPage,
    query=PageQuery,
)
async def list_users(request: web.Request, query: PageQuery) -> web.Response:
    found = await service.users_page(
        request.app[APP], request[CALLER], after=paging.after(query), limit=query.limit + 1
    )
    ids = {account.user.name: account.id for account in found}
    views = [service.user_view(account) for account in found]
    return respond(UserPage, paging.page(request, views, query.limit, lambda u: ids[u["name"]]))


@ROUTES.route(
    "POST",
    "/users",
    "Add a user (admins), with a password if given",
    status=201,
    response=User,
    body=UserCreate,
    idempotent=True,
    errors=(403,),
)
async def add_user(request: web.Request, body: UserCreate) -> web.Response:
    added = await service.add_user(
        request.app[APP],
        request[CALLER],
        body.name,
        body.role,
        can_remove_dnc=body.can_remove_dnc,
        password=None if body.password is None else body.password.get_secret_value(),
    )
    return respond(User, service.user_view(added), 201)


@ROUTES.route(
    "PATCH",
    "/users/{name}",
    "Change a user's role or can_remove_dnc (admins); the last admin stays one",
    response=User,
    path_model=UserPath,
    body=UserChange,
    errors=(403, 409),
)
async def change_user(request: web.Request, path: UserPath, body: UserChange) -> web.Response:
    changed = await service.change_user(
        request.app[APP],
        request[CALLER],
        path.name,
        role=body.role,
        can_remove_dnc=body.can_remove_dnc,
    )
    return respond(User, service.user_view(changed))


@ROUTES.route(
    "PUT",
    "/users/{name}/password",
    "Set a user's password, replacing any (admins, or the user themself)",
    status=204,
    path_model=UserPath,
    body=PasswordChange,
    errors=(403,),
)
async def set_password(request: web.Request, path: UserPath, body: PasswordChange) -> web.Response:
    await service.set_password(
        request.app[APP], request[CALLER], path.name, body.password.get_secret_value()
    )
    return web.Response(status=204)


# --- the company's settings -------------------------------------------------------------


class Replies(BaseModel):
    opt_out: str = Field(description="The one confirmation of an opt-out.")
    help: str = Field(description="The answer to HELP.")
    opt_in: str = Field(description="The answer to START.")


class CompanySettings(BaseModel):
    """As `dialer company show --json` shows them."""

    name: str
    default_region: str = Field(description="How a number without a country code is read.")
    countries: list[str] = Field(description="Region codes whose numbers may be contacted.")
    replies: Replies


class RepliesChange(Request):
    opt_out: str | None = Field(None, max_length=MAX_REPLY)
    help: str | None = Field(None, max_length=MAX_REPLY)
    opt_in: str | None = Field(None, max_length=MAX_REPLY)


class CompanyChange(Request):
    countries: list[Country] | None = Field(
        None,
        min_length=1,
        max_length=300,
        description="Region codes (ISO 3166, e.g. US, PR, CA): numbers elsewhere are skipped.",
    )
    replies: RepliesChange | None = Field(None, description="The texts to change; others stay.")

    @model_validator(mode="after")
    def _changes_something(self) -> CompanyChange:
        if self.countries is None and not self.replies_given():
            raise ValueError("give a setting to change: countries or replies")
        return self

    def replies_given(self) -> dict[accounts.Reply, str]:
        given = self.replies.model_dump(exclude_none=True) if self.replies else {}
        return {accounts.Reply(name): text for name, text in given.items()}


@ROUTES.route("GET", "/company", "The company's settings", response=CompanySettings)
async def read_company(request: web.Request) -> web.Response:
    shown = await company_service.read_settings(request.app[APP], request[CALLER])
    return respond(CompanySettings, shown.as_dict())


@ROUTES.route(
    "PATCH",
    "/company",
    "Change the countries the company may contact or its replies (managers)",
    response=CompanySettings,
    body=CompanyChange,
    errors=(403,),
)
async def change_company(request: web.Request, body: CompanyChange) -> web.Response:
    changed = await company_service.change_settings(
        request.app[APP],
        request[CALLER],
        countries=body.countries,
        replies=body.replies_given(),
    )
    return respond(CompanySettings, changed.as_dict())
