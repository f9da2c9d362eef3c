"""Which grammar library masks the local teacher's tokens: llguidance vs xgrammar, side by side on Bottega's reply
shapes and the bundled model's tokenizer.

    pip install xgrammar==0.2.9    # not in requirements.txt: it pulls in triton (~1 GB); without it, llguidance only
    python bench/grammar_backends.py

For each library: the time to read the tokenizer, to compile each shape's regex, and to compute the mask of allowed
tokens at each step of a real reply (mean and worst), against the time of one decode step of the bundled model on
this machine (the budget a mask must stay well under). Bottega's server (pipeline/local_server.py) uses llguidance.
"""

import importlib.metadata
import importlib.util
import os
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from pipeline import models  # noqa: E402
from pipeline.generate import prompts  # noqa: E402

SHAPES = {
    "answer": prompts.ANSWER,
    "task": prompts.NEW_TASK,
    "judge": prompts.SCORE,
    "10 tasks": prompts.new_tasks(10),
}
REPLY = (
    "ragionamento: |\n  Parto da che cosa serve: acqua, caffè macinato, la moka.\n  Poi seguo l'ordine.\n"
    "risposta: |\n  Si riempie la caldaia d'acqua fino alla valvola, si mette il caffè nel filtro senza pressarlo,\n"
    "  si avvita bene e si scalda a fuoco basso.\n\n  Quando il caffè borbotta, si spegne: è pronto.\n"
)


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def bench_llguidance(tokenizer, vocab: int, ids: list[int]) -> None:
    import llguidance
    import llguidance.hf

    lltok, seconds = timed(lambda: llguidance.hf.from_tokenizer(tokenizer, n_vocab=vocab, eos_token=ids[-1]))
    print(f"llguidance {llguidance.__version__}: tokenizer {seconds * 1000:.0f} ms")
    for name, shape in SHAPES.items():
        _, seconds = timed(
            lambda s=shape: llguidance.LLMatcher(lltok, llguidance.LLMatcher.grammar_from_regex(s.regex(1024)))
        )
        print(f"  compile {name}: {seconds * 1000:.1f} ms")
    matcher = llguidance.LLMatcher(lltok, llguidance.LLMatcher.grammar_from_regex(prompts.ANSWER.regex(1024)))
    mask = torch.full((1, (vocab + 31) // 32), -1, dtype=torch.int32)
    times = []
    for token in ids:
        _, seconds = timed(lambda: matcher.unsafe_compute_mask_ptr(mask.data_ptr(), mask.numel() * 4))
        times.append(seconds)
        assert (mask[0, token // 32] >> (token % 32)) & 1, f"token {token} masked"
        assert matcher.consume_token(token), matcher.get_error()
    print(f"  mask per token: mean {1000 * sum(times) / len(times):.3f} ms, worst {1000 * max(times):.2f} ms "
          f"({len(times)} tokens)")  # fmt: skip


def bench_xgrammar(tokenizer, vocab: int, ids: list[int]) -> None:
    import xgrammar

    info, seconds = timed(lambda: xgrammar.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab))
    compiler = xgrammar.GrammarCompiler(info)
    print(f"xgrammar {importlib.metadata.version('xgrammar')}: tokenizer {seconds * 1000:.0f} ms")
    for name, shape in SHAPES.items():
        _, seconds = timed(lambda s=shape: compiler.compile_regex(s.regex(1024)))
        print(f"  compile {name}: {seconds * 1000:.1f} ms")
    matcher = xgrammar.GrammarMatcher(compiler.compile_regex(prompts.ANSWER.regex(1024)))
    mask = xgrammar.allocate_token_bitmask(1, info.vocab_size)
    times = []
    for token in ids:
        _, seconds = timed(lambda: matcher.fill_next_token_bitmask(mask))
        times.append(seconds)
        assert matcher.accept_token(token), f"token {token} refused"
    print(f"  mask per token: mean {1000 * sum(times) / len(times):.3f} ms, worst {1000 * max(times):.2f} ms "
          f"({len(times)} tokens)")  # fmt: skip


def decode_step_ms(folder: Path) -> float:
    """One decode step of the bundled model (batch of one, a 1,000-token context), in ms."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.bfloat16).eval()
    with torch.inference_mode():
        out = model(torch.randint(0, 1000, (1, 1000)), use_cache=True)
        cache, token = out.past_key_values, torch.tensor([[42]])
        model(token, past_key_values=cache)
        _, seconds = timed(lambda: [model(token, past_key_values=cache) for _ in range(10)])
    return seconds * 100


def main() -> None:
    from transformers import AutoTokenizer

    folder = models.resolve(models.DEFAULT_MODEL)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    vocab = len(tokenizer)
    ids = tokenizer(REPLY, add_special_tokens=False).input_ids + [tokenizer.eos_token_id]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}; vocabulary {vocab}")
    print(
        f"one decode step of the bundled model (bfloat16, 1,000 tokens of context): {decode_step_ms(folder):.1f} ms\n"
    )
    bench_llguidance(tokenizer, vocab, ids)
    if importlib.util.find_spec("xgrammar"):
        bench_xgrammar(tokenizer, vocab, ids)
    else:
        print("xgrammar: not installed (pip install xgrammar==0.2.9 to compare)")


if __name__ == "__main__":
    main()
