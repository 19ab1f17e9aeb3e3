"""The `congowave` command line: one entry point, one subcommand per task.

Later parts of the platform add their subcommands in `COMMANDS`, each a
function that registers its parser and handler.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

Registrar = Callable[[argparse._SubParsersAction], None]


def _add_run(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("run", help="run the main job on the configured profile")
    parser.set_defaults(handler=_run)


def _run(_args: argparse.Namespace) -> int:
    from pipelines.main_run import run_main
    from pipelines.settings import get_settings

    return run_main(get_settings())


def _add_sample_world(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("sample-world", help="generate a deterministic synthetic CongoWave")
    parser.add_argument("--scale", choices=["small", "medium", "large"], default="small")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--workers", type=int, default=2, help="processes for audio and events")
    parser.set_defaults(handler=_sample_world)


def _sample_world(args: argparse.Namespace) -> int:
    from pipelines.main_run import say
    from pipelines.sample_world.world import generate_world

    summary = generate_world(args.scale, args.seed, args.out, workers=args.workers, progress=say)
    print(json.dumps({"scale": summary.scale, "seed": summary.seed, "counts": summary.counts,
                      "seconds": summary.seconds, "files": len(summary.files)}, indent=2))
    return 0


def _add_settings(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("settings", help="show the resolved settings (secrets hidden)")
    parser.add_argument("--table", action="store_true", help="print the README's settings table")
    parser.set_defaults(handler=_settings)


def _settings(args: argparse.Namespace) -> int:
    from pipelines.settings import Settings, get_settings

    if args.table:
        print("| Variable | Default | Meaning |\n|---|---|---|")
        for env, default, description in Settings.described():
            print(f"| `{env}` | {default} | {description} |")
        return 0
    print(get_settings().model_dump_json(indent=2))
    return 0


COMMANDS: list[Registrar] = [_add_run, _add_sample_world, _add_settings]


def build_parser() -> argparse.ArgumentParser:
    """The full parser; exposed for tests and docs."""
    parser = argparse.ArgumentParser(prog="congowave", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for register in COMMANDS:
        register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a person reads this: say what failed, not a traceback
        from pydantic import ValidationError

        from pipelines.sample_world.world import WorldMismatchError

        if isinstance(exc, ValidationError):
            print(f"congowave: invalid settings:\n{exc}", file=sys.stderr)
            return 2
        if isinstance(exc, WorldMismatchError):
            print(f"congowave: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
