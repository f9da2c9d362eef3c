"""Hub pushes and pulls, checked at the HfApi boundary: the calls made and the bytes uploaded."""

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from pipeline import dataset, hub, votes

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "datasets_yaml" / "seed_it.yaml"
TOKEN = "hf_SegretoDaNonPubblicare1234567890"


class FakeHub:
    """Stands in for HfApi (the Hub cannot be reached here): records what would be sent, serves it back."""

    def __init__(self, tmp_path: Path):
        self.calls: list[tuple] = []
        self.files: dict[str, bytes] = {}
        self.tmp = tmp_path
        self.pool = ThreadPoolExecutor(max_workers=1)  # like HfApi: background jobs run one at a time, in order

    def create_repo(self, repo_id, **kwargs):
        self.calls.append(("create_repo", repo_id, kwargs))
        return SimpleNamespace(repo_id=repo_id)

    def create_commit(self, repo_id, operations, repo_type=None, **kwargs):
        self.calls.append(("create_commit", repo_id, {"repo_type": repo_type, **kwargs}))
        for op in operations:  # bytes, a file path or (from CommitScheduler) a partial file object
            with op.as_file() as f:
                self.files[op.path_in_repo] = f.read()
        prefix = {"dataset": "datasets/", "space": "spaces/"}.get(repo_type, "")
        return SimpleNamespace(commit_url=f"https://huggingface.co/{prefix}{repo_id}/commit/abc")

    def run_as_future(self, fn, *args, **kwargs):
        return self.pool.submit(fn, *args, **kwargs)

    def list_repo_files(self, repo_id, **kwargs):
        return sorted(self.files)

    def hf_hub_download(self, repo_id, filename, **kwargs):
        path = self.tmp / "download" / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.files[filename])
        return str(path)

    def snapshot_download(self, repo_id, *, local_dir, allow_patterns=None, **kwargs):
        from huggingface_hub.utils import filter_repo_objects

        self.calls.append(("snapshot_download", repo_id, {"allow_patterns": allow_patterns, **kwargs}))
        for name in filter_repo_objects(self.files, allow_patterns=allow_patterns):
            path = Path(local_dir) / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(self.files[name])
        return str(local_dir)


def test_push_dataset_uploads_yaml_parquet_and_a_valid_card(tmp_path):
    import datasets
    from huggingface_hub import DatasetCard

    fake = FakeHub(tmp_path)
    url = hub.push_dataset(SEED, "utente/seed-it", token=TOKEN, api=fake)
    assert url.endswith("/commit/abc")
    kinds = [c[0] for c in fake.calls]
    assert kinds == ["create_repo", "create_commit"]
    assert fake.calls[0][2]["repo_type"] == "dataset" and fake.calls[0][2]["exist_ok"]
    assert sorted(fake.files) == ["README.md", "data/train.parquet", "seed_it.yaml"]
    assert fake.files["seed_it.yaml"] == SEED.read_bytes()  # the YAML goes up byte for byte

    (tmp_path / "train.parquet").write_bytes(fake.files["data/train.parquet"])
    rows = datasets.Dataset.from_parquet(str(tmp_path / "train.parquet"))
    assert len(rows) == 327 and rows[0]["messages"][-1]["role"] == "assistant"

    card = DatasetCard(fake.files["README.md"].decode("utf-8"))
    assert card.data.language == ["it"] and card.data.task_categories == ["text-generation"]
    assert "esempi: 327" in card.text and 'load_dataset("utente/seed-it"' in card.text
    # The token authenticates the calls but is in nothing uploaded.
    assert all(TOKEN.encode() not in content for content in fake.files.values())


def test_pull_dataset_validates_and_never_overwrites(tmp_path):
    fake = FakeHub(tmp_path)
    hub.push_dataset(SEED, "utente/seed-it", api=fake)
    out = tmp_path / "datasets" / "seed-it.yaml"
    hub.pull_dataset("utente/seed-it", out, api=fake)
    assert dataset.load(out).examples == dataset.load(SEED).examples
    with pytest.raises(ValueError, match="esiste già"):
        hub.pull_dataset("utente/seed-it", out, api=fake)

    broken = FakeHub(tmp_path)
    broken.files["rotto.yaml"] = yaml.safe_dump({"name": "rotto", "examples": [{"id": "x"}]}).encode()
    with pytest.raises(dataset.DatasetError):
        hub.pull_dataset("utente/rotto", tmp_path / "rotto.yaml", api=broken)
    assert not (tmp_path / "rotto.yaml").exists()


def test_cli_push_then_pull(tmp_path, monkeypatch, capsys):
    import huggingface_hub

    from pipeline.__main__ import main

    fake = FakeHub(tmp_path)
    monkeypatch.setattr(huggingface_hub, "HfApi", lambda: fake)
    assert main(["hub", "push-dataset", str(SEED), "--repo", "utente/seed-it"]) == 0
    assert fake.calls[0][2]["private"] is True
    out = tmp_path / "copia.yaml"
    assert main(["hub", "pull-dataset", "utente/seed-it", "--out", str(out)]) == 0
    assert "commit/abc" in capsys.readouterr().out and out.exists()


def test_push_adapter_uploads_the_adapter_and_a_card_with_results(adapter_run, tmp_path, monkeypatch):
    from huggingface_hub import ModelCard

    monkeypatch.setenv("HF_TOKEN", TOKEN)
    votes.VoteStore().add(
        votes.Vote(verdict="a", turns=[{"role": "user", "content": "Ciao"}], answer_a="uno", answer_b="due",
                   sides={"A": "finetuned", "B": "base"}, models={"base": "b", "finetuned": str(adapter_run)})
    )  # fmt: skip
    fake = FakeHub(tmp_path)
    hub.push_adapter(adapter_run, "utente/smollm2-it", token=TOKEN, api=fake)
    assert fake.calls[0][2]["repo_type"] == "model"
    assert {"adapter_config.json", "adapter_model.safetensors", "README.md"} <= set(fake.files)
    assert "training_args.bin" not in fake.files
    weights = adapter_run / "adapter" / "adapter_model.safetensors"
    assert fake.files["adapter_model.safetensors"] == weights.read_bytes()
    card = ModelCard(fake.files["README.md"].decode("utf-8"))
    assert card.data.base_model == "HuggingFaceTB/SmolLM2-135M-Instruct" and card.data.library_name == "peft"
    # Every vote that used this run as adapter (the browser tests may have added some), and only those.
    mine = votes.stats([v for v in votes.VoteStore().all() if v.models["finetuned"] == str(adapter_run)])
    assert mine.wins >= 1
    assert f"voti A/B alla cieca: {mine.n} (fine-tuned meglio {mine.wins}," in card.text and "lora_r" in card.text
    assert all(TOKEN.encode() not in content for content in fake.files.values())
    with pytest.raises(ValueError, match="non ha un adapter finito"):
        hub.push_adapter(tmp_path, "utente/niente", api=fake)


def test_the_card_reports_benchmark_early_stopping_and_sample_fidelity(adapter_run, tmp_path):
    """The pushed card carries the run's evaluation (the offline benchmark, base vs fine-tuned), where early stopping
    left the adapter, and how the fixed sample answers went."""
    import shutil

    from huggingface_hub import ModelCard

    from pipeline import evaluate
    from pipeline.jobs import Job

    run = tmp_path / "fermata-presto"
    shutil.copytree(adapter_run, run)
    job = Job(run)
    job.update(state="finished", step=12, early_stopped=12, best_step=8, best_eval_loss=2.5)
    sample = {"prompt": "p", "answer": "a", "italian": True, "loops": False, "problems": [], "ok": True}
    for step, fidelity in ((4, 0.5), (8, 1.0)):
        job.append_metrics({"step": step, "sample_fidelity": fidelity, "samples": [sample, sample]})

    def side(correct: int) -> dict:
        score = {"accuracy": correct / 320, "ci95": [correct / 320 - 0.05, correct / 320 + 0.05], "total": 320}
        return {"acc": {"tutte": score}, "acc_norm": {"tutte": score}}

    found = evaluate.EvalResult(settings={}, held_out="", base={"italian": 0.9, "perplexity": 25.0},
                                finetuned={"italian": 1.0, "perplexity": 16.0}, examples=[],
                                benchmark={"base": side(82), "finetuned": side(110)})  # fmt: skip
    (run / "eval").mkdir(exist_ok=True)
    evaluate.save(found, run / "eval" / "eval.yaml")
    fake = FakeHub(tmp_path)
    hub.push_adapter(run, "utente/fermata-presto", api=fake)
    card = ModelCard(fake.files["README.md"].decode("utf-8")).text
    assert "- Benchmark italiano (320 domande, acc_norm, IC 95%): base 25.6% [21%, 31%] → fine-tuned 34.4%" in card
    assert "arresto anticipato al passo 12: adattatore del passo 8 (loss di valutazione 2.500)" in card
    assert "fedeltà all'italiano di 2 risposte di prova fisse" in card and "50% → 100%" in card


def test_push_merged_uploads_a_model_that_answers_like_base_plus_adapter(
    adapter_run, bundled_model, bottega_home, tmp_path, monkeypatch
):
    import torch
    from huggingface_hub import ModelCard
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    monkeypatch.setenv("HF_TOKEN", TOKEN)
    fake = FakeHub(tmp_path)
    assert hub.push_merged(adapter_run, "utente/smollm2-it-unito", token=TOKEN, api=fake).endswith("/commit/abc")
    assert [c[0] for c in fake.calls] == ["create_repo", "create_commit"]
    assert fake.calls[0][2]["repo_type"] == "model" and fake.calls[0][2]["private"] is True
    assert {"config.json", "model.safetensors", "tokenizer.json", "README.md"} <= set(fake.files)
    assert not {"adapter_config.json", "adapter_model.safetensors", "training_args.bin"} & set(fake.files)

    # What a user downloads loads with transformers alone and gives the logits of base + adapter (PeftModel).
    repo = Path(fake.snapshot_download("utente/smollm2-it-unito", local_dir=tmp_path / "repo"))
    merged = AutoModelForCausalLM.from_pretrained(repo, dtype=torch.float32)
    ids = AutoTokenizer.from_pretrained(repo)("Scrivi una frase sul caffè italiano.", return_tensors="pt").input_ids
    base = AutoModelForCausalLM.from_pretrained(bundled_model, dtype=torch.float32)
    lora = PeftModel.from_pretrained(base, adapter_run / "adapter")
    with torch.no_grad():
        got, expected = merged(ids).logits, lora(ids).logits
        with lora.disable_adapter():
            plain = lora(ids).logits
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
    assert (plain - expected).abs().max() > 0.1  # the adapter changes the logits, so the comparison can fail

    card = ModelCard(fake.files["README.md"].decode("utf-8"))
    assert card.data.base_model == "HuggingFaceTB/SmolLM2-135M-Instruct" and card.data.library_name == "transformers"
    assert "merged" in card.data.tags and "Modello unito (merged)" in card.text
    assert "HuggingFaceTB/SmolLM2-135M-Instruct" in card.text and "`rumore`" in card.text
    assert 'model="utente/smollm2-it-unito"' in card.text and "Dataset: `corto_it.yaml`" in card.text
    # Neither the token nor a local path (repo, BOTTEGA_HOME, the temporary folder) is in any uploaded byte.
    leaks = [TOKEN, str(ROOT), str(bottega_home), "bottega-merged-"]
    assert [s for s in leaks for content in fake.files.values() if s.encode() in content] == []


def test_cli_push_adapter_merged(tmp_path, monkeypatch, capsys):
    from pipeline.__main__ import main

    pushed = []
    monkeypatch.setattr(hub, "push_merged", lambda *args, **kwargs: pushed.append((args, kwargs)) or "url-unito")
    assert main(["hub", "push-adapter", str(tmp_path), "--repo", "utente/unito", "--merged"]) == 0
    assert pushed == [((tmp_path, "utente/unito"), {"private": True})] and "url-unito" in capsys.readouterr().out
    assert main(["hub", "push-adapter", str(tmp_path), "--repo", "utente/unito"]) == 2  # the adapter push: no adapter
    assert "non ha un adapter finito" in capsys.readouterr().err


def make_vote(i: int, comment: str = "") -> votes.Vote:
    """A vote with a fixed id and time, so that two instances can hold the same vote file."""
    created = datetime(2025, 5, 1, 9, 0, tzinfo=UTC) + timedelta(minutes=i)
    return votes.Vote(
        id=f"{i:032x}", created=created.isoformat(), verdict="a", comment=comment,
        turns=[{"role": "user", "content": "Com'è il caffè a Napoli?"}], answer_a="Ottimo, ristretto.",
        answer_b="Good.", sides={"A": "finetuned", "B": "base"}, models={"base": "b", "finetuned": "f"},
    )  # fmt: skip


def test_sync_votes_restores_after_a_restart_and_commits_only_vote_files(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    fake = FakeHub(tmp_path)  # the dataset repo: it outlives both instances
    first = votes.VoteStore(tmp_path / "primo" / "votes")
    pushed = [first.add(make_vote(i)) for i in range(3)]
    (first.folder / "appunti.yaml").write_text("nota: non è un voto\n", encoding="utf-8")
    (first.folder / f".{pushed[0].name}.0123456789ab.tmp").write_bytes(b"mezzo voto")  # atomic_write's temp file
    scheduler = hub.sync_votes("utente/voti", token=TOKEN, folder=first.folder, api=fake)
    try:
        scheduler.trigger().result()  # what the background thread does every few minutes
    finally:
        scheduler.stop()
    assert {c[2]["repo_type"] for c in fake.calls if c[0] == "create_repo"} == {"dataset"}
    assert all(c[2]["private"] for c in fake.calls if c[0] == "create_repo")
    assert fake.files == {f"votes/{p.name}": p.read_bytes() for p in pushed}

    # The Space restarts on an empty disk (but for one vote file, which must be left as it is).
    second = votes.VoteStore(tmp_path / "secondo" / "votes")
    second.add(make_vote(0, comment="copia locale"))
    scheduler = hub.sync_votes("utente/voti", token=TOKEN, folder=second.folder, api=fake)
    try:
        restored = second.all()  # before the first vote of the new instance
        assert [v.id for v in restored] == [v.id for v in first.all()] and restored[0].comment == "copia locale"
        assert votes.stats(restored).wins == 3
        new = second.add(make_vote(7))
        scheduler.trigger().result()
        assert fake.files[f"votes/{new.name}"] == new.read_bytes()
    finally:
        scheduler.stop()
    assert sorted(fake.files) == sorted(f"votes/{p.name}" for p in second.files())
    assert not list(second.folder.parent.glob(".votes-hub-*"))  # the download folder is gone
    assert all(TOKEN.encode() not in content for content in fake.files.values())


# A Space's app with the votes scheduler running: one vote is committed by the scheduler's first push, the second is
# cast after it. What reached the fake repo is written out by the last atexit handler to run (registered first).
SPACE_APP = """
import atexit, json, sys, time
from pathlib import Path
from tests.test_hub import FakeHub, make_vote
from pipeline import hub, space, votes

tmp = Path(sys.argv[1])
fake = FakeHub(tmp)
atexit.register(lambda: (tmp / "repo.json").write_text(json.dumps(sorted(fake.files))))
store = votes.VoteStore(tmp / "votes")
store.add(make_vote(0))
scheduler = hub.sync_votes("utente/voti", folder=store.folder, api=fake, every_minutes=60)
space.exit_on_sigterm()
deadline = time.monotonic() + 60
while getattr(scheduler, "last_future", None) is None and time.monotonic() < deadline:
    time.sleep(0.05)
scheduler.last_future.result()
print(store.add(make_vote(1)).name, flush=True)
while True:
    time.sleep(0.1)
"""


def test_a_space_stopped_with_sigterm_commits_the_votes_cast_since_the_last_push(tmp_path):
    import signal
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", SPACE_APP, str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE,
                            text=True)  # fmt: skip
    try:
        late = proc.stdout.readline().strip()  # the second vote, cast after the scheduler's first commit
        assert late.endswith(".yaml")
        proc.send_signal(signal.SIGTERM)  # what a Space restart sends before SIGKILL
        assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    finally:
        proc.kill()
    repo = json.loads((tmp_path / "repo.json").read_text())
    assert f"votes/{late}" in repo and len(repo) == 2


def test_sync_votes_explains_a_repo_it_cannot_open(tmp_path):
    import httpx
    from huggingface_hub.errors import HfHubHTTPError

    class Refusing(FakeHub):
        def create_repo(self, repo_id, **kwargs):
            response = httpx.Response(401, request=httpx.Request("POST", "https://huggingface.co/api/repos/create"))
            raise HfHubHTTPError("401 Unauthorized", response=response)

    with pytest.raises(ValueError, match="HF_TOKEN sia un token con permesso di scrittura"):
        hub.sync_votes("utente/voti", folder=tmp_path / "votes", api=Refusing(tmp_path))


def test_votes_repo_from_env(monkeypatch):
    monkeypatch.delenv("BOTTEGA_VOTES_REPO", raising=False)
    assert hub.votes_repo_from_env() is None
    monkeypatch.setenv("BOTTEGA_VOTES_REPO", "")  # a Space variable left empty
    assert hub.votes_repo_from_env() is None
    monkeypatch.setenv("BOTTEGA_VOTES_REPO", " mario/bottega-voti ")
    assert hub.votes_repo_from_env() == "mario/bottega-voti"
    monkeypatch.setenv("BOTTEGA_VOTES_REPO", "bottega voti")
    with pytest.raises(ValueError, match="`BOTTEGA_VOTES_REPO`: 'bottega voti' .* UTENTE/NOME"):
        hub.votes_repo_from_env()
