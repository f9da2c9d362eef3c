"""The local teacher as Bottega starts it: continuous batching in a KV cache sized for the run, bfloat16 where the
hardware computes it natively. Real `transformers serve` processes with the bundled model."""

import asyncio
import re
from pathlib import Path

import openai
import pytest
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
        assert started.startswith("$ pipeline.local_server --varlen serve ")  # per-request attention on a CPU
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


def _teacher_requests() -> list[tuple[list[dict], object]]:
    """One request of each kind a generation run sends, built from the seed set as a run builds them."""
    from pipeline import dataset
    from pipeline.generate import prompts

    seed = dataset.load(Path(__file__).resolve().parents[1] / "datasets_yaml" / "seed_it.yaml").examples
    return [
        (prompts.self_instruct(seed[:6], with_input=False), prompts.NEW_TASK),
        (prompts.evolve(seed[1], "vincolo"), prompts.EVOLVED_TASK),
        (prompts.answer(seed[2], prompts.ORCA_SYSTEMS[0]), prompts.ANSWER),
        (prompts.score_messages(seed[3]), prompts.SCORE),
        (prompts.backtranslate(seed[4].output), prompts.BACKTRANSLATION),
        (prompts.self_instruct_many(seed[:6], with_input=True, count=2), prompts.new_tasks(2)),
    ]


@pytest.mark.slow
def test_constrained_replies_from_the_bundled_model_parse_in_a_batch_shared_with_free_ones(bundled_model, tmp_path):
    from pipeline.teacher import Teacher, TeacherConfig

    with start_local_server(bundled_model, tmp_path / "serve.log", device="cpu", concurrency=8) as server:
        config = TeacherConfig(preset="local", base_url=server.base_url, model=server.model, max_tokens=192,
                               max_concurrency=8, temperature=0)  # fmt: skip
        assert config.constrains  # the local preset's default

        async def ask_all():
            async with Teacher(config) as teacher:
                free = teacher.chat([{"role": "user", "content": "Scrivi una frase sul mare."}], max_tokens=48)
                shaped = [teacher.ask_yaml(messages, shape, max_reasks=0) for messages, shape in _teacher_requests()]
                return teacher, await asyncio.gather(free, *shaped)

        teacher, (free, *replies) = asyncio.run(ask_all())
        # the same model unconstrained writes no valid reply of these shapes (0 of 40 in bench/generation.py)
        assert teacher.usage.reply_failures == {} and teacher.usage.requests == 7
        assert all(reply.data for reply in replies)
        assert len(replies[-1].data["compiti"]) == 2  # a list of exactly the tasks asked for
        assert replies[3].data["punteggio"] in range(1, 11) and replies[4].data["adatto"] in range(1, 6)
        # the free request shared the batch and got no mask: it is not in any of the shapes
        assert not free.text.lstrip().startswith(("idea:", "analisi:", "ragionamento:", "motivazione:", "adatto:"))

        client = openai.OpenAI(base_url=server.base_url, api_key="locale")
        messages, shape = _teacher_requests()[3]
        constrained = {"structured_outputs": {"regex": shape.regex(192)}}
        exact = client.chat.completions.create(model=server.model, messages=messages, max_tokens=192, temperature=0,
                                               extra_body=constrained)  # fmt: skip
        assert exact.choices[0].finish_reason == "stop"  # the regex ended, so the model could only end its turn
        assert re.fullmatch(shape.regex(192), exact.choices[0].message.content)
        for bad, says in (({"regex": "(("}, "structured_outputs.regex"), ({"json": {}}, "regex")):
            with pytest.raises(openai.BadRequestError) as refused:
                client.chat.completions.create(model=server.model, messages=messages, max_tokens=8,
                                               extra_body={"structured_outputs": bad})  # fmt: skip
            assert says in refused.value.response.json()["detail"]
        assert client.chat.completions.create(model=server.model, messages=messages, max_tokens=4).choices


@pytest.mark.slow
def test_without_batching_the_server_still_constrains_and_samples_at_a_temperature(
    bundled_model, tmp_path, monkeypatch
):
    from pipeline import serve

    monkeypatch.setattr(serve, "on_gpu", lambda device: True)  # as on a GPU at concurrency 1: `generate`, no batching
    log = tmp_path / "serve.log"
    with start_local_server(bundled_model, log, device="cpu", dtype="bfloat16", concurrency=1) as server:
        assert log.read_text().splitlines()[0].startswith("$ pipeline.local_server serve ")
        assert "--continuous-batching" not in log.read_text().splitlines()[0]
        client = openai.OpenAI(base_url=server.base_url, api_key="locale")
        messages, shape = _teacher_requests()[3]
        constrained = {"structured_outputs": {"regex": shape.regex(192)}}
        reply = client.chat.completions.create(model=server.model, messages=messages, max_tokens=192, temperature=0,
                                               extra_body=constrained)  # fmt: skip
        assert re.fullmatch(shape.regex(192), reply.choices[0].message.content)
        assert "CB: False" in log.read_text()

        def texts(temperature: float, n: int) -> list[str]:
            question = [{"role": "user", "content": "Racconta una storia breve."}]
            return [client.chat.completions.create(model=server.model, messages=question, max_tokens=24,
                                                   temperature=temperature).choices[0].message.content
                    for _ in range(n)]  # fmt: skip

        assert len(set(texts(0, 2))) == 1  # greedy
        assert len(set(texts(1.0, 3))) > 1  # a temperature samples (transformers serve alone would stay greedy)
