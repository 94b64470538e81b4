"""Settings: config/dialer.toml, overridden by DIALER_* environment variables."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config" / "dialer.toml"


def config_path() -> Path:
    """The settings file: DIALER_CONFIG if set, else the project's config/dialer.toml."""
    return Path(os.environ.get("DIALER_CONFIG", DEFAULT_CONFIG))


class SettingsConflict(ValueError):
    """A command's options ask for what the settings rule out."""


class Settings(BaseSettings):
    """Everything an operator can set; see config/dialer.toml for the meaning of each key."""

    model_config = SettingsConfigDict(env_prefix="DIALER_", extra="forbid")

    database_url: str = "sqlite+aiosqlite:///var/dialer.db"
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
    webhook_port: int = 8080
    public_url: str = ""
    tick_seconds: float = 1.0

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
        toml = TomlConfigSettingsSource(settings_cls, toml_file=config_path())
        return init_settings, env_settings, toml
