"""Import and export of datasets: real files in tmp_path, real pyarrow and `datasets`."""

import json
from pathlib import Path

import pytest

from pipeline import dataset, formats
from pipeline.dataset import Dataset, DatasetError, Example, Meta, to_messages

ITALIAN = "perché è così? L’acqua è già lì"


def fixture_dataset() -> Dataset:
    """Three examples: single-turn with system and input, a plain draft, and an approved multi-turn conversation."""
    return Dataset(
        name="prova",
        examples=[
            Example(
                id="it-001",
                system="Sei un insegnante paziente.",
                instruction=f"Spiega: {ITALIAN}",
                input="Contesto: la grammatica",
                output="Perché l’accento cade sull’ultima sillaba.\nÈ così.",
                meta=Meta(status="approved", category="grammatica", tags=["accenti", "ortografia"]),
            ),
            Example(id="it-002", instruction="Che cos’è la pizza?", output="Un piatto tipico di Napoli."),
            Example(
                id="it-003",
                instruction="Ciao, come stai?",
                output="Bene, grazie! E tu?",
                messages=[
                    {"role": "system", "content": "Rispondi in italiano."},
                    {"role": "user", "content": "Ciao, come stai?"},
                    {"role": "assistant", "content": "Bene, grazie! E tu?"},
                    {"role": "user", "content": "Anch’io, perché è venerdì."},
                    {"role": "assistant", "content": "Che bello, buon fine settimana!"},
                ],
                meta=Meta(status="approved", category="conversazione"),
            ),
        ],
    )


def write_jsonl(path: Path, records: list) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def problems_of(excinfo: pytest.ExceptionInfo) -> list[str]:
    return excinfo.value.problems


def test_import_alpaca_json_list(tmp_path: Path) -> None:
    path = tmp_path / "ricette.json"
    items = [
        {"instruction": f"Domanda: {ITALIAN}", "input": "", "output": "Risposta con l’apostrofo."},
        {"instruction": "Traduci", "input": "good morning", "output": "buongiorno", "system": "Sei un traduttore."},
    ]
    path.write_text(json.dumps(items, ensure_ascii=False, indent=2), encoding="utf-8")

    imported = formats.import_file(path)

    assert imported.name == "ricette"
    assert imported.provenance == {"method": "import", "source": "ricette.json", "format": "alpaca"}
    first, second = imported.examples
    assert (first.id, second.id) == ("ricette-00001", "ricette-00002")
    assert first.instruction == f"Domanda: {ITALIAN}" and first.output == "Risposta con l’apostrofo."
    assert first.input is None and first.system is None and first.messages is None
    assert (second.input, second.system) == ("good morning", "Sei un traduttore.")
    assert all(e.meta.method == "import" and e.meta.status == "draft" for e in imported.examples)


def test_import_alpaca_jsonl_skips_blank_lines_and_keeps_file_order(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text(
        json.dumps({"instruction": "uno", "output": "1"})
        + "\n\n"
        + json.dumps({"instruction": ITALIAN, "output": "sì", "category": "varie", "tags": ["x"]}, ensure_ascii=False)
        + "\n",
        encoding="utf-8",
    )

    imported = formats.import_file(path, name="Domande perché")

    assert imported.name == "Domande perché"
    assert [e.id for e in imported.examples] == ["Domande-perche-00001", "Domande-perche-00002"]
    assert [e.instruction for e in imported.examples] == ["uno", ITALIAN]
    assert (imported.examples[1].meta.category, imported.examples[1].meta.tags) == ("varie", ["x"])


def test_import_sharegpt_single_and_multi_turn(tmp_path: Path) -> None:
    single = {
        "conversations": [
            {"from": "system", "value": "Sei gentile."},
            {"from": "human", "value": ITALIAN},
            {"from": "gpt", "value": "Perché sì’."},
        ]
    }
    multi = {
        "conversations": [
            {"from": "system", "value": ""},
            {"from": "human", "value": "Ciao"},
            {"from": "gpt", "value": "Ciao! Come posso aiutarti?"},
            {"from": "human", "value": "Che ore sono?"},
            {"from": "gpt", "value": "Non lo so, mi dispiace."},
        ]
    }
    imported = formats.import_file(write_jsonl(tmp_path / "chat.jsonl", [single, multi]))

    assert imported.provenance["format"] == "sharegpt"
    one, two = imported.examples
    assert (one.system, one.instruction, one.output, one.messages) == ("Sei gentile.", ITALIAN, "Perché sì’.", None)
    assert (two.system, two.instruction, two.output) == (None, "Ciao", "Ciao! Come posso aiutarti?")
    assert [m["role"] for m in two.messages] == ["user", "assistant", "user", "assistant"]
    assert two.messages[-1]["content"] == "Non lo so, mi dispiace."


def test_import_openai_messages_multi_turn(tmp_path: Path) -> None:
    conversation = [
        {"role": "system", "content": "Rispondi in italiano."},
        {"role": "user", "content": "Dimmi una parola"},
        {"role": "assistant", "content": "Così"},
        {"role": "user", "content": "Un’altra"},
        {"role": "assistant", "content": "Perché"},
    ]
    records = [{"messages": conversation}, {"messages": conversation[1:3]}]

    imported = formats.import_file(write_jsonl(tmp_path / "m.jsonl", records))

    multi, single = imported.examples
    assert imported.provenance["format"] == "messages"
    assert (multi.system, multi.instruction, multi.output) == ("Rispondi in italiano.", "Dimmi una parola", "Così")
    assert multi.messages == conversation and to_messages(multi) == conversation
    assert (single.instruction, single.output, single.messages, single.system) == (
        "Dimmi una parola",
        "Così",
        None,
        None,
    )


@pytest.mark.parametrize("delimiter", [",", ";"])
def test_import_csv_with_bom_quotes_and_tags(tmp_path: Path, delimiter: str) -> None:
    d = delimiter
    text = (
        f"Instruction{d}output{d}input{d}system{d}category{d}tags\r\n"
        f'"{ITALIAN}"{d}"Riga uno\nriga due, con virgola; e punto e virgola"{d}{d}{d}cucina{d}"a; b,c"\r\n'
        f"Seconda{d}Risposta{d}un input{d}Sei un cuoco.{d}{d}\r\n"
    )
    path = tmp_path / "foglio.csv"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))

    imported = formats.import_file(path)

    first, second = imported.examples
    assert imported.provenance["format"] == "csv"
    assert first.instruction == ITALIAN
    assert first.output == "Riga uno\nriga due, con virgola; e punto e virgola"
    assert (first.input, first.system, first.meta.category, first.meta.tags) == (None, None, "cucina", ["a", "b", "c"])
    assert (second.input, second.system, second.meta.tags) == ("un input", "Sei un cuoco.", [])


def test_import_hf_folder_and_dataset_dict(tmp_path: Path) -> None:
    import datasets

    rows = [
        {"messages": [{"role": "user", "content": ITALIAN}, {"role": "assistant", "content": "Perché sì."}]},
        {"messages": [{"role": "user", "content": "Ciao"}, {"role": "assistant", "content": "Salve"}]},
    ]
    hf = datasets.Dataset.from_list(rows)
    hf.save_to_disk(str(tmp_path / "plain"))
    datasets.DatasetDict(train=hf, test=hf.select([0])).save_to_disk(str(tmp_path / "splits"))
    datasets.DatasetDict(validation=hf).save_to_disk(str(tmp_path / "notrain"))

    plain = formats.import_file(tmp_path / "plain")
    assert plain.provenance == {"method": "import", "source": "plain", "format": "hf"}
    assert [(e.id, e.instruction, e.output) for e in plain.examples] == [
        ("plain-00001", ITALIAN, "Perché sì."),
        ("plain-00002", "Ciao", "Salve"),
    ]
    assert len(formats.import_file(tmp_path / "splits").examples) == 2  # the train split, not test
    (shard,) = (tmp_path / "plain").glob("*.arrow")  # save_to_disk writes the Arrow stream format
    assert [e.output for e in formats.import_file(shard, name="shard").examples] == ["Perché sì.", "Salve"]
    with pytest.raises(DatasetError) as excinfo:
        formats.import_file(tmp_path / "notrain")
    assert "validation" in problems_of(excinfo)[0] and "train" in problems_of(excinfo)[0]


def test_import_parquet_and_arrow_files(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist(
        [
            {"instruction": ITALIAN, "input": "", "output": "Così."},
            {"instruction": "Due", "input": "contesto", "output": "Risposta"},
        ]
    )
    pq.write_table(table, tmp_path / "dati.parquet")
    with pa.OSFile(str(tmp_path / "dati.arrow"), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)

    for name in ("dati.parquet", "dati.arrow"):
        imported = formats.import_file(tmp_path / name)
        assert imported.provenance["format"] == "hf"
        assert [(e.instruction, e.input, e.output) for e in imported.examples] == [
            (ITALIAN, None, "Così."),
            ("Due", "contesto", "Risposta"),
        ]


def test_auto_detection_by_content_and_explicit_format(tmp_path: Path) -> None:
    messages = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]
    cases = {
        "alpaca": {"instruction": "a", "output": "b"},
        "sharegpt": {"conversations": [{"from": "human", "value": "a"}, {"from": "gpt", "value": "b"}]},
        "messages": {"messages": messages},
    }
    for fmt, record in cases.items():
        imported = formats.import_file(write_jsonl(tmp_path / f"{fmt}.json", [record]))
        assert imported.provenance["format"] == fmt
        assert (imported.examples[0].instruction, imported.examples[0].output) == ("a", "b")

    odd = write_jsonl(tmp_path / "dati.txt", [cases["alpaca"]])
    with pytest.raises(DatasetError, match="estensione '.txt' non riconosciuta"):
        formats.import_file(odd)
    assert formats.import_file(odd, "alpaca").examples[0].output == "b"

    with pytest.raises(DatasetError, match="formato non riconosciuto: riga 1 ha i campi prompt, completion"):
        formats.import_file(write_jsonl(tmp_path / "altro.jsonl", [{"prompt": "a", "completion": "b"}]))
    with pytest.raises(DatasetError, match="formato 'yaml' sconosciuto"):
        formats.import_file(odd, "yaml")


def test_import_writes_nothing(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", [{"instruction": "a", "output": "b"}])
    before = sorted(tmp_path.rglob("*"))
    formats.import_file(path)
    assert sorted(tmp_path.rglob("*")) == before


def test_invalid_json_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "rotto.jsonl"
    path.write_text(
        '{"instruction": "a", "output": "b"}\n{"instruction": "c", "output": "d"}\n{"instruction": "e" "x"}\n'
    )

    with pytest.raises(DatasetError) as excinfo:
        formats.import_file(path)

    assert problems_of(excinfo) == [
        "riga 3: JSON non valido (Expecting ',' delimiter): correggi la riga o rimuovila",
    ]


def test_every_problem_is_reported_at_once_in_file_order(tmp_path: Path) -> None:
    path = tmp_path / "due.jsonl"
    path.write_text(
        '{"instruction": "ok", "output": "ok"}\n'
        "{non json\n"
        '{"instruction": "ok"}\n'
        '{"instruction": "ok", "output": "   "}\n'
        '{"instruction": "ok", "output": 3}\n',
        encoding="utf-8",
    )

    with pytest.raises(DatasetError) as excinfo:
        formats.import_file(path)

    problems = problems_of(excinfo)
    assert len(problems) == 4
    assert problems[0].startswith("riga 2: JSON non valido")
    assert problems[1] == "riga 3: manca il campo `output`"
    assert problems[2].startswith("riga 4: il campo `output` è vuoto")
    assert problems[3] == "riga 5: il campo `output` dev'essere un testo, trovato 3"


def test_json_list_problems_name_the_element(tmp_path: Path) -> None:
    path = tmp_path / "lista.json"
    path.write_text(json.dumps([{"instruction": "a", "output": "b"}, {"instruction": "c"}, "testo"]))

    with pytest.raises(DatasetError) as excinfo:
        formats.import_file(path)

    assert problems_of(excinfo) == [
        "elemento 2: manca il campo `output`",
        "elemento 3: dev'essere un oggetto JSON {...}, trovato 'testo'",
    ]


def test_conversation_problems(tmp_path: Path) -> None:
    good = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]
    records = [
        {"messages": good},
        {"messages": [{"role": "user", "content": "a"}, {"role": "bot", "content": "b"}]},
        {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, good[0]]},
        {"messages": [{"role": "assistant", "content": "b"}]},
        {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": ""}]},
    ]

    with pytest.raises(DatasetError) as excinfo:
        formats.import_file(write_jsonl(tmp_path / "m.jsonl", records))

    problems = problems_of(excinfo)
    assert problems[0] == "riga 2, messaggio 2: ruolo 'bot' sconosciuto: usa user, assistant o system"
    assert problems[1].startswith("riga 3: l'ultimo messaggio dev'essere dell'assistente")
    assert problems[2] == "riga 4: la conversazione non ha messaggi dell'utente"
    assert problems[3].startswith("riga 5, messaggio 2: il contenuto è vuoto")
    assert len(problems) == 4

    sharegpt = {"conversations": [{"from": "human", "value": "a"}, {"from": "robot", "value": "b"}]}
    with pytest.raises(DatasetError, match="riga 1, messaggio 2: ruolo 'robot' sconosciuto: usa human, gpt o system"):
        formats.import_file(write_jsonl(tmp_path / "s.jsonl", [sharegpt]))


def test_csv_problems(tmp_path: Path) -> None:
    missing = tmp_path / "senza_output.csv"
    missing.write_text("instruction,risposta\nciao,salve\n", encoding="utf-8")
    with pytest.raises(DatasetError) as excinfo:
        formats.import_file(missing)
    assert problems_of(excinfo) == [
        "riga 1: manca la colonna 'output' (colonne trovate: instruction, risposta): aggiungila all'intestazione; "
        "servono instruction e output, facoltative input, system, category, tags"
    ]

    rows = tmp_path / "righe.csv"
    rows.write_text("instruction,output\nuno,1\ndue,2,troppo\n,3\n", encoding="utf-8")
    with pytest.raises(DatasetError) as excinfo:
        formats.import_file(rows)
    problems = problems_of(excinfo)
    assert len(problems) == 2
    assert problems[0].startswith("riga 3: 3 valori ma l'intestazione ha 2 colonne")
    assert problems[1].startswith("riga 4: il campo `instruction` è vuoto")


@pytest.mark.parametrize("name", ["vuoto.jsonl", "vuoto.json", "vuoto.csv"])
def test_empty_files(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("\n  \n")
    with pytest.raises(DatasetError, match=f"il file '{name}' è vuoto"):
        formats.import_file(path)


def test_files_with_no_examples_or_missing(tmp_path: Path) -> None:
    (tmp_path / "lista.json").write_text("[]")
    (tmp_path / "solo.csv").write_text("instruction,output\n")
    for name in ("lista.json", "solo.csv"):
        with pytest.raises(DatasetError, match="non contiene esempi"):
            formats.import_file(tmp_path / name)
    with pytest.raises(DatasetError, match="non esiste"):
        formats.import_file(tmp_path / "manca.jsonl")
    (tmp_path / "latin1.jsonl").write_bytes('{"instruction": "perché"}'.encode("latin-1"))
    with pytest.raises(DatasetError, match="non è UTF-8"):
        formats.import_file(tmp_path / "latin1.jsonl")


def test_export_alpaca_jsonl(tmp_path: Path) -> None:
    single_turn = fixture_dataset()
    single_turn.examples = single_turn.examples[:2]

    out = formats.export(single_turn, tmp_path / "out.jsonl", "alpaca-jsonl")

    text = out.read_text(encoding="utf-8")
    assert ITALIAN in text  # ensure_ascii=False: accents written as themselves
    records = [json.loads(line) for line in text.splitlines()]
    assert records == [
        {
            "instruction": f"Spiega: {ITALIAN}",
            "input": "Contesto: la grammatica",
            "output": "Perché l’accento cade sull’ultima sillaba.\nÈ così.",
            "system": "Sei un insegnante paziente.",
        },
        {"instruction": "Che cos’è la pizza?", "input": "", "output": "Un piatto tipico di Napoli.", "system": ""},
    ]


def test_alpaca_export_refuses_multi_turn_and_leaves_the_old_file(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_bytes(b"contenuto precedente\n")

    with pytest.raises(DatasetError) as excinfo:
        formats.export(fixture_dataset(), out, "alpaca-jsonl")

    assert problems_of(excinfo)[0].startswith("esempio 'it-003': è una conversazione a più turni")
    assert out.read_bytes() == b"contenuto precedente\n"
    assert list(tmp_path.iterdir()) == [out]


def test_export_messages_jsonl(tmp_path: Path) -> None:
    source = fixture_dataset()
    out = formats.export(source, tmp_path / "m.jsonl", "messages-jsonl")

    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert records == [{"messages": to_messages(e)} for e in source.examples]
    assert records[0]["messages"][1]["content"] == f"Spiega: {ITALIAN}\n\nContesto: la grammatica"
    assert len(records[2]["messages"]) == 5


def test_export_parquet(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    out = formats.export(fixture_dataset(), tmp_path / "d.parquet", "parquet")

    table = pq.read_table(out)
    assert table.column_names[:9] == [
        "id",
        "system",
        "instruction",
        "input",
        "output",
        "messages",
        "category",
        "status",
        "method",
    ]
    rows = table.to_pylist()
    assert [r["id"] for r in rows] == ["it-001", "it-002", "it-003"]
    assert rows[0]["instruction"] == f"Spiega: {ITALIAN}" and rows[0]["tags"] == ["accenti", "ortografia"]
    assert rows[1]["system"] is None and rows[1]["status"] == "draft"
    assert rows[2]["messages"][3] == {"role": "user", "content": "Anch’io, perché è venerdì."}


def test_export_hf_folder_ready_for_chat_templates(tmp_path: Path) -> None:
    import datasets

    source = fixture_dataset()
    out = formats.export(source, tmp_path / "hf", "hf")

    loaded = datasets.load_from_disk(str(out))
    assert loaded.column_names == ["id", "messages", "category", "status"]
    assert loaded["messages"] == [to_messages(e) for e in source.examples]
    assert loaded["id"] == ["it-001", "it-002", "it-003"]
    assert loaded["category"] == ["grammatica", None, "conversazione"]

    # Exporting again replaces the folder as a whole, and leaves no temporary folder behind.
    source.examples = source.examples[:1]
    formats.export(source, out, "hf")
    assert datasets.load_from_disk(str(out))["id"] == ["it-001"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hf"]


def test_hf_export_never_replaces_a_folder_that_is_not_a_dataset(tmp_path: Path) -> None:
    precious = tmp_path / "documenti"
    precious.mkdir()
    (precious / "tesi.txt").write_text("non cancellarmi")

    with pytest.raises(DatasetError, match="non è un dataset salvato con save_to_disk"):
        formats.export(fixture_dataset(), precious, "hf")

    assert (precious / "tesi.txt").read_text() == "non cancellarmi"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["documenti"]


def test_only_approved(tmp_path: Path) -> None:
    import datasets

    source = fixture_dataset()
    out = formats.export(source, tmp_path / "a.jsonl", "messages-jsonl", only_approved=True)
    assert len(out.read_text(encoding="utf-8").splitlines()) == 2
    assert formats.to_hf_dataset(source, only_approved=True)["id"] == ["it-001", "it-003"]
    assert isinstance(formats.to_hf_dataset(source), datasets.Dataset)

    for example in source.examples:
        example.meta.status = "draft"
    existing = tmp_path / "a.jsonl"
    before = existing.read_bytes()
    for fmt, path in (("messages-jsonl", existing), ("parquet", tmp_path / "b.parquet"), ("hf", tmp_path / "hf")):
        with pytest.raises(DatasetError, match="non ha esempi approvati"):
            formats.export(source, path, fmt, only_approved=True)
    assert existing.read_bytes() == before  # the failed export left the earlier output byte-identical
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jsonl"]


def test_export_refuses_invalid_datasets_and_unknown_formats(tmp_path: Path) -> None:
    broken = fixture_dataset()
    broken.examples[1].output = ""
    with pytest.raises(DatasetError, match="esempio 'it-002', `output`: manca o è vuoto"):
        formats.export(broken, tmp_path / "x.jsonl", "messages-jsonl")
    with pytest.raises(DatasetError, match="formato 'csv' sconosciuto"):
        formats.export(fixture_dataset(), tmp_path / "x.csv", "csv")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("fmt", "name"),
    [("messages-jsonl", "rt.jsonl"), ("parquet", "rt.parquet"), ("hf", "rt"), ("alpaca-jsonl", "a.jsonl")],
)
def test_round_trip_yaml_export_import_keeps_the_texts(tmp_path: Path, fmt: str, name: str) -> None:
    source = fixture_dataset()
    if fmt == "alpaca-jsonl":
        source.examples = source.examples[:2]  # alpaca has no place for a multi-turn conversation
    dataset.create(tmp_path / "prova.yaml", source)
    loaded = dataset.load(tmp_path / "prova.yaml")

    back = formats.import_file(formats.export(loaded, tmp_path / name, fmt))

    assert [to_messages(e) for e in back.examples] == [to_messages(e) for e in loaded.examples]
    if fmt in ("parquet", "alpaca-jsonl"):  # these keep every field apart, not just the conversation
        fields = ("system", "instruction", "input", "output", "messages")
        assert [[getattr(e, f) for f in fields] for e in back.examples] == [
            [getattr(e, f) for f in fields] for e in loaded.examples
        ]
    if fmt == "parquet":
        assert [(e.meta.category, e.meta.tags) for e in back.examples] == [
            (e.meta.category, e.meta.tags) for e in loaded.examples
        ]
    # What was imported is a valid dataset that saves and loads again unchanged.
    dataset.create(tmp_path / "back.yaml", back)
    assert dataset.load(tmp_path / "back.yaml") == back
