"""Generation throughput: accepted examples per minute at concurrency 16 vs 1, behind a proxy adding 300 ms latency.

    python bench/generation.py [--items 32] [--latency-ms 300] [--max-tokens 16] [--skip-plain] [--skip-dedup]
    python bench/generation.py --only-tasks [--tasks-per-request 10]   # prompt tokens per example, 1 vs 10 tasks
    python bench/generation.py --only-small-teacher   # the bundled model as the teacher: parse rates, local.yaml

Three teachers, side by side in one run, all behind the fault-injecting proxy that adds the latency:
- scripted: the proxy answers every request at once with a good Italian reply (a remote API, where the network and
  the provider's queue dominate);
- local, plain: the bundled model in `transformers serve` with its defaults (the weights' float32, one request at a
  time), so concurrency can only hide the latency, not the generation;
- local, Bottega: the server as the "local" preset starts it (`pipeline.serve.start_local_server`): continuous
  batching with a KV cache sized for the run's concurrency (on a CPU at concurrency 1 too, where its prefix reuse
  makes re-asks cheap), per-request attention on a CPU (`pipeline/varlen_attention.py`), bfloat16 where the CPU or
  GPU computes it natively. This is the issue's target, >= 8x. Batching shares the decode steps, not the prefill: on
  a 2-core CPU each ~1,100-token Self-Instruct prompt's prefill (~0.7 s) is compute-bound and costs the same at any
  concurrency, which caps the ratio well below 8x there even if decoding were free.
The local model's replies are rarely valid Italian YAML, so for it the bench counts finished candidates per minute.
Each local server is started for its run and stopped after it; start-up is not timed. The c=16 runs try 4x the
candidates of the c=1 runs (`--local-items`), so that the batch is full for most of the run.
At concurrency 1 it also runs Bottega's server without batching (same dtype, one request at a time, as it was started
before the paged cache was used at concurrency 1 too), to show what the paged cache's prefix reuse gives there.
Then it runs `bench/generation_dedup.py` (part b: MinHash LSH vs all-pairs ROUGE-L), unless --skip-dedup.
"""

import argparse
import os
import platform
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from pipeline.generate.run import PROMPT_TOKENS, GenerationConfig, generate  # noqa: E402
from tests.fault_proxy import FaultProxy  # noqa: E402


def scripted_teacher():
    """Good-looking replies at once: tasks and answers made of random words of the seed set, so that every candidate
    is Italian and no two are near-duplicates (the bench measures throughput, not prose)."""
    from pipeline import dataset
    from pipeline.generate.dedup import words as split_words

    seed = dataset.load(ROOT / "datasets_yaml" / "seed_it.yaml")
    vocabulary = sorted({w for e in seed.examples for w in split_words(e.output) if len(w) > 5})
    rng = random.Random(0)

    def respond(body: dict) -> str:
        words = " ".join(rng.sample(vocabulary, 12))
        prompt = body["messages"][-1]["content"]
        if "risposta: |" in prompt:
            return f"ragionamento: |\n  Parto dai fatti.\nrisposta: |\n  Ecco la risposta: {words}."
        if "adatto:" in prompt:  # backtranslation: the request a passage answers
            return f"adatto: 5\nistruzione: |\n  Spiegami con parole semplici: {words}.\ninput: ''\n"
        if many := re.search(r"Inventa (\d+) compiti", prompt):
            tasks = [" ".join(rng.sample(vocabulary, 12)) for _ in range(int(many.group(1)))]
            entries = "".join(f"  - istruzione: |\n      Spiega con parole semplici: {task}.\n    input: ''\n"
                              for task in tasks)  # fmt: skip
            return f"compiti:\n{entries}"
        return f"idea: |\n  Un compito nuovo.\nistruzione: |\n  Spiega con parole semplici: {words}.\ninput: ''\n"

    return respond


def self_instruct_run(proxy: FaultProxy, model: str, concurrency: int, items: int, scripted: bool, latency_ms: int,
                      max_tokens: int, tasks_per_request: int = 1):  # fmt: skip
    """One Self-Instruct run of `items` candidates through the proxy: its final status and how many minutes it took."""
    with tempfile.TemporaryDirectory() as tmp:
        proxy.reset()
        proxy.latency_ms = latency_ms
        if scripted:
            proxy.responder = scripted_teacher()
        config = GenerationConfig.from_dict(
            {
                "output": str(Path(tmp) / "bench.yaml"),
                "count": items,
                "max_items": items,
                "mix": {"self_instruct": 1.0},
                "tasks_per_request": tasks_per_request,
                "run_dir": str(Path(tmp) / "run"),
                "teacher": {"preset": "custom", "base_url": proxy.base_url, "model": model, "max_tokens": max_tokens,
                            "max_concurrency": concurrency},
            }
        )  # fmt: skip
        start = time.perf_counter()
        status = generate(config)
        return status, (time.perf_counter() - start) / 60


def per_minute(
    proxy: FaultProxy, model: str, concurrency: int, items: int, scripted: bool, latency_ms: int, max_tokens: int = 16
):
    """Items per minute of one run, and how many items it finished."""
    status, minutes = self_instruct_run(proxy, model, concurrency, items, scripted, latency_ms, max_tokens)
    done = status.accepted if scripted else status.accepted + status.rejected
    return done / minutes, done


def prompt_tokens_per_example(proxy: FaultProxy, tasks_per_request: int, items: int, latency_ms: int) -> tuple:
    """Prompt tokens the teacher reads per accepted example (counted with the bundled model's tokenizer on the
    chat-templated requests): in all, in the requests for tasks, in the requests for answers; then accepted examples
    per minute, and how many; with the scripted teacher at concurrency 16 asking for `tasks_per_request` Self-Instruct
    tasks per request."""
    from transformers import AutoTokenizer

    from pipeline import models

    tokenizer = AutoTokenizer.from_pretrained(models.resolve(models.DEFAULT_MODEL))
    status, minutes = self_instruct_run(proxy, "scripted", 16, items, True, latency_ms, 1024, tasks_per_request)
    tasks = answers = 0
    for request in proxy.requests:
        messages = request["body"]["messages"]
        n = len(tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                              return_dict=True)["input_ids"])  # fmt: skip
        if "risposta: |" in messages[-1]["content"]:
            answers += n
        else:
            tasks += n
    per = max(status.accepted, 1)
    return (tasks + answers) / per, tasks / per, answers / per, status.accepted / minutes, status.accepted


# How the local server is started: `transformers serve` as it comes (the weights' float32, one request at a time),
# the same in Bottega's dtype, or as the "local" preset starts it.
SERVERS = {
    "plain": {"batching": False, "dtype": "auto", "plain": True},
    "unbatched": {"batching": False},
    "bottega": {},
}


def local_per_minute(
    concurrency: int, items: int, latency_ms: int, server_kind: str, tmp: Path, max_tokens: int
) -> tuple[float, int]:
    """Items per minute of one run against a fresh local server of `server_kind` (a key of SERVERS)."""
    from pipeline import models
    from pipeline.serve import start_local_server

    options = {"concurrency": concurrency, "context_tokens": max_tokens + PROMPT_TOKENS, **SERVERS[server_kind]}
    log = tmp / f"serve-{server_kind}-{concurrency}.log"
    with start_local_server(models.resolve(models.DEFAULT_MODEL), log, device="cpu", **options) as server:
        with FaultProxy(server.base_url) as proxy:
            per_minute(proxy, server.model, 1, 1, False, 0)  # warm-up: the first forward passes are slow
            return per_minute(proxy, server.model, concurrency, items, False, latency_ms, max_tokens)


def reply_requests(per_kind: int) -> list[tuple[str, list[dict], object]]:
    """(kind, messages, shape) for `per_kind` requests of each prompt a generation run sends, built from the seed set
    and the bundled documents as a run builds them."""
    from pipeline import dataset
    from pipeline.generate import prompts
    from pipeline.generate.passages import split_documents

    seed = dataset.load(ROOT / "datasets_yaml" / "seed_it.yaml").examples
    passages = split_documents([ROOT / "pipeline" / "data" / "documenti"])
    rng = random.Random(0)
    requests = []
    for i in range(per_kind):
        example = seed[i % len(seed)]
        requests += [
            ("task", prompts.self_instruct(prompts.pick_examples(seed, rng), i % 2 == 1), prompts.NEW_TASK),
            ("evolve", prompts.evolve(example, rng.choice(list(prompts.EVOLUTIONS))), prompts.EVOLVED_TASK),
            ("answer", prompts.answer(example, rng.choice(prompts.ORCA_SYSTEMS)), prompts.ANSWER),
            ("judge", prompts.score_messages(example), prompts.SCORE),
            ("instruction", prompts.backtranslate(passages[i % len(passages)].text), prompts.BACKTRANSLATION),
        ]
    return requests


def parse_shares(per_kind: int, max_tokens: int, tmp: Path) -> dict[str, tuple[int, int, int]]:
    """For each kind of reply, (requests, replies that parse with the required keys unconstrained, constrained): the
    bundled model through Bottega's local server at concurrency 8, one attempt each (no re-ask), the same requests
    both ways, greedy (as the local teacher decoded before it sampled)."""
    import asyncio

    from pipeline import models
    from pipeline.serve import start_local_server
    from pipeline.teacher import ReplyFormatError, Teacher, TeacherConfig

    requests = reply_requests(per_kind)
    found: dict[str, list[int]] = {}
    log = tmp / "serve-parse.log"
    with start_local_server(models.resolve(models.DEFAULT_MODEL), log, device="cpu", concurrency=8,
                            context_tokens=max_tokens + PROMPT_TOKENS) as server:  # fmt: skip
        for column, constrained in ((1, False), (2, True)):
            config = TeacherConfig(preset="local", base_url=server.base_url, model=server.model, max_tokens=max_tokens,
                                   max_concurrency=8, temperature=0, constrained=constrained)  # fmt: skip

            async def one(teacher, kind, messages, shape):
                try:
                    await teacher.ask_yaml(messages, shape, max_reasks=0)
                    return kind, True
                except ReplyFormatError:
                    return kind, False

            async def run_all(config=config):
                async with Teacher(config) as teacher:
                    return await asyncio.gather(*(one(teacher, *r) for r in requests))

            start = time.perf_counter()
            for kind, parsed in asyncio.run(run_all()):
                row = found.setdefault(kind, [0, 0, 0])
                row[0] += column == 1
                row[column] += parsed
            print(f"  {'constrained' if constrained else 'unconstrained'}: {len(requests)} requests in "
                  f"{time.perf_counter() - start:.0f} s")  # fmt: skip
    return {kind: tuple(row) for kind, row in found.items()}


def local_config_per_minute(tmp: Path, teacher: dict, items: int, **overrides) -> tuple[float, int, int, dict, float]:
    """`configs/generate/local.yaml` as a new user runs it (the embedded default as the teacher, its own local
    server), with `teacher` settings and other fields changed: accepted per minute, accepted, tried, and the
    rejection reasons, and the minutes it took. Server start-up is timed too: it is part of what the user waits
    for."""
    import yaml

    raw = yaml.safe_load((ROOT / "configs" / "generate" / "local.yaml").read_text())
    raw["teacher"].update(teacher)
    raw.update(output=str(tmp / "local.yaml"), run_dir=str(tmp / "run"), max_items=items, count=items, **overrides)
    raw["seed_dataset"] = str(ROOT / raw["seed_dataset"])
    config = GenerationConfig.from_dict(raw)
    start = time.perf_counter()
    status = generate(config)
    minutes = (time.perf_counter() - start) / 60
    return status.accepted / minutes, status.accepted, status.accepted + status.rejected, dict(status.reasons), minutes


def small_teacher(args, tmp: Path) -> None:
    """The bundled 135M model as the teacher, through Bottega's local server on this CPU."""
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; the bundled model as the local teacher\n")
    print(f"Replies that parse with the required keys, one attempt, {args.parse_requests} requests of each kind, "
          f"256 tokens each:")  # fmt: skip
    shares = parse_shares(args.parse_requests, 256, tmp)
    total = [sum(row[i] for row in shares.values()) for i in range(3)]
    for kind, (n, free, constrained) in {**shares, "all": tuple(total)}.items():
        print(f"  {kind:<12} unconstrained {free / n:6.1%}   constrained {constrained / n:6.1%}   ({n} requests)")
    print("  target: >= 95% constrained\n")

    print(f"configs/generate/local.yaml on the embedded default, {args.config_items} candidates (server start-up "
          f"included):")  # fmt: skip
    # before: what the local teacher did until now (no constraint; the server decoded greedily whatever it was asked)
    runs = {"before (unconstrained, greedy)": {"constrained": False, "temperature": 0},
            "after (constrained, sampling)": {}}  # fmt: skip
    for label, teacher in runs.items():
        rate, accepted, tried, reasons, minutes = local_config_per_minute(tmp / label[:5], teacher, args.config_items)
        print(f"  {label:<32} {rate:6.2f} accepted / min ({accepted} of {tried} in {minutes:.1f} min; "
              f"rejected: {reasons})")  # fmt: skip
    print()

    k = args.tasks_per_request
    print(f"Self-Instruct on the local server, one task per request vs {k} (local.yaml, self_instruct only, "
          f"{args.config_items * 2} candidates):")  # fmt: skip
    per = {}
    for n in (1, k):
        mix = {"mix": {"self_instruct": 1.0}, "tasks_per_request": n}
        rate, accepted, tried, reasons, minutes = local_config_per_minute(tmp / f"tasks{n}", {}, args.config_items * 2,
                                                                          **mix)  # fmt: skip
        per[n] = rate, tried / minutes
        print(f"  {n:2d} per request: {rate:6.2f} accepted / min, {tried / minutes:5.1f} candidates / min ({accepted} "
              f"of {tried} in {minutes:.1f} min; rejected: {reasons})")  # fmt: skip
    if per[1][0]:
        print(f"  {k} vs 1 per request: accepted per minute {per[k][0] / per[1][0]:.1f}x (target >= 3x), candidates "
              f"per minute {per[k][1] / per[1][1]:.1f}x")  # fmt: skip
    # The bound for any k: with tasks for free, a candidate still costs its answer. ORCA answers the seed's tasks,
    # so its candidates per minute are what Self-Instruct would reach if asking for tasks cost nothing.
    _, _, tried, _, minutes = local_config_per_minute(tmp / "answers", {}, args.config_items * 2, mix={"orca": 1.0})
    print(f"  answers alone (ORCA on the seed's tasks, no task requests): {tried / minutes:5.1f} candidates / min, "
          f"{tried / minutes / per[1][1]:.1f}x one task per request: the most any k can give here")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=32)
    parser.add_argument("--local-items", type=int, default=16, help="candidates at c=1 (4x as many at c=16)")
    parser.add_argument("--latency-ms", type=int, default=300)
    parser.add_argument(
        "--max-tokens", type=int, default=16, help="per reply of the local teacher (cut replies are re-asked)"
    )
    parser.add_argument(
        "--skip-plain", action="store_true", help="leave out the servers without batching (the baselines)"
    )
    parser.add_argument("--skip-dedup", action="store_true", help="do not run bench/generation_dedup.py after")
    parser.add_argument("--tasks-per-request", type=int, default=10,
                        help="prompt tokens per example: 1 vs this many Self-Instruct tasks per request")  # fmt: skip
    parser.add_argument("--only-tasks", action="store_true", help="only the tasks-per-request comparison")
    parser.add_argument("--only-small-teacher", action="store_true",
                        help="only the bundled model as the teacher: parse rates, configs/generate/local.yaml before "
                        "and after constrained decoding, 1 vs k tasks per request")  # fmt: skip
    parser.add_argument("--parse-requests", type=int, default=8, help="requests of each kind for the parse rates")
    parser.add_argument("--config-items", type=int, default=20, help="candidates per local.yaml run")
    args = parser.parse_args()
    if args.only_small_teacher:
        with tempfile.TemporaryDirectory() as tmp:
            small_teacher(args, Path(tmp))
        return

    from pipeline.serve import fast_dtype

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; latency added by the proxy: {args.latency_ms} ms")
    print(f"local server, Bottega: dtype {fast_dtype('cpu')}, continuous batching (at concurrency 1 too, on a CPU); "
          f"replies of at most {args.max_tokens} tokens")  # fmt: skip
    rows = []
    local = [("local, plain", "plain"), ("local, Bottega", "bottega")][args.skip_plain :]
    with tempfile.TemporaryDirectory() as tmp, FaultProxy("http://127.0.0.1:9/v1") as proxy:  # never forwards
        if args.tasks_per_request > 1:
            k = args.tasks_per_request
            print(f"\nSelf-Instruct, one task per request vs {k}: scripted teacher, concurrency 16")
            found = {k: prompt_tokens_per_example(proxy, k, args.items * 2, args.latency_ms)
                     for k in (1, args.tasks_per_request)}  # fmt: skip
            for k, (tokens, tasks, answers, rate, accepted) in found.items():
                split = f"{tasks:.0f} asking for tasks, {answers:.0f} for the answer"
                print(f"  {k:2d} per request: {tokens:7.0f} prompt tokens per accepted example ({split}), "
                      f"{rate:6.1f} accepted / min ({accepted} accepted)")  # fmt: skip
            ratio = found[1][0] / found[args.tasks_per_request][0]
            print(f"  prompt tokens per accepted example, 1 vs {k}: {ratio:.1f}x fewer (target >= 5x)\n")
            if args.only_tasks:
                return
        one, n1 = per_minute(proxy, "scripted", 1, args.items, True, args.latency_ms)
        many, n16 = per_minute(proxy, "scripted", 16, args.items, True, args.latency_ms)
        rows.append(("scripted", one, many, n1, n16))
        for label, kind in local:
            one, n1 = local_per_minute(1, args.local_items, args.latency_ms, kind, Path(tmp), args.max_tokens)
            # 4x the items at c=16, so that the batch is full for most of the run, not only for its first requests
            many, n16 = local_per_minute(16, 4 * args.local_items, args.latency_ms, kind, Path(tmp), args.max_tokens)
            rows.append((label, one, many, n1, n16))
        if not args.skip_plain:
            unbatched, _ = local_per_minute(
                1, args.local_items, args.latency_ms, "unbatched", Path(tmp), args.max_tokens
            )
    print(f"{'teacher':<16}{'c=1 /min':>10}{'c=16 /min':>11}{'ratio':>8}   (items per run)")
    for label, one, many, n1, n16 in rows:
        print(f"{label:<16}{one:>10.1f}{many:>11.1f}{many / one:>8.1f}   ({n1}, {n16})")
    if not args.skip_plain:
        print(f"local at c=16, Bottega vs plain: {rows[2][2] / rows[1][2]:.2f}x")
        print(f"local at c=1, Bottega (paged cache: a re-ask prefills only its new tokens) vs the same server "
              f"unbatched: {rows[2][1]:.1f} vs {unbatched:.1f} /min, {rows[2][1] / unbatched:.2f}x")  # fmt: skip
    print("target: c=16 / c=1 >= 8 against the local server")
    if not args.skip_dedup:
        print()
        subprocess.run([sys.executable, str(ROOT / "bench" / "generation_dedup.py")], check=True)


if __name__ == "__main__":
    main()
