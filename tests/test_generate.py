"""Generation runs against the real `transformers serve` behind the fault-injecting proxy.

The bundled model's Italian (and YAML) is poor, so the proxy stands in for a good teacher where a test needs replies
that pass the filters: `replace_content` answers with a scripted completion, everything else really reaches the
server. Runs use one request at a time so the scripted replies meet the requests in order.
"""

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from pipeline import dataset as ds_mod
from pipeline.errors import UserError
from pipeline.generate.run import GenerationConfig, generate
from tests.conftest import ROOT
from tests.fault_proxy import FaultProxy, delay, replace_content

TASKS = [
    "Spiega perché in autunno le foglie di molti alberi cambiano colore.",
    "Scrivi una breve email formale per chiedere al Comune il rinnovo della carta d'identità.",
    "Elenca tre consigli pratici per risparmiare sulla bolletta della luce in inverno.",
    "Riassumi in due frasi la trama dei Promessi sposi di Alessandro Manzoni.",
    "Spiega la differenza tra un mutuo a tasso fisso e uno a tasso variabile.",
]
ANSWERS = [
    "In autunno le giornate si accorciano e la pianta smette di produrre clorofilla, il pigmento verde. "
    "Così emergono i pigmenti gialli e arancioni che c'erano già nella foglia.",
    "Gentile Ufficio anagrafe, vorrei chiedere un appuntamento per il rinnovo della mia carta d'identità, "
    "che scadrà il mese prossimo. Resto in attesa di un vostro riscontro. Cordiali saluti.",
    "Abbassare il riscaldamento di un grado, spegnere gli apparecchi in standby e usare lampadine a LED.",
    "Renzo e Lucia vogliono sposarsi, ma don Rodrigo lo impedisce con le minacce. Dopo molte peripezie e la peste "
    "di Milano, i due si ritrovano e finalmente si sposano.",
    "Con il tasso fisso la rata resta uguale per tutta la durata del mutuo; con il tasso variabile cambia insieme "
    "ai tassi di mercato, quindi può scendere ma anche salire.",
]


def task_reply(text: str) -> str:
    return f"idea: |\n  Un compito utile e diverso.\nistruzione: |\n  {text}\ninput: ''\n"


def answer_reply(text: str) -> str:
    return f"ragionamento: |\n  Rispondo in modo chiaro.\nrisposta: |\n  {text}\n"


@pytest.fixture
def proxy(serve_teacher):
    with FaultProxy(serve_teacher.base_url) as fp:
        yield fp


def make_config(tmp_path: Path, proxy: FaultProxy, serve_teacher, **overrides) -> GenerationConfig:
    raw = {
        "output": str(tmp_path / "generato.yaml"),
        "seed_dataset": str(ROOT / "datasets_yaml" / "seed_it.yaml"),
        "count": 3,
        "mix": {"self_instruct": 1.0},
        "run_dir": str(tmp_path / "run"),
        "teacher": {
            "preset": "custom",
            "base_url": proxy.base_url,
            "model": serve_teacher.model,
            "max_concurrency": 1,
            "max_tokens": 32,
            "backoff_s": 0.05,
        },
        **overrides,
    }
    return GenerationConfig.from_dict(raw)


def journal(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "journal.jsonl").read_text(encoding="utf-8").splitlines()]


def test_a_run_accepts_rejects_by_reason_and_writes_a_valid_dataset(tmp_path, proxy, serve_teacher) -> None:
    proxy.push(
        replace_content(task_reply(TASKS[0])), replace_content(answer_reply(ANSWERS[0])),
        replace_content(task_reply(TASKS[0] + " ")), replace_content(answer_reply(ANSWERS[0])),  # a near-duplicate
        replace_content(task_reply("Disegna una mappa dell'Italia con i capoluoghi di regione.")),
        replace_content(answer_reply(ANSWERS[1])),  # a task a text model cannot do
        replace_content("Non è YAML, solo prosa."), replace_content("nemmeno questo"), replace_content("- lista"),
        replace_content(task_reply(TASKS[1])), replace_content(answer_reply(ANSWERS[1])),
        replace_content(task_reply(TASKS[2])), replace_content(answer_reply(ANSWERS[2])),
    )  # fmt: skip
    config = make_config(tmp_path, proxy, serve_teacher)
    status = generate(config)

    assert (status.state, status.accepted, status.rejected) == ("finished", 3, 3)
    assert status.reasons == {"duplicato": 1, "compito_non_testuale": 1, "yaml_not_mapping": 1}
    assert status.tokens > 0
    out = ds_mod.load(config.output)
    assert [e.instruction for e in out.examples] == [TASKS[0], TASKS[1], TASKS[2]]
    for example in out.examples:
        assert example.meta.method == "self_instruct" and example.meta.status == "draft"
        assert example.meta.teacher_model == serve_teacher.model
        assert example.system and example.meta.tokens > 0 and example.meta.evolution_depth == 0
    assert out.provenance["seed"] == 0
    rejects = yaml.safe_load((tmp_path / "run" / "rejects.yaml").read_text(encoding="utf-8"))
    assert [r["reasons"] for r in rejects] == [["duplicato"], ["compito_non_testuale"], ["yaml_not_mapping"]]
    status_file = json.loads((tmp_path / "run" / "status.json").read_text())
    assert status_file["accepted"] == 3 and status_file["state"] == "finished"


def test_evol_instruct_records_parent_and_depth(tmp_path, proxy, serve_teacher) -> None:
    proxy.push(replace_content(task_reply(TASKS[3])), replace_content(answer_reply(ANSWERS[3])))
    config = make_config(tmp_path, proxy, serve_teacher, count=1, mix={"evol_instruct": 1.0})
    generate(config)
    (example,) = ds_mod.load(config.output).examples
    parent = ds_mod.load(config.seed_dataset).find(example.meta.parent_id)
    assert example.meta.method == "evol_instruct" and example.meta.evolution_depth == 1
    assert example.meta.tags[0] in ("vincolo", "approfondisci", "concretizza", "ragionamento", "complica_input",
                                    "ampiezza")  # fmt: skip
    evolve_prompt = proxy.requests[0]["body"]["messages"][-1]["content"]
    assert parent.instruction.splitlines()[0] in evolve_prompt


def test_the_budget_stops_the_run_cleanly_and_keeps_what_was_accepted(tmp_path, proxy, serve_teacher) -> None:
    proxy.push(*[replace_content(task_reply(TASKS[0])), replace_content(answer_reply(ANSWERS[0]))] * 3)
    config = make_config(tmp_path, proxy, serve_teacher, count=3)
    config.teacher = dataclasses.replace(config.teacher, budget_tokens=1400)
    status = generate(config)
    assert status.state == "stopped" and "budget" in str(status.message)
    assert 0 < status.accepted < 3
    assert len(ds_mod.load(config.output).examples) == status.accepted


def test_status_shows_the_teacher_at_work_before_the_first_verdict(tmp_path, proxy, serve_teacher) -> None:
    """A slow teacher (a CPU, long replies) can take minutes per item: meanwhile status.json says how many requests
    are out and how many replies came back, not just zeros."""
    tasks, answers = iter(TASKS), iter(ANSWERS)
    proxy.responder = lambda body: (
        answer_reply(next(answers)) if "risposta: |" in body["messages"][-1]["content"] else task_reply(next(tasks))
    )
    proxy.latency_ms = 3000
    config = make_config(tmp_path, proxy, serve_teacher, count=2, max_items=2)
    config.teacher = dataclasses.replace(config.teacher, max_concurrency=2)
    done = []
    thread = threading.Thread(target=lambda: done.append(generate(config)))
    thread.start()
    status_file, seen = tmp_path / "run" / "status.json", None
    deadline = time.monotonic() + 30
    while seen is None and time.monotonic() < deadline:
        try:
            status = json.loads(status_file.read_text())
        except (FileNotFoundError, ValueError):
            status = {}
        if status.get("in_flight") == 2:
            seen = status
        time.sleep(0.1)
    thread.join(timeout=60)

    assert seen is not None, "status.json never showed the two requests in flight"
    assert seen["state"] == "running" and seen["accepted"] + seen["rejected"] == 0 and seen["requests"] == 0
    final = done[0]
    assert final.accepted == 2 and final.in_flight == 0
    assert final.requests == proxy.received == 4  # two items, a task and an answer each
    assert final.tokens == sum(r["tokens"] for r in journal(tmp_path / "run") if r["type"] == "reply")


def _local_config(tmp_path: Path, items: int, concurrency: int, max_tokens: int, **extra) -> GenerationConfig:
    """A Self-Instruct run of `items` candidates with the "local" preset: the run starts its own server."""
    return GenerationConfig.from_dict(
        {
            "output": str(tmp_path / "locale.yaml"),
            "seed_dataset": str(ROOT / "datasets_yaml" / "seed_it.yaml"),
            "count": items,
            "max_items": items,
            "mix": {"self_instruct": 1.0},
            "run_dir": str(tmp_path / "run"),
            "teacher": {"preset": "local", "max_concurrency": concurrency, "max_tokens": max_tokens, "max_retries": 0},
            **extra,
        }
    )


@pytest.mark.slow
def test_the_local_preset_serves_the_bundled_model_with_batching_then_stops_it(tmp_path, bundled_model) -> None:
    status = generate(_local_config(tmp_path, items=2, concurrency=2, max_tokens=24))

    # Accepted or rejected (the model's Italian YAML is poor), both candidates reached a verdict through the server.
    assert status.accepted + status.rejected == 2 and status.tokens > 0
    started = (tmp_path / "run" / "serve.log").read_text().splitlines()[0]
    # Two requests in flight of up to 24 + 2048 tokens each: 2 × 9 blocks of 256 tokens.
    assert "--continuous-batching --cb-num-blocks 18" in started
    port = int(started.split("--port ")[1].split()[0])
    with pytest.raises(ConnectionRefusedError):  # the server is gone with the run
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


@pytest.mark.slow
def test_local_batching_false_serves_one_request_at_a_time(tmp_path, bundled_model) -> None:
    status = generate(_local_config(tmp_path, items=1, concurrency=1, max_tokens=8, local_batching=False))

    assert status.accepted + status.rejected == 1 and status.tokens > 0
    started = (tmp_path / "run" / "serve.log").read_text().splitlines()[0]
    # at concurrency 1 a CPU would get the paged cache too; turned off, Bottega's server runs without it
    assert started.startswith("$ pipeline.local_server serve ") and "--continuous-batching" not in started


def test_sigkill_mid_run_then_rerun_loses_nothing_duplicates_nothing_pays_nothing_twice(
    tmp_path, proxy, serve_teacher
) -> None:
    config = make_config(tmp_path, proxy, serve_teacher, count=3)
    config_path = tmp_path / "run.yaml"
    raw = config.to_dict()
    config_path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    cli = [sys.executable, "-m", "pipeline", "generate", "--config", str(config_path)]
    run_dir = tmp_path / "run"

    # Item 0 completes; item 1's task arrives, then its answer hangs in the proxy until the process is killed.
    proxy.push(
        replace_content(task_reply(TASKS[0])), replace_content(answer_reply(ANSWERS[0])),
        replace_content(task_reply(TASKS[1])), delay(600),
    )  # fmt: skip
    proc = subprocess.Popen(cli, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while proxy.received < 4:
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, "the run never reached item 1's answer"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = journal(run_dir)
    assert [r["type"] for r in before] == ["plan", "reply", "reply", "verdict", "plan", "reply"]

    # The re-run asks only what was never answered: item 1's answer, then items 2 and 3 from scratch.
    received = proxy.received
    proxy.reset()
    proxy.push(
        replace_content(answer_reply(ANSWERS[1])),
        replace_content(task_reply(TASKS[2])), replace_content(answer_reply(ANSWERS[2])),
    )  # fmt: skip
    done = subprocess.run(cli, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert received == 4
    first_request = proxy.requests[0]["body"]["messages"][-1]["content"]
    assert TASKS[1] in first_request and "risposta" in first_request  # the answer step, not the task step again
    assert len(proxy.requests) == 3

    out = ds_mod.load(config.output)
    assert [e.instruction for e in out.examples] == TASKS[:3]
    verdicts = [r for r in journal(run_dir) if r["type"] == "verdict"]
    assert [v["item"] for v in verdicts] == [0, 1, 2]


def tasks_reply(texts: list[str]) -> str:
    entries = "".join(f"  - istruzione: |\n      {text}\n    input: ''\n" for text in texts)
    return f"compiti:\n{entries}"


def test_no_item_starts_once_those_in_flight_could_reach_the_target(tmp_path) -> None:
    with FaultProxy("http://127.0.0.1:9/v1") as proxy:  # never forwards: a scripted teacher, slow enough to overlap
        proxy.latency_ms = 200
        proxy.responder = lambda body: (
            answer_reply(ANSWERS[0]) if "risposta: |" in body["messages"][-1]["content"] else task_reply(TASKS[0])
        )
        config = GenerationConfig.from_dict({
            "output": str(tmp_path / "generato.yaml"), "count": 1, "max_items": 8, "mix": {"self_instruct": 1.0},
            "run_dir": str(tmp_path / "run"),
            "teacher": {"preset": "custom", "base_url": proxy.base_url, "model": "copione", "max_concurrency": 4},
        })  # fmt: skip
        status = generate(config)
    # four workers, one example wanted: one item is tried, not four paid for and three thrown away
    assert status.accepted == 1 and status.rejected == 0 and proxy.received == 2


def test_several_tasks_per_request_run_as_many_groups_at_once_as_the_teacher_takes_requests(tmp_path) -> None:
    import re

    answers = iter(ANSWERS * 2)

    def respond(body: dict) -> str:
        prompt = body["messages"][-1]["content"]
        if many := re.search(r"Inventa (\d+) compiti", prompt):
            return tasks_reply(TASKS[: int(many.group(1))])
        return answer_reply(next(answers))

    with FaultProxy("http://127.0.0.1:9/v1") as proxy:  # never forwards: a scripted teacher
        proxy.responder, proxy.latency_ms = respond, 300
        config = GenerationConfig.from_dict({
            "output": str(tmp_path / "generato.yaml"), "count": 4, "max_items": 4, "mix": {"self_instruct": 1.0},
            "tasks_per_request": 2, "run_dir": str(tmp_path / "run"),
            "teacher": {"preset": "custom", "base_url": proxy.base_url, "model": "copione", "max_concurrency": 2,
                        "max_tokens": 32},
        })  # fmt: skip
        status = generate(config)
        asked = [r["body"]["messages"][-1]["content"] for r in proxy.requests]
    assert status.accepted + status.rejected == 4
    # both groups' task requests went first, side by side; requests in flight never passed the teacher's 2
    assert all("Inventa 2 compiti" in a for a in asked[:2]) and sum("Inventa" in a for a in asked) == 2
    assert proxy.max_in_flight == 2
    # the reply with two tasks may take 160 tokens each, past the teacher's 32
    assert [r["body"]["max_tokens"] for r in proxy.requests[:2]] == [320, 320]


def test_several_tasks_per_request_survive_a_kill_with_nothing_lost_duplicated_or_paid_twice(
    tmp_path, proxy, serve_teacher
) -> None:
    config = make_config(tmp_path, proxy, serve_teacher, count=5, max_items=6, tasks_per_request=3)
    config_path = tmp_path / "run.yaml"
    config_path.write_text(yaml.safe_dump(config.to_dict(), allow_unicode=True), encoding="utf-8")
    cli = [sys.executable, "-m", "pipeline", "generate", "--config", str(config_path)]
    run_dir = tmp_path / "run"

    # Items 0-2 share one request for three tasks, then each gets its own answer; the request for items 3-5 hangs
    # in the proxy until the process is killed.
    proxy.push(
        replace_content(tasks_reply(TASKS[:3])),
        *(replace_content(answer_reply(a)) for a in ANSWERS[:3]),
        delay(600),
    )  # fmt: skip
    proc = subprocess.Popen(cli, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while proxy.received < 5:
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, "the run never reached the second request for tasks"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    first = proxy.requests[0]["body"]["messages"][-1]["content"]
    assert "Inventa 3 compiti nuovi" in first
    before = journal(run_dir)
    shared = [r for r in before if r["type"] == "reply" and r["step"] == "tasks"]
    assert len(shared) == 1 and shared[0]["members"] == [0, 1, 2]
    assert [r["item"] for r in before if r["type"] == "verdict"] == [0, 1, 2]

    # The re-run asks again only for the request that never came back. Its reply holds a near-duplicate of its
    # first task and one task fewer than asked: each item keeps its own verdict.
    proxy.reset()
    near_twin = TASKS[3].replace("Riassumi in due frasi", "Riassumi in due brevi frasi")
    proxy.push(
        replace_content(tasks_reply([TASKS[3], near_twin])),
        replace_content(answer_reply(ANSWERS[3])), replace_content(answer_reply(ANSWERS[3])),
    )  # fmt: skip
    done = subprocess.run(cli, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert len(proxy.requests) == 3
    assert "Inventa 3 compiti nuovi" in proxy.requests[0]["body"]["messages"][-1]["content"]
    verdicts = {r["item"]: r["reasons"] for r in journal(run_dir) if r["type"] == "verdict"}
    assert verdicts == {0: [], 1: [], 2: [], 3: [], 4: ["duplicato"], 5: ["compito_mancante"]}
    out = ds_mod.load(config.output)
    assert [e.instruction for e in out.examples] == TASKS[:4]
    # Each example carries its share of the shared request's tokens, plus its own answer's.
    tokens = {r["item"]: r["tokens"] for r in journal(run_dir) if r["type"] == "reply" and r["step"] == "answer"}
    assert all(e.meta.tokens > tokens[int(e.id.split("-")[1])] for e in out.examples)


def backtranslate_reply(text: str, fit: int) -> str:
    return f"adatto: {fit}\nistruzione: |\n  {text}\ninput: ''\n"


def test_backtranslation_keeps_the_human_text_as_the_answer_with_its_provenance(
    tmp_path, proxy, serve_teacher
) -> None:
    from pipeline.generate.passages import split_documents

    documents = ROOT / "pipeline" / "data" / "documenti"
    config = make_config(tmp_path, proxy, serve_teacher, count=3, max_items=4, mix={"backtranslation": 1.0},
                         documents=[str(documents)], license="CC0 1.0")  # fmt: skip
    proxy.push(
        replace_content(backtranslate_reply("Come funziona una moka e da quali parti è composta?", 5)),
        replace_content(backtranslate_reply("Dimmi qualcosa.", 1)),  # the teacher finds the passage unfit
        replace_content(backtranslate_reply("Quali sono gli errori più comuni quando si prepara il caffè?", 4)),
        replace_content(backtranslate_reply("Come si pulisce la moka senza rovinarla?", 5)),
    )  # fmt: skip
    status = generate(config)
    assert status.state == "finished" and status.accepted == 3, status
    first = proxy.requests[0]["body"]["messages"][-1]["content"]
    passages = split_documents([documents])
    assert passages[0].text in first and "Il caffè con la moka" in first  # the passage, and its heading as context
    verdicts = {r["item"]: r["reasons"] for r in journal(tmp_path / "run") if r["type"] == "verdict"}
    assert verdicts == {0: [], 1: ["passaggio_inadatto"], 2: [], 3: []}
    out = ds_mod.load(config.output)
    assert [e.output for e in out.examples] == [passages[i].text for i in (0, 2, 3)]  # the human text, as written
    for example in out.examples:
        assert example.meta.method == "backtranslation" and example.meta.license == "CC0 1.0"
        source, offsets = example.meta.source.rsplit(":", 1)
        start, end = (int(n) for n in offsets.split("-"))
        assert Path(source).read_text(encoding="utf-8")[start:end] == example.output
    assert out.provenance["documents"] == [str(documents)] and out.provenance["license"] == "CC0 1.0"


def test_magpie_draws_requests_from_the_bundled_model_itself(tmp_path, proxy, serve_teacher) -> None:
    """The real bundled model, through the real local server, continues its own chat template after an Italian
    system message: what it writes is the user's request. (The answers here are scripted: the step is the ordinary
    answer step, tested above.)"""
    answers = iter(ANSWERS)
    proxy.responder = lambda body: None if "prompt" in body else answer_reply(next(answers))
    config = make_config(tmp_path, proxy, serve_teacher, count=3, max_items=3, mix={"magpie": 1.0})
    status = generate(config)
    raw = [r["body"] for r in proxy.requests if "prompt" in r["body"]]
    assert len(raw) == 3
    for body in raw:  # the template's prefix, up to where the user's words begin, after the Italian system message
        assert body["prompt"].startswith("<|im_start|>system\nSei un assistente che parla solo italiano.")
        assert body["prompt"].endswith("<|im_start|>user\n") and body["stop"] == ["<|im_end|>"]
    drawn = [r for r in journal(tmp_path / "run") if r["type"] == "reply" and r["step"] == "magpie"]
    assert len(drawn) == 3 and all(r["tokens"] > 0 for r in drawn)
    # A request ends at the template's end of turn; one that ran to the token limit never ended, and is refused.
    written = [r["data"]["istruzione"] for r in drawn if r["data"] is not None]
    assert all(r["error"] == "truncated" for r in drawn if r["data"] is None)
    assert all(text and "<|im_end|>" not in text for text in written)
    # Every item got a verdict from the same filters as any other method (the 135M model often writes English).
    verdicts = [r for r in journal(tmp_path / "run") if r["type"] == "verdict"]
    assert len(verdicts) == 3 and status.accepted + status.rejected == 3
    for verdict in verdicts:
        assert verdict["accepted"] or set(verdict["reasons"]) <= {"lingua_istruzione", "duplicato", "troppo_corta",
                                                                   "compito_non_testuale", "lingua_mista",
                                                                   "yaml_truncated"}  # fmt: skip


def test_magpie_needs_a_server_that_takes_raw_text(tmp_path) -> None:
    with pytest.raises(UserError, match="/v1/completions"):
        GenerationConfig.from_dict({"output": str(tmp_path / "x.yaml"), "mix": {"magpie": 1.0},
                                    "teacher": {"preset": "openai", "model": "gpt-4o-mini"}})  # fmt: skip


def test_backtranslation_without_documents_is_refused_naming_the_field(tmp_path) -> None:
    with pytest.raises(UserError, match="`documents`"):
        GenerationConfig.from_dict({"output": str(tmp_path / "x.yaml"), "mix": {"backtranslation": 1.0}})
    with pytest.raises(UserError, match="`mix`"):
        GenerationConfig.from_dict({"output": str(tmp_path / "x.yaml"), "documents": ["pipeline/data/documenti"]})


@pytest.mark.parametrize("path", sorted((ROOT / "configs" / "generate").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_generation_config_loads_and_says_how_to_run_it(path: Path) -> None:
    from pipeline.generate.run import load_config

    config = load_config(path)
    assert config.count > 0 and config.teacher.preset in ("local", "openai", "hf", "custom")
    assert f"python -m pipeline generate --config configs/generate/{path.name}" in path.read_text(encoding="utf-8")


def test_a_bad_config_names_every_field_to_fix(tmp_path: Path) -> None:
    from pipeline.generate.run import load_config

    bad = tmp_path / "bad.yaml"
    bad.write_text("output: x.txt\ncount: 0\nmix: {magia: 1}\n", encoding="utf-8")
    with pytest.raises(ValueError) as e:
        load_config(bad)
    for field_name in ("`count`", "`mix`", "`output`"):
        assert field_name in str(e.value)
