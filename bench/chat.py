"""Side-by-side chat: both answers in one batched pass against two sequential generations, and the memory of one
base + adapter against two loaded copies.

    python bench/chat.py [--tokens 64] [--adapter RUN_OR_ADAPTER_FOLDER]

Same model (the bundled SmolLM2-135M-Instruct), same adapter (a LoRA r 16 on every linear layer; without --adapter
one with seeded random weights, so that its answers differ from the base), same Italian prompts, greedy decoding,
`--tokens` new tokens at most per answer. The first pair of each way is warm-up and is left out.

Throughput, in generated tokens of both answers per second (each answer re-encoded; greedy, so every way produces the
same texts and the ratio is one of times):
- ours: `ChatEngine.stream`, one `generate` with a PEFT mixed-adapter batch (row 0 `__base__`, row 1 the adapter);
- two passes on the same weights: the engine's fallback, base with the adapter disabled, then with it;
- two models: the base, then a second copy with the adapter merged into its weights, one after the other.
Target: ours >= 1.1x the sequential ways on CPU (>= 1.8x on a GPU).
On CPU every way runs with OMP_WAIT_POLICY=PASSIVE, the regime the engine meets in use: the CLI sets it, and in the
app `generate` runs in worker threads, where libgomp stops spinning anyway once several threads own OpenMP teams.
Spinning threads would flatter only the ways that run in the main thread (measured: ~2x faster per token there).

Memory, each setup in its own process after one answer: bytes of parameters and buffers, and the process's peak RSS
growth over its size before loading (VmHWM - VmRSS from /proc/self/status); on a GPU also peak GPU memory.
Setups: a single model (the reference), ours (one base + adapter), two copies (base and merged fine-tuned).
Target: ours <= 1.1x a single model.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

PROMPTS = [
    "Spiegami in poche frasi perché il cielo è azzurro.",
    "Scrivi una breve ricetta della pasta al pomodoro.",
    "Quali sono tre consigli per imparare bene una lingua straniera?",
    "Racconta una storia breve su un gatto che vive a Venezia.",
]
WARM_UP = "Ciao! Come stai?"


def _machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if "model name" in line]
        cpu = names[0] if names else cpu
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{cpu}, {os.cpu_count()} cores, {gpu}, torch {torch.__version__}"


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _bytes(*modules) -> int:
    """Parameters and buffers, each tensor once (tied embeddings share one)."""
    seen = {}
    for module in modules:
        for tensor in [*module.parameters(), *module.buffers()]:
            seen[tensor.data_ptr()] = tensor.numel() * tensor.element_size()
    return sum(seen.values())


def make_adapter(out: Path) -> Path:
    """A LoRA r 16 all-linear adapter (the smollm2-cpu preset's shape) with seeded random B, so it changes answers."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from pipeline import models

    torch.manual_seed(0)  # lora_A's initialisation
    base = AutoModelForCausalLM.from_pretrained(models.resolve(models.DEFAULT_MODEL))
    model = get_peft_model(base, LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", task_type="CAUSAL_LM"))
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.05)
    model.save_pretrained(out)
    return out


def _load_two_copies(adapter: Path):
    """The naive side by side: the base, and a second copy with the adapter merged in."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from pipeline import models

    folder = models.resolve(models.DEFAULT_MODEL)
    cuda = torch.cuda.is_available()
    dtype = torch.bfloat16 if cuda else torch.float32
    device = "cuda" if cuda else "cpu"
    base = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype).to(device).eval()
    tuned = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype).to(device)
    tuned = PeftModel.from_pretrained(tuned, models.adapter_folder(str(adapter))).merge_and_unload().eval()
    return AutoTokenizer.from_pretrained(folder), base, tuned, device


def _answer(model, tokenizer, device: str, prompt: str, tokens: int) -> str:
    messages = [{"role": "user", "content": prompt}]
    inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=True, return_tensors="pt")
    inputs = {k: v.to(device) for k, v in inputs.items()}
    out = model.generate(**inputs, max_new_tokens=tokens, do_sample=False)
    return tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)


def _count(tokenizer, pair: tuple[str, str]) -> int:
    return sum(len(tokenizer(text, add_special_tokens=False)["input_ids"]) for text in pair)


def throughput(adapter: Path, tokens: int) -> dict:
    """Seconds and generated tokens over the prompts, for each way; warm-up excluded."""
    from pipeline import models
    from pipeline.chat import ChatEngine, Sampling

    engine = ChatEngine(models.DEFAULT_MODEL)
    engine.set_adapter(str(adapter))
    assert engine.mixed_batches
    greedy = Sampling(temperature=0, max_new_tokens=tokens)
    tokenizer = engine.loaded.tokenizer
    results = {}
    for way, batched in (("ours", True), ("two passes", False)):
        warm = [{"role": "user", "content": WARM_UP}]
        engine.answer((warm, warm), greedy)
        start, generated, answers = time.perf_counter(), 0, []
        for prompt in PROMPTS:
            messages = [{"role": "user", "content": prompt}]
            *_, pair = engine.stream((messages, messages), greedy, batched=batched)
            generated += _count(tokenizer, pair)
            answers.append(pair)
        results[way] = {"seconds": time.perf_counter() - start, "tokens": generated, "answers": answers}
    del engine

    tokenizer, base, tuned, device = _load_two_copies(adapter)
    _answer(base, tokenizer, device, WARM_UP, tokens)
    _answer(tuned, tokenizer, device, WARM_UP, tokens)
    start, generated, answers = time.perf_counter(), 0, []
    for prompt in PROMPTS:
        pair = (_answer(base, tokenizer, device, prompt, tokens), _answer(tuned, tokenizer, device, prompt, tokens))
        generated += _count(tokenizer, pair)
        answers.append(pair)
    results["two models"] = {"seconds": time.perf_counter() - start, "tokens": generated, "answers": answers}
    return results


def memory(setup: str, adapter: Path, tokens: int) -> dict:
    """Model bytes and peak RSS growth (and peak GPU memory) of one setup, after answering one prompt."""
    import peft  # noqa: F401 - imported before the baseline, like torch and transformers
    import torch
    import transformers  # noqa: F401

    from pipeline import models
    from pipeline.chat import ChatEngine, Sampling

    models.resolve(models.DEFAULT_MODEL)
    start_kib = _status_kib("VmRSS")
    greedy = Sampling(temperature=0, max_new_tokens=tokens)
    first = [{"role": "user", "content": PROMPTS[0]}]
    if setup == "ours":
        engine = ChatEngine(models.DEFAULT_MODEL)
        engine.set_adapter(str(adapter))
        engine.answer((first, first), greedy)
        model_bytes = _bytes(engine.loaded.model)
    elif setup == "single":
        engine = ChatEngine(models.DEFAULT_MODEL)
        engine.answer((first, first), greedy)
        model_bytes = _bytes(engine.loaded.model)
    else:
        tokenizer, base, tuned, device = _load_two_copies(adapter)
        for model in (base, tuned):
            _answer(model, tokenizer, device, PROMPTS[0], tokens)
        model_bytes = _bytes(base, tuned)
    gpu = torch.cuda.max_memory_allocated() if torch.cuda.is_available() else None
    return {"model_bytes": model_bytes, "rss_growth": (_status_kib("VmHWM") - start_kib) * 1024, "gpu_peak": gpu}


SETUPS = {"single": "a single model (reference)", "ours": "ours: one base + adapter", "two": "two copies (merged)"}


def _child(args: list[str]) -> dict:
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode or not lines:
        raise SystemExit(f"{' '.join(args)} failed (exit {proc.returncode}): {proc.stderr[-1500:]}")
    return json.loads(lines[-1][len("RESULT ") :])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--adapter", help="a run folder or adapter folder trained on the bundled model")
    parser.add_argument("--child", choices=["throughput", *SETUPS], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        adapter = Path(args.adapter)
        if args.child == "throughput":
            result = throughput(adapter, args.tokens)
        else:
            result = memory(args.child, adapter, args.tokens)
        print("RESULT " + json.dumps(result, ensure_ascii=False), flush=True)
        return

    import torch

    gpu = torch.cuda.is_available()
    print(f"machine: {_machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        adapter = args.adapter or str(make_adapter(Path(tmp) / "adapter"))
        common = ["--adapter", adapter, "--tokens", str(args.tokens)]
        print(f"model: SmolLM2-135M-Instruct + LoRA ({'given' if args.adapter else 'r16 all-linear, random'}); "
              f"{len(PROMPTS)} Italian prompts, greedy, <= {args.tokens} new tokens per answer")  # fmt: skip
        # Each measure in its own process: a fresh allocator and a clean RSS baseline.
        speed = _child(["--child", "throughput", *common])
        usage = {setup: _child(["--child", setup, *common]) for setup in SETUPS}

    print("\nthroughput (tokens of both answers per second, warm-up excluded)")
    for way, result in speed.items():
        rate = result["tokens"] / result["seconds"]
        print(f"  {way:12s} {rate:7.1f} tokens/s  ({result['tokens']} tokens in {result['seconds']:.1f} s)")
    ours = speed["ours"]["tokens"] / speed["ours"]["seconds"]
    for way in ("two passes", "two models"):
        same = "same answers" if speed[way]["answers"] == speed["ours"]["answers"] else "answers differ"
        ratio = ours / (speed[way]["tokens"] / speed[way]["seconds"])
        print(f"  ours / {way}: {ratio:.2f}x ({same})")
    print(f"  target: >= {'1.8' if gpu else '1.1'}x on {'a GPU' if gpu else 'CPU'}")
    print("\nmemory (after one answer)")
    for setup, name in SETUPS.items():
        line = f"  {name:28s} model {usage[setup]['model_bytes'] / 2**20:7.1f} MiB, "
        line += f"peak RSS growth {usage[setup]['rss_growth'] / 2**20:7.1f} MiB"
        if usage[setup]["gpu_peak"] is not None:
            line += f", peak GPU {usage[setup]['gpu_peak'] / 2**20:7.1f} MiB"
        print(line)
    for key, what in (("model_bytes", "model bytes"), ("rss_growth", "peak RSS growth"), ("gpu_peak", "peak GPU")):
        if usage["single"][key]:
            ours_ratio = usage["ours"][key] / usage["single"][key]
            two_ratio = usage["two"][key] / usage["single"][key]
            print(f"  {what}: ours {ours_ratio:.2f}x a single model, two copies {two_ratio:.2f}x")
    print("  target: ours <= 1.1x a single model")


if __name__ == "__main__":
    main()
