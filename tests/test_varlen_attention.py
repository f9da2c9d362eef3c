"""Bottega's per-request attention for continuous batching on CPU gives the tokens plain `generate` gives."""

import math

import pytest
import torch
from transformers import AttentionInterface, AutoModelForCausalLM, ContinuousBatchingConfig, GenerationConfig

from pipeline import varlen_attention


@pytest.fixture
def model(bundled_model):
    # float32: the three ways below must agree token for token, which bfloat16's rounding would not promise
    return AutoModelForCausalLM.from_pretrained(bundled_model, dtype=torch.float32, attn_implementation="sdpa").eval()


def _continuous(model, prompts: list[list[int]], config: GenerationConfig) -> list[list[int]]:
    pages = math.ceil((max(map(len, prompts)) + config.max_new_tokens) / 256)
    # 128 tokens a pass: the 300-token prompt is split across passes, the others fit in one, then all decode together
    cb = ContinuousBatchingConfig(num_blocks=len(prompts) * pages, max_batch_tokens=128)
    out = model.generate_batch(inputs=prompts, generation_config=config, continuous_batching_config=cb)
    return [out[key].generated_tokens for key in sorted(out, key=lambda k: int(k.rsplit("_", 1)[-1]))]


def test_per_request_attention_generates_what_generate_does(model, monkeypatch):
    monkeypatch.setitem(AttentionInterface._global_mapping, "sdpa", AttentionInterface._global_mapping["sdpa"])
    rng = torch.Generator().manual_seed(0)
    prompts = [torch.randint(100, 40000, (n,), generator=rng).tolist() for n in (300, 90, 40, 7)]
    config = GenerationConfig(max_new_tokens=12, do_sample=False, eos_token_id=None, pad_token_id=0)
    reference = []
    with torch.inference_mode():
        for prompt in prompts:
            ids = torch.tensor([prompt])
            out = model.generate(ids, attention_mask=torch.ones_like(ids), generation_config=config)
            reference.append(out[0, len(prompt) :].tolist())

    stock = _continuous(model, prompts, config)
    varlen_attention.register()
    calls = []
    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", _counting(calls))
    ours = _continuous(model, prompts, config)

    assert stock == reference
    assert ours == reference
    # one attention call per request in each layer of each pass, not one dense call for the whole batch
    decode_steps = len(prompts) * (config.max_new_tokens - 1)  # the first new token comes with the prompt's pass
    assert calls.count("decode") == model.config.num_hidden_layers * decode_steps
    assert {"whole prompt", "split prompt"} <= set(calls)


def _counting(calls: list):
    original = torch.nn.functional.scaled_dot_product_attention

    def sdpa(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, **kwargs):
        calls.append("whole prompt" if is_causal else "split prompt" if attn_mask is not None else "decode")
        return original(query, key, value, attn_mask, dropout_p, is_causal, **kwargs)

    return sdpa
