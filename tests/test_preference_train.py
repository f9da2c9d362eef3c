"""Preference training on CPU with the bundled model: DPO and KTO move the log-ratio of chosen over rejected, only
the adapter changes, the reference is the same weights with the adapter off (or a frozen copy of a starting
adapter), a DPO run stops and resumes like an SFT run; and fidelity pairs built from the model's own answers."""

import subprocess
import sys
from pathlib import Path

import pytest

from pipeline import dataset, jobs
from pipeline.train import runs
from pipeline.train.config import TrainConfig

pytestmark = pytest.mark.slow  # every test here trains or generates

ROOT = Path(__file__).resolve().parents[1]
ASSETS = Path(__file__).parent / "assets"
PAIRS = ASSETS / "preferenze_it.yaml"


def _config(name: str, **overrides) -> TrainConfig:
    values = {
        "name": name,
        "method": "dpo",
        "dataset": str(PAIRS),
        "max_length": 128,
        "batch_size": 2,
        "grad_accum": 1,
        "max_steps": 8,
        "learning_rate": 1e-3,
        "warmup_ratio": 0.0,
        "lr_scheduler": "constant",
        "eval_share": 0.0,
        "save_steps": 2,
        "trackio": False,
        **overrides,
    }
    return TrainConfig.from_dict(values)


def _log_ratios(model, tokenizer, pairs) -> list[float]:
    """log p(chosen | prompt) - log p(rejected | prompt) per pair, summed over the answer's tokens."""
    import torch

    from pipeline.train.data import IGNORE, encode

    def logp(messages) -> float:
        encoded = encode(tokenizer, messages, set())
        ids = torch.tensor([encoded.input_ids])
        targets = torch.tensor(encoded.labels[1:])
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0, :-1].float()
        keep = targets != IGNORE
        return float(torch.log_softmax(logits, -1)[keep].gather(1, targets[keep][:, None]).sum())

    ratios = []
    for example in pairs:
        prompt = [{"role": "user", "content": example.instruction}]
        chosen = logp([*prompt, {"role": "assistant", "content": example.output}])
        rejected = logp([*prompt, {"role": "assistant", "content": example.rejected}])
        ratios.append(chosen - rejected)
    return ratios


def _trained(config: TrainConfig, run_dir: Path):
    """The trainer of a preference run, trained in this process (to look inside it), with the base weights before."""
    from transformers import TrainerCallback

    from pipeline.train import preference

    trainer, _, _ = preference.trainer(config, run_dir, False, TrainerCallback())
    model = trainer.model
    before = {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" not in n}
    trainer.train()
    return trainer, before


@pytest.mark.parametrize("method", ["dpo", "kto"])
def test_preference_training_raises_the_log_ratio_and_changes_only_the_adapter(method, bundled_model, tmp_path):
    from pipeline import models

    pairs = [e for e in dataset.load(PAIRS).examples if e.rejected is not None]
    config = _config(f"pref-{method}", method=method)
    trainer, before = _trained(config, tmp_path / method)
    model = trainer.model
    # One copy of the weights: no reference model; the reference is the policy with its adapter switched off.
    assert trainer.ref_model is None
    assert list(model.peft_config) == ["default"]
    assert {n for n, p in model.named_parameters() if p.requires_grad} and all(
        "lora_" in n for n, p in model.named_parameters() if p.requires_grad
    )
    after = {n: p for n, p in model.named_parameters() if "lora_" not in n}
    assert before.keys() == after.keys() and all((before[n] == after[n]).all() for n in before)
    trainer.save_model(str(tmp_path / method / "adapter"))

    loaded = models.load(models.DEFAULT_MODEL, tmp_path / method / "adapter")
    with loaded.model.disable_adapter():
        reference = _log_ratios(loaded.model, loaded.tokenizer, pairs)
    tuned = _log_ratios(loaded.model, loaded.tokenizer, pairs)
    assert sum(tuned) / len(tuned) > sum(reference) / len(reference) + 1.0, (reference, tuned)
    assert sum(t > r for t, r in zip(tuned, reference, strict=True)) >= 5, (reference, tuned)


def test_dpo_on_top_of_an_sft_adapter_compares_against_that_adapter_frozen(bundled_model, tmp_path):
    from safetensors.torch import load_file

    from pipeline.train.sft import train

    corto = str(ASSETS / "corto_it.yaml")
    sft = TrainConfig.from_dict({**_config("base-sft").to_dict(), "method": "sft", "dataset": corto, "max_steps": 4,
                                 "run_dir": str(tmp_path / "sft")})  # fmt: skip
    assert train(sft).state == "finished"
    start = load_file(tmp_path / "sft" / "adapter" / "adapter_model.safetensors")

    config = _config("dpo-su-sft", adapter=str(tmp_path / "sft"), max_steps=4)
    trainer, _ = _trained(config, tmp_path / "dpo")
    model = trainer.model
    assert trainer.ref_model is None and set(model.peft_config) == {"default", "ref"}
    ref = {n: p for n, p in model.named_parameters() if ".ref." in n}
    default = {n: p for n, p in model.named_parameters() if ".default." in n}
    assert ref and not any(p.requires_grad for p in ref.values())
    # The reference stayed the SFT adapter; the trained one moved away from it.
    key = next(k for k in start if "lora_B" in k)
    name = next(n for n in ref if n.endswith(key.split("base_model.model.")[-1].replace(".weight", ".ref.weight")))
    assert (ref[name] == start[key]).all()
    assert not (default[name.replace(".ref.", ".default.")] == start[key]).all()


def test_a_dpo_run_stops_and_resumes_and_its_card_names_the_stages(bundled_model, tmp_path):
    config = _config("dpo-ferma", max_steps=16)
    run_dir = runs.start(config)

    def wait(condition, what: str, timeout: float = 300) -> None:
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.2)
        raise AssertionError(f"timeout waiting for {what}: {jobs.log_tail(run_dir / 'log.txt')}")

    wait(lambda: runs.status(run_dir).get("step", 0) >= 2, "step 2")
    runs.stop(run_dir)
    wait(lambda: not runs.status(run_dir).active, "the stop")
    status = runs.status(run_dir)
    assert status.state == "stopped", jobs.log_tail(run_dir / "log.txt")
    stopped_at = status.get("step")
    assert 2 <= stopped_at < 16 and (run_dir / "checkpoints" / f"checkpoint-{stopped_at}").is_dir()

    runs.resume(run_dir)
    wait(lambda: runs.status(run_dir).state == "finished", "the end")
    status = runs.status(run_dir)
    assert status.get("resumed_from") == f"checkpoint-{stopped_at}" and status.get("step") == 16
    metrics = jobs.Job(run_dir).metrics()
    assert [m["step"] for m in metrics if "loss" in m] == list(range(1, 17))
    assert any("rewards/margins" in m for m in metrics)
    adapter = run_dir / "adapter"
    assert (adapter / "adapter_model.safetensors").is_file() and not (adapter / "ref").exists()
    card = (adapter / "README.md").read_text(encoding="utf-8")
    assert "DPO" in card and "preferenze_it" in card


def test_fidelity_pairs_from_the_bundled_model_through_the_cli(bundled_model, tmp_path):
    from pipeline.preferences import REASONS, FidelityConfig, answer_problems

    config = FidelityConfig(model="smollm2-135m-instruct", dataset=str(ASSETS / "corto_it.yaml"), max_examples=8,
                            max_new_tokens=48, output=str(tmp_path / "fedelta.yaml"))  # fmt: skip
    config_path = tmp_path / "fedelta-config.yaml"
    from pipeline.config import save

    save(config, config_path)
    done = subprocess.run([sys.executable, "-m", "pipeline", "preferences", "fidelity", "--config", str(config_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    built = dataset.load(tmp_path / "fedelta.yaml")
    status = jobs.Job(config.job_path).status()
    assert status.state == "finished" and status.get("pairs") == len(built.examples)
    assert status.get("step") == status.get("max_steps") == 8
    originals = {e.instruction: e.output for e in dataset.load(ASSETS / "corto_it.yaml").examples}
    for example in built.examples:
        # Chosen: the dataset's own answer; rejected: the model's, with the problems it has.
        assert example.output == originals[example.instruction]
        assert example.meta.tags and set(example.meta.tags) <= set(REASONS)
        assert answer_problems(example.instruction, example.rejected) == example.meta.tags
        assert example.meta.method == "fidelity" and "smollm2-135m-instruct" in example.meta.source
    assert "esempi di addestramento" in built.description
