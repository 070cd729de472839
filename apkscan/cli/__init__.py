"""Command-line entry point: ``apkscan <command>``.

Each command lives in its own module beside this one and is registered here by name
only: :class:`LazyCommands` imports a command's module when that command is looked up,
so ``apkscan inspect`` never imports the report, diff or batch code (start-up time).
``--help`` looks every command up and lists them all, with their short help.
Exit codes live in :mod:`apkscan.cli.exit_codes`, shared by every command.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, MutableMapping

import click

from apkscan import __version__
from apkscan.cli.exit_codes import ExitCode, epilog

# name -> "module:attribute" of its click command, in the order --help lists them (sorted)
COMMANDS = {
    "inspect": "apkscan.cli.inspect_cmd:inspect_command",
    "report": "apkscan.cli.report_cmd:report_command",
    "scan": "apkscan.cli.scan_cmd:scan_command",
    "rules": "apkscan.cli.rules_cmd:rules_command",
    "policies": "apkscan.cli.policies_cmd:policies_command",
    "diff": "apkscan.cli.diff_cmd:diff_command",
}


class LazyCommands(MutableMapping):
    """click's ``Group.commands`` mapping, importing each command's module on first access.

    Names are known up front (listing, "no such command" suggestions); a value is loaded
    only when read, so parsing ``apkscan inspect ...`` imports ``inspect_cmd`` alone.
    """

    def __init__(self, specs: dict[str, str]):
        self._specs = dict(specs)
        self._loaded: dict[str, click.Command] = {}

    def __getitem__(self, name: str) -> click.Command:
        if name not in self._loaded:
            module, attr = self._specs[name].split(":")  # KeyError: no such command
            self._loaded[name] = getattr(importlib.import_module(module), attr)
        return self._loaded[name]

    def __setitem__(self, name: str, cmd: click.Command) -> None:
        self._specs[name] = ""
        self._loaded[name] = cmd

    def __delitem__(self, name: str) -> None:
        del self._specs[name]
        self._loaded.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)


class _Group(click.Group):
    """Ctrl-C or SIGTERM outside a scan loop exits 130 ("interrupted"), never click's 1 ("Aborted!");
    every usage error (exit 2) leads with its stable code (:mod:`apkscan.cli.usage`)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:  # `apkscan --bogus`
            from apkscan.cli.usage import coded

            raise coded(exc) from None

    def invoke(self, ctx: click.Context):
        from apkscan.cli.signals import sigterm_as_interrupt

        try:
            with sigterm_as_interrupt():  # SIGTERM too: unwinds, cleans up, exits 130
                return super().invoke(ctx)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            raise click.exceptions.Exit(ExitCode.INTERRUPTED) from None
        except click.UsageError as exc:  # a command's options parsed or checked, a command not found
            from apkscan.cli.usage import coded

            raise coded(exc) from None


@click.group(cls=_Group, commands=LazyCommands(COMMANDS), context_settings={"help_option_names": ["-h", "--help"]},
             epilog=epilog())
@click.version_option(__version__, prog_name="apkscan")
def main() -> None:
    """Static scanner for Android APKs: verified signing identity, vendor rules, ban policies."""


def run() -> None:
    """The ``apkscan`` program (console script, ``python -m apkscan``): the command, then a quick exit.

    By the time the command returns (or exits), it has closed what it opened (reports, the JSONL
    stream, the store's connections, temporary folders, workers); what is left lives until the
    process ends. ``gc.freeze()`` keeps the interpreter's final collections from walking all of
    it again: they took ~10 ms of a ~90 ms ``inspect``. ``atexit`` still runs and objects outside
    reference cycles are still released; a resource caught in a cycle is never finalized, so a
    command closes what it opens itself (``batch_run`` closes the store: its connection sits in a
    cycle). In-process callers (tests, ``CliRunner``) call ``main`` and keep a normal collector.

    While the command starts (:func:`_startup_collector`) the collector waits for more new objects
    before its first young collection.
    """
    import gc

    _startup_collector(gc)
    try:
        main()
    finally:
        gc.freeze()


STARTUP_GEN0 = 100_000  # new container objects the collector lets pass before its first collection


def _startup_collector(gc) -> None:
    """Let the collector's first young collection wait for :data:`STARTUP_GEN0` new objects, not
    700; from that collection on, the thresholds are the interpreter's again.

    Why: once ``apkscan.cli`` is imported, a one-APK ``scan`` creates ~30,000 objects, most living
    until exit (modules, functions, classes, the rule set); collecting every 700 of them took ~50
    young collections and ~5 older ones (~6 ms, timed by ``gc.callbacks``): it now ends without one.
    Bounded: at most one collection is deferred, by at most STARTUP_GEN0 objects; a batch, a big
    container or a worker (``batch.worker.preload`` collects before the first fork) collects as
    before after that. Cycles are still collected, only later.
    """
    default, waiting = gc.get_threshold(), [True]

    def restore(phase: str, _info: dict) -> None:  # stays registered: removing it while the
        if phase == "stop" and waiting:  # collector calls the callbacks would skip the next one
            waiting.clear()
            gc.set_threshold(*default)

    gc.callbacks.append(restore)
    gc.set_threshold(STARTUP_GEN0, *default[1:])
