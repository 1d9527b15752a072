"""Errors become one `error:` line and an exit code, in one place.

The root command group overrides `main` so that the same mapping applies when
the CLI runs as a program and under Typer's CliRunner in tests:

* CnnkitError (bad input)           -> `error: <message>`, exit 2 (RunFailure: 1)
* OSError on a path (permissions, read-only or full disk, a folder where a file
  belongs, ...)                     -> `error: cannot ... <path>: <reason>; <what to do>`, exit 2
* click usage errors (bad option)   -> `error: <message> (see '<cmd> --help')`, exit 2
* anything else (a bug)             -> `error: unexpected ...`, exit 1
* Ctrl-C                            -> exit 130

`--debug` or CNNKIT_DEBUG=1 re-raises with the full traceback instead.
"""

from __future__ import annotations

import errno
import os
import sys

import typer
from typer.core import TyperGroup

from cnnkit.errors import CnnkitError

# Typer >= 0.2x vendors click as typer._click; older releases depend on click.
try:
    from typer._click.exceptions import ClickException, NoArgsIsHelpError
except ImportError:  # pragma: no cover - depends on the installed Typer
    from click.exceptions import ClickException

    try:
        from click.exceptions import NoArgsIsHelpError
    except ImportError:
        NoArgsIsHelpError = ()  # click < 8.2 shows help itself
Abort = typer.Abort


def _debug(args) -> bool:
    return os.environ.get("CNNKIT_DEBUG", "") not in ("", "0") or "--debug" in (args or sys.argv[1:])


def fail(message: str, code: int = 2) -> None:
    """Print the one-line error on stderr and leave with `code`.

    Under torchrun every process usually meets the same error, and the launcher stops
    the others as soon as one exits. So the other ranks wait a moment first: rank 0
    says it, exits, and the launcher stops them before they print. An error of
    another rank alone is still printed, after the wait, with its rank."""
    rank = os.environ.get("RANK", "0")
    if rank != "0":
        import time

        time.sleep(2.0)
        message = f"(rank {rank}) {message}"
    typer.echo(f"error: {message}", err=True)
    sys.exit(code)


# errno -> what the user can do about it; the path comes from the exception itself.
_OS_HINTS = {
    errno.EACCES: "check its permissions or choose another path",
    errno.EPERM: "the file or folder is protected (immutable or owned by someone else); choose another path",
    errno.EROFS: "the file system is read-only; choose a writable path (e.g. --out under your home folder)",
    errno.ENOSPC: "the disk is full; free some space or choose another path",
    errno.EDQUOT: "your disk quota is used up; free some space or choose another path",
    errno.EISDIR: "it is a folder; give a file path",
    errno.ENOTDIR: "part of the path is a file, not a folder; check the path",
    errno.ENOENT: "it does not exist; check the path",
    errno.EEXIST: "it already exists; choose another path",
    errno.ENAMETOOLONG: "the name is too long; choose a shorter path",
    errno.ENOTEMPTY: "the folder is not empty; choose another path",
}


def describe_os_error(e: OSError) -> str:
    """One line for an OSError on a user's path, e.g.
    'cannot use runs/x/config.json: Permission denied; check its permissions or choose another path'."""
    reason = e.strerror or type(e).__name__
    hint = _OS_HINTS.get(e.errno, "check the path and try again")
    if e.filename is None:
        return f"{reason} ({type(e).__name__}); {hint}"
    path = os.fsdecode(e.filename) if isinstance(e.filename, (str, bytes, os.PathLike)) else str(e.filename)
    return f"cannot use {path}: {reason}; {hint}"


def _shorten_values(message: str, keep: int = 24) -> str:
    """Click quotes the bad value whole ("'9999...' is not a valid integer"): a 5,000-digit
    typo must not fill the terminal, so a long quoted value is cut and its length said."""
    import re

    # Python refuses int() past 4,300 digits, so click calls such a number "not a valid int".
    message = re.sub(r"'[+-]?(\d{16,})' is not a valid (int|integer)\.?",
                     lambda m: f"{len(m.group(1)):,} digits is too many (whole numbers of at most 15 digits)", message)
    return re.sub("'([^']{" + str(keep + 1) + ",})'", lambda m: f"'{m.group(1)[:keep]}...' ({len(m.group(1)):,} characters)", message)


class CnnkitGroup(TyperGroup):
    """Root group: maps exceptions to one-line errors (see module docstring)."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            rv = super().main(args=args, prog_name=prog_name, complete_var=complete_var, standalone_mode=False, **extra)
        except NoArgsIsHelpError:
            sys.exit(0)  # Typer has already printed the help
        except ClickException as e:
            command = e.ctx.command_path if getattr(e, "ctx", None) else "cnnkit"
            fail(f"{_shorten_values(e.format_message())} (see '{command} --help')", e.exit_code)
        except CnnkitError as e:
            if _debug(args):
                raise
            fail(str(e), e.exit_code)
        except OSError as e:
            if _debug(args):
                raise
            fail(describe_os_error(e), 2)
        except UnicodeDecodeError as e:  # a binary file where a text file (spec, matrix, TOML) belongs
            if _debug(args):
                raise
            fail(f"a file given is not text ({e.encoding} cannot decode byte {e.start}); give a plain text file", 2)
        except (Abort, KeyboardInterrupt):
            typer.echo("interrupted", err=True)
            sys.exit(130)
        except Exception as e:  # a bug: say so in one line unless debugging
            if _debug(args):
                raise
            fail(f"unexpected {type(e).__name__}: {e} (rerun with --debug for the traceback and report it)", 1)
        sys.exit(rv if isinstance(rv, int) else 0)
