"""What the model is trained on: label masks, template checks, config validation, packed attention."""

from pathlib import Path

import pytest

from pipeline import models
from pipeline.train import data
from pipeline.train.check import preflight
from pipeline.train.config import PRESETS, TrainConfig, load_config

ROOT = Path(__file__).resolve().parents[1]
ASSETS = Path(__file__).parent / "assets"


@pytest.fixture(scope="module")
def tokenizer(bundled_model):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(bundled_model)


def _text(tokenizer, encoded: data.Encoded, trained: bool) -> str:
    pairs = zip(encoded.input_ids, encoded.labels, strict=True)
    return tokenizer.decode([t for t, label in pairs if (label != data.IGNORE) == trained])


def test_only_assistant_turns_and_their_end_token_are_trained(tokenizer):
    eot = models.end_of_turn_ids(tokenizer)
    messages = [
        {"role": "system", "content": "Sei un assistente che risponde in italiano."},
        {"role": "user", "content": "Qual è la capitale d'Italia?"},
        {"role": "assistant", "content": "È Roma."},
        {"role": "user", "content": "E della Francia?"},
        {"role": "assistant", "content": "Parigi, più o meno da sempre."},
    ]
    encoded = data.encode(tokenizer, messages, eot)
    assert _text(tokenizer, encoded, trained=True) == "È Roma.<|im_end|>Parigi, più o meno da sempre.<|im_end|>"
    # Nothing of the system or user turns, nor the role headers, carries loss.
    masked = _text(tokenizer, encoded, trained=False)
    assert "capitale" in masked and "Francia" in masked and "<|im_start|>assistant" in masked
    assert "Roma" not in masked
    # The whole-sequence alternative trains everything.
    full = data.encode(tokenizer, messages, eot, assistant_only=False)
    assert full.labels == full.input_ids


def test_preview_marks_the_end_of_turn_token(tokenizer):
    eot = models.end_of_turn_ids(tokenizer)
    messages = [{"role": "user", "content": "Ciao!"}, {"role": "assistant", "content": "Ciao, come posso aiutarti?"}]
    preview = data.preview(tokenizer, messages, eot)
    assert preview.eot_trained
    assert [text for text, trained in preview.segments if trained] == ["Ciao, come posso aiutarti?<|im_end|>"]
    assert "".join(text for text, _ in preview.segments) == tokenizer.apply_chat_template(messages, tokenize=False)
    # With an end-of-turn id the template never emits, the check says the model would not learn to stop.
    assert not data.preview(tokenizer, messages, {0}).eot_trained


def test_a_model_without_chat_template_is_refused_unless_one_is_chosen(tokenizer):
    tokenizer = tokenizer.__class__.from_pretrained(tokenizer.name_or_path)
    tokenizer.chat_template = None
    with pytest.raises(models.TemplateError, match="chat_template: chatml"):
        models.apply_template(tokenizer, None, "modello-senza-template")
    models.apply_template(tokenizer, "chatml", "modello-senza-template")
    rendered = tokenizer.apply_chat_template([{"role": "user", "content": "Ciao"}], tokenize=False)
    assert rendered == "<|im_start|>user\nCiao<|im_end|>\n"
    with pytest.raises(models.TemplateError, match="non esiste"):
        models.apply_template(tokenizer, "/nessun/file.jinja", "x")


def test_config_values_are_checked_with_field_names():
    with pytest.raises(ValueError) as e:
        TrainConfig.from_dict({"lora_r": 0, "packing": True, "group_by_length": True, "attention": "veloce"})
    message = str(e.value)
    assert "`lora_r`: dev'essere > 0, trovato 0" in message
    assert "`packing` e `group_by_length`" in message
    assert "`attention`: 'veloce'" in message
    with pytest.raises(ValueError, match="`lora_rank`: campo sconosciuto"):
        TrainConfig.from_dict({"lora_rank": 8})
    with pytest.raises(ValueError, match="`preset`: 'gpt-5'"):
        TrainConfig.from_dict({"preset": "gpt-5"})


def test_presets_fill_values_and_the_yaml_wins():
    config = TrainConfig.from_dict({"preset": "mixtral-8x7b-instruct", "batch_size": 2})
    assert config.model == "mistralai/Mixtral-8x7B-Instruct-v0.1" and config.qlora
    assert config.batch_size == 2 and config.grad_accum == 16
    for name in PRESETS:
        assert TrainConfig.from_dict({"preset": name}).model


def test_every_shipped_config_loads(bundled_model):
    shipped = sorted((ROOT / "configs" / "train").glob("*.yaml"))
    assert shipped
    for path in shipped:
        config = load_config(path)
        assert config.preset in PRESETS
        if config.qlora:
            continue
        # The CPU configs must pass every check on this machine, but for what an earlier stage of the recipe makes:
        # the preference stage's starting adapter and pairs file.
        problems = [str(p) for p in preflight(config)]
        later = config.adapter is not None
        assert all(later and p.startswith(("`adapter`", "`dataset`")) for p in problems), (path, problems)


def test_preflight_refuses_impossible_combinations(bundled_model, tmp_path):
    from pipeline import dataset

    drafts = tmp_path / "bozze.yaml"
    loaded = dataset.load(ASSETS / "corto_it.yaml")
    for example in loaded.examples:
        example.meta.status = "draft"
    dataset.create(drafts, loaded)
    config = TrainConfig.from_dict(
        {"qlora": True, "target_modules": ["q_proj", "attn_qkv"], "dataset": str(drafts), "attention": "eager"}
    )
    problems = preflight(config)
    text = "\n".join(map(str, problems))
    assert "`qlora`: QLoRA a 4 bit richiede una GPU CUDA" in text
    assert "`target_modules`: attn_qkv non esiste in questo modello" in text and "q_proj" in text
    assert "`dataset`:" in text and "non ha esempi approvati" in text
    assert str(preflight(TrainConfig.from_dict({"model": "nessuno/modello-inesistente"}))[0]).startswith("`model`:")


def test_packed_examples_do_not_attend_to_each_other(bundled_model):
    """Packing without padding relies on position_ids restarting per example; the mask must follow them."""
    import torch

    from pipeline.train.setup import load_model

    model = load_model(TrainConfig(), bundled_model, cuda=False).eval()
    a = torch.tensor([[1, 520, 3316, 28, 1380, 4513, 30]])
    b = torch.tensor([[1, 1730, 8441, 5273, 14, 469, 3602, 314, 1138]])
    packed = torch.cat([a, b], dim=1)
    positions = torch.cat([torch.arange(a.shape[1]), torch.arange(b.shape[1])])[None]
    with torch.no_grad():
        alone = model(input_ids=b).logits
        together = model(input_ids=packed, position_ids=positions).logits[:, a.shape[1] :]
        leaking = model(input_ids=packed).logits[:, a.shape[1] :]
    assert torch.allclose(alone, together, atol=1e-3)
    assert not torch.allclose(alone, leaking, atol=1e-3)


def test_split_is_seeded_and_disjoint():
    rows = [[{"role": "user", "content": str(i)}] for i in range(40)]
    train, held = data.split(rows, 0.1, seed=3)
    assert len(held) == 4 and len(train) == 36
    assert data.split(rows, 0.1, seed=3) == (train, held)
    assert not {r[0]["content"] for r in held} & {r[0]["content"] for r in train}


def test_hub_dataset_offline_gives_an_italian_error(tmp_path):
    config = TrainConfig.from_dict({"dataset": "qualcuno/dataset-italiano"})
    with pytest.raises(ValueError, match="non riesco a caricare 'qualcuno/dataset-italiano'.*offline"):
        data.load_conversations(config)


def test_saved_hf_dataset_folder_is_read(tmp_path):
    from pipeline import dataset, formats

    folder = tmp_path / "hf"
    formats.export(dataset.load(ASSETS / "corto_it.yaml"), folder, "hf")
    conversations = data.load_conversations(TrainConfig.from_dict({"dataset": str(folder)}))
    assert len(conversations) == 12
    assert conversations[0][-1] == {"role": "assistant", "content": "La capitale d'Italia è Roma."}


def test_the_app_can_name_only_listed_datasets_or_hub_ids(app_datasets, monkeypatch):
    from pipeline.dataset import DatasetError

    monkeypatch.setenv("BOTTEGA_DATASETS", str(app_datasets))
    assert data.dataset_source("test/corto_it.yaml") == str((app_datasets / "test" / "corto_it.yaml").resolve())
    assert data.dataset_source("utente/dataset-italiano") == "utente/dataset-italiano"
    for bad in ("../../etc/passwd", "/etc/passwd", "../seed_it.yaml", "x/../../y", "", "utente/file.yaml"):
        with pytest.raises(DatasetError, match="scegline uno dall'elenco"):
            data.dataset_source(bad)


def test_cli_check_prints_the_mask_the_tokenizer_and_the_memory(bundled_model, capsys):
    from pipeline.__main__ import main

    assert main(["train", "--config", str(ROOT / "configs" / "train" / "smollm2-cpu.yaml"), "--check"]) == 0
    out = capsys.readouterr().out
    assert "fine turno addestrato: sì" in out
    assert "[[" in out and "<|im_end|>]]" in out  # trained spans are bracketed and end with the end-of-turn token
    assert "token per parola" in out
    assert "Totale stimato" in out


def test_qlora_and_attention_settings_reach_from_pretrained(monkeypatch):
    """The GPU path cannot run here; check what it would ask transformers for."""
    import torch
    import transformers.utils

    from pipeline.train.setup import model_kwargs

    cpu = model_kwargs(TrainConfig.from_dict({}), cuda=False)
    assert cpu == {"dtype": torch.float32, "attn_implementation": "sdpa"}

    monkeypatch.setattr(transformers.utils, "is_flash_attn_2_available", lambda: True)
    gpu = model_kwargs(TrainConfig.from_dict({"preset": "llama-3.1-8b-instruct"}), cuda=True)
    quant = gpu["quantization_config"]
    assert gpu["dtype"] is torch.bfloat16 and gpu["attn_implementation"] == "flash_attention_2"
    assert quant.load_in_4bit and quant.bnb_4bit_quant_type == "nf4" and quant.bnb_4bit_use_double_quant
    assert quant.bnb_4bit_compute_dtype is torch.bfloat16
    plain = model_kwargs(TrainConfig.from_dict({"compute_dtype": "float16", "attention": "sdpa"}), cuda=True)
    assert plain == {"dtype": torch.float16, "attn_implementation": "sdpa"}


def test_every_shipped_accelerate_config_loads():
    from accelerate.commands.config.config_args import load_config_from_file

    kinds = {}
    for path in sorted((ROOT / "configs" / "accelerate").glob("*.yaml")):
        assert path.read_text().startswith("# accelerate launch --config_file"), path  # says how to run it
        kinds[path.stem] = str(load_config_from_file(str(path)).distributed_type)
    assert kinds == {
        "ddp_cpu": "DistributedType.MULTI_GPU",  # torchrun starts the processes; use_cpu picks gloo
        "ddp_gpu": "DistributedType.MULTI_GPU",
        "deepspeed_zero3": "DistributedType.DEEPSPEED",
        "fsdp": "DistributedType.FSDP",
    }
