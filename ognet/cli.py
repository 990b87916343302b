"""``python -m ognet``: one entry point, one module per subcommand in ``ognet/commands/``.

Each module in ``ognet.commands`` defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and
``run(args) -> int``; this file discovers them, so adding a subcommand means adding a file.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil

import ognet.commands


def _command_modules():
    for info in sorted(pkgutil.iter_modules(ognet.commands.__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            yield importlib.import_module(f"ognet.commands.{info.name}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ognet",
        description="OG-Net: person re-identification in the 3D space.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _command_modules():
        p = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 0
    return int(args._run(args) or 0)
