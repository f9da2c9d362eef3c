"""Why the local teacher needs its own attention on CPU: decode throughput at batch 16 vs 1 with the engine that
`transformers serve --continuous-batching` runs (`generate_batch`), with plain padded `generate`, and with the same
continuous batching after `pipeline.varlen_attention.register()`, as Bottega's local server runs it on a CPU.

    python bench/serve_batching.py [--prompt-tokens 900] [--new-tokens 32] [--batch 16]

Same model (the bundled SmolLM2-135M-Instruct, in the dtype `pipeline.serve.fast_dtype` picks), same random prompts
of the length of a Self-Instruct request, greedy, no stop token. Printed for each engine: prefill seconds per prompt
and decode tokens per second at batch 1 and batch N, and the decode ratio N vs 1. Decode time is the run's time
minus the same run with one new token (the prefill), over the tokens decoded after the first.

Continuous batching packs every request into one sequence; without a variable-length attention kernel (flash-attn,
CUDA only) transformers' `sdpa` attends every query to every request's keys through one dense mask, so on CPU
batching loses instead of gaining. Per-request attention keeps the gain, and serves concurrent requests, which
padded `generate` does not.
"""

import argparse
import math
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def static_run(model, prompts, new_tokens: int) -> float:
    import torch

    ids = torch.tensor(prompts, device=model.device)
    with torch.inference_mode():
        return timed(lambda: model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=new_tokens,
                                            min_new_tokens=new_tokens, do_sample=False, pad_token_id=0))  # fmt: skip


def continuous_run(model, prompts, new_tokens: int) -> float:
    """As the local server runs it: a cache of the requests' size, and on CPU the same cap on tokens per pass."""
    from transformers import ContinuousBatchingConfig, GenerationConfig

    from pipeline.serve import CPU_BATCH_TOKENS, PAGE_TOKENS

    config = GenerationConfig(max_new_tokens=new_tokens, do_sample=False, eos_token_id=-1, pad_token_id=0)
    pages = math.ceil((len(prompts[0]) + new_tokens) / PAGE_TOKENS)
    batch_tokens = CPU_BATCH_TOKENS if model.device.type == "cpu" else None
    cb = ContinuousBatchingConfig(num_blocks=len(prompts) * pages, max_batch_tokens=batch_tokens)
    return timed(lambda: model.generate_batch(inputs=prompts, generation_config=config,
                                              continuous_batching_config=cb, progress_bar=False))  # fmt: skip


def per_request_run(model, prompts, new_tokens: int) -> float:
    """Continuous batching as Bottega's local server runs it on a CPU: with `pipeline.varlen_attention` registered."""
    from pipeline import varlen_attention

    varlen_attention.register()
    return continuous_run(model, prompts, new_tokens)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompt-tokens", type=int, default=900)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()

    import torch
    from transformers import AutoModelForCausalLM

    from pipeline import models
    from pipeline.serve import fast_dtype

    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = fast_dtype(device)
    folder = models.resolve(models.DEFAULT_MODEL)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype, attn_implementation="sdpa").to(device).eval()
    gpu = torch.cuda.get_device_name(0) if device == "cuda" else "no GPU"
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {gpu}; dtype {dtype}; prompts of "
          f"{args.prompt_tokens} tokens, {args.new_tokens} new tokens")  # fmt: skip
    rng = torch.Generator().manual_seed(0)
    rates = {}
    engines = (
        ("continuous batching (serve)", continuous_run),
        ("padded generate", static_run),
        ("continuous, per-request", per_request_run),  # last: registering changes `sdpa` for the whole process
    )
    for name, run in engines:
        run(model, torch.randint(100, 40000, (1, 64), generator=rng).tolist(), 2)  # warm-up
        for batch in (1, args.batch):
            prompts = torch.randint(100, 40000, (batch, args.prompt_tokens), generator=rng).tolist()
            prefill = run(model, prompts, 1)
            total = run(model, prompts, args.new_tokens)
            rates[name, batch] = batch * (args.new_tokens - 1) / max(total - prefill, 1e-9)
            print(f"{name:<29} batch {batch:>2}: prefill {prefill / batch:.2f} s/prompt, "
                  f"decode {rates[name, batch]:.1f} tok/s", flush=True)  # fmt: skip
    for name, _ in engines:
        print(f"{name}: decode batch {args.batch} vs 1 = {rates[name, args.batch] / rates[name, 1]:.1f}x")


if __name__ == "__main__":
    main()
