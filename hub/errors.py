"""Everything that can go wrong out in the world, one typed exception each.

Like huggingface_hub's ``errors.py``: each error carries the server's own
message (when it sent one) and a ``hint`` saying what the user can do. The
``transient`` flag separates "try again later" (network faults, 429, 5xx,
Cloudflare challenges) from answers that will not change by retrying; callers
must never persist a negative fact ("not on Civitai") learnt from a
transient error. Messages never contain a token: URLs are redacted before
they get here.
"""

from __future__ import annotations


class HubError(Exception):
    """A one-line failure of a remote operation, with what to do about it."""

    #: Retrying later may succeed (network, 429, 5xx, Cloudflare).
    transient: bool = False
    #: Seconds the server asked us to wait (``Retry-After``), when it said.
    retry_after: float | None = None

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        status: int | None = None,
        server_message: str | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.status = status
        self.server_message = server_message
        self.url = url

    def __str__(self) -> str:
        text = self.message
        if self.server_message and self.server_message not in text:
            text = f"{text}: {self.server_message}"
        if self.hint:
            text = f"{text} ({self.hint})"
        return text


# --- answers from a service ------------------------------------------------------------


class BadReference(HubError, ValueError):
    """A reference (REF on the command line) that cannot be parsed."""


class AmbiguousReference(HubError):
    """A reference that matches several files; the message lists them."""

    def __init__(self, message: str, *, candidates: list[str], hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.candidates = candidates


class LoginRequired(HubError):
    """401: the creator requires a logged-in download, or the key is missing/invalid."""


class DownloadsDisabled(HubError):
    """401: the creator has disabled downloads of this file."""


class EarlyAccess(HubError):
    """403: the version is in early access (purchase on the site, or wait)."""

    def __init__(self, message: str, *, deadline: str | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.deadline = deadline


class Forbidden(HubError):
    """403 that is not a Cloudflare challenge (blocked user/IP, private file)."""


class NotFound(HubError):
    """404: no such model, version, file, repo, revision or hash."""


class Archived(HubError):
    """410: the model is archived; its files are no longer served."""


class BadRequest(HubError):
    """400 (and the page cap 429): the request itself was wrong; retrying will not help."""


class GatedRepo(HubError):
    """Hugging Face: the repo is gated; accept its terms on the website and set HF_TOKEN."""

    @staticmethod
    def hint_for(*, denied_account: bool, page: str) -> str:
        """What to do; ``denied_account``: the Hub knows the token's account (a 403),
        which has not been granted access (yet). ``page`` says where, e.g. "at URL"."""
        if denied_account:
            return (
                f"request access {page} with the account of HF_TOKEN,"
                " or wait for the authors to approve it"
            )
        return f"accept its terms {page} while logged in, then set HF_TOKEN to an access token"


class TransientError(HubError):
    """A fault that may go away: connection reset, timeout, truncated body."""

    transient = True


class RateLimited(TransientError):
    """429 even after backing off."""


class ServiceUnavailable(TransientError):
    """5xx or a Cloudflare challenge page even after backing off."""


# --- what the downloaded bytes turned out to be ---------------------------------------------


class NotAModelFile(HubError):
    """The server sent an HTML page, a JSON error or bytes that are no model file."""


class HashMismatch(HubError):
    """The downloaded bytes do not have the published SHA256 (or size)."""


class KindMismatch(HubError):
    """The bytes are a different kind of model than the remote label says."""


class UnsafeFile(HubError):
    """The pickle scanner found code execution in the file; never placed."""


class PlacementError(HubError):
    """No folder for the file, a destination outside the library, or a busy ``.part``."""
