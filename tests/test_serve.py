"""The local teacher as Bottega starts it: continuous batching in a KV cache sized for the run, bfloat16 where the
hardware computes it natively. Real `transformers serve` processes with the bundled model."""

import asyncio
from pathlib import Path

import openai
import torch

from pipeline.serve import CPU_BATCH_TOKENS, batching_flags, fast_dtype, start_local_server


def test_the_cache_is_sized_for_the_run_not_for_the_machine():
    # one request at a time on a CPU still gets the paged cache, for its prefix reuse: a re-ask prefills only its tail
    assert batching_flags("cpu", 1, 4096)[:3] == ["--continuous-batching", "--cb-num-blocks", "16"]
    assert batching_flags("cpu", 16, 1024 + 2048) == [
        "--continuous-batching",
        "--cb-num-blocks",
        "192",  # 16 requests × 12 blocks of 256 tokens
        "--cb-max-batch-tokens",
        str(CPU_BATCH_TOKENS),
    ]
    assert batching_flags("cpu", 3, 100)[2] == "3"  # at least one block per request


def test_bfloat16_only_where_the_cpu_computes_it_natively(monkeypatch):
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"avx2": True, "amx_bf16": False, "avx512_bf16": False})
    assert fast_dtype("cpu") == "auto"  # emulated bf16 would be slower than the weights' float32
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"avx512_bf16": True})
    assert fast_dtype("cpu") == "bfloat16"
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"amx_bf16": True})
    assert fast_dtype("cpu") == "bfloat16"


def test_a_gpu_serves_in_bfloat16_from_ampere_on_and_float16_before(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: not including_emulation)
    assert fast_dtype("auto") == "bfloat16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: including_emulation)
    assert fast_dtype("cuda:0") == "float16"  # a T4 only emulates bf16
    assert "--cb-max-batch-tokens" not in batching_flags("auto", 4, 1024)  # the GPU keeps the server's own default
    assert batching_flags("cuda:0", 1, 4096) == []  # prefill is cheap there: one request at a time, no batching


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_a_batching_server_answers_concurrent_requests_in_a_bounded_cache(bundled_model, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the server finds Bottega's attention from any working folder
    log = tmp_path / "serve.log"
    with start_local_server(bundled_model, log, device="cpu", concurrency=4, context_tokens=1024) as server:
        started = log.read_text().splitlines()[0]
        assert started.startswith("$ pipeline.varlen_attention serve ")  # per-request attention on a CPU
        assert "--continuous-batching --cb-num-blocks 16" in started and "--dtype" in started

        async def ask_all() -> list:
            client = openai.AsyncOpenAI(base_url=server.base_url, api_key="locale")
            questions = ["Qual è la capitale d'Italia?", "Scrivi una frase sul mare.", "Che cos'è un verbo?", "Ciao!"]
            try:
                return await asyncio.gather(
                    *[
                        client.chat.completions.create(
                            model=server.model, messages=[{"role": "user", "content": q}], max_tokens=24
                        )
                        for q in questions
                    ]
                )
            finally:
                await client.close()

        replies = asyncio.run(ask_all())
        for reply in replies:
            assert reply.choices[0].message.content.strip()
            assert 0 < reply.usage.completion_tokens <= 24 and reply.usage.prompt_tokens > 5
        assert "CB: True" in log.read_text()  # the server's own word that the requests went through the batcher
        # The server's own default would reserve 60% of the machine's RAM for the cache (14 GiB on 24 GiB).
        assert _rss_mib(server.proc.pid) < 2048
