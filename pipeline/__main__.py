"""The Bottega command line: one subcommand per job.

    python -m pipeline --help
    python -m pipeline models list
    python -m pipeline models prepare smollm2-135m-instruct
    python -m pipeline dataset validate datasets_yaml/seed_it.yaml
    python -m pipeline dataset stats datasets_yaml/seed_it.yaml --tokens smollm2-135m-instruct
    python -m pipeline dataset import alpaca.jsonl --out datasets_yaml/mio.yaml
    python -m pipeline dataset convert datasets_yaml/seed_it.yaml --to messages-jsonl --out seed.jsonl
    python -m pipeline generate --config run.yaml
    python -m pipeline train --config configs/train/smollm2-cpu.yaml [--check | --detach]
    python -m pipeline train --resume RUN_DIR | --stop RUN_DIR | --list
    python -m pipeline eval --config configs/eval/smollm2.yaml
    python -m pipeline chat --adapter RUN_DIR "Qual è la capitale d'Italia?"
    python -m pipeline votes stats | votes export --out preferenze.yaml
    python -m pipeline preferences fidelity --config configs/preferences/fidelity.yaml
    python -m pipeline recipe --config configs/recipes/smollm2-it.yaml
    python -m pipeline sweep --config configs/sweeps/smollm2-lr.yaml [--detach] | sweep --list
    python -m pipeline benchmark [--adapter RUN_DIR]
    python -m pipeline preferences judge --eval RUN_DIR/eval/eval.yaml --out datasets_yaml/giudice.yaml
    python -m pipeline hub push-dataset datasets_yaml/seed_it.yaml --repo UTENTE/seed-it
    python -m pipeline hub pull-dataset UTENTE/seed-it --out datasets_yaml/seed-it.yaml
    python -m pipeline hub push-adapter RUN_DIR --repo UTENTE/smollm2-it [--merged]
    python -m pipeline space deploy --repo UTENTE/bottega --allow-users mario,giulia

Errors the user can fix (a bad name, a bad file, no network) print what to do and exit with 2.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import statistics
import sys
from pathlib import Path
from typing import NoReturn

from pipeline import dataset, formats, i18n, models
from pipeline.errors import UserError
from pipeline.i18n import Message, t


def _models_list(args: argparse.Namespace) -> None:
    for info in models.list_models():
        state = "pronto" if info.ready else "da preparare"
        print(f"{info.name}\t{state}\t{info.path}\t{info.description}")


def _models_prepare(args: argparse.Namespace) -> None:
    print(models.resolve(args.name))


def _dataset_validate(args: argparse.Namespace) -> int:
    failed = 0
    for path in args.files:
        try:
            loaded = dataset.load(path)
        except dataset.DatasetError as e:
            failed += 1
            print(f"{path}: {len(e.problems)} problemi", file=sys.stderr)
            for problem in e.problems:
                print(f"  - {problem}", file=sys.stderr)
        else:
            print(f"{path}: valido, {len(loaded.examples)} esempi")
    return 2 if failed else 0


def _dataset_stats(args: argparse.Namespace) -> None:
    loaded = dataset.load(args.file)
    s = dataset.stats(loaded)
    print(f"esempi: {s.examples}")
    for title, counter in (("stato", s.by_status), ("metodo", s.by_method), ("lingua", s.by_language)):
        print(f"{title}: " + ", ".join(f"{k} {v}" for k, v in counter.most_common()))
    print("categorie:")
    for name, count in s.by_category.most_common():
        print(f"  {name}\t{count}")
    for title, values in (("parole istruzione", s.instruction_words), ("parole risposta", s.output_words)):
        if values:
            print(f"{title}: mediana {statistics.median(values):.0f}, min {min(values)}, max {max(values)}")
    if args.tokens:
        counts = dataset.token_counts(loaded, models.resolve(args.tokens))
        if counts:
            print(
                f"token ({args.tokens}): mediana {statistics.median(counts):.0f}, max {max(counts)}, "
                f"totale {sum(counts)}"
            )


def _dataset_import(args: argparse.Namespace) -> None:
    imported = formats.import_file(args.file, args.format, name=args.name or Path(args.out).stem)
    dataset.create(args.out, imported)
    print(f"{args.out}: {len(imported.examples)} esempi importati (stato: draft)")


def _dataset_convert(args: argparse.Namespace) -> None:
    if args.out.is_dir() and args.to != "hf":
        raise UserError(Message("cli_argument", arg="--out", problem=Message("cli_is_folder", path=args.out)))
    out = formats.export(dataset.load(args.file), args.out, args.to, only_approved=args.only_approved)
    print(out)


def _generate(args: argparse.Namespace) -> int:
    from pipeline.generate.run import generate, load_config

    config = load_config(args.config)
    with _generation_bar(config.count) as show:
        status = generate(config, on_status=show)
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(status.reasons.items(), key=lambda kv: -kv[1])) or "-"
    print(f"{status.state}: {status.accepted} accettati, {status.rejected} scartati ({reasons})")
    print(f"token: {status.tokens}" + (f", costo: {status.cost:.4f}" if status.cost is not None else ""))
    if status.message:
        print(status.message)
    print(status.output)
    return 0 if status.state in ("finished", "stopped") else 2


@contextlib.contextmanager
def _generation_bar(target: int, file=None):
    """A terminal progress bar of accepted examples, with rejections and the teacher's replies (none off a TTY: a
    job launched by the app logs to a file)."""
    from tqdm.auto import tqdm

    with tqdm(total=target, desc="accettati", unit="es", disable=None, file=file or sys.stderr) as bar:

        def show(status) -> None:
            bar.n = status.accepted
            bar.set_postfix(scartati=status.rejected, risposte=status.requests, in_attesa=status.in_flight)

        yield show


def _train(args: argparse.Namespace) -> int:
    from pipeline.train import runs
    from pipeline.train.config import load_config, load_run_config

    if args.check and not args.config:
        raise UserError(Message("cli_flag_needs", flag="--check", needs="--config"))
    if args.detach and not (args.config or args.resume):
        raise UserError(Message("cli_flag_needs", flag="--detach", needs="--config / --resume"))
    if args.detach and args.check:
        raise UserError(Message("cli_flags_exclusive", a="--detach", b="--check"))
    if args.list:
        for row in runs.list_runs():
            loss = f"{row['loss']:.4f}" if isinstance(row.get("loss"), float) else "-"
            print(f"{row['name']}\t{t('state_' + row['state'])}\t{t('train_step')} {row.get('step', 0)}/"
                  f"{row.get('max_steps', '?')}\tloss {loss}\t{row['dir']}")  # fmt: skip
            if row["state"] in ("failed", "interrupted") and row["message"]:
                print(f"\t{row['message']}")
        return 0
    if args.stop:
        runs.stop(load_run_config(args.stop, "--stop").run_path)
        print(Message("cli_stop_sent", path=args.stop))
        return 0
    if args.check:
        return _train_check(load_config(args.config))
    if args.detach:
        run_dir = runs.resume(load_run_config(args.resume).run_path) if args.resume else runs.start(
            load_config(args.config))  # fmt: skip
        print(run_dir)
        return 0
    from pipeline.train.sft import train

    if args.resume:
        status = train(load_run_config(args.resume), resume=True)
    else:
        config = load_config(args.config)
        if runs.status(config.run_path).state != "starting":  # "starting": launched, its launcher checked the name
            runs.refuse_taken(config)
        status = train(config)
    print(f"{t('state_' + status.state)}: {t('train_step')} {status.get('step')}/{status.get('max_steps')}, "
          f"loss {status.get('loss')}")  # fmt: skip
    if status.message:
        print(status.message)
    return 0 if status.state in ("finished", "stopped") else 2


def _eval(args: argparse.Namespace) -> int:
    from pipeline.evaluate import main as evaluate_main

    return evaluate_main(args.config)


def _chat(args: argparse.Namespace) -> None:
    from pipeline.chat import ChatEngine, Sampling
    from pipeline.models import adapter_folder

    try:  # a missing adapter is refused before the model loads
        adapter_folder(args.adapter)
    except UserError as e:
        raise UserError(Message("cli_argument", arg="--adapter", problem=e.items[0])) from e
    sampling = Sampling(temperature=args.temperature, max_new_tokens=args.max_new_tokens, seed=args.seed,
                        repetition_penalty=args.repetition_penalty)  # fmt: skip
    engine = ChatEngine(args.base)
    engine.set_adapter(str(args.adapter))
    conversation = [{"role": "user", "content": args.prompt}]
    base, tuned = engine.answer((conversation, conversation), sampling)
    print(f"--- base ---\n{base}\n--- fine-tuned ---\n{tuned}")


def _votes_stats(args: argparse.Namespace) -> None:
    from pipeline import votes

    for name, value in votes.stats(votes.VoteStore().all()).table():
        print(f"{name}\t{value}")


def _votes_export(args: argparse.Namespace) -> None:
    from pipeline import preferences, votes

    pairs = preferences.export_votes(votes.VoteStore().all(), args.out)
    print(t("pref_written", path=args.out, pairs=pairs))


def _preferences_judge(args: argparse.Namespace) -> None:
    from pipeline import preferences

    pairs = preferences.export_judge(args.eval, args.out)
    print(t("pref_written", path=args.out, pairs=pairs))


def _preferences_fidelity(args: argparse.Namespace) -> int:
    from pipeline import preferences

    config = preferences.load_config(args.config)
    if args.detach:
        print(preferences.start(config))
        return 0
    return preferences.main(config)


def _benchmark(args: argparse.Namespace) -> None:
    from pipeline import benchmark

    if args.adapter is not None:
        try:  # a missing adapter is refused before the model loads
            models.adapter_folder(args.adapter)
        except UserError as e:
            raise UserError(Message("cli_argument", arg="--adapter", problem=e.items[0])) from e
    items = benchmark.load_items()
    loaded = models.load(args.model, args.adapter)
    result = benchmark.score(loaded.model, loaded.tokenizer, items)
    print(f"{'categoria':18} {'acc':>7} {'acc_norm':>9}  IC 95% (acc_norm)")
    for category, norm in sorted(result.acc_norm.items(), key=lambda kv: (kv[0] == "tutte", kv[0])):
        raw = result.acc[category]
        low, high = norm.interval or (0.0, 0.0)
        print(f"{category:18} {raw.accuracy:7.1%} {norm.accuracy:9.1%}  [{low:.1%}, {high:.1%}]  ({norm.total})")


def _recipe(args: argparse.Namespace) -> int:
    from pipeline import recipe

    return recipe.run(recipe.load_config(args.config))


def _sweep(args: argparse.Namespace) -> int:
    from pipeline.train import sweep

    if args.list:
        for row in sweep.list_sweeps():
            best = f"{row['best_value']:.4f}" if isinstance(row.get("best_value"), float) else "-"
            print(f"{row['name']}\t{t('state_' + row['state'])}\t{row.get('done', 0)}/{row.get('trials', '?')}\t"
                  f"{row.get('objective', '')} {best}\t{row['dir']}")  # fmt: skip
        return 0
    if args.config is None:
        raise UserError(Message("cli_argument", arg="--config", problem=Message("sweep_config_needed")))
    config = sweep.load_config(args.config)
    if args.detach:
        print(sweep.start(config))
        return 0
    return sweep.run(config)


def _hub_push_dataset(args: argparse.Namespace) -> None:
    from pipeline import hub

    print(hub.push_dataset(args.file, args.repo, private=not args.public))


def _hub_push_adapter(args: argparse.Namespace) -> None:
    from pipeline import hub

    push = hub.push_merged if args.merged else hub.push_adapter
    print(push(args.run_dir, args.repo, private=not args.public))


def _hub_pull_dataset(args: argparse.Namespace) -> None:
    from pipeline import hub

    print(hub.pull_dataset(args.repo, args.out))


def _space_deploy(args: argparse.Namespace) -> None:
    from pipeline import space

    def names(text: str) -> tuple[str, ...]:
        return tuple(n.strip() for n in text.split(",") if n.strip())

    print(space.deploy(args.repo, users=names(args.allow_users), orgs=names(args.allow_orgs),
                       votes_repo=args.votes_repo, hardware=args.hardware, private=args.private))  # fmt: skip


def _train_check(config) -> int:
    from pipeline.train.check import inspect, preflight

    problems = preflight(config)
    for problem in problems:
        print(f"- {problem}", file=sys.stderr)
    if problems:
        return 2
    found = inspect(config)
    print(f"modello: {found.model_dir}")
    print(f"esempi: {found.train_examples} per l'addestramento, {found.eval_examples} per la valutazione")
    for i, preview in enumerate(found.previews, 1):
        print(f"\n--- esempio {i}: {preview.trained}/{preview.tokens} token addestrati, "
              f"fine turno addestrato: {'sì' if preview.eot_trained else 'NO'} ---")  # fmt: skip
        print("".join(f"[[{text}]]" if trained else text for text, trained in preview.segments))
    print("\n" + found.tokenizer.summary())
    for name, value in found.memory.table():
        print(f"{name}\t{value}")
    for advice in found.memory.advice:
        print(f"consiglio: {advice}")
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors in the current language (argparse itself speaks English): usage, then the
    argument and what to do, exit 2."""

    _ERRORS = (
        (re.compile(r"the following arguments are required: (?P<args>.+)"), "cli_required"),
        (re.compile(r"one of the arguments (?P<args>.+) is required"), "cli_one_of"),
        (re.compile(r"argument (?P<arg>\S+): not allowed with argument (?P<other>\S+)"), "cli_not_with"),
        (re.compile(r"argument (?P<arg>\S+): invalid choice: (?P<value>.+?) \(choose from (?P<choices>.+)\)"),
         "cli_choice"),
        (re.compile(r"argument (?P<arg>\S+): invalid (?P<kind>int|float) value: (?P<value>.+)"), "cli_number"),
        (re.compile(r"argument (?P<arg>\S+): expected one argument"), "cli_value_missing"),
        (re.compile(r"unrecognized arguments: (?P<args>.+)"), "cli_unknown"),
        (re.compile(r"argument (?P<arg>\S+): (?P<problem>.+)"), "cli_argument"),
    )  # fmt: skip

    def error(self, message: str) -> NoReturn:
        for pattern, key in self._ERRORS:
            if match := pattern.fullmatch(message):
                message = t(key, **match.groupdict())
                break
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: {t('error_title').lower()}: {message}\n")


def _existing_file(text: str) -> Path:
    path = _existing(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(t("cli_is_folder_not_file", path=text))
    return path


def _existing(text: str) -> Path:
    """A file or a folder that exists (an import reads a `datasets` folder too)."""
    path = Path(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(t("cli_no_such_file", path=text))
    return path


def _new_file(text: str) -> Path:
    """An output that must not exist yet, in a folder that does."""
    path = Path(text)
    if path.exists():
        raise argparse.ArgumentTypeError(t("file_exists", path=text))
    return _in_existing_folder(path)


def _output_file(text: str) -> Path:
    """An output file (replaced if it exists), in a folder that exists."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(t("cli_is_folder", path=text))
    return _in_existing_folder(path)


def _output_path(text: str) -> Path:
    """An output file or folder (replaced if it exists), in a folder that exists."""
    return _in_existing_folder(Path(text))


def _in_existing_folder(path: Path) -> Path:
    if not path.parent.resolve().is_dir():
        raise argparse.ArgumentTypeError(t("cli_no_such_folder", path=path.parent))
    return path


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m pipeline", description="Bottega: rendi gli LLM aperti più bravi in italiano.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    models_parser = commands.add_parser("models", help="elenca e prepara i modelli locali")
    models_commands = models_parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    models_commands.add_parser("list", help="i modelli inclusi e se sono già pronti").set_defaults(func=_models_list)
    prepare = models_commands.add_parser(
        "prepare", help="materializza un modello incluso, o scarica un id dell'Hub, e stampa la sua cartella"
    )
    prepare.add_argument("name", nargs="?", default=models.DEFAULT_MODEL, help=f"default: {models.DEFAULT_MODEL}")
    prepare.set_defaults(func=_models_prepare)

    dataset_parser = commands.add_parser("dataset", help="controlla, descrivi, importa e converti i dataset YAML")
    dataset_commands = dataset_parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    validate = dataset_commands.add_parser("validate", help="controlla uno o più file e ne elenca tutti i problemi")
    validate.add_argument("files", nargs="+", type=Path)
    validate.set_defaults(func=_dataset_validate)
    stats = dataset_commands.add_parser("stats", help="esempi per categoria, metodo e stato; lunghezze; token")
    stats.add_argument("file", type=_existing_file)
    stats.add_argument("--tokens", metavar="MODEL", help="conta anche i token con il template di questo modello")
    stats.set_defaults(func=_dataset_stats)
    importer = dataset_commands.add_parser("import", help="importa Alpaca, ShareGPT, messages, CSV, datasets HF")
    importer.add_argument("file", type=_existing)
    importer.add_argument("--out", required=True, type=_new_file, help="il nuovo file YAML (non deve esistere)")
    importer.add_argument("--format", choices=formats.IMPORT_FORMATS, help="default: dedotto dal file")
    importer.add_argument("--name", help="nome del dataset (default: il nome del file di uscita)")
    importer.set_defaults(func=_dataset_import)
    convert = dataset_commands.add_parser("convert", help="esporta in JSONL, parquet o dataset HF")
    convert.add_argument("file", type=_existing_file)
    convert.add_argument("--to", required=True, choices=formats.EXPORT_FORMATS)
    convert.add_argument("--out", required=True, type=_output_path, help="il file (o, con --to hf, la cartella)")
    convert.add_argument("--only-approved", action="store_true", help="solo gli esempi approvati")
    convert.set_defaults(func=_dataset_convert)

    generate = commands.add_parser("generate", help="genera esempi con un modello insegnante (riprende se interrotta)")
    generate.add_argument("--config", required=True, type=Path, help="il file YAML della generazione")
    generate.set_defaults(func=_generate)

    train = commands.add_parser("train", help="addestra un adattatore LoRA/QLoRA (riprendibile)")
    what = train.add_mutually_exclusive_group(required=True)
    what.add_argument("--config", type=Path, help="il file YAML dell'addestramento")
    what.add_argument("--resume", type=Path, metavar="RUN_DIR", help="riprende una run dall'ultimo checkpoint")
    what.add_argument("--stop", type=Path, metavar="RUN_DIR", help="chiede a una run di salvare e fermarsi")
    what.add_argument("--list", action="store_true", help="elenca le run")
    train.add_argument("--check", action="store_true", help="mostra template, token e memoria; non addestra")
    train.add_argument("--detach", action="store_true", help="avvia in background e stampa la cartella della run")
    train.set_defaults(func=_train)

    evaluate = commands.add_parser("eval", help="confronta il modello base con base + LoRA sugli esempi tenuti fuori")
    evaluate.add_argument("--config", required=True, type=Path, help="il file YAML della valutazione")
    evaluate.set_defaults(func=_eval)

    chat = commands.add_parser("chat", help="la stessa domanda al modello base e a base + adapter, affiancati")
    chat.add_argument("prompt")
    chat.add_argument("--adapter", required=True, type=Path, help="una run finita, o la cartella di un adapter")
    chat.add_argument("--base", default=models.DEFAULT_MODEL)
    chat.add_argument("--temperature", type=float, default=0.0, help="0: greedy")
    chat.add_argument("--max-new-tokens", type=int, default=256)
    chat.add_argument("--seed", type=int, default=42)
    chat.add_argument("--repetition-penalty", type=float, default=models.REPETITION_PENALTY, help="1: nessuna")
    chat.set_defaults(func=_chat)

    votes_parser = commands.add_parser("votes", help="statistiche ed esportazione dei voti A/B")
    votes_commands = votes_parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    votes_commands.add_parser("stats", help="vittorie, pareggi, intervalli, test del segno").set_defaults(
        func=_votes_stats
    )
    votes_export = votes_commands.add_parser("export", help="coppie scelta/scartata in YAML")
    votes_export.add_argument("--out", required=True, type=_output_file)
    votes_export.set_defaults(func=_votes_export)

    bench_parser = commands.add_parser("benchmark", help="il benchmark italiano offline (scelta multipla)")
    bench_parser.add_argument("--model", default=models.DEFAULT_MODEL, help="modello base")
    bench_parser.add_argument("--adapter", type=Path, help="una run finita, o la cartella di un adapter")
    bench_parser.set_defaults(func=_benchmark)

    recipe_parser = commands.add_parser("recipe", help="SFT, coppie di fedeltà e DPO in fila (riprende se fermata)")
    recipe_parser.add_argument("--config", required=True, type=_existing_file, help="il file YAML della ricetta")
    recipe_parser.set_defaults(func=_recipe)

    sweep_parser = commands.add_parser("sweep", help="ricerca degli iperparametri con Optuna (riprende se fermata)")
    sweep_parser.add_argument("--config", type=_existing_file, help="il file YAML della ricerca")
    sweep_parser.add_argument("--detach", action="store_true", help="avvia in background e stampa la cartella")
    sweep_parser.add_argument("--list", action="store_true", help="le ricerche, con la migliore prova di ciascuna")
    sweep_parser.set_defaults(func=_sweep)

    prefs_parser = commands.add_parser("preferences", help="coppie di preferenza per DPO, KTO e ORPO")
    prefs_commands = prefs_parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    fidelity = prefs_commands.add_parser(
        "fidelity", help="il modello risponde ai prompt di addestramento; le risposte difettose diventano 'rejected'"
    )
    fidelity.add_argument("--config", required=True, type=_existing_file, help="il file YAML delle coppie di fedeltà")
    fidelity.add_argument("--detach", action="store_true", help="avvia in background e stampa la cartella del job")
    fidelity.set_defaults(func=_preferences_fidelity)
    prefs_votes = prefs_commands.add_parser("votes", help="i voti A/B decisivi come dataset di coppie")
    prefs_votes.add_argument("--out", required=True, type=_output_file)
    prefs_votes.set_defaults(func=_votes_export)
    judge = prefs_commands.add_parser("judge", help="le coppie su cui il giudice concorda nei due ordini")
    judge.add_argument("--eval", required=True, type=_existing_file, help="l'eval.yaml di una valutazione col giudice")
    judge.add_argument("--out", required=True, type=_output_file)
    judge.set_defaults(func=_preferences_judge)

    hub_parser = commands.add_parser("hub", help="dataset, adapter e modelli sull'Hub (token: HF_TOKEN o login)")
    hub_commands = hub_parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    push = hub_commands.add_parser("push-dataset", help="YAML + parquet + scheda in un repo di dataset")
    push.add_argument("file", type=_existing_file)
    push.add_argument("--repo", required=True, help="UTENTE/NOME")
    push.add_argument("--public", action="store_true", help="repo pubblico (default: privato)")
    push.set_defaults(func=_hub_push_dataset)
    push_adapter = hub_commands.add_parser("push-adapter", help="l'adapter di una run, con la sua scheda")
    push_adapter.add_argument("run_dir", type=Path)
    push_adapter.add_argument("--repo", required=True, help="UTENTE/NOME")
    push_adapter.add_argument("--public", action="store_true", help="repo pubblico (default: privato)")
    push_adapter.add_argument(
        "--merged", action="store_true", help="unisce l'adapter al modello base e carica il modello completo"
    )
    push_adapter.set_defaults(func=_hub_push_adapter)
    pull = hub_commands.add_parser("pull-dataset", help="scarica il YAML di un repo di dataset di Bottega")
    pull.add_argument("repo", help="UTENTE/NOME")
    pull.add_argument("--out", required=True, type=_new_file, help="il nuovo file YAML (non deve esistere)")
    pull.set_defaults(func=_hub_pull_dataset)
    space_parser = commands.add_parser("space", help="pubblica l'app come Space di Hugging Face")
    space_commands = space_parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    deploy = space_commands.add_parser("deploy", help="carica app, pacchetto e scheda in uno Space Gradio")
    deploy.add_argument("--repo", required=True, help="UTENTE/NOME dello Space")
    deploy.add_argument("--allow-users", default="", help="utenti autorizzati, separati da virgole")
    deploy.add_argument("--allow-orgs", default="", help="organizzazioni i cui membri sono autorizzati")
    deploy.add_argument("--votes-repo", help="repo di dataset dove lo Space conserva i voti A/B (UTENTE/NOME)")
    deploy.add_argument("--hardware", help="hardware da richiedere, es. a10g-small (a pagamento)")
    deploy.add_argument("--private", action="store_true", help="Space privato (default: pubblico)")
    deploy.set_defaults(func=_space_deploy)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # OpenMP threads that spin while waiting make torch many times slower when another process (the app, a second
    # rank, a test) shares the cores; passive waiting costs little when the cores are free. Read when torch loads.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        return args.func(args) or 0
    except UserError as e:
        problems = e.problems
        if len(problems) == 1:
            print(f"{t('error_title')}: {problems[0]}", file=sys.stderr)
        else:
            print(f"{t('error_title')} ({i18n.render(e.title)}):", file=sys.stderr)
            for problem in problems:
                print(f"  - {problem}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
