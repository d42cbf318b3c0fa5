"""The `retrostep` command: each subcommand lives in a module of its own.

Modules register with `add_parser(subparsers)` and run with `run(args)`; they are
imported only when their command is used, so one command's dependencies never
slow or break another.
"""
import argparse
import importlib
import sys

from .errors import UserError

# command name -> module under host_tools
COMMANDS = {
    "replay": "replay_cmd",
    "eval": "eval_cmd",
    "bench": "bench_cmd",
    "simulate": "simulate_cmd",
    "deploy": "deploy_cmd",
    "sync": "sync_cmd",
    "history": "history_cmd",
    "report": "report_cmd",
    "label": "label_cmd",
    "record": "record_cmd",
    "emulate": "emulate_cmd",
    "demo": "demo_cmd",
}


DESCRIPTION = """\
retrostep: the PC side of a step counter that tells forward from backward walking.
Put the firmware on a board (deploy), copy its counts into your history on this PC
(sync), and see them (history, report; a clinic's view of every device with
`--all-devices`, its wearers named by `label`); record raw traces from a board (record), count
the steps in a trace (replay), score the counter on recorded datasets (eval), make
simulated walks (simulate), or try it all on a virtual device without a board
(emulate, demo)."""

EPILOG = """\
first steps:
  retrostep demo                         a simulated day on a virtual device, synced and reported
  retrostep deploy --board pico          install the firmware on a Raspberry Pi Pico
  retrostep sync                         copy the board's new counts into your history
  retrostep history --days 7             the last week, day by day
  retrostep COMMAND --help               what a command does and its options

Every command takes --db FILE (the history file) or --db postgresql://USER@HOST/DATABASE (a
clinic's shared history), default $RETROSTEP_DB; the board's port is found by its USB id, or
taken from $RETROSTEP_PORT or --port."""


def version() -> str:
    from importlib import metadata
    try:
        return metadata.version("retrostep")
    except metadata.PackageNotFoundError:    # run from a clone without installing it
        import re
        from .paths import ROOT
        m = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)
        return m.group(1) if m else "unknown"


def _available():
    from pathlib import Path
    here = Path(__file__).parent
    return {c: m for c, m in COMMANDS.items() if (here / f"{m}.py").exists()}


def _accept_db(p):
    # Scripts pass `--db FILE` to every command; those that keep no history accept it too.
    if "--db" not in p._option_string_actions:
        p.add_argument("--db", metavar="FILE",
                       help="accepted like every command's; this command does not use the history")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    cmds = _available()
    parser = argparse.ArgumentParser(prog="retrostep", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"retrostep {version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    chosen = argv[0] if argv and argv[0] in cmds else None
    for name, modname in cmds.items():
        if chosen and name != chosen:
            sub.add_parser(name)
            continue
        mod = importlib.import_module(f"host_tools.{modname}")
        p = mod.add_parser(sub)
        p.set_defaults(_run=mod.run)
        _accept_db(p)
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return args._run(args) or 0
    except KeyboardInterrupt:
        return 130
    except UserError as e:
        print(f"retrostep {args.command}: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # the reader of our output went away (`retrostep history | head`): no traceback
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
