"""The `letta-apply` command: option parsing and error-to-exit-code mapping only.

Exit codes are named in `reconciler.exitcodes`. Starting up imports click and the
command modules only; each command imports the library it needs when it runs.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TextIO, cast

import click

from reconciler import __version__
from reconciler.cli.output import say
from reconciler.cli.runner_log import NoWorkflowCommands, in_github_actions
from reconciler.errors import ApplyFailed, Interrupted, LettaApplyError, NotConverged
from reconciler.exitcodes import ExitCode

if TYPE_CHECKING:
    import traceback

DEBUG_HELP = "Show tracebacks for errors."


class DefaultCommandGroup(click.Group):
    """A group where `letta-apply PATHS` means `letta-apply run PATHS`.

    A first word that is neither a command nor an existing path, but close to a command's
    name (`plna`) or one of a group's (`status`), is answered with that command."""

    default_command = "run"
    group_options = frozenset({"--debug", "--version", "--help", "-h"})

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # The first argument that is not one of the group's own options names the command;
        # anything else (a path, or a run option such as --prune) means `run`.
        position = next((i for i, a in enumerate(args) if a not in self.group_options), None)
        if position is not None and args[position].startswith("-"):
            args = self._command_first(args, position)
        if position is not None and args[position] not in self.commands:
            self._refuse_mistyped_command(ctx, args[position])
            args = [*args[:position], self.default_command, *args[position:]]
        return super().parse_args(ctx, args)

    def _command_first(self, args: list[str], position: int) -> list[str]:
        """`letta-apply --base-url URL plan PATHS` (options before the command, as kubectl
        takes them) is `letta-apply plan --base-url URL PATHS`: a command's name after the
        options, not a file or folder, moves in front of them."""
        for index in range(position + 1, len(args)):
            word = args[index]
            if word == "--":
                break
            if word in self.commands and word != self.default_command and not Path(word).exists():
                return [*args[:position], word, *args[position:index], *args[index + 1 :]]
        return args

    def _refuse_mistyped_command(self, ctx: click.Context, word: str) -> None:
        if ctx.resilient_parsing or word.startswith("-") or Path(word).exists():
            return  # (resilient: shell completion, which must never fail)
        suggestion = self.suggest(word)
        if suggestion is not None:
            raise click.UsageError(
                f"{word!r} is neither a command nor a file or folder; "
                f"did you mean `letta-apply {suggestion}`?",
                ctx,
            )

    def suggest(self, word: str) -> str | None:
        """The command `word` was likely meant as: a command's name it is close to, or a
        subcommand of a group (`status` -> `dev-server status`); None when none fits."""
        import difflib

        names = [name for name, command in self.commands.items() if not command.hidden]
        close = difflib.get_close_matches(word, names, n=1, cutoff=0.6)
        if close:
            return close[0]
        for name, command in sorted(self.commands.items()):
            if isinstance(command, click.Group) and word in command.commands:
                return f"{name} {word}"
        return None


@click.group(cls=DefaultCommandGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=lambda ctx, _param, value: _print_version(ctx) if value else None,
    help="Show the version, and the configured server's (LETTA_BASE_URL, else the running dev "
    "server), and exit.",
)
@click.option("--debug", is_flag=True, help=DEBUG_HELP)
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Converge a Letta server to the users, agents, memory blocks, conversations and
    identities declared in YAML manifests.

    `letta-apply PATHS` is short for `letta-apply run PATHS`: plan, show the plan, ask at a
    terminal, apply. See also `plan`, `apply`, `validate`, `outputs`.
    """
    ctx.obj = {"debug": debug}


def _print_version(ctx: click.Context) -> None:
    """`letta-apply X.Y.Z`, then the server configured (if any) and the version it reports."""
    from reconciler.cli.versions import server_line

    say(f"letta-apply {__version__}")
    line = server_line()
    if line:
        say(line)
    ctx.exit()


def _register() -> None:
    from reconciler.cli import commands, devserver, github, show, validate

    for command in (
        *commands.COMMANDS,
        show.show_command,
        validate.validate,
        devserver.dev_server,
        github.github,
    ):
        cli.add_command(command)
    for command in _leaves(cli.commands.values()):
        if not any(param.name == "debug" for param in command.params):
            command.params.append(_debug_option())


def _leaves(commands: Iterable[click.Command]) -> Iterator[click.Command]:
    """The commands that run something (a group's subcommands, not the group itself)."""
    for command in commands:
        if isinstance(command, click.Group):
            yield from _leaves(command.commands.values())
        else:
            yield command


def _debug_option() -> click.Option:
    """`--debug` after the command too (`letta-apply plan PATHS --debug`); `main` reads it
    from the arguments, wherever it is."""
    return click.Option(["--debug"], is_flag=True, expose_value=False, help=DEBUG_HELP)


def main(argv: list[str] | None = None) -> NoReturn:
    """Console-script entry point: run the CLI and turn errors into one clear line."""
    _register()
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    if not in_github_actions(os.environ):
        sys.exit(_invoke(argv, debug))
    streams = sys.stdout, sys.stderr
    sys.stdout = cast(TextIO, NoWorkflowCommands(sys.stdout))
    sys.stderr = cast(TextIO, NoWorkflowCommands(sys.stderr))
    try:
        code = _invoke(argv, debug)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        sys.stdout, sys.stderr = streams
    sys.exit(code)


def run() -> NoReturn:
    """The `letta-apply` command (`main`), its process ended as soon as its output is flushed:
    the interpreter does not free, one by one, the objects a command made (a plan of 100,000
    users makes millions) before the process ends, which frees them all at once. Every file
    the command writes is closed by then, and its threads have ended (a cancelled read's
    request still waiting for its answer is not waited for)."""
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else ExitCode.ERROR if exc.code else 0
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing more to say
            stream.flush()
    os._exit(code)


def _invoke(argv: list[str] | None, debug: bool) -> int:
    try:
        # Without standalone mode click returns a command's exit code instead of exiting.
        code = cli.main(args=argv, prog_name="letta-apply", standalone_mode=False)
        return code if isinstance(code, int) else ExitCode.OK
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        _show_click_error(exc)
        return ExitCode.ERROR
    except click.exceptions.Abort as exc:
        if isinstance(exc.__context__, KeyboardInterrupt):
            # Ctrl-C outside the changes themselves (reading, planning, at the prompt): the
            # apply, which stops gracefully and tallies, is never cut off here.
            click.echo("Interrupted.", err=True)
            return ExitCode.INTERRUPTED
        click.echo("Aborted.", err=True)
        return ExitCode.ERROR
    except LettaApplyError as exc:
        _report(exc, debug)
        return exit_code(exc)
    except Exception as exc:  # an answer or a state no check foresaw: still one line
        _report_unexpected(exc, debug)
        return ExitCode.ERROR


def exit_code(error: LettaApplyError) -> ExitCode:
    """Applied but not converged (changes failed, resources blocked) is 3; an apply stopped by
    Ctrl-C 130; any other error 1."""
    if isinstance(error, ApplyFailed | NotConverged):
        return ExitCode.NOT_CONVERGED
    if isinstance(error, Interrupted):
        return ExitCode.INTERRUPTED
    return ExitCode.ERROR


def _report(exc: LettaApplyError, debug: bool) -> None:
    """`Error:` and the message's lines (an interrupted apply's tally as it is), then its
    notes, each escaped (values in them came from files or the server)."""
    if debug:
        _traceback(exc)
    first, *rest = exc.lines() or ("",)
    say(first if isinstance(exc, Interrupted) else f"Error: {first}", err=True)
    for line in rest:
        say(line, err=True)
    for note in getattr(exc, "__notes__", ()):
        say(f"Note: {note}", err=True)


def _report_unexpected(exc: Exception, debug: bool) -> None:
    if debug:
        _traceback(exc)
    hint = "" if debug else " (--debug shows where)"
    say(f"Error: unexpected {type(exc).__name__}: {exc}{hint}", err=True)


def _show_click_error(exc: click.ClickException) -> None:
    """Click's usage and hint as it prints them, its message (which may quote arguments)
    escaped."""
    printed = io.StringIO()
    exc.show(file=printed)
    message = exc.format_message()
    usage, found, _ = printed.getvalue().rpartition(f"Error: {message}")
    click.echo(usage if found else "", nl=False, err=True)
    say(f"Error: {message}", err=True)


def _traceback(exc: BaseException) -> None:
    """The traceback, the messages of the exceptions in it escaped like any other message."""
    import traceback

    formatted = traceback.TracebackException.from_exception(exc)
    messages = set(_exception_lines(formatted))
    for chunk in formatted.format():
        if chunk in messages:
            say(chunk.rstrip("\n"), err=True)
        else:
            click.echo(chunk, nl=False, err=True)


def _exception_lines(formatted: traceback.TracebackException) -> Iterator[str]:
    """`Type: message` and the notes of an exception and of those it was raised from."""
    yield from formatted.format_exception_only()
    for linked in (formatted.__cause__, formatted.__context__):
        if linked is not None:
            yield from _exception_lines(linked)
