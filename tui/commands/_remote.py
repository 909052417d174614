"""What the remote commands (search, get, sync, enrich, updates) share: settings, clients,
the library, and a Ctrl-C that stops downloads cleanly.

Imported lazily inside the commands (it pulls in the hub), never at CLI start-up.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

from sdhub.catalog import Catalog, CatalogError, Library, open_catalog, open_library
from sdhub.hub.civitai import CivitaiClient
from sdhub.hub.huggingface import HfClient

from sdhub.config import ConfigError, Settings, load_settings

from ..output import die, register_secrets, warn

NO_LIBRARY = "no library configured: set SDHUB_LIBRARY or run `sdhub` settings"


def settings() -> Settings:
    """The settings; their tokens are masked in anything this run prints."""
    try:
        current = load_settings()
    except ConfigError as exc:
        die(str(exc))
    register_secrets(current.civitai_token, current.hf_token)
    return current


def library(current: Settings) -> Library:
    """The configured WebUI root (it must exist: downloads land inside it)."""
    if current.library is None:
        die(NO_LIBRARY)
    if not current.library.is_dir():
        die(f"{current.library}: the library folder does not exist (SDHUB_LIBRARY)")
    return open_library(current.library, current.layout)


def catalog(current: Settings) -> Catalog:
    try:
        return open_catalog(current.db_url)
    except CatalogError as exc:
        die(str(exc))


def civitai(current: Settings) -> CivitaiClient:
    return CivitaiClient.from_settings(current)


def hf(current: Settings) -> HfClient:
    """The Hub client; huggingface_hub's own retry chatter is silenced (our one-line errors
    say what went wrong)."""
    with contextlib.suppress(Exception):
        from huggingface_hub.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
    return HfClient.from_settings(current)


@contextlib.contextmanager
def ctrl_c_cancels(cancel: threading.Event) -> Iterator[None]:
    """The first Ctrl-C sets ``cancel`` (downloads stop at their next read, ``.part`` files
    stay); a second one interrupts at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        warn("interrupted: stopping; partial downloads are kept and resume next time")

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
