"""One module per command of the ``sdhub`` command line (imported on demand by :mod:`..cli`).

Modules import only click at load time (``tests/test_cli_basics.py`` checks);
everything heavy is imported inside the command function so ``sdhub --help``
and ``sdhub info`` start fast.
"""
