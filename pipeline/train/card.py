"""The model card draft written next to a trained adapter (README.md, Hugging Face format)."""

from __future__ import annotations

from pathlib import Path

from pipeline.train.config import TrainConfig

_HYPER = (
    "method", "beta", "sft_weight", "lora_r", "lora_alpha", "lora_dropout", "target_modules", "use_dora",
    "use_rslora", "qlora", "max_length", "packing", "assistant_only_loss", "epochs", "max_steps", "learning_rate",
    "lr_scheduler", "warmup_ratio", "batch_size", "grad_accum", "neftune_alpha", "seed",
)  # fmt: skip


def base_model_id(config: TrainConfig) -> str | None:
    """The base model's Hub id for the card's metadata: the bundled model's upstream id, a Hub id as given, or None
    for a local folder (which means nothing on the Hub)."""
    from pipeline import models
    from pipeline.paths import is_repo_id

    if config.model in models.BUNDLED:
        return "HuggingFaceTB/SmolLM2-135M-Instruct"
    if is_repo_id(config.model) and not Path(config.model).exists():
        return config.model
    return None


_METHOD_NAMES = {"sft": "SFT", "dpo": "DPO", "orpo": "ORPO", "kto": "KTO"}


def stages(config: TrainConfig) -> list[str]:
    """The training stages behind this adapter, oldest first: each run it started from (`adapter`, followed through
    the run folders that hold a config) and this one, with its method and data."""
    from pipeline.train.config import load_run_config

    chain = [config]
    seen = set()
    while chain[0].adapter and len(chain) < 10:
        folder = chain[0].adapter_path
        if folder in seen or not (folder / "config.yaml").is_file():
            chain.insert(0, None)
            break
        seen.add(folder)
        chain.insert(0, load_run_config(folder))
    lines = []
    for number, stage in enumerate(chain, 1):
        if stage is None:
            lines.append(f"{number}. un adattatore esistente: `{chain[1].adapter}`")
            continue
        detail = f", beta {stage.beta}" if stage.method != "sft" else ""
        lines.append(f"{number}. {_METHOD_NAMES[stage.method]} su `{stage.dataset}` (run `{stage.name}`{detail})")
    return lines


def render_card(config: TrainConfig, status: dict, metrics: list[dict], extra_results: list[str] | None = None) -> str:
    """Card text: metadata block validated by huggingface_hub, then what, how, results, intended use (Italian
    first, since the users are Italian)."""
    from huggingface_hub import ModelCard, ModelCardData

    base_id = base_model_id(config)
    base = base_id or config.model
    data = ModelCardData(
        language=["it"],
        license="apache-2.0",
        library_name="peft",
        base_model=base_id,
        pipeline_tag="text-generation",
        tags=["bottega", "lora", *sorted({config.method, *(["sft"] if config.adapter else [])}), "trl", "italian"]
        + (["qlora"] if config.qlora else []),
    )
    losses = [m["loss"] for m in metrics if "loss" in m]
    evals = [m["eval_loss"] for m in metrics if "eval_loss" in m]
    results = [f"- passi: {status.get('step', '?')}", f"- esempi di addestramento: {status.get('examples', '?')}"]
    if losses:
        results.append(f"- loss di addestramento: {losses[0]:.3f} → {losses[-1]:.3f}")
    if evals:
        results.append(f"- loss di valutazione (held-out): {evals[0]:.3f} → {evals[-1]:.3f}")
    if status.get("early_stopped"):
        best = f"{status.get('best_step')} (loss di valutazione {status.get('best_eval_loss', 0):.3f})"
        results.append(f"- arresto anticipato al passo {status['early_stopped']}: adattatore del passo {best}")
    fidelity = [m["sample_fidelity"] for m in metrics if "sample_fidelity" in m]
    if fidelity:
        prompts = len(next(m["samples"] for m in metrics if "samples" in m))
        results.append(f"- fedeltà all'italiano di {prompts} risposte di prova fisse (italiane, senza ripetizioni, "
                       f"registro giusto): {fidelity[0]:.0%} → {fidelity[-1]:.0%}")  # fmt: skip
    results += extra_results or []
    hyper = "\n".join(f"| {name} | {getattr(config, name)} |" for name in _HYPER)
    content = f"""---
{data.to_yaml()}
---

# {config.name}

Adattatore LoRA di **{base}** addestrato con Bottega per rispondere meglio in italiano.
*LoRA adapter of {base}, fine-tuned with Bottega to answer better in Italian.*

## Stadi · Stages
{chr(10).join(stages(config))}

## Dati · Data
Dataset: `{config.dataset}` ({"solo esempi approvati" if config.only_approved else "tutti gli esempi"}),
{config.eval_share:.0%} tenuto da parte per la valutazione. La loss è calcolata solo sulle risposte
dell'assistente: {"sì" if config.assistant_only_loss else "no"}.

## Iperparametri · Hyperparameters
| campo | valore |
|---|---|
{hyper}

## Risultati · Results
{chr(10).join(results)}

## Uso previsto · Intended use
Ricerca e prototipi di assistenti in italiano. Non è valutato per usi medici, legali o finanziari;
controlla le risposte prima di usarle. *Research and prototyping of Italian assistants; not evaluated for
high-stakes use.*
"""
    ModelCard(content)  # raises if the metadata block is malformed
    return content


def write_card(config: TrainConfig, adapter: Path, status: dict, metrics: list[dict]) -> Path:
    from pipeline.files import atomic_write

    path = adapter / "README.md"
    atomic_write(path, render_card(config, status, metrics).encode("utf-8"))
    return path
