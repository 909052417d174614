"""One module per command of the ``sdhub`` command line (registered in :mod:`..cli`).

Modules import only typer at load time; everything heavy is imported inside
the command function so ``sdhub --help`` and ``sdhub info`` start fast.
"""
