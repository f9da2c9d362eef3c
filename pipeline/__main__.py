"""The Bottega command line: one subcommand per job.

    python -m pipeline --help
    python -m pipeline models list
    python -m pipeline models prepare smollm2-135m-instruct

Errors that the user can fix (a bad name, a missing package, no network) print one clear line and exit with 2.
"""

from __future__ import annotations

import argparse
import sys

from pipeline import models


def _models_list(args: argparse.Namespace) -> None:
    for info in models.list_models():
        state = "pronto" if info.ready else "da preparare"
        print(f"{info.name}\t{state}\t{info.path}\t{info.description}")


def _models_prepare(args: argparse.Namespace) -> None:
    print(models.resolve(args.name))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline", description="Bottega: rendi gli LLM aperti più bravi in italiano."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    models_parser = commands.add_parser("models", help="elenca e prepara i modelli locali")
    models_commands = models_parser.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    models_commands.add_parser("list", help="i modelli inclusi e se sono già pronti").set_defaults(func=_models_list)
    prepare = models_commands.add_parser(
        "prepare", help="materializza un modello incluso, o scarica un id dell'Hub, e stampa la sua cartella"
    )
    prepare.add_argument("name", nargs="?", default=models.DEFAULT_MODEL, help=f"default: {models.DEFAULT_MODEL}")
    prepare.set_defaults(func=_models_prepare)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except models.ModelError as e:
        print(f"Errore: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
