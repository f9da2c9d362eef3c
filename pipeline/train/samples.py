"""Samples during training: at every evaluation, the model in training answers a few fixed Italian prompts
(`pipeline/data/sample_prompts.yaml`, decoded as Confronta does: greedy, repetition penalty 1.2), and each answer is
judged as the fidelity pairs judge the model's answers (`pipeline.preferences.answer_problems`: not Italian, mixed
languages, looping, wrong register). The answers and their fidelity (the share with no problem) go to the run's
metrics (a record with `samples` and `sample_fidelity`), to trackio (a table and a curve), and to the Addestra tab.

Only the main process generates; with a sharded model (DeepSpeed ZeRO-3, FSDP: `accelerate_config`) no process holds
the whole model, so there are no samples.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml

from pipeline.jobs import Job
from pipeline.train.config import TrainConfig

PROMPTS_FILE = Path(__file__).resolve().parents[1] / "data" / "sample_prompts.yaml"
MAX_NEW_TOKENS = 128
"""As long as the evaluation's answers: enough to show a loop or a switch to English."""


def prompts(count: int) -> list[str]:
    """The first `count` shipped prompts."""
    return yaml.safe_load(PROMPTS_FILE.read_text(encoding="utf-8"))[:count]


def answer(model: Any, tokenizer: Any, questions: list[str]) -> list[dict[str, Any]]:
    """The model's answers to `questions` (in eval mode for the moment, back to train mode after), each with its
    verdicts: `italian` (not refused for language), `loops`, `problems` (REASONS keys), `ok` (no problem)."""
    from pipeline import models
    from pipeline.preferences import answer_problems

    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    eot = models.end_of_turn_ids(tokenizer, model.generation_config.eos_token_id)
    loaded = models.Loaded(model, tokenizer, eot, Path("."))
    was_training = model.training
    model.eval()
    try:
        answers = models.generate(loaded, [[{"role": "user", "content": q}] for q in questions],
                                  max_new_tokens=MAX_NEW_TOKENS, repetition_penalty=models.REPETITION_PENALTY,
                                  use_cache=True)  # fmt: skip
    finally:
        model.train(was_training)
    rows = []
    for question, text in zip(questions, answers, strict=True):
        problems = answer_problems(question, text)
        rows.append({"prompt": question, "answer": text, "italian": not ({"non_italiana", "lingua_mista"} & set(
            problems)), "loops": "ripetizioni" in problems, "problems": problems, "ok": not problems})  # fmt: skip
    return rows


def fidelity(rows: list[dict[str, Any]]) -> float:
    return sum(r["ok"] for r in rows) / len(rows) if rows else 0.0


def callback(config: TrainConfig, job: Job | None, tokenizer: Any) -> Any:
    """A TrainerCallback answering the prompts after every evaluation, on the main process (`job` is None on the
    others, which simply wait for it at the next step)."""
    from transformers import TrainerCallback

    questions = prompts(config.samples)

    class Samples(TrainerCallback):
        def on_evaluate(self, args, state, control, model=None, **kwargs):
            if job is None or not questions or model is None:
                return
            t0 = time.monotonic()
            try:
                rows = answer(model, tokenizer, questions)
            except Exception as e:  # out of memory at the training's peak, a template that breaks: not worth the run
                print(f"Risposte di prova saltate al passo {state.global_step}: {e}")
                return
            score = fidelity(rows)
            job.append_metrics({"step": state.global_step, "epoch": state.epoch, "time": time.time(),
                                "sample_fidelity": score, "samples": rows,
                                "sample_seconds": round(time.monotonic() - t0, 1)})  # fmt: skip
            job.update(sample_fidelity=score)
            if config.trackio:
                _to_trackio(rows, score, state.global_step)

    return Samples()


def _to_trackio(rows: list[dict[str, Any]], score: float, step: int) -> None:
    """Into the run transformers' trackio integration opened (nothing if none is open)."""
    import pandas as pd
    import trackio

    if trackio.context_vars.current_run.get() is None:
        return
    table = pd.DataFrame([{k: r[k] for k in ("prompt", "answer", "italian", "loops")} for r in rows])
    trackio.log({"samples": trackio.Table(dataframe=table), "sample_fidelity": score}, step=step)


def history(metrics: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The sample records of a run's metrics, in step order."""
    return [m for m in metrics if "samples" in m]
