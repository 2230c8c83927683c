"""`python -m reconciler` runs the letta-apply command."""

from reconciler.cli import run

run()
