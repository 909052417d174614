"""sdhub: a model manager and asset hub for Stable Diffusion users.

The code lives in four packages (see ARCHITECTURE.md), installed under this
namespace: :mod:`sdhub.models`, :mod:`sdhub.catalog`, :mod:`sdhub.hub` and
:mod:`sdhub.tui`. This root holds only what all of them share: the version
and the settings (:mod:`sdhub.config`).
"""

__version__ = "0.1.0"
