"""The `letta-apply` command: option parsing and error-to-exit-code mapping only.

Exit codes are named in `reconciler.cli.exitcodes`. Starting up imports click and the
command modules only; each command imports the library it needs when it runs.
"""

from __future__ import annotations

import sys
from typing import NoReturn

import click

from reconciler import __version__
from reconciler.cli.exitcodes import ExitCode
from reconciler.errors import ApplyFailed, LettaApplyError, NotConverged


class DefaultCommandGroup(click.Group):
    """A group where `letta-apply PATHS` means `letta-apply run PATHS`."""

    default_command = "run"
    group_options = frozenset({"--debug", "--version", "--help", "-h"})

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # The first argument that is not one of the group's own options names the command;
        # anything else (a path, or a run option such as --prune) means `run`.
        position = next((i for i, a in enumerate(args) if a not in self.group_options), None)
        if position is not None and args[position] not in self.commands:
            args = [*args[:position], self.default_command, *args[position:]]
        return super().parse_args(ctx, args)


@click.group(cls=DefaultCommandGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="letta-apply")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Converge a Letta server to the users, agents, memory blocks, conversations and
    identities declared in YAML manifests.

    `letta-apply PATHS` plans and then applies; see `plan`, `apply`, `validate`, `outputs`.
    """
    ctx.obj = {"debug": debug}


def _register() -> None:
    from reconciler.cli import commands, devserver, validate

    for command in (*commands.COMMANDS, validate.validate, devserver.dev_server):
        cli.add_command(command)


def main(argv: list[str] | None = None) -> NoReturn:
    """Console-script entry point: run the CLI and turn errors into one clear line."""
    _register()
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    sys.exit(_invoke(argv, debug))


def _invoke(argv: list[str] | None, debug: bool) -> int:
    try:
        # Without standalone mode click returns a command's exit code instead of exiting.
        code = cli.main(args=argv, prog_name="letta-apply", standalone_mode=False)
        return code if isinstance(code, int) else ExitCode.OK
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return ExitCode.ERROR
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return ExitCode.ERROR
    except LettaApplyError as exc:
        _report(exc, debug)
        return exit_code(exc)


def exit_code(error: LettaApplyError) -> ExitCode:
    """Applied but not converged (changes failed, resources blocked) is 3; any other error 1."""
    if isinstance(error, ApplyFailed | NotConverged):
        return ExitCode.NOT_CONVERGED
    return ExitCode.ERROR


def _report(exc: LettaApplyError, debug: bool) -> None:
    if debug:
        import traceback

        traceback.print_exception(exc)
    click.echo(f"Error: {exc}", err=True)
    for note in getattr(exc, "__notes__", ()):
        click.echo(f"Note: {note}", err=True)
