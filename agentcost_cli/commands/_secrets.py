"""Reading secrets (passwords, one-time tokens, MFA codes) for the account commands.

Policy (clig: "do not read secrets directly from flags"): a secret never arrives as a
command-line value, where `ps`, shell history and CI logs would keep it. It comes from

* a hidden prompt, when stdin is a terminal (a new password is asked twice);
* `--<what>-stdin`: one line read from stdin (the line ending is dropped, nothing else);
* `--<what>-file PATH`: the first line of a file (for passwords).

Nothing here imports the auth libraries: the commands hand the text to the services,
which check it.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from .. import output
from ..errors import InvalidInput

# -- shared options: flags and file paths only, never the secret itself -----------------
PasswordStdinOpt = Annotated[bool, typer.Option(
    "--password-stdin", help="Read the password from stdin (one line; no prompt).")]
PasswordFileOpt = Annotated[Path | None, typer.Option(
    "--password-file", help="Read the password from the first line of this file.", show_default=False,
    dir_okay=False)]
TokenStdinOpt = Annotated[bool, typer.Option(
    "--token-stdin", help="Read the token (the code from the email) from stdin (one line).")]
CodeStdinOpt = Annotated[bool, typer.Option(
    "--code-stdin", help="Read the code (authenticator or recovery code) from stdin (one line).")]

PROMPT_ATTEMPTS = 3


def interactive() -> bool:
    """Whether we may prompt: stdin is a terminal (clig: never prompt otherwise)."""
    return sys.stdin.isatty()


def _strip_line_end(line: str) -> str:
    return line.removesuffix("\n").removesuffix("\r")


def read_stdin_line(what: str) -> str:
    """One line from stdin (several secrets may come one per line, in the documented order)."""
    line = _strip_line_end(sys.stdin.readline())
    if not line:
        raise InvalidInput(f"no {what} on stdin", hint=f"pipe the {what} in as one line")
    return line


def read_file_line(path: Path, what: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            line = _strip_line_end(handle.readline())
            mode = os.fstat(handle.fileno()).st_mode
    except OSError as exc:
        raise InvalidInput(f"cannot read the {what} file {str(path)!r}: {exc.strerror or exc}") from None
    if not line:
        raise InvalidInput(f"the {what} file {str(path)!r} is empty")
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        output.warn(f"{path} can be read by other users; `chmod 600 {path}` keeps the {what} yours")
    return line


def _ask(label: str, *, hidden: bool, repeat: bool) -> str:
    text: str = typer.prompt(label, hide_input=hidden, confirmation_prompt=repeat, err=True)
    return text


def require_source(what: str, *, from_stdin: bool, from_file: Path | None = None, stdin_flag: str,
                   file_flag: str | None = None) -> None:
    """Fail now (before anything changes) unless the secret can be read: one source, or a terminal."""
    if from_stdin and from_file is not None:
        raise InvalidInput(f"choose one of {stdin_flag} / {file_flag}")
    if not from_stdin and from_file is None and not interactive():
        ways = f"{stdin_flag}" + (f" or {file_flag} PATH" if file_flag else "")
        raise InvalidInput(f"no {what} given and stdin is not a terminal to ask on",
                           hint=f"use {ways} (never a command-line value)")


def read_secret(what: str, *, from_stdin: bool = False, from_file: Path | None = None, stdin_flag: str,
                file_flag: str | None = None, new: bool = False, hidden: bool = True,
                check: Callable[[str], object] | None = None) -> str:
    """The secret from exactly one source: stdin, a file, or (on a terminal) a prompt.

    Args:
        what: how messages name it ("password", "token", "code").
        stdin_flag, file_flag: the option names, for messages.
        new: a new secret is typed twice at the prompt.
        check: validates a prompted value (e.g. the password policy); a failure is shown and
            the prompt asked again, up to three times. Piped values are checked by the service.

    Raises:
        InvalidInput: two sources at once, nothing to read, or no terminal to prompt on.
    """
    require_source(what, from_stdin=from_stdin, from_file=from_file, stdin_flag=stdin_flag, file_flag=file_flag)
    if from_stdin:
        return read_stdin_line(what)
    if from_file is not None:
        return read_file_line(from_file, what)
    label = f"New {what}" if new else what[:1].upper() + what[1:]
    for attempt in range(PROMPT_ATTEMPTS):
        value = _ask(label, hidden=hidden, repeat=new)
        if check is None:
            return value
        try:
            check(value)
            return value
        except InvalidInput as exc:
            if attempt == PROMPT_ATTEMPTS - 1:
                raise
            output.error(exc.title, exc.message, exc.hint)
    raise AssertionError("unreachable")


def new_password(*, from_stdin: bool, from_file: Path | None) -> str:
    """A new password: prompted twice (checked against the policy), or from stdin or a file."""
    def policy(text: str) -> object:
        from ..auth.passwords import check_policy  # light: argon2 loads only to hash

        return check_policy(text)

    return read_secret("password", from_stdin=from_stdin, from_file=from_file, stdin_flag="--password-stdin",
                       file_flag="--password-file", new=True, check=policy)
