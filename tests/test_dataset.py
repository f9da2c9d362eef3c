"""The YAML dataset: shipped files valid, every problem reported, lossless saving, unsafe YAML refused, atomic
writes that survive a crash, stale saves refused, stats."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from pipeline import dataset, files
from pipeline.dataset import Dataset, DatasetError, Example, Meta, StaleRevisionError
from pipeline.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted((ROOT / "datasets_yaml").rglob("*.yaml"))


def make_dataset(n: int = 3, **header) -> Dataset:
    examples = [
        Example(
            id=f"it-prova-{i:03d}",
            instruction=f"Spiega la regola numero {i} dell'accento.",
            output=f"Regola {i}: l'accento grave cade su è, più, città.\nSeconda riga, perché sì.",
            meta=Meta(method="human", status="approved", category="grammatica", tags=["accenti"]),
        )
        for i in range(n)
    ]
    return Dataset(name=header.pop("name", "prova"), examples=examples, **header)


def round_trip(ds: Dataset, path: Path) -> Dataset:
    dataset.create(path, ds)
    return dataset.load(path)


def tmp_files(folder: Path) -> list[Path]:
    return sorted(folder.glob(".*.tmp"))


@pytest.mark.parametrize("path", SHIPPED, ids=[str(p.relative_to(ROOT)) for p in SHIPPED])
def test_every_shipped_dataset_loads_valid_and_says_how_to_check_it(path: Path):
    loaded = dataset.load(path)
    assert loaded.examples
    assert dataset.validate(loaded) == []
    assert f"python -m pipeline dataset validate {path.relative_to(ROOT)}" in loaded.comment


def test_shipped_folder_holds_the_seed_and_the_mini_example():
    names = {p.relative_to(ROOT / "datasets_yaml").as_posix() for p in SHIPPED}
    assert {"seed_it.yaml", "examples/mini_it.yaml"} <= names


def test_seed_set_is_large_varied_approved_and_uniquely_named():
    seed = dataset.load(ROOT / "datasets_yaml" / "seed_it.yaml")
    s = dataset.stats(seed)
    assert s.examples >= 150
    assert len(s.by_category) >= 15 and "-" not in s.by_category
    assert s.by_status == {"approved": s.examples}
    ids = [e.id for e in seed.examples]
    assert len(set(ids)) == len(ids)


def test_mini_example_covers_statuses_methods_and_optional_fields():
    mini = dataset.load(ROOT / "datasets_yaml" / "examples" / "mini_it.yaml")
    s = dataset.stats(mini)
    assert set(s.by_status) == set(dataset.STATUSES)
    assert {"human", "self_instruct", "evol_instruct", "orca"} <= set(s.by_method)
    evolved = next(e for e in mini.examples if e.meta.method == "evol_instruct")
    assert mini.find(evolved.meta.parent_id) and evolved.meta.evolution_depth >= 1
    assert any(e.meta.method == "orca" and e.system for e in mini.examples)
    assert any(e.input for e in mini.examples)
    conversation = next(e for e in mini.examples if e.messages)
    assert [m["role"] for m in conversation.messages] == ["user", "assistant", "user", "assistant"]
    assert any(e.meta.judge_score and e.meta.teacher_model and e.meta.tokens for e in mini.examples)


BROKEN = """\
schema_version: 1
name: rotto
examples:
- id: a-1
  instruction: Manca la risposta.
  meta: {status: approved}
- id: a-2
  instruction: Stato inventato.
  output: Ok.
  meta: {status: pubblicato}
- id: a-3
  instruction: Campo sconosciuto.
  output: Ok.
  colore: rosso
- id: a-4
  instruction: Primo con questo id.
  output: Ok.
- id: a-4
  instruction: Secondo con lo stesso id.
  output: Ok.
- id: a-5
  instruction: Etichette lette come booleani.
  output: Ok.
  meta: {tags: [no, on]}
- id: 010
  instruction: Id letto come numero ottale.
  output: Ok.
"""
# (where, field) of each problem in BROKEN, as the messages name them.
BROKEN_PROBLEMS = [
    ("esempio 'a-1'", "`output`"),
    ("esempio 'a-2'", "`meta.status`"),
    ("esempio 'a-3'", "'colore'"),
    ("esempio 'a-4'", "`id`"),
    ("esempio 'a-5'", "`meta.tags`"),
    ("esempio n. 7", "`id`"),
]


def broken_problems(tmp_path: Path) -> list[str]:
    path = tmp_path / "rotto.yaml"
    path.write_text(BROKEN, encoding="utf-8")
    with pytest.raises(DatasetError) as caught:
        dataset.load(path)
    return caught.value.problems


def test_every_schema_problem_is_reported_naming_example_and_field(tmp_path: Path):
    problems = broken_problems(tmp_path)
    for where, name in BROKEN_PROBLEMS:
        assert any(where in p and name in p for p in problems), f"{where} {name} missing from {problems}"
    # The YAML 1.1 traps come with the fix: quote the value.
    assert all("virgolette" in p for p in problems if "`meta.tags`" in p or "esempio n. 7" in p)


def test_each_schema_problem_is_reported_once(tmp_path: Path):
    problems = broken_problems(tmp_path)
    assert len(problems) == len(BROKEN_PROBLEMS), problems


def test_a_missing_id_is_reported_once_by_position():
    with pytest.raises(DatasetError) as caught:
        dataset.from_dict(files.parse_yaml("schema_version: 1\nname: x\nexamples:\n- instruction: a\n  output: b\n"))
    assert caught.value.problems == ["esempio n. 1, `id`: manca (es. it-cucina-001)"]


def test_save_refuses_an_invalid_dataset_and_leaves_the_file_alone(tmp_path: Path):
    path = tmp_path / "d.yaml"
    dataset.create(path, make_dataset())
    before = path.read_bytes()
    loaded = dataset.load(path)
    loaded.examples[0].meta.status = "pubblicato"
    loaded.examples[1].output = "  "
    with pytest.raises(DatasetError) as caught:
        dataset.save(loaded, path)
    assert len(caught.value.problems) == 2
    assert path.read_bytes() == before


@pytest.mark.parametrize("path", SHIPPED, ids=[str(p.relative_to(ROOT)) for p in SHIPPED])
def test_shipped_dataset_round_trips_and_saves_deterministically(tmp_path: Path, path: Path):
    original = dataset.load(path)
    copy = tmp_path / "copia.yaml"
    dataset.create(copy, original)
    first = copy.read_bytes()
    reloaded = dataset.load(copy)
    assert reloaded == original
    assert reloaded.comment == original.comment
    dataset.save(reloaded, copy)
    assert copy.read_bytes() == first


def test_unicode_is_written_as_is_not_escaped(tmp_path: Path):
    text = "È già l’ora: «andiamo», disse perché sì."
    ds = make_dataset(1)
    ds.examples[0].instruction = text
    back = round_trip(ds, tmp_path / "u.yaml")
    raw = (tmp_path / "u.yaml").read_bytes()
    assert back.examples[0].instruction == text
    assert text.encode("utf-8") in raw
    assert b"\\u" not in raw and b"\\x" not in raw


def test_multi_line_text_is_a_block_scalar(tmp_path: Path):
    ds = make_dataset(1)
    ds.examples[0].output = "Prima riga.\nSeconda riga, con l'apostrofo."
    ds.examples[0].input = "Testo da riassumere\nsu due righe\n"
    back = round_trip(ds, tmp_path / "b.yaml")
    text = (tmp_path / "b.yaml").read_text(encoding="utf-8")
    assert "  output: |-\n    Prima riga.\n    Seconda riga, con l'apostrofo.\n" in text
    assert "  input: |\n    Testo da riassumere\n    su due righe\n" in text
    assert back.examples[0].output == ds.examples[0].output
    assert back.examples[0].input == ds.examples[0].input


YAML11_TRAPS = ["No", "Sì", "010", "on", "yes", "null", "1.0", "~", "2026-01-01", "off", "1e3", "0x1F", ".inf", "<<"]


@pytest.mark.parametrize("value", YAML11_TRAPS)
def test_yaml_1_1_look_alikes_stay_strings(tmp_path: Path, value: str):
    ds = make_dataset(1, description=value, created=value)
    example = ds.examples[0]
    example.instruction = example.output = example.system = example.input = value
    example.meta = Meta(category=value, tags=[value, "ok"], teacher_model=value, parent_id=value, language=value)
    example.messages = [{"role": "user", "content": value}, {"role": "assistant", "content": value}]
    back = round_trip(ds, tmp_path / "t.yaml")
    assert back == ds
    # Quoted in the file, so any YAML reader (not only ours) gets the string back.
    plain = yaml.safe_load((tmp_path / "t.yaml").read_text(encoding="utf-8"))
    raw_example = plain["examples"][0]
    assert plain["description"] == plain["created"] == value
    assert raw_example["instruction"] == raw_example["meta"]["category"] == raw_example["meta"]["tags"][0] == value


WHITESPACE = [
    "spazi in coda   ",
    "  rientro iniziale\nseconda riga",
    "\ttab iniziale e\ttab in mezzo",
    "riga con spazi in coda   \nseconda riga",
    "finisce con un a capo\n",
    "finisce con due a capo\n\n",
    "\n\ninizia con righe vuote",
    "  rientro\n\ttab\nspazi in coda  \n",
    "a capo Windows\r\nseconda riga",
]


@pytest.mark.parametrize("value", WHITESPACE)
def test_whitespace_round_trips_exactly(tmp_path: Path, value: str):
    ds = make_dataset(1)
    ds.examples[0].output = ds.examples[0].input = value
    back = round_trip(ds, tmp_path / "w.yaml")
    assert back.examples[0].output == value
    assert back.examples[0].input == value


def test_leading_comment_is_kept_on_save(tmp_path: Path):
    path = tmp_path / "commentato.yaml"
    comment = "# Il mio dataset di prova, con l'apostrofo e «virgolette».\n# Controllalo con: make test\n"
    dataset.create(path, make_dataset())
    path.write_text(comment + path.read_text(encoding="utf-8"), encoding="utf-8")
    loaded = dataset.load(path)
    assert loaded.comment == comment
    loaded.examples[0].output = "Risposta cambiata."
    dataset.save(loaded, path)
    text = path.read_text(encoding="utf-8")
    assert text.startswith(comment + "schema_version: 1\n")
    assert dataset.load(path).examples[0].output == "Risposta cambiata."


def test_a_comment_without_a_final_newline_still_saves_a_loadable_file(tmp_path: Path):
    ds = make_dataset(comment="# Scritto da uno script")
    dataset.create(tmp_path / "d.yaml", ds)
    assert dataset.load(tmp_path / "d.yaml") == ds


def test_examples_sharing_a_list_save_a_loadable_file(tmp_path: Path):
    # What `dataclasses.replace(parent, id=..., instruction=...)` gives: the child shares the parent's meta and tags.
    ds = make_dataset(2)
    ds.examples[1].meta = ds.examples[0].meta
    ds.examples[1].messages = ds.examples[0].messages = [
        {"role": "user", "content": "Ciao"},
        {"role": "assistant", "content": "Ciao! Come posso aiutarti?"},
    ]
    dataset.create(tmp_path / "d.yaml", ds)
    assert dataset.load(tmp_path / "d.yaml") == ds


def test_python_tags_are_refused_and_never_run(tmp_path: Path):
    marker = tmp_path / "eseguito"
    path = tmp_path / "cattivo.yaml"
    path.write_text(
        "schema_version: 1\n"
        "name: cattivo\n"
        "examples:\n"
        "- id: x\n"
        f'  instruction: !!python/object/apply:os.system ["touch {marker}"]\n'
        "  output: ok\n",
        encoding="utf-8",
    )
    with pytest.raises(DatasetError) as caught:
        dataset.load(path)
    assert "riga 5" in str(caught.value) and "tag YAML non ammesso" in str(caught.value)
    assert not marker.exists()


def test_custom_tags_are_refused():
    with pytest.raises(UserError, match="tag YAML non ammesso"):
        files.parse_yaml("name: !ricetta carbonara\n")


def billion_laughs(depth: int = 9, width: int = 9) -> str:
    lines = [f"l0: &l0 [{', '.join(['lol'] * width)}]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, depth + 1)]
    return "\n".join(lines) + "\n"


def test_billion_laughs_is_refused_fast():
    start = time.perf_counter()
    with pytest.raises(UserError, match="alias"):
        files.parse_yaml(billion_laughs())
    assert time.perf_counter() - start < 0.5


def test_aliases_in_an_example_are_refused(tmp_path: Path):
    path = tmp_path / "alias.yaml"
    path.write_text(
        "schema_version: 1\nname: alias\nexamples:\n"
        "- id: a\n  instruction: x\n  output: y\n  meta: &m {status: approved, tags: [uno]}\n"
        "- id: b\n  instruction: x\n  output: y\n  meta: *m\n",
        encoding="utf-8",
    )
    with pytest.raises(DatasetError, match="alias"):
        dataset.load(path)


def test_merge_key_bomb_is_refused():
    # Small on purpose: today this loads (slowly when deeper); once refused it must fail at the first merge.
    lines = ["l0: &l0 {a: lol, b: lol}"]
    lines += [f"l{i}: &l{i} {{<<: [{', '.join([f'*l{i - 1}'] * 9)}]}}" for i in range(1, 4)]
    with pytest.raises(UserError):
        files.parse_yaml("\n".join(lines) + "\n")


def test_a_value_over_the_limit_is_refused_and_one_at_the_limit_is_not(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(dataset, "MAX_VALUE_CHARS", 100)
    monkeypatch.setattr(files, "MAX_VALUE_CHARS", 100)
    path = tmp_path / "lungo.yaml"
    ds = make_dataset(2)
    ds.examples[0].output = "à" * 100
    dataset.create(path, ds)
    assert dataset.load(path).examples[0].output == "à" * 100
    ds.examples[1].output = "a" * 101
    path.write_text(dataset.dumps(ds), encoding="utf-8")  # as another tool would write it: save() refuses it
    with pytest.raises(DatasetError) as caught:
        dataset.load(path)
    assert caught.value.problems == [
        f"riga {path.read_text().splitlines().index('  output: ' + 'a' * 101) + 1}: un valore di 101 caratteri "
        "supera il limite di 100: dividilo"
    ]


def test_save_refuses_a_value_that_load_would_refuse(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(dataset, "MAX_VALUE_CHARS", 100)
    monkeypatch.setattr(files, "MAX_VALUE_CHARS", 100)
    path = tmp_path / "lungo.yaml"
    ds = make_dataset(1)
    ds.examples[0].output = "a" * 101
    try:
        dataset.create(path, ds)
    except DatasetError:
        assert not path.exists()
    else:
        dataset.load(path)  # what the user meets next time they open the file


@pytest.mark.slow
def test_a_real_100_mb_value_is_refused_in_seconds(tmp_path: Path):
    path = tmp_path / "enorme.yaml"
    with open(path, "w", encoding="utf-8") as f:
        f.write("schema_version: 1\nname: enorme\nexamples:\n- id: x\n  instruction: |-\n")
        f.write("    una riga di testo italiano, già lunga abbastanza\n" * 2_000_000)
        f.write("  output: ok\n")
    start = time.perf_counter()
    with pytest.raises(DatasetError, match="supera il limite"):
        dataset.load(path)
    assert time.perf_counter() - start < 10


def test_a_file_that_is_not_utf8_is_refused(tmp_path: Path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("schema_version: 1\nname: città\nexamples: []\n".encode("latin-1"))
    with pytest.raises(DatasetError, match="non è UTF-8"):
        dataset.load(path)


def test_missing_file_and_wrong_top_level_are_clear_errors(tmp_path: Path):
    with pytest.raises(DatasetError, match="non esiste"):
        dataset.load(tmp_path / "manca.yaml")
    (tmp_path / "lista.yaml").write_text("- id: x\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="mappa"):
        dataset.load(tmp_path / "lista.yaml")


@pytest.mark.parametrize("failing", ["fsync", "replace"])
def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp_file(tmp_path: Path, monkeypatch, failing: str):
    path = tmp_path / "d.yaml"
    dataset.create(path, make_dataset())
    before = path.read_bytes()
    loaded = dataset.load(path)
    loaded.examples[0].output = "Risposta nuova, mai scritta per intero."

    def disk_error(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, failing, disk_error)
    with pytest.raises(OSError, match="No space left"):
        dataset.save(loaded, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert tmp_files(tmp_path) == []
    # The failed save did not move the revision on, so retrying once the disk is fine works.
    dataset.save(loaded, path)
    assert dataset.load(path).examples[0].output == "Risposta nuova, mai scritta per intero."


CRASHING_SAVER = textwrap.dedent(
    """
    import os, sys, time
    from pipeline import dataset

    target, new = sys.argv[1], sys.argv[2]
    replacement = dataset.load(new)
    replacement.revision = dataset.load(target).revision

    # Slow the disk down: the temporary file gets the first half of the bytes, then the write stalls until the
    # test kills this process for real (SIGKILL: no except, no finally, no cleanup runs).
    real_fdopen = os.fdopen

    class HalfThenStall:
        def __init__(self, f):
            self.f = f
        def __enter__(self):
            return self
        def __exit__(self, *exc):
            self.f.close()
        def write(self, data):
            self.f.write(data[: len(data) // 2])
            self.f.flush()
            time.sleep(600)
        def flush(self):
            self.f.flush()
        def fileno(self):
            return self.f.fileno()

    os.fdopen = lambda fd, mode: HalfThenStall(real_fdopen(fd, mode))
    dataset.save(replacement, target)
    """
)


def test_a_save_killed_mid_write_leaves_the_old_file_intact(tmp_path: Path):
    target = tmp_path / "d.yaml"
    old = make_dataset(5)
    dataset.create(target, old)
    before = target.read_bytes()
    new = tmp_path / "nuovo.yaml"
    dataset.create(new, make_dataset(5000, name="nuovo"))
    half = new.stat().st_size // 2

    log = tmp_path / "saver.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", CRASHING_SAVER, str(target), str(new)], env=env, stdout=out, stderr=out
        )
    try:
        deadline = time.monotonic() + 60
        while not any(p.stat().st_size >= half for p in tmp_files(tmp_path)):
            assert proc.poll() is None, f"the saver exited early:\n{log.read_text()}"
            assert time.monotonic() < deadline, "the saver never started writing"
            time.sleep(0.01)
    finally:  # SIGKILL, mid-write
        proc.kill()
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL

    assert target.read_bytes() == before
    assert dataset.load(target) == old
    # The half-written temporary file is what a real crash leaves behind; it never replaced the dataset.
    [leftover] = tmp_files(tmp_path)
    assert leftover.stat().st_size == half
    # The killed process's lock went with it: the next save goes through.
    survivor = dataset.load(target)
    survivor.examples[0].output = "Dopo il crash."
    dataset.save(survivor, target)
    assert dataset.load(target).examples[0].output == "Dopo il crash."


def test_a_save_from_a_stale_revision_is_refused(tmp_path: Path):
    path = tmp_path / "d.yaml"
    dataset.create(path, make_dataset())
    a, b = dataset.load(path), dataset.load(path)
    a.examples[0].output = "Modifica di A."
    dataset.save(a, path)
    after_a = path.read_bytes()

    b.examples[1].output = "Modifica di B."
    with pytest.raises(StaleRevisionError, match="ricaricalo"):
        dataset.save(b, path)
    assert path.read_bytes() == after_a
    assert dataset.load(path).examples[0].output == "Modifica di A."

    # A's revision moved on with its save, so A can keep saving.
    a.examples[2].output = "Seconda modifica di A."
    dataset.save(a, path)

    dataset.save(b, path, force=True)
    forced = dataset.load(path)
    assert forced.examples[1].output == "Modifica di B."
    assert forced.examples[0].output != "Modifica di A."


def test_save_refuses_to_overwrite_a_file_it_never_loaded(tmp_path: Path):
    path = tmp_path / "d.yaml"
    dataset.create(path, make_dataset())
    with pytest.raises(StaleRevisionError):
        dataset.save(make_dataset(1), path)


def test_create_refuses_an_existing_file(tmp_path: Path):
    path = tmp_path / "d.yaml"
    dataset.create(path, make_dataset())
    before = path.read_bytes()
    with pytest.raises(DatasetError, match="esiste già"):
        dataset.create(path, make_dataset(1, name="altro"))
    assert path.read_bytes() == before


def test_stats_counts_categories_methods_statuses_and_words():
    ds = Dataset(
        name="conti",
        examples=[
            Example(
                id="a",
                instruction="Traduci in inglese:",
                input="Buongiorno a tutti",
                output="Good morning all",
                meta=Meta(method="human", status="approved", category="traduzione", language="it"),
            ),
            Example(
                id="b",
                instruction="Scrivi un haiku",
                output="Neve sul tetto,\nsilenzio.",
                meta=Meta(method="self_instruct", status="draft", category="poesia"),
            ),
            Example(
                id="c",
                instruction="Un altro haiku",
                output="L'alba è già qui",
                meta=Meta(method="self_instruct", status="rejected", category="poesia"),
            ),
        ],
    )
    s = dataset.stats(ds)
    assert s.examples == 3
    assert s.by_category == {"traduzione": 1, "poesia": 2}
    assert s.by_method == {"human": 1, "self_instruct": 2}
    assert s.by_status == {"approved": 1, "draft": 1, "rejected": 1}
    assert s.by_language == {"it": 1, "-": 2}
    assert s.instruction_words == [6, 3, 3]  # the input counts with the instruction
    assert s.output_words == [3, 4, 4]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        # A word is a run of letters/digits; an apostrophe (straight or typographic) between two of them joins them.
        ("L'anima è già qui", 4),
        ("dell’Italia, perché sì!", 3),
        ("città più così", 3),
        ("un po' di caffè", 4),
        ("«Ciao», disse.", 2),
        ("", 0),
    ],
)
def test_count_words_keeps_accents_and_elisions_together(text: str, words: int):
    assert dataset.count_words(text) == words


def test_saved_files_get_a_normal_mode_and_keep_an_existing_one(tmp_path: Path):
    old_umask = os.umask(0o022)
    try:
        path = tmp_path / "d.yaml"
        dataset.create(path, make_dataset())
        assert path.stat().st_mode & 0o777 == 0o644
        path.chmod(0o640)
        loaded = dataset.load(path)
        loaded.examples[0].output = "Cambiata."
        dataset.save(loaded, path)
        assert path.stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(old_umask)
