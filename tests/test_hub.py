"""Hub pushes and pulls, checked at the HfApi boundary: the calls made and the bytes uploaded."""

from pathlib import Path

import pytest
import yaml

from pipeline import dataset, hub

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "datasets_yaml" / "seed_it.yaml"
TOKEN = "hf_SegretoDaNonPubblicare1234567890"


class FakeHub:
    """Stands in for HfApi (the Hub cannot be reached here): records what would be sent, serves it back."""

    def __init__(self, tmp_path: Path):
        self.calls: list[tuple] = []
        self.files: dict[str, bytes] = {}
        self.tmp = tmp_path

    def create_repo(self, repo_id, **kwargs):
        self.calls.append(("create_repo", repo_id, kwargs))

    def create_commit(self, repo_id, operations, **kwargs):
        self.calls.append(("create_commit", repo_id, kwargs))
        for op in operations:
            self.files[op.path_in_repo] = op.path_or_fileobj

        class Info:
            commit_url = f"https://huggingface.co/datasets/{repo_id}/commit/abc"

        return Info()

    def list_repo_files(self, repo_id, **kwargs):
        return sorted(self.files)

    def hf_hub_download(self, repo_id, filename, **kwargs):
        path = self.tmp / "download" / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.files[filename])
        return str(path)


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
    assert len(rows) == 164 and rows[0]["messages"][-1]["role"] == "assistant"

    card = DatasetCard(fake.files["README.md"].decode("utf-8"))
    assert card.data.language == ["it"] and card.data.task_categories == ["text-generation"]
    assert "esempi: 164" in card.text and 'load_dataset("utente/seed-it"' in card.text
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

    from pipeline import votes

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
