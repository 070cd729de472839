"""Command-line entry point: ``apkscan <command>``.

Each command lives in its own module beside this one and is registered here.
Exit codes live in :mod:`apkscan.cli.exit_codes`, shared by every command.
"""

from __future__ import annotations

import click

from apkscan import __version__
from apkscan.cli.diff_cmd import diff_command
from apkscan.cli.exit_codes import ExitCode, epilog
from apkscan.cli.inspect_cmd import inspect_command
from apkscan.cli.policies_cmd import policies_command
from apkscan.cli.report_cmd import report_command
from apkscan.cli.rules_cmd import rules_command
from apkscan.cli.scan_cmd import scan_command


class _Group(click.Group):
    """Ctrl-C or SIGTERM outside a scan loop exits 130 ("interrupted"), never click's 1 ("Aborted!")."""

    def invoke(self, ctx: click.Context):
        from apkscan.cli.signals import sigterm_as_interrupt

        try:
            with sigterm_as_interrupt():  # SIGTERM too: unwinds, cleans up, exits 130
                return super().invoke(ctx)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            raise click.exceptions.Exit(ExitCode.INTERRUPTED) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]}, epilog=epilog())
@click.version_option(__version__, prog_name="apkscan")
def main() -> None:
    """Static scanner for Android APKs: verified signing identity, vendor rules, ban policies."""


main.add_command(inspect_command)
main.add_command(report_command)
main.add_command(scan_command)
main.add_command(rules_command)
main.add_command(policies_command)
main.add_command(diff_command)
