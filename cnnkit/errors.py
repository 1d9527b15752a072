"""Errors a user can act on.

Library code raises these; the CLI turns them into one ``error:`` line and an
exit code (see cnnkit/cli/errors.py). The message must say what was wrong *and*
what to do, because it is all the user will see.
"""

from __future__ import annotations


class CnnkitError(Exception):
    """Bad usage or bad input: unknown name, malformed spec, impossible geometry,
    missing or corrupt file. Exit code 2."""

    exit_code = 2


class GeometryError(CnnkitError):
    """A layer configuration that PyTorch would reject or that produces no output."""


class SpecError(CnnkitError):
    """A malformed text spec (layer spec, size, matrix)."""


class RunFailure(CnnkitError):
    """A failure while running (diverged loss, out of memory). Exit code 1."""

    exit_code = 1
