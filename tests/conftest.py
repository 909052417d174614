"""Suite-wide guards: every test gets its own SDHUB_HOME and no way off loopback."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

#: Fixture modules every test module may use by naming a fixture (each documents its own).
pytest_plugins = (
    "support.catalog_db",
    "support.fake_civitai",
    "support.fake_hub",
    "support.hub_env",
)

_real_getaddrinfo = socket.getaddrinfo
_LOCAL_NAMES = {"localhost", "localhost.localdomain", ""}


def _is_loopback(host: object) -> bool:
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode()
    host = str(host).strip("[]")
    if host in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback or ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


def _guarded_getaddrinfo(host, *args, **kwargs):  # type: ignore[no-untyped-def]
    if not _is_loopback(host):
        raise OSError(f"test tried to reach {host!r}: only 127.0.0.1 is allowed in tests")
    return _real_getaddrinfo(host, *args, **kwargs)


@pytest.fixture(autouse=True, scope="session")
def _no_network() -> Iterator[None]:
    """Resolving any host but loopback fails: Civitai and the Hub are never reached."""
    socket.getaddrinfo = _guarded_getaddrinfo  # type: ignore[assignment]
    yield
    socket.getaddrinfo = _real_getaddrinfo  # type: ignore[assignment]


@pytest.fixture(autouse=True)
def sdhub_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh SDHUB_HOME for every test; no user config, token or library leaks in."""
    home = tmp_path_factory.mktemp("sdhub-home")
    monkeypatch.setenv("SDHUB_HOME", str(home))
    for name in (
        "SDHUB_DB_URL",
        "SDHUB_LIBRARY",
        "SDHUB_LAYOUT",
        "CIVITAI_TOKEN",
        "HF_TOKEN",
    ):
        monkeypatch.delenv(name, raising=False)
    # A closed port, never civitai.com: a test that forgets its fake server fails fast.
    monkeypatch.setenv("SDHUB_CIVITAI_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    monkeypatch.setenv("HF_HOME", str(home / "hf"))
    # huggingface_hub resolved $HF_HOME at import: keep a real `hf auth login` token out too.
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(home / "hf" / "token"))
    return home
