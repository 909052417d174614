"""``sdhub sync LISTFILE``: ``get`` for every reference of a list, in parallel."""

from __future__ import annotations

from pathlib import Path

import click

from .get import REF_HELP

LIST_HELP = """\b
LISTFILE syntax, one reference per line:
  # a comment (also after a reference, following a space)
  civitai:4201@130072
  https://civitai.com/models/4201?modelVersionId=130072
  hf:acme/ink-vae/vae.safetensors -> models/VAE/extra
  (blank lines are ignored)
"REF -> FOLDER" puts that file into FOLDER (relative to the library
root) instead of the folder its kind belongs in. LISTFILE "-" is stdin.
"""


@click.command("sync", epilog=LIST_HELP + "\n" + REF_HELP)
@click.argument("listfile", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@click.option(
    "--jobs", "-j", type=click.IntRange(1, 16), help="Parallel downloads (default: settings, 3)."
)
@click.option("--dry-run", is_flag=True, help="Resolve every line and print the plan only.")
@click.option("--no-previews", is_flag=True, help="Do not save preview images.")
@click.option("--json", "as_json", is_flag=True, help="JSON Lines on stdout: one per item.")
def sync(listfile: Path, jobs: int | None, dry_run: bool, no_previews: bool, as_json: bool) -> None:
    """Download every reference in LISTFILE (see below) like `sdhub get`, JOBS at a time,
    with one progress display on stderr.

    Files the catalog already has are skipped, so running the same list again
    downloads nothing; an interrupted run (Ctrl-C) keeps its partial files and
    the next run resumes them. A line that is no reference is reported with
    its line number and the others still run. Exit status 1 when any item
    failed.
    """
    import sys

    from sdhub.hub.sync import parse_list, ref_parser

    from ..output import EXIT_OK, die, warn
    from . import _remote
    from .get import run_requests

    try:
        if str(listfile) == "-":
            text, name = sys.stdin.read(), "stdin"
        else:
            text, name = listfile.read_text(encoding="utf-8-sig"), listfile.name
    except (OSError, UnicodeDecodeError) as exc:
        die(f"{listfile}: cannot read ({exc})")
    settings = _remote.settings()
    parse = ref_parser(_remote.civitai(settings), _remote.hf(settings))
    requests, problems = parse_list(text, name=name, parse=parse)
    if not requests and not problems:
        # Not an error: `sdhub updates --json | jq -r .ref | sdhub sync -` with no updates.
        warn(f"{name}: no references in the list; nothing to do")
        raise SystemExit(EXIT_OK)
    raise SystemExit(
        run_requests(
            requests,
            problems,
            dry_run=dry_run,
            jobs=jobs,
            previews=not no_previews,
            as_json=as_json,
        )
    )
