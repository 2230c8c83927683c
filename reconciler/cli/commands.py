"""The main commands: run, plan, apply, validate, outputs."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
