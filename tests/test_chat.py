"""The side-by-side chat engine on the bundled model with real LoRA adapters: each side matches its model generating
alone, both sides stream together, adapters switch on the same base weights, a stop ends the stream."""

import threading
import time
from pathlib import Path

import pytest

from pipeline import models
from pipeline.chat import ChatEngine, Sampling, flatten
from pipeline.models import AdapterError
from tests.conftest import noise_adapter

GREEDY = Sampling(temperature=0, max_new_tokens=20)
MESSAGES = [{"role": "user", "content": "Scrivi una frase sul mare della Sicilia."}]
BOTH = (MESSAGES, MESSAGES)


def _make_adapter(model_dir: Path, out: Path, seed: int) -> Path:
    return noise_adapter(model_dir, out, seed=seed, scale=0.1)


@pytest.fixture(scope="module")
def adapters(bundled_model: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two adapters: a bare adapter folder, and a run folder holding its adapter in adapter/ as training leaves it."""
    folder = tmp_path_factory.mktemp("adapters")
    first = _make_adapter(bundled_model, folder / "primo", seed=0)
    _make_adapter(bundled_model, folder / "run-secondo" / "adapter", seed=1)
    return first, folder / "run-secondo"


@pytest.fixture(scope="module")
def engine(bundled_model: Path) -> ChatEngine:
    return ChatEngine(models.DEFAULT_MODEL)


def _alone(model, tokenizer, messages: list[dict], max_new_tokens: int) -> str:
    """What one model answers on its own with greedy decoding: the reference for each side."""
    inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=True, return_tensors="pt")
    out = model.generate(
        **inputs, max_new_tokens=max_new_tokens, do_sample=False, repetition_penalty=GREEDY.repetition_penalty
    )  # the chat's decoding
    return tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)


def test_flatten_strings_and_content_parts():
    history = [
        {"role": "system", "content": "Rispondi in italiano."},
        {"role": "user", "content": [{"type": "text", "text": "Ciao!"}, {"type": "text", "text": "Come stai?"}]},
        {"role": "assistant", "content": "Bene, grazie.", "metadata": {"title": None}, "options": []},
        {"role": "user", "content": [{"type": "file", "file": {"path": "a.png"}}, {"type": "text", "text": "E ora?"}]},
        {"role": "user", "content": [{"type": "file", "file": {"path": "b.png"}}]},
    ]  # fmt: skip
    assert flatten(history) == [
        {"role": "system", "content": "Rispondi in italiano."},
        {"role": "user", "content": "Ciao!\nCome stai?"},
        {"role": "assistant", "content": "Bene, grazie."},
        {"role": "user", "content": "E ora?"},
    ]


def test_sampling_checks_every_field():
    with pytest.raises(ValueError) as e:
        Sampling(temperature=-1, top_p=0, max_new_tokens=0)
    for field in ("`temperature`", "`top_p`", "`max_new_tokens`"):
        assert field in str(e.value)


def test_without_adapter_both_sides_are_the_base(bundled_model: Path):
    engine = ChatEngine(models.DEFAULT_MODEL)
    assert engine.adapter is None
    base, tuned = engine.answer(BOTH, GREEDY)
    assert base and base == tuned


def test_each_side_matches_its_model_alone(engine: ChatEngine, adapters, bundled_model: Path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    engine.set_adapter(str(adapters[0]))
    assert engine.mixed_batches  # plain LoRA: both sides in one batched generate
    base, tuned = engine.answer(BOTH, GREEDY)

    plain = AutoModelForCausalLM.from_pretrained(bundled_model).eval()
    assert base == _alone(plain, engine.loaded.tokenizer, MESSAGES, GREEDY.max_new_tokens)
    peft_model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(bundled_model), adapters[0]).eval()
    assert tuned == _alone(peft_model, engine.loaded.tokenizer, MESSAGES, GREEDY.max_new_tokens)
    assert base != tuned
    # The two-pass fallback (adapters that cannot mix in a batch) gives the same answers.
    *_, two_pass = engine.stream(BOTH, GREEDY, batched=False)
    assert two_pass == (base, tuned)


def test_stream_grows_both_sides_together(engine: ChatEngine, adapters):
    engine.set_adapter(str(adapters[0]))
    updates = list(engine.stream(BOTH, GREEDY))
    assert len(updates) > 1
    assert any(base and tuned for base, tuned in updates[:-1])
    for (base, tuned), (next_base, next_tuned) in zip(updates, updates[1:], strict=False):
        assert next_base.startswith(base) and next_tuned.startswith(tuned)
    assert updates[-1] == engine.answer(BOTH, GREEDY)
    # A slow consumer gets fewer, coalesced updates, and still the final texts.
    slow = []
    for pair in engine.stream(BOTH, GREEDY):
        slow.append(pair)
        time.sleep(0.3)
    assert len(slow) < len(updates)
    assert slow[-1] == updates[-1]


def test_switching_adapter_keeps_the_base_weights(engine: ChatEngine, adapters):
    engine.set_adapter(str(adapters[0]))
    base_module = engine.loaded.model.get_base_model()
    weight = base_module.model.layers[0].self_attn.q_proj.base_layer.weight
    pointer = weight.data_ptr()
    first = engine.answer(BOTH, GREEDY)

    engine.set_adapter(str(adapters[1]))  # a run folder: its adapter/ is used
    assert engine.adapter == str(adapters[1])
    assert engine.loaded.model.get_base_model() is base_module
    assert base_module.model.layers[0].self_attn.q_proj.base_layer.weight.data_ptr() == pointer
    assert len(engine.loaded.model.peft_config) == 1  # the previous adapter was deleted, not kept beside
    second = engine.answer(BOTH, GREEDY)
    assert second[0] == first[0]
    assert second[1] != first[1]


def test_stop_event_ends_the_stream_early(engine: ChatEngine, adapters):
    engine.set_adapter(str(adapters[0]))
    long = Sampling(temperature=0.8, max_new_tokens=400, seed=1)
    messages = [{"role": "user", "content": "Racconta una lunga storia su un gatto che vive a Napoli."}]
    stop = threading.Event()
    updates = 0
    for updates, _ in enumerate(engine.stream((messages, messages), long, stop_event=stop), start=1):
        if updates == 2:
            stop.set()
            stopped = time.monotonic()
    assert 2 <= updates <= 4
    assert time.monotonic() - stopped < 5
    # The engine is free again at once.
    assert engine._lock.acquire(timeout=1)
    engine._lock.release()


def test_unknown_hub_adapter_offline_is_explained(engine: ChatEngine):
    with pytest.raises(AdapterError, match="offline"):
        engine.set_adapter("qualcuno/adapter-che-non-esiste")


def test_adapter_for_another_model_leaves_the_engine_as_it_was(engine: ChatEngine, adapters, tmp_path: Path):
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4)
    get_peft_model(LlamaForCausalLM(config), LoraConfig(r=8, target_modules="all-linear")).save_pretrained(tmp_path)
    engine.set_adapter(str(adapters[0]))
    before = engine.answer(BOTH, GREEDY)
    with pytest.raises(AdapterError, match="non si applica"):
        engine.set_adapter(str(tmp_path))
    assert engine.adapter == str(adapters[0])
    assert engine.answer(BOTH, GREEDY) == before


def test_cli_chat_prints_both_answers(adapters, capsys):
    from pipeline.__main__ import main

    first, _ = adapters
    assert main(["chat", "--adapter", str(first), "--max-new-tokens", "12", "Ciao, come stai?"]) == 0
    out = capsys.readouterr().out
    base, tuned = out.split("--- fine-tuned ---")
    assert base.startswith("--- base ---") and base.strip() != "--- base ---" and tuned.strip()


def test_each_side_answers_its_own_history_in_one_batched_pass(engine: ChatEngine, adapters):
    """From the second turn of a blind chat the sides have different histories: both are still generated in one
    `generate` call (left padding, each row with its own adapter), one token per row per step."""
    from pipeline import arena, models

    engine.set_adapter(str(adapters[0]))
    conversation = arena.Conversation()
    conversation.ask("Scrivi una frase sul mare della Sicilia.")
    list(arena.stream(conversation, engine, GREEDY, threading.Event()))
    assert conversation.history["base"] != conversation.history["finetuned"]  # the first answers differ
    conversation.ask("E ora una sul Trentino, per favore.")

    generated, shown, calls = [], [], []
    real = models.generate

    def counting(loaded, conversations, *args, **kwargs):
        calls.append(len(conversations))
        original = loaded.model.generate

        def spy(*a, **k):
            out = original(*a, **k)
            new = out[:, k["input_ids"].shape[1] :].tolist()
            generated.append(sum(len(row) for row in new))
            shown.append(sum(next((i for i, t in enumerate(row) if t in loaded.eot_ids), len(row)) for row in new))
            return out

        loaded.model.generate = spy
        try:
            return real(loaded, conversations, *args, **kwargs)
        finally:
            del loaded.model.generate

    long = Sampling(temperature=0, max_new_tokens=12, min_new_tokens=12)  # no side stops early
    events = []
    models.generate = counting
    try:
        for _ in arena.stream(conversation, engine, long, threading.Event()):
            events.append(
                (conversation.history["base"][-1]["content"], conversation.history["finetuned"][-1]["content"])
            )
    finally:
        models.generate = real
    base, tuned = events[-1]
    assert calls == [2]  # one call, two rows: not one call per side
    assert sum(generated) / sum(shown) == 1.0 and sum(shown) == 24
    grew_together = [(b1 > b0 and t1 > t0) for (b0, t0), (b1, t1) in zip([("", ""), *events], events, strict=False)]
    assert any(grew_together), events
    # Each side answered its own history: the same as that model alone on that history.
    alone_base = engine.answer((conversation.history["base"][:-1],) * 2, long)[0]
    assert base == alone_base
