"""What a site answered when asked about a file's SHA-256 (only real answers are kept).

The hub calls :func:`record_lookups` after a by-hash look-up that the site
actually answered; :func:`recently_missed` tells the next ``enrich --all``
which files to leave alone. A look-up that failed (timeout, 5xx, challenge
page) is never recorded, so an outage cannot hide a file from Civitai for
good (SPEC-APIS.md C.4 #3, C.5).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlmodel import Session, select

from .coltypes import utcnow
from .enums import Site
from .tables import RemoteLookup

#: How long "the site does not know this file" is believed before asking again.
MISS_TTL = timedelta(days=30)
_CHUNK = 500


def record_lookups(
    session: Session,
    site: Site,
    *,
    found: Iterable[str] = (),
    missing: Iterable[str] = (),
    now: datetime | None = None,
) -> None:
    """Remember that ``site`` answered for these SHA-256s: known (``found``) or not."""
    now = now or utcnow()
    answers = {h.upper(): False for h in missing}
    answers.update({h.upper(): True for h in found})
    if not answers:
        return
    wanted = sorted(answers)
    existing: dict[str, RemoteLookup] = {}
    for start in range(0, len(wanted), _CHUNK):
        for row in session.exec(
            select(RemoteLookup).where(
                RemoteLookup.site == site, RemoteLookup.sha256.in_(wanted[start : start + _CHUNK])
            )
        ):
            existing[row.sha256] = row
    for sha, is_found in answers.items():
        row = existing.get(sha) or RemoteLookup(site=site, sha256=sha, found=is_found)
        row.found = is_found
        row.checked_at = now
        session.add(row)
    session.flush()


def recently_missed(
    session: Session,
    site: Site,
    hashes: Iterable[str],
    *,
    ttl: timedelta = MISS_TTL,
    now: datetime | None = None,
) -> set[str]:
    """The SHA-256s (upper case) ``site`` said it does not know, less than ``ttl`` ago."""
    since = (now or utcnow()) - ttl
    wanted = sorted({h.upper() for h in hashes if h})
    missed: set[str] = set()
    for start in range(0, len(wanted), _CHUNK):
        missed.update(
            session.exec(
                select(RemoteLookup.sha256).where(
                    RemoteLookup.site == site,
                    RemoteLookup.sha256.in_(wanted[start : start + _CHUNK]),
                    RemoteLookup.found == False,  # noqa: E712
                    RemoteLookup.checked_at >= since,
                )
            )
        )
    return missed


def lookup_of(session: Session, site: Site, sha256: str) -> RemoteLookup | None:
    """The last recorded answer about one SHA-256, if any."""
    return session.exec(
        select(RemoteLookup).where(RemoteLookup.site == site, RemoteLookup.sha256 == sha256.upper())
    ).first()
