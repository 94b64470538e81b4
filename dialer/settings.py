"""Settings: config/dialer.toml, overridden by DIALER_* environment variables."""

from __future__ import annotations

import base64
import os
import re
import secrets
import tempfile
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

import phonenumbers
import platformdirs
from pydantic import (
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from dialer.files import read_toml

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config" / "dialer.toml"
ENV_PREFIX = "DIALER_"
# The async drivers the engine runs on, and how a URL for each is written.
DRIVERS = {
    "sqlite+aiosqlite": "sqlite+aiosqlite:///PATH",
    "postgresql+asyncpg": "postgresql+asyncpg://USER:PASSWORD@HOST:PORT/NAME",
}
# Settings whose values are never repeated in a message: they may hold a password.
SECRETS = frozenset({"database_url", "carrier_auth_token", "secret_key"})
# Where `dialer init` writes the secret key in the data folder when none is set.
SECRET_KEY_FILE = "secret_key"
# A Fernet key: 32 random bytes, url-safe base64 (44 characters, the last one "=").
_FERNET_KEY = re.compile(r"[A-Za-z0-9_-]{43}=")
_FERNET_KEY_FORM = "32 bytes in url-safe base64, 44 characters ending in '='"


def config_path() -> Path:
    """The settings file: DIALER_CONFIG if set, else the project's config/dialer.toml."""
    return Path(os.environ.get("DIALER_CONFIG", DEFAULT_CONFIG))


def default_home() -> Path:
    """The user's data folder for dialer, e.g. ~/.local/share/dialer on Linux."""
    return platformdirs.user_data_path("dialer")


class SettingsConflict(ValueError):
    """A command's options ask for what the settings rule out."""


class InvalidSettings(ValueError):
    """A setting that cannot be used; ``str()`` names where it was set and why."""


class Settings(BaseSettings):
    """Everything an operator can set; see config/dialer.toml for the meaning of each key.

    Settings() raises InvalidSettings for a bad value, naming its variable or file key.
    """

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid")

    home: Path = Field(default_factory=default_home)
    # Empty: the SQLite file dialer.db in `home`.
    database_url: str = ""
    default_company: str = "default"
    default_region: str = "US"
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    carrier: Literal["simulator", "twilio"] = "simulator"
    carrier_url: str = "https://api.twilio.com"
    carrier_account_sid: str = ""
    carrier_auth_token: str = ""
    scenario: Path | None = None
    webhook_host: str = "127.0.0.1"
    webhook_port: int = Field(default=8080, ge=0, le=65535)
    public_url: str = ""
    # Bounded: the scheduler's interval must stay a representable duration.
    tick_seconds: float = Field(default=1.0, gt=0, le=3600, allow_inf_nan=False)
    # The key of the browser sessions' encrypted cookies, a Fernet key. Empty: the file
    # secret_key in `home`, which `dialer init` writes. Every node must have the same one.
    secret_key: str = ""
    _secret_key_file: Path | None = PrivateAttr(default=None)

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as error:
            raise InvalidSettings(_describe(error, values)) from None

    @field_validator("home", mode="before")
    @classmethod
    def _home_is_named(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            raise ValueError("an empty folder name; give a folder, or leave it unset")
        return value

    @field_validator("home")
    @classmethod
    def _home_is_absolute(cls, value: Path) -> Path:
        return value.expanduser().absolute()

    @field_validator("database_url")
    @classmethod
    def _database_url_is_supported(cls, value: str) -> str:
        if not value:
            return value
        expected = " or ".join(DRIVERS.values())
        try:
            driver = make_url(value).drivername
        except ArgumentError:
            raise ValueError(f"not a database URL; expected {expected}") from None
        if driver not in DRIVERS:
            raise ValueError(f"the driver {driver} is not supported; expected {expected}")
        return value

    @field_validator("default_company")
    @classmethod
    def _company_is_named(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a company needs a name")
        return value.strip()

    @field_validator("default_region")
    @classmethod
    def _region_is_known(cls, value: str) -> str:
        region = value.strip().upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"{value} is not a region code (ISO 3166 alpha-2, e.g. US)")
        return region

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_in_any_case(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("carrier_url", "public_url")
    @classmethod
    def _is_http_url(cls, value: str, info: ValidationInfo) -> str:
        if not value and info.field_name == "public_url":
            return value
        parts = urlparse(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"{value} is not an http:// or https:// address")
        return value.rstrip("/")

    @field_validator("secret_key")
    @classmethod
    def _secret_key_is_fernet(cls, value: str) -> str:
        value = value.strip()
        if value and not _FERNET_KEY.fullmatch(value):
            raise ValueError(f"not a Fernet key ({_FERNET_KEY_FORM}); `dialer init` makes one")
        return value

    @model_validator(mode="after")
    def _secret_key_in_home(self) -> Settings:
        if not self.secret_key:
            path = self.home / SECRET_KEY_FILE
            self.secret_key = read_secret_key(path)
            self._secret_key_file = path if self.secret_key else None
        return self

    @property
    def secret_key_file(self) -> Path | None:
        """The file the secret key was read from; None when a setting gives it, or when
        there is none yet."""
        return self._secret_key_file

    @model_validator(mode="after")
    def _database_in_home(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///{self.home / 'dialer.db'}"
        return self

    @model_validator(mode="after")
    def _carrier_account_given(self) -> Settings:
        missing = [
            name
            for name in ("carrier_account_sid", "carrier_auth_token")
            if self.carrier == "twilio" and not getattr(self, name)
        ]
        if missing:
            raise ValueError(f"carrier = twilio needs {' and '.join(missing)}")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Precedence: explicit arguments, then the environment, then the TOML file.
        return init_settings, env_settings, InitSettingsSource(settings_cls, config_values())


def read_secret_key(path: Path) -> str:
    """The Fernet key in the file `path`; "" when there is no such file."""
    try:
        key = path.read_text(encoding="ascii").strip()
    except (FileNotFoundError, NotADirectoryError):
        return ""
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"secret_key: cannot read the file {path}: {error}") from None
    if not _FERNET_KEY.fullmatch(key):
        raise ValueError(
            f"secret_key: the file {path} holds no Fernet key ({_FERNET_KEY_FORM}): "
            "restore it from another node, or remove it and run `dialer init` for a new one"
        )
    return key


def create_secret_key(home: Path) -> Path:
    """Write a new Fernet key to the file secret_key in `home`, readable by its owner only
    (mode 0600), unless the file exists; returns its path. The file appears whole or not
    at all, and an existing one is never replaced: every node must keep the same key."""
    path = home / SECRET_KEY_FILE
    if path.exists():
        return path
    key = base64.urlsafe_b64encode(secrets.token_bytes(32))  # as Fernet.generate_key()
    try:
        home.mkdir(parents=True, exist_ok=True)
        descriptor, partial = tempfile.mkstemp(dir=home, prefix=f".{SECRET_KEY_FILE}.")  # 0600
    except OSError as error:
        raise InvalidSettings(
            f"cannot write the secret key to {path}: {error.strerror}; "
            "make the data folder writable, or set DIALER_SECRET_KEY"
        ) from None
    try:
        with open(descriptor, "wb") as stream:
            stream.write(key + b"\n")
            stream.flush()
            os.fsync(stream.fileno())
        os.link(partial, path)
    except FileExistsError:
        pass  # another `dialer init` wrote it first: theirs is the key
    finally:
        os.unlink(partial)
    return path


def config_values() -> dict[str, Any]:
    """The settings file's keys; none when the project's default file is absent."""
    path = config_path()
    if not path.is_file():
        if "DIALER_CONFIG" in os.environ:
            raise InvalidSettings(f"DIALER_CONFIG names {path}, which is not a file")
        return {}
    try:
        return read_toml(path)
    except ValueError as error:
        raise InvalidSettings(f"settings file {error}") from None


def _describe(error: ValidationError, arguments: dict[str, Any]) -> str:
    """One sentence per bad setting, naming the variable or file key that set it."""
    problems = []
    for problem in error.errors():
        if not problem["loc"]:  # a rule across settings: its message names them
            problems.append(problem["msg"].removeprefix("Value error, "))
            continue
        name = str(problem["loc"][0])
        where = _where_set(name, arguments)
        if problem["type"] == "extra_forbidden":
            problems.append(f"{where} is not a setting")
            continue
        message = problem["msg"]
        if problem["type"] == "value_error":
            message = message.removeprefix("Value error, ")
        else:
            # Pydantic's own sentence ("Input should be ..."), after the value it refused.
            message = message[:1].lower() + message[1:]
            if name not in SECRETS:
                where = f"{where} ({problem['input']})"
        problems.append(f"{where}: {message}")
    return "invalid setting " + "; ".join(problems)


def _where_set(name: str, arguments: dict[str, Any]) -> str:
    variable = f"{ENV_PREFIX}{name}".upper()
    if name in arguments:
        return name
    if any(key.upper() == variable for key in os.environ):
        return variable
    return f"{name} in {config_path()}"
