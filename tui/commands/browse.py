"""``sdhub`` with no command: the terminal browser (issue 5)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sdhub.config import Settings


def open_browser(settings: Settings | None = None) -> None:
    """Open the browser on the configured catalog and library (``SDHUB_HOME``, config file)."""
    from sdhub.config import ConfigError, load_settings

    from ..output import die

    try:
        settings = settings or load_settings()
    except ConfigError as exc:
        die(str(exc))
    # textual-image asks the terminal what it can draw; that must happen before Textual
    # takes the terminal over, so it is done here and handed to the app.
    from ..widgets.preview import detect_image_support

    images = detect_image_support()
    from ..app import SdhubApp

    SdhubApp(settings, image_support=images).run()
