"""The service's settings, read from the environment at its edge (STYLE.md, principle 6).

Only `primer-search serve` and the CLI read these variables; the library and the API factory take
a `Settings` value, so tests build one by hand.

    PRIMER_SEARCH_DB             the store: a SQLite path or a postgresql:// URL (default: the
                                 SQLite file of service/store/database.py)
    PRIMER_SEARCH_API_TOKEN      when set, every HTTP request needs `Authorization: Bearer TOKEN`
    PRIMER_SEARCH_HOST           the address the server binds to (default 127.0.0.1: this machine)
    PRIMER_SEARCH_PORT           its port (default 8000)
    PRIMER_SEARCH_MAX_BODY_BYTES the largest request body accepted (default 1 MiB)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from primer_search.errors import ConfigError

DB_ENV = "PRIMER_SEARCH_DB"
TOKEN_ENV = "PRIMER_SEARCH_API_TOKEN"
HOST_ENV = "PRIMER_SEARCH_HOST"
PORT_ENV = "PRIMER_SEARCH_PORT"
MAX_BODY_ENV = "PRIMER_SEARCH_MAX_BODY_BYTES"

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
# A seed's DNA is about 10 KB of JSON; a config with an inline DNA a little more. 1 MiB leaves room
# and bounds what a hostile client can make the server parse.
DEFAULT_MAX_BODY_BYTES = 1 << 20


@dataclass(frozen=True)
class Settings:
    database: str | None = None  # None: the default SQLite file
    api_token: str | None = None  # None: no authentication
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES

    def __post_init__(self) -> None:
        if self.api_token is not None and not self.api_token.strip():
            raise ConfigError(f"{TOKEN_ENV} is set but empty; unset it or give a token")
        if not 0 < self.port < 65536:
            raise ConfigError(f"port must be between 1 and 65535, got {self.port}")
        if self.max_body_bytes < 1024:
            raise ConfigError(f"max_body_bytes must be at least 1024, got {self.max_body_bytes}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        return cls(
            database=env.get(DB_ENV) or None,
            api_token=env.get(TOKEN_ENV),
            host=env.get(HOST_ENV) or DEFAULT_HOST,
            port=_int(env, PORT_ENV, DEFAULT_PORT),
            max_body_bytes=_int(env, MAX_BODY_ENV, DEFAULT_MAX_BODY_BYTES),
        )


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name)
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {text!r}") from None
