"""The pre-run report on the bundled SmolLM2: Italian's token cost and the training memory estimate."""

from pathlib import Path

import pytest

from pipeline.train.config import TrainConfig
from pipeline.train.report import (
    GIB,
    count_words,
    format_gib,
    memory_estimate,
    system_ram_bytes,
    token_pieces,
    tokenizer_report,
    visible_gpu_bytes,
)


@pytest.fixture(scope="module")
def tokenizer(bundled_model: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(bundled_model)


@pytest.fixture(scope="module")
def model_config(bundled_model: Path):
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(bundled_model)


def config(**changes) -> TrainConfig:
    """The bundled model's preset with some fields changed; tests name the fields they depend on."""
    return TrainConfig.from_dict(changes)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("l'università", 2),
        ("l’università", 2),  # typographic apostrophe
        ("È così perché sì.", 4),
        ("Quand'ero bambino, d'estate", 5),
        ("caffè, città e virtù", 4),
        ("Nel 1088 nacque l'Alma Mater", 6),
    ],
)
def test_words_are_counted_as_an_italian_reader_counts_them(text: str, words: int) -> None:
    assert count_words(text) == words


def test_italian_costs_more_tokens_per_word_than_english(tokenizer) -> None:
    report = tokenizer_report(tokenizer)

    assert report.it_words > 100 and report.en_words > 100
    assert report.it_tokens_per_word == pytest.approx(report.it_tokens / report.it_words)
    assert report.ratio > 1.2  # SmolLM2's vocabulary is English-centric
    assert report.ratio == pytest.approx(report.it_tokens_per_word / report.en_tokens_per_word)
    summary = report.summary()
    assert summary.startswith("In italiano questo tokenizer usa ")
    assert f"{report.it_tokens_per_word:.1f}".replace(".", ",") in summary
    assert f"(+{round((report.ratio - 1) * 100)}%)" in summary


def test_examples_show_readable_pieces_that_rebuild_the_word(tokenizer) -> None:
    report = tokenizer_report(tokenizer)

    assert [word for word, _ in report.examples] == ["perché", "università", "cittadinanza"]
    for word, pieces in report.examples:
        assert len(pieces) > 1
        assert "".join(pieces) == word
        assert not any("Ġ" in piece or "\ufffd" in piece for piece in pieces)


def test_a_character_split_across_byte_tokens_is_shown_whole(tokenizer) -> None:
    assert len(tokenizer.encode(" È", add_special_tokens=False)) == 2  # two byte tokens in SmolLM2
    assert token_pieces(tokenizer, " È") == [" È"]


def test_parameters_are_counted_without_loading_the_weights(model_config) -> None:
    estimate = memory_estimate(config(), model_config, None)

    assert estimate.params == pytest.approx(134.5e6, rel=0.05)
    assert estimate.device == "cpu"
    assert estimate.weights == 4 * estimate.params  # CPU runs train in float32
    assert estimate.overhead == 0
    assert estimate.fits is None and estimate.available is None and estimate.advice == []
    parts = (estimate.weights, estimate.lora, estimate.gradients, estimate.optimizer, estimate.activations)
    assert estimate.total == sum(parts) + estimate.overhead


def test_lora_count_matches_peft(bundled_model: Path, model_config) -> None:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(bundled_model), LoraConfig(r=16, target_modules="all-linear")
    )
    trainable = model.get_nb_trainable_parameters()[0]

    estimate = memory_estimate(config(lora_r=16, target_modules="all-linear"), model_config, None)
    assert estimate.lora_params == trainable
    assert estimate.lora == estimate.gradients == 4 * trainable  # fp32 adapters and their gradients
    assert estimate.optimizer == 8 * trainable  # AdamW's two moments


def test_unknown_target_modules_count_only_the_matches(model_config) -> None:
    layers, hidden = model_config.num_hidden_layers, model_config.hidden_size

    only_q = memory_estimate(config(lora_r=8, target_modules=["q_proj", "no_such_proj"]), model_config, None)
    assert only_q.lora_params == layers * 8 * (hidden + hidden)
    assert memory_estimate(config(target_modules=["no_such_proj"]), model_config, None).lora_params == 0


def test_qlora_weights_are_smaller_than_bf16_and_fp32(model_config) -> None:
    gpu = 80 * GIB
    qlora = memory_estimate(config(qlora=True), model_config, gpu)
    bf16 = memory_estimate(config(compute_dtype="bfloat16"), model_config, gpu)
    fp32 = memory_estimate(config(compute_dtype="float32"), model_config, gpu)

    assert qlora.device == "cuda"
    assert qlora.weights < bf16.weights < fp32.weights
    assert fp32.weights == 2 * bf16.weights
    single = memory_estimate(config(qlora=True, qlora_double_quant=False), model_config, gpu)
    assert qlora.weights < single.weights < bf16.weights  # double quantisation shrinks the constants
    # QLoRA is CUDA only: a CPU run keeps float32 weights whatever the config says.
    assert memory_estimate(config(qlora=True), model_config, None).weights == 4 * qlora.params


def test_activations_follow_checkpointing_and_batch(model_config) -> None:
    plain = memory_estimate(config(batch_size=4, packing=False), model_config, None)
    checkpointed = memory_estimate(
        config(batch_size=4, packing=False, gradient_checkpointing=True), model_config, None
    )
    doubled = memory_estimate(config(batch_size=8, packing=False), model_config, None)
    packed = memory_estimate(config(batch_size=8, packing=True), model_config, None)

    assert checkpointed.activations < plain.activations / 2
    assert doubled.activations == pytest.approx(2 * plain.activations, rel=0.05)
    # Packing without padding flattens the batch into one sequence: a dense mask makes attention grow with (b·s)².
    assert packed.activations > doubled.activations
    assert checkpointed.weights == plain.weights  # checkpointing trades compute for activations only


def test_a_small_gpu_gets_fits_false_and_advice(model_config) -> None:
    settings = {"qlora": False, "gradient_checkpointing": False, "batch_size": 8, "grad_accum": 1, "max_length": 512}
    estimate = memory_estimate(config(**settings), model_config, GIB)

    assert estimate.fits is False
    assert estimate.overhead > 0
    advice = "\n".join(estimate.advice)
    assert "QLoRA" in advice
    assert "`gradient_checkpointing`" in advice
    assert "`batch_size` a 4" in advice and "`grad_accum` a 2" in advice  # same effective batch of 8
    assert "`max_length` a 256" in advice
    assert "GiB in meno" in advice


def test_advice_leaves_out_what_is_already_on(model_config) -> None:
    settings = {"qlora": True, "gradient_checkpointing": True, "batch_size": 1, "max_length": 256}
    advice = "\n".join(memory_estimate(config(**settings), model_config, GIB // 4).advice)

    assert "QLoRA" not in advice and "`gradient_checkpointing`" not in advice and "`batch_size`" not in advice
    assert "modello più piccolo" in advice


def test_a_roomy_gpu_fits_without_advice(model_config) -> None:
    estimate = memory_estimate(config(), model_config, 80 * GIB)

    assert estimate.fits is True and estimate.advice == []
    rows = estimate.table()
    assert [label for label, _ in rows][-2:] == ["Totale stimato", "Disponibile"]
    assert rows[-1][1] == "80,00 GiB"
    assert all(size.endswith(" GiB") and "." not in size for _, size in rows)


def test_format_gib_uses_an_italian_decimal_comma() -> None:
    assert format_gib(GIB + GIB // 4) == "1,25 GiB"
    assert format_gib(0) == "0,00 GiB"
    assert format_gib(1024) == "< 0,01 GiB"


def test_memory_sources(tmp_path: Path) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       16000000 kB\nMemFree:         1000000 kB\nMemAvailable:    8000000 kB\n")
    assert system_ram_bytes(meminfo) == 8000000 * 1024
    assert system_ram_bytes(tmp_path / "missing") is None

    import torch

    gpu = visible_gpu_bytes()
    assert (gpu is None) == (not torch.cuda.is_available())
