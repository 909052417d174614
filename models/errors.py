"""Errors of the models package: each carries a one-line reason a person can act on."""

from __future__ import annotations


class ModelFileError(Exception):
    """A file could not be understood as a model file.

    The message is one line, names what is wrong (not the path: callers add
    it), and never carries a traceback to the user.
    """


class InvalidFileError(ModelFileError):
    """The bytes are not a valid file of the format they claim (truncated, garbage, lying)."""


class UnsafeFileError(ModelFileError):
    """Refused because the pickle scan did not say ``safe``."""
