"""Every command's `--help` against the documentation: each command is in the README's table
of commands, and each of its options is documented in the README or under docs/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from reconciler.cli import _register, cli, main

ROOT = Path(__file__).resolve().parents[2]


def commands() -> Iterator[tuple[str, click.Command]]:
    """(`plan`, `dev-server up`, ...) and the command, for every command a user can run."""
    _register()

    def walk(prefix: str, group: click.Group) -> Iterator[tuple[str, click.Command]]:
        for name, command in sorted(group.commands.items()):
            path = f"{prefix} {name}".strip()
            if isinstance(command, click.Group):
                yield from walk(path, command)
            else:
                yield path, command

    yield from walk("", cli)


def docs() -> str:
    parts = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    return "\n".join(part.read_text(encoding="utf-8") for part in parts)


def readme_commands() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return readme.split("| command | what it does |", 1)[1].split("\n\n", 1)[0]


ALL = sorted(name for name, _ in commands())


@pytest.mark.parametrize("name", ALL)
def test_help_runs_and_shows_the_command(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*name.split(), "--help"])
    assert exited.value.code == 0
    assert f"Usage: letta-apply {name} " in capsys.readouterr().out


@pytest.mark.parametrize("name", ALL)
def test_every_command_is_in_the_readme_table(name: str) -> None:
    table = readme_commands()
    group, _, sub = name.partition(" ")
    if sub:  # `github plan|apply|drift`, `dev-server up|down|...`
        spelled = (f"letta-apply {group} {sub}", f"{group} {sub}")
        listed = re.search(rf"`(letta-apply )?{group} [^`]*\b{sub}\b", table)
        assert listed or any(words in docs() for words in spelled), name
    else:
        assert re.search(rf"^\| [^|]*`(letta-apply )?{name}\b", table, re.MULTILINE), name


@pytest.mark.parametrize("name", ALL)
def test_every_option_is_documented(name: str) -> None:
    command = dict(commands())[name]
    text = docs()
    missing = [
        option
        for param in command.params
        if isinstance(param, click.Option)
        for option in param.opts + param.secondary_opts
        if option.startswith("--") and option not in ("--help",) and option not in text
    ]
    assert missing == [], f"{name}: {missing}"
