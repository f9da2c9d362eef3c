"""Secrets stay out of every file Bottega writes: a full generate → train → eval run with planted secret values,
then a byte scan of everything the run left behind; and a teacher that rejects the key, echoing it back like
OpenAI's "Incorrect API key provided: sk-...", must not put it in a message, a log or a run file.

The jobs are launched the way the app launches them (detached `python -m pipeline ...` processes that log to
log.txt in their run folder), with the secrets in their environment: the teacher's key in the variable the
generation config names, HF_TOKEN as the key of the "hf" preset for the judge, and OPENAI_API_KEY unused. The
teacher is the real `transformers serve` behind the scripted proxy (tests/fault_proxy.py), which also records the
Authorization header of each request: proof that the keys really were in the jobs' hands. The generated dataset
and the trained adapter are then pushed to a recording stand-in for HfApi with HF_TOKEN as the login's token, and
what the pushes would upload is scanned too.
"""

import base64
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from pipeline import jobs
from pipeline.teacher import TeacherConfig, TeacherError, key_status
from tests.conftest import ROOT
from tests.fault_proxy import FaultProxy
from tests.test_generate import ANSWERS, TASKS, answer_reply, task_reply

CORTO = ROOT / "tests" / "assets" / "corto_it.yaml"
TEACHER_KEY = "sk-planted-TeacherKey-7f3a9c1e5b2d4086"
SECRETS = {
    "BOTTEGA_TEACHER_KEY": TEACHER_KEY,
    "HF_TOKEN": "hf_PlantedHubTokenQx7Vb2Lm9Rt4Wz8Kp3Nd",
    "HUGGING_FACE_HUB_TOKEN": "hf_PlantedLegacyTokenZp4Lq8Mx2Vc6Bn1Tr",
    "OPENAI_API_KEY": "sk-planted-OpenAiKey-0c9e8d7f6a5b4c3d",
}
ACTIVE = ("starting", "running", "stopping")


def needles(secrets: list[str]) -> dict[bytes, str]:
    """Byte strings that betray each secret: as is, and base64 (standard and URL-safe) at the three alignments a
    secret can have inside a longer encoded text, minus the edge characters the neighbouring bytes change."""
    found = {}
    for secret in secrets:
        raw = secret.encode()
        found[raw] = secret
        for shift in range(3):
            encoded = base64.b64encode(b"\0" * shift + raw)
            core = encoded[4 if shift else 0 : -4]
            found[core] = f"{secret} (base64)"
            found[core.replace(b"+", b"-").replace(b"/", b"_")] = f"{secret} (base64 url)"
    return found


def scan(roots: list[Path], secrets: list[str]) -> tuple[list[str], list[Path]]:
    """(leaks as 'file: what', every file scanned). Symlinks are not followed: they point at what the run did not
    write (the bundled model)."""
    patterns = needles(secrets)
    leaks, scanned = [], []
    for root in roots:
        for folder, _, files in os.walk(root):
            for name in files:
                path = Path(folder) / name
                if path.is_symlink() or not path.is_file():
                    continue
                scanned.append(path)
                data = path.read_bytes()
                leaks += [f"{path}: {what}" for needle, what in patterns.items() if needle in data]
    return leaks, scanned


def wait_done(folder: Path, timeout: float = 300) -> dict:
    """The job's final status, once its process has exited (its last words, a traceback, come after the status)."""
    job = jobs.Job(folder)
    deadline = time.monotonic() + timeout
    while (status := job.status()).state in ("new", *ACTIVE) or job.alive({"state": "starting"}):
        assert time.monotonic() < deadline, f"{folder} did not end:\n{job.log_tail()}"
        time.sleep(0.2)
    return {**status.fields, "state": status.state, "message": status.message}


class RecordingHub:
    """Stands in for HfApi (the Hub cannot be reached here): writes what each commit would upload under `folder`,
    its commit message included, and keeps the tokens it was handed."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.tokens: list[str | None] = []

    def create_repo(self, repo_id: str, token: str | None = None, **kwargs) -> SimpleNamespace:
        self.tokens.append(token)
        return SimpleNamespace(repo_id=repo_id)

    def create_commit(self, repo_id: str, operations: list, commit_message: str = "", token=None, **kwargs):
        self.tokens.append(token)
        repo = self.folder / repo_id
        for op in operations:
            (repo / op.path_in_repo).parent.mkdir(parents=True, exist_ok=True)
            with op.as_file() as f:
                (repo / op.path_in_repo).write_bytes(f.read())
        (repo / "COMMIT_MESSAGE").write_text(commit_message, encoding="utf-8")
        return SimpleNamespace(commit_url=f"https://huggingface.co/{repo_id}/commit/abc")


class ScriptedTeacher:
    """The teacher behind the proxy: the very first request goes to the real server, the rest get replies that pass
    the filters (the bundled model's YAML is too poor to build a dataset from)."""

    def __init__(self) -> None:
        self.calls = self.tasks = 0

    def __call__(self, body: dict) -> str | None:
        first = next(m["content"] for m in body.get("messages", []) if m["role"] == "user")
        self.calls += 1
        if self.calls == 1:
            return None
        if "migliore: A, B oppure pari" in first:
            return "motivazione: |\n  La risposta A è più chiara.\nmigliore: A\n"
        if "punteggio: un numero" in first:
            return "motivazione: |\n  Compito utile, risposta corretta.\npunteggio: 8\n"
        if "risposta: |" in first:
            return answer_reply(ANSWERS[(self.tasks - 1) % len(ANSWERS)])
        self.tasks += 1
        return task_reply(TASKS[(self.tasks - 1) % len(TASKS)])


@pytest.fixture(scope="module")
def full_run(serve_teacher, bundled_model: Path, tmp_path_factory: pytest.TempPathFactory):
    """Generate → train → eval, each as the app launches it, in a fresh BOTTEGA_HOME with the secrets planted.
    Returns the folders to scan, the jobs' final statuses and the proxy."""
    from pipeline import hub
    from pipeline.evaluate import EvalConfig
    from pipeline.generate import run as gen
    from pipeline.train import runs
    from pipeline.train.config import TrainConfig

    root = tmp_path_factory.mktemp("segreti")
    home, datasets, outside, pushed = root / "home", root / "datasets", root / "hf-home", root / "pushed"
    for folder in (home, datasets, outside, pushed):
        folder.mkdir()
    (home / "models").symlink_to(bundled_model.parent)  # the model is already there: not written by this run
    with pytest.MonkeyPatch.context() as env, FaultProxy(serve_teacher.base_url) as proxy:
        for name, value in SECRETS.items():
            env.setenv(name, value)
        env.setenv("BOTTEGA_HOME", str(home))
        env.setenv("BOTTEGA_DATASETS", str(datasets))
        # Caches a job might write to outside the home are scanned too; each training run sets its own trackio dir.
        env.setenv("HF_HOME", str(outside))
        env.setenv("XDG_CACHE_HOME", str(outside / "xdg"))
        env.delenv("TRACKIO_DIR", raising=False)
        proxy.responder = ScriptedTeacher()

        generation = gen.GenerationConfig.from_dict(
            {
                "output": str(datasets / "generato.yaml"),
                "seed_dataset": str(ROOT / "datasets_yaml" / "seed_it.yaml"),
                "count": 2,
                "max_items": 6,
                "mix": {"self_instruct": 1.0},
                "judge": True,
                "teacher": {"preset": "custom", "base_url": proxy.base_url, "model": serve_teacher.model,
                            "api_key_env": "BOTTEGA_TEACHER_KEY", "max_concurrency": 1, "max_tokens": 16,
                            "backoff_s": 0.05},
            }
        )  # fmt: skip
        generated = wait_done(gen.start(generation), timeout=180)
        generation_requests = list(proxy.requests)

        train = TrainConfig.from_dict(
            {"name": "segreto", "dataset": generation.output, "only_approved": False, "eval_share": 0.0,
             "max_length": 128, "batch_size": 1, "grad_accum": 1, "max_steps": 2, "save_steps": 1,
             "warmup_ratio": 0.0, "trackio": True}
        )  # fmt: skip
        run_dir = runs.start(train)
        trained = wait_done(run_dir, timeout=300)

        job = run_dir / "eval"
        judge = {"preset": "hf", "base_url": proxy.base_url, "model": serve_teacher.model, "max_concurrency": 1,
                 "max_tokens": 16, "backoff_s": 0.05}  # fmt: skip
        evaluation = EvalConfig.from_dict(
            {"run_dir": str(run_dir), "output": str(job / "eval.yaml"), "max_examples": 2,
             "max_new_tokens": 8, "batch_size": 2, "judge": True, "teacher": judge, "benchmark": False}
        )  # fmt: skip
        config_path = job / "config.yaml"
        job.mkdir(parents=True)
        config_path.write_text(yaml.safe_dump(evaluation.to_dict(), allow_unicode=True), encoding="utf-8")
        jobs.Job(job).launch(["eval", "--config", str(config_path)])
        evaluated = wait_done(job, timeout=240)
        judge_requests = proxy.requests[len(generation_requests) :]

        # What a Hub push would upload, with the token a login hands over (HF_TOKEN here, an OAuth token on a Space).
        api = RecordingHub(pushed)
        hub.push_dataset(generation.output, "utente/generato", token=SECRETS["HF_TOKEN"], api=api)
        hub.push_adapter(run_dir, "utente/segreto", token=SECRETS["HF_TOKEN"], api=api)
    yield {
        "roots": [home, datasets, outside, pushed],
        "pushed": (pushed, api.tokens),
        "home": home,
        "generation": (generation, generated, generation_requests),
        "train": (run_dir, trained),
        "eval": (job, evaluated, judge_requests),
        "forwarded": proxy.forwarded,
    }


@pytest.mark.slow
def test_a_full_run_writes_no_secret_anywhere(full_run) -> None:
    generation, generated, generation_requests = full_run["generation"]
    run_dir, trained = full_run["train"]
    job, evaluated, judge_requests = full_run["eval"]
    # The run really happened, through the real teacher for at least one request, with the keys in hand.
    assert generated["state"] == "finished" and generated["accepted"] == 2, generated
    assert full_run["forwarded"] >= 1
    assert {r["headers"]["authorization"] for r in generation_requests} == {f"Bearer {TEACHER_KEY}"}
    assert trained["state"] == "finished" and trained["step"] == 2, trained
    assert evaluated["state"] == "finished", jobs.log_tail(job / "log.txt")
    assert judge_requests and {r["headers"]["authorization"] for r in judge_requests} == {
        f"Bearer {SECRETS['HF_TOKEN']}"
    }
    result = yaml.safe_load((job / "eval.yaml").read_text(encoding="utf-8"))
    assert result["judge"]["ties"] == 2 and result["judge"]["error"] is None

    pushed, tokens = full_run["pushed"]
    assert set(tokens) == {SECRETS["HF_TOKEN"]}
    assert {p.relative_to(pushed).as_posix() for p in pushed.rglob("*") if p.is_file()} >= {
        "utente/generato/generato.yaml", "utente/generato/data/train.parquet", "utente/generato/README.md",
        "utente/segreto/adapter_model.safetensors", "utente/segreto/README.md", "utente/segreto/COMMIT_MESSAGE",
    }  # fmt: skip

    leaks, scanned = scan(full_run["roots"], list(SECRETS.values()))
    assert leaks == []
    # The scan covered every kind of file the run writes: configs, logs, statuses, journal, dataset, metrics, the
    # card, weights, checkpoints (optimizer and RNG state included), trackio's database, the evaluation, and what
    # the pushes would upload.
    names = {p.name for p in scanned}
    for expected in ("config.yaml", "log.txt", "status.json", "journal.jsonl", "rejects.yaml", "generato.yaml",
                     "metrics.jsonl", "README.md", "adapter_model.safetensors", "optimizer.pt", "rng_state.pth",
                     "training_args.bin", "trainer_state.json", "eval.yaml"):  # fmt: skip
        assert expected in names, expected
    home = full_run["home"]
    assert any(p.is_relative_to(home / "trackio") for p in scanned)
    assert len([p for p in scanned if p.is_relative_to(run_dir / "checkpoints")]) >= 10


def test_the_scan_finds_a_secret_raw_and_in_base64_at_any_offset(tmp_path: Path) -> None:
    secret = SECRETS["HF_TOKEN"]
    for i, prefix in enumerate(("", "u:", "ab:")):
        (tmp_path / f"b64-{i}.txt").write_bytes(b"Basic " + base64.b64encode(f"{prefix}{secret}".encode()) + b"\n")
    (tmp_path / "raw.bin").write_bytes(b"\x00\x01" + secret.encode() + b"\xff")
    (tmp_path / "clean.txt").write_text("hf_***", encoding="utf-8")
    leaks, scanned = scan([tmp_path], [secret])
    assert len(scanned) == 5
    assert sorted({leak.split(":")[0] for leak in leaks}) == sorted(
        str(tmp_path / n) for n in ("b64-0.txt", "b64-1.txt", "b64-2.txt", "raw.bin")
    )


class _RejectingTeacher(BaseHTTPRequestHandler):
    """Answers every request with `server.status` and an OpenAI-style error that quotes the key it was sent."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        key = self.headers.get("Authorization", "").removeprefix("Bearer ")
        message = f"Incorrect API key provided: {key}. You can find your API key at https://platform.openai.com."
        body = json.dumps({"error": {"message": message, "type": "invalid_request_error", "code": "invalid_api_key",
                                     "param": None, "key": key}}).encode()  # fmt: skip
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def rejecting_teacher():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _RejectingTeacher)
    server.daemon_threads = True
    server.status = 401
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _failing_config(tmp_path: Path, base_url: str):
    from pipeline.generate.run import GenerationConfig

    return GenerationConfig.from_dict(
        {
            "output": str(tmp_path / "out" / "generato.yaml"),
            "seed_dataset": str(CORTO),
            "count": 1,
            "run_dir": str(tmp_path / "run"),
            "teacher": {"preset": "custom", "base_url": base_url, "model": "gpt-4o-mini",
                        "api_key_env": "BOTTEGA_TEACHER_KEY", "max_concurrency": 1, "max_retries": 1,
                        "backoff_s": 0.01, "timeout_s": 5},
        }
    )  # fmt: skip


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422, 429, 500])
def test_a_teacher_that_echoes_the_key_back_gets_it_into_no_message_log_or_file(
    status, rejecting_teacher, tmp_path, monkeypatch, caplog
) -> None:
    from pipeline.generate.run import generate

    monkeypatch.setenv("BOTTEGA_TEACHER_KEY", TEACHER_KEY)
    rejecting_teacher.status = status
    config = _failing_config(tmp_path, f"http://127.0.0.1:{rejecting_teacher.server_port}/v1")
    with caplog.at_level("DEBUG"), pytest.raises(TeacherError) as failure:
        generate(config)
    assert f"HTTP {status}" in str(failure.value)
    assert TEACHER_KEY not in str(failure.value) and TEACHER_KEY not in caplog.text
    status = jobs.Job(tmp_path / "run").status()
    assert status.state == "failed" and status.message == str(failure.value)
    leaks, scanned = scan([tmp_path], [TEACHER_KEY])
    assert leaks == [] and len(scanned) >= 3


def test_an_unreachable_teacher_names_the_url_not_the_key(tmp_path, monkeypatch) -> None:
    from pipeline.generate.run import generate

    monkeypatch.setenv("BOTTEGA_TEACHER_KEY", TEACHER_KEY)
    config = _failing_config(tmp_path, f"http://127.0.0.1:{jobs.free_port()}/v1")
    with pytest.raises(TeacherError) as failure:
        generate(config)
    assert failure.value.cause == "connection" and TEACHER_KEY not in str(failure.value)
    assert scan([tmp_path], [TEACHER_KEY])[0] == []


@pytest.mark.slow
def test_a_rejected_key_stays_out_of_the_jobs_log_status_and_journal(rejecting_teacher, tmp_path, monkeypatch) -> None:
    """The app's path: a detached job whose traceback lands in log.txt and whose message the UI shows."""
    from pipeline.generate.run import start

    monkeypatch.setenv("BOTTEGA_TEACHER_KEY", TEACHER_KEY)
    rejecting_teacher.status = 400  # the one status whose server text reaches the message
    run_dir = start(_failing_config(tmp_path, f"http://127.0.0.1:{rejecting_teacher.server_port}/v1"))
    status = wait_done(run_dir, timeout=120)
    assert status["state"] == "failed" and "Incorrect API key provided: ***" in status["message"]
    log = (run_dir / "log.txt").read_text(encoding="utf-8")
    assert "Incorrect API key provided: ***" in log  # a user error: its message, no traceback
    leaks, scanned = scan([tmp_path], [TEACHER_KEY])
    assert leaks == [] and {"log.txt", "status.json", "journal.jsonl", "config.yaml"} <= {p.name for p in scanned}


@pytest.mark.parametrize("pasted", [TEACHER_KEY, SECRETS["HF_TOKEN"]])
def test_a_key_pasted_where_its_variable_name_goes_is_refused_without_repeating_it(pasted) -> None:
    """The generation form asks for the NAME of the variable; a key typed there would be saved in config.yaml."""
    with pytest.raises(ValueError) as refused:
        TeacherConfig(preset="openai", model="gpt-4o-mini", api_key_env=pasted)
    assert "`api_key_env`" in str(refused.value) and pasted not in str(refused.value)


def test_a_base_url_carrying_credentials_is_refused_without_repeating_them() -> None:
    with pytest.raises(ValueError) as refused:
        TeacherConfig(preset="custom", model="m", base_url=f"https://utente:{TEACHER_KEY}@api.example.com/v1")
    assert "`base_url`" in str(refused.value) and TEACHER_KEY not in str(refused.value)


def test_the_key_status_says_where_the_key_comes_from_never_the_key(monkeypatch) -> None:
    monkeypatch.setenv("BOTTEGA_TEACHER_KEY", TEACHER_KEY)
    monkeypatch.setenv("HF_TOKEN", SECRETS["HF_TOKEN"])
    for config in (
        TeacherConfig(preset="custom", base_url="http://127.0.0.1:1/v1", model="m", api_key_env="BOTTEGA_TEACHER_KEY"),
        TeacherConfig(preset="hf", model="m"),
    ):
        text = key_status(config)
        assert "Chiave impostata" in text and TEACHER_KEY not in text and SECRETS["HF_TOKEN"] not in text
