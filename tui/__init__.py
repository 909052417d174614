"""Everything a person touches in a terminal: the Textual app and the command line.

Thin by design: screens and commands call :mod:`sdhub.hub`,
:mod:`sdhub.catalog` and :mod:`sdhub.models` and only format what comes back.
"""
