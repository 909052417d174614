"""One HTTP session per client, bounded retries with backoff, and error classification.

Both services are flaky in the same ways (SPEC-APIS.md A.9, C.4): 429 without
``Retry-After``, 5xx during outages, Cloudflare "Just a moment..." pages with
status 403, connection resets. All of these are retried here with exponential
backoff and jitter; every other answer becomes one typed :mod:`.errors`
exception right away. A body that is not JSON is never parsed as data.

Tokens travel only in ``Authorization`` headers set by :class:`BearerAuth`
(requests drops it when a redirect leaves the host) and every URL that may end
up in a message goes through :func:`redact_url` first.
"""

from __future__ import annotations

import datetime
import email.utils
import json
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

from sdhub import __version__

from .errors import (
    Archived,
    BadRequest,
    DownloadsDisabled,
    EarlyAccess,
    Forbidden,
    GatedRepo,
    HubError,
    LoginRequired,
    NotFound,
    RateLimited,
    ServiceUnavailable,
    TransientError,
)
from .refs import CIVITAI_HOSTS, HF_HOSTS

#: Never a browser UA: Civitai answers browsers with HTML login redirects (A.8).
USER_AGENT = f"sdhub/{__version__}"

#: (connect, read) seconds for API calls and for each read of a download body.
DEFAULT_TIMEOUT: tuple[float, float] = (10.0, 60.0)

#: Query parameters safe to show in a message; everything else (token, signatures) is cut.
_SHOWN_PARAMS = frozenset(
    {"type", "format", "size", "fp", "fileId", "modelVersionId", "limit", "query", "ids"}
)

_NETWORK_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


class Site(StrEnum):
    """Where a remote file or fact comes from (the ``source.site`` of an asset)."""

    CIVITAI = "civitai"
    HF = "hf"
    URL = "url"


_TOKEN_HINTS: dict[Site, str] = {
    Site.CIVITAI: "set CIVITAI_TOKEN to your Civitai API key (Account settings → API keys)",
    Site.HF: "set HF_TOKEN to a Hugging Face access token",
    Site.URL: "the server wants credentials",
}


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently transient faults are retried.

    Production backs off ≈1 s → 30 s; tests pass ``base_delay=0.001`` so a
    retried request costs milliseconds. ``attempts`` counts every try.
    """

    attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 30.0

    def delay(self, attempt: int, asked: float | None = None) -> float:
        """Seconds to wait after failed try number ``attempt`` (0-based): capped, jittered.

        ``asked`` is the server's ``Retry-After``: waiting less only earns
        another 429, so it is honoured, up to ``max_delay`` (a server asking
        for an hour gets our last tries sooner, then a clear error).
        """
        capped = min(self.max_delay, self.base_delay * (2**attempt))
        backoff = capped / 2 + random.uniform(0, capped / 2)
        if asked is None:
            return backoff
        return min(max(backoff, asked), self.max_delay)


def retry_after(response: requests.Response) -> float | None:
    """``Retry-After`` in seconds (delta-seconds or an HTTP date), None when absent or garbled."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return max(0.0, (when - datetime.datetime.now(datetime.UTC)).total_seconds())


class BearerAuth(requests.auth.AuthBase):
    """``Authorization: Bearer <token>``; its repr never shows the token."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "BearerAuth(<hidden>)"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BearerAuth) and other._token == self._token

    def __hash__(self) -> int:
        return hash(self._token)


#: Hosts of one service that share its key: a redirect among them keeps ``Authorization``.
_AUTH_DOMAINS: tuple[frozenset[str], ...] = (CIVITAI_HOSTS, HF_HOSTS)


class Session(requests.Session):
    """requests' session, except that a redirect between two hosts of one service
    (civitai.red → civitai.com) keeps the key; any other host change drops it, as
    requests does (storage hosts refuse signed URLs that come with an Authorization)."""

    def should_strip_auth(self, old_url: str, new_url: str) -> bool:
        old, new = urlsplit(old_url), urlsplit(new_url)
        if new.scheme == "https" and old.hostname != new.hostname:
            for hosts in _AUTH_DOMAINS:
                if old.hostname in hosts and new.hostname in hosts:
                    return False
        return super().should_strip_auth(old_url, new_url)


def make_session(*, pool: int = 8, user_agent: str = USER_AGENT) -> requests.Session:
    """A session that reuses connections (``pool`` per host) and retries nothing itself."""
    session = Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=max(pool, 2), max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = user_agent
    return session


def redact_url(url: str) -> str:
    """A URL fit for a message: host and path, and only harmless query parameters."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<url>"
    shown = [(k, v) for k, v in parse_qsl(parts.query) if k in _SHOWN_PARAMS]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(shown), ""))


# --- reading answers --------------------------------------------------------------------------


def body_preview(response: requests.Response, limit: int = 4096) -> str:
    """The start of a (non-streamed or error) body as text, for messages and sniffing."""
    try:
        content = response.content[:limit]
    except Exception:  # a body that broke off while we read the error
        return ""
    return content.decode("utf-8", errors="replace")


def is_challenge(response: requests.Response) -> bool:
    """Cloudflare's "Just a moment..." interstitial (403/503 with an HTML body)."""
    if response.status_code not in (403, 429, 503):
        return False
    if response.headers.get("cf-mitigated", "").lower() == "challenge":
        return True  # what Cloudflare sets on every challenge answer, whatever the body
    ctype = response.headers.get("Content-Type", "").lower()
    text = body_preview(response).lower()
    return "text/html" in ctype and (
        "just a moment" in text or "cf-chl" in text or "challenge" in text or "cloudflare" in text
    )


def json_error_message(response: requests.Response) -> tuple[str | None, dict[str, Any]]:
    """(message, body) of a JSON error answer: ``{"error", "message"}`` or tRPC ``{"message"}``."""
    try:
        data = json.loads(body_preview(response, 65536))
    except ValueError:
        return None, {}
    if not isinstance(data, dict):
        return None, {}
    error = data.get("error")
    message = data.get("message")
    if isinstance(error, dict):  # some frameworks nest it
        message = message or error.get("message")
        error = error.get("code")
    parts = [str(p) for p in (error, message) if p and isinstance(p, str)]
    if len(parts) == 2 and parts[1].startswith(parts[0]):
        parts = parts[1:]
    return (": ".join(parts) or None), data


def parse_json(response: requests.Response, what: str) -> Any:
    """The JSON body of a successful answer; anything else is a transient fault.

    A 200 with an HTML body is a maintenance or challenge page, not data.
    """
    ctype = response.headers.get("Content-Type", "").lower()
    body = response.content
    if "json" not in ctype and body.lstrip()[:1] not in (b"{", b"["):
        raise ServiceUnavailable(
            f"{what}: the server answered with {ctype or 'no content type'} instead of JSON",
            status=response.status_code,
            url=redact_url(response.url),
            hint="the service may be down or behind a challenge page; try again later",
        )
    try:
        return json.loads(body)
    except ValueError as exc:
        raise ServiceUnavailable(
            f"{what}: the server sent malformed JSON ({exc})",
            status=response.status_code,
            url=redact_url(response.url),
        ) from None


def signed_url_refused(response: requests.Response) -> bool:
    """A storage host refused the signed URL a service redirected us to (expired, most likely).

    Civitai and the Hub redirect downloads to short-lived signed URLs on
    another host. When one expires between the redirect and our read (or
    before a resume), the storage host answers in its own dialect: S3/R2
    ``403 AccessDenied "Request has expired"`` (XML), GCS ``400
    ExpiredToken``, B2 ``401 expired_auth_token``, or a 404 from a replica
    that has not got the file yet. None of these is the
    service's verdict on the user: asking the service again yields a fresh
    URL. The service's own JSON errors (``{"error": …}``) still count as
    verdicts, also after a redirect between its own hosts.
    """
    if response.status_code not in (400, 401, 403, 404) or not response.history:
        return False
    first = urlsplit(response.history[0].url).netloc.lower()
    if urlsplit(response.url).netloc.lower() == first:
        return False
    _message, body = json_error_message(response)
    return "error" not in body


def sent_credentials(response: requests.Response) -> bool:
    """Whether the request that got this answer carried an ``Authorization`` header."""
    request = getattr(response, "request", None)
    headers = getattr(request, "headers", None) or {}
    return "Authorization" in headers


def should_retry(response: requests.Response) -> bool:
    """Whether an unsuccessful answer is worth another try after a pause."""
    status = response.status_code
    if status == 429:
        text = body_preview(response).lower()
        # The page cap and the 24 h download limiter do not lift in seconds.
        return "too many pages" not in text and "unusual amount" not in text
    if status >= 500:
        return True
    if status == 403 and is_challenge(response):
        return True
    return signed_url_refused(response)


def error_from_response(response: requests.Response, what: str, site: Site) -> HubError:
    """The typed error for an unsuccessful answer, with the server's words and a hint."""
    error = _error_for(response, what, site)
    if error.transient:
        error.retry_after = retry_after(response)
    return error


def _error_for(response: requests.Response, what: str, site: Site) -> HubError:
    status = response.status_code
    url = redact_url(response.url)
    message, body = json_error_message(response)
    lowered = (message or "").lower()
    error_code = response.headers.get("X-Error-Code", "")
    hf_message = response.headers.get("X-Error-Message")
    server = message or hf_message
    common: dict[str, Any] = {"status": status, "server_message": server, "url": url}
    token_hint = _TOKEN_HINTS[site]
    authed = sent_credentials(response)

    if signed_url_refused(response):
        return TransientError(
            f"{what}: the storage host refused the signed download URL ({status}; expired?)",
            hint="a fresh URL is asked for on the next try",
            **{**common, "server_message": None},
        )
    if error_code == "GatedRepo":
        hint = GatedRepo.hint_for(denied_account=authed and status == 403, page="on the model page")
        return GatedRepo(f"{what}: gated repository", hint=hint, **common)
    if error_code == "RepoNotFound" or (status == 401 and site is Site.HF and not error_code):
        # The Hub answers 401 for a repo that does not exist or that the caller may not see.
        return NotFound(
            f"{what}: repository not found (or private)",
            hint="check the name" + ("" if authed else f"; if it is private, {token_hint}"),
            **common,
        )
    if status == 401 and "disabled downloads" in lowered:
        return DownloadsDisabled(
            f"{what}: the creator has disabled downloads",
            hint="nothing to do but ask the creator",
            **common,
        )
    if status == 401:
        if authed:
            refused = "CIVITAI_TOKEN" if site is Site.CIVITAI else "HF_TOKEN"
            hint = f"the key in {refused} was refused: check that it is valid and not revoked"
            if site is Site.URL:
                hint = "the server refused the credentials"
            return LoginRequired(f"{what}: login required", hint=hint, **common)
        return LoginRequired(f"{what}: login required", hint=token_hint, **common)
    if status == 403 and ("early access" in lowered or "deadline" in body):
        deadline = body.get("deadline")
        until = f" until {deadline}" if deadline else ""
        return EarlyAccess(
            f"{what}: in early access{until}",
            deadline=deadline if isinstance(deadline, str) else None,
            hint="buy early access on the site (and set CIVITAI_TOKEN) or wait",
            **common,
        )
    if status == 403 and is_challenge(response):
        return ServiceUnavailable(
            f"{what}: blocked by a Cloudflare challenge page",
            hint="try again later",
            **{**common, "server_message": None},
        )
    if status == 403:
        return Forbidden(f"{what}: forbidden", hint=token_hint, **common)
    if status == 404 and site is Site.CIVITAI and not body:
        # Civitai's API answers every 404 in JSON; an HTML page means the route itself
        # was not reached (an outage, a restricted endpoint): no verdict on the thing asked.
        return ServiceUnavailable(
            f"{what}: Civitai answered 404 without an API error (the endpoint may be down)",
            hint="try again later",
            **{**common, "server_message": None},
        )
    if status == 404:
        if error_code == "RevisionNotFound":
            return NotFound(f"{what}: revision not found", hint="check the @revision", **common)
        if error_code == "EntryNotFound":
            return NotFound(f"{what}: no such file in the repository", **common)
        return NotFound(f"{what}: not found", **common)
    if status == 410:
        return Archived(
            f"{what}: archived, no longer downloadable",
            hint="look for another version or a mirror",
            **common,
        )
    if status == 429:
        text = body_preview(response).lower()
        if "too many pages" in text:
            return BadRequest(f"{what}: too many pages requested", **common)
        if "unusual amount" in text:
            hint = "the daily download limit was hit; wait, or set CIVITAI_TOKEN"
        elif site is Site.HF and not authed:
            hint = "wait a few minutes; set HF_TOKEN (logged-in users get higher limits)"
        else:
            hint = "wait a minute and try again"
        return RateLimited(f"{what}: rate limited", hint=hint, **common)
    if status >= 500:
        return ServiceUnavailable(
            f"{what}: server error {status}", hint="try again later", **common
        )
    if 400 <= status < 500:
        return BadRequest(f"{what}: rejected ({status})", **common)
    return TransientError(f"{what}: unexpected answer {status}", **common)


def network_error(exc: BaseException, what: str, url: str) -> TransientError:
    """A connection fault as a transient error (its text never carries the request headers)."""
    kind = "timed out" if isinstance(exc, requests.Timeout) else "connection failed"
    return TransientError(
        f"{what}: {kind} ({type(exc).__name__})",
        url=redact_url(url),
        hint="check the network; try again later",
    )


def request_json(
    session: requests.Session,
    method: str,
    url: str,
    *,
    what: str,
    site: Site,
    retry: RetryPolicy,
    timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
    json_body: Any = None,
    auth: requests.auth.AuthBase | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Any:
    """One API call: retried while transient, JSON out, a typed error otherwise."""
    last: HubError | None = None
    for attempt in range(max(retry.attempts, 1)):
        if attempt:
            sleep(retry.delay(attempt - 1, last.retry_after if last else None))
        try:
            response = session.request(
                method,
                url,
                params=params,
                json=json_body,
                auth=auth,
                timeout=timeout,
                headers={"Accept": "application/json"},
            )
        except _NETWORK_ERRORS as exc:
            last = network_error(exc, what, url)
            continue
        try:
            if response.ok:
                try:
                    return parse_json(response, what)
                except ServiceUnavailable as exc:
                    last = exc
                    continue
            error = error_from_response(response, what, site)
            if not should_retry(response):
                raise error
            last = error
        finally:
            response.close()
    assert last is not None
    raise last
