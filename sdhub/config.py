"""Settings: every environment variable and the config file, read in one place.

Precedence for each setting: environment variable, then
``$SDHUB_HOME/config.toml``, then the default. Tokens are read here and handed
to the clients that need them; they are never printed, logged or stored in
the catalog. The config file is written with user-only permissions because
it may hold tokens.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

CONFIG_FILENAME = "config.toml"
DEFAULT_CIVITAI_URL = "https://civitai.com"

#: Config-file keys whose values are secrets (masked in any display).
SECRET_KEYS = frozenset({"civitai_token", "hf_token"})


def default_home() -> Path:
    """The platform's user data dir (``~/.local/share/sdhub`` on Linux)."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("sdhub", appauthor=False))


def home() -> Path:
    """Where sdhub keeps its catalog, config, cache and renders."""
    value = os.environ.get("SDHUB_HOME")
    return Path(value).expanduser() if value else default_home()


class ConfigError(Exception):
    """The config file cannot be read; the message names the file and the fix."""


@dataclass(frozen=True, slots=True)
class Settings:
    """The effective settings of one run."""

    home: Path
    db_url: str
    library: Path | None = None
    layout: str | None = None  # "a1111" | "comfyui" | None = detect
    civitai_url: str = DEFAULT_CIVITAI_URL
    civitai_token: str | None = field(default=None, repr=False)
    hf_endpoint: str | None = None
    hf_token: str | None = field(default=None, repr=False)
    #: Download previews / show images rated above PG-13 (Civitai nsfwLevel > 2).
    nsfw: bool = False
    jobs: int = 3

    @property
    def config_path(self) -> Path:
        return self.home / CONFIG_FILENAME

    @property
    def renders_dir(self) -> Path:
        return self.home / "renders"

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"

    @property
    def trash_dir(self) -> Path:
        return self.home / "trash"


def _read_config_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config ({exc}); fix or delete the file") from exc


def debug_enabled() -> bool:
    """``SDHUB_DEBUG=1``: show tracebacks instead of the one-line error (for bug reports)."""
    return os.environ.get("SDHUB_DEBUG", "").strip().lower() not in ("", "0", "false", "no")


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    return value if value else None


def load_settings() -> Settings:
    """Settings from the environment and the config file (read on every call)."""
    base = home()
    cfg = _read_config_file(base / CONFIG_FILENAME)
    library = _env("SDHUB_LIBRARY") or cfg.get("library")
    jobs = cfg.get("jobs", 3)
    return Settings(
        home=base,
        db_url=_env("SDHUB_DB_URL") or cfg.get("db_url") or f"sqlite:///{base / 'catalog.db'}",
        library=Path(library).expanduser() if library else None,
        layout=_env("SDHUB_LAYOUT") or cfg.get("layout"),
        civitai_url=(
            _env("SDHUB_CIVITAI_URL") or cfg.get("civitai_url") or DEFAULT_CIVITAI_URL
        ).rstrip("/"),
        civitai_token=_env("CIVITAI_TOKEN") or cfg.get("civitai_token"),
        hf_endpoint=_env("HF_ENDPOINT") or cfg.get("hf_endpoint"),
        hf_token=_env("HF_TOKEN") or cfg.get("hf_token"),
        nsfw=bool(cfg.get("nsfw", False)),
        jobs=int(jobs) if isinstance(jobs, int) and jobs > 0 else 3,
    )


#: Settings that the config file may hold (everything but home and db_url's default).
CONFIG_KEYS = tuple(f.name for f in fields(Settings) if f.name not in {"home"})


def save_config(settings_home: Path, updates: dict[str, Any]) -> Path:
    """Merge ``updates`` into the config file atomically, readable by the user only.

    A value of None removes the key. Unknown keys are refused so a typo
    never silently does nothing.
    """
    import tomli_w

    unknown = set(updates) - set(CONFIG_KEYS)
    if unknown:
        raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    path = settings_home / CONFIG_FILENAME
    data = _read_config_file(path)
    for key, value in updates.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = str(value) if isinstance(value, Path) else value
    settings_home.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        tomli_w.dump(data, fh)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path


def mask(value: str | None) -> str:
    """A token as it may be shown: never in clear."""
    if not value:
        return "(not set)"
    return "•" * 8 + (value[-2:] if len(value) > 12 else "")


def with_overrides(settings: Settings, **changes: Any) -> Settings:
    """A copy with some settings changed (command-line flags win over everything)."""
    return replace(settings, **{k: v for k, v in changes.items() if v is not None})
