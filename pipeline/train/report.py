"""Before a run: how much Italian costs in tokens, and whether the training fits in memory.

    from pipeline.train.report import tokenizer_report, memory_estimate, visible_gpu_bytes

Both reports are cheap: the tokenizer report encodes a fixed Italian/English parallel sample, and the memory estimate
builds the model on the meta device (shapes only, no weights) to count parameters. The UI shows them next to the
training form so a user sees, before launching, that Italian needs more tokens per word (fewer words per `max_length`)
and which settings to change when the run would not fit.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.i18n import t
from pipeline.train.config import TrainConfig

if TYPE_CHECKING:
    from transformers import PretrainedConfig, PreTrainedTokenizerBase

# The same content written natively in each language, so the token ratio measures the tokenizer, not the text.
PARALLEL_IT_EN: tuple[tuple[str, str], ...] = (
    (
        "L'università di Bologna è considerata la più antica del mondo occidentale: fu fondata nel 1088.",
        "The University of Bologna is considered the oldest in the Western world: it was founded in 1088.",
    ),
    (
        "Perché non vieni a cena da noi stasera? Abbiamo preparato le lasagne con la ricetta della nonna.",
        "Why not come over for dinner tonight? We made lasagna with grandma's recipe.",
    ),
    (
        "È importante leggere attentamente le istruzioni prima di compilare il modulo per la cittadinanza.",
        "It is important to read the instructions carefully before filling in the citizenship form.",
    ),
    (
        "Il treno per Milano viaggia con venti minuti di ritardo a causa di un guasto alla linea elettrica.",
        "The train to Milan is running twenty minutes late because of a fault on the power line.",
    ),
    (
        "Quand'ero bambino, d'estate andavamo sempre al mare in Liguria insieme ai miei nonni.",
        "When I was a child, in the summer we always went to the seaside in Liguria with my grandparents.",
    ),
    (
        "Secondo il medico dovrei dormire di più e bere almeno due litri d'acqua al giorno.",
        "According to the doctor, I should sleep more and drink at least two litres of water a day.",
    ),
    (
        "Gli studenti hanno chiesto all'insegnante di spiegare di nuovo la lezione sulla Costituzione.",
        "The students asked the teacher to explain the lesson on the Constitution again.",
    ),
    (
        "Nessuno sa perché il progetto sia stato abbandonato, ma forse riprenderà la prossima settimana.",
        "Nobody knows why the project was abandoned, but perhaps it will resume next week.",
    ),
)
# Words shown split into tokens: common, and long enough that an English-centric vocabulary breaks them up.
EXAMPLE_WORDS = ("perché", "università", "cittadinanza")

# `\w` is Unicode-aware on str patterns, so "è" and "à" stay inside words; an apostrophe separates "l'università".
_WORD = re.compile(r"\w+", re.UNICODE)
GIB = 2**30
# CUDA context, cuBLAS workspaces and the caching allocator's fragmentation: roughly constant per process.
CUDA_OVERHEAD = 3 * GIB // 4
_DTYPE_BYTES = {"bfloat16": 2, "float16": 2, "float32": 4}
# NF4 stores half a byte per weight plus one absmax constant per block of 64 weights: fp32 (4/64 byte per weight),
# or with double quantisation an 8-bit constant per block plus an fp32 one per 256 blocks.
_NF4_BYTES = 0.5
_NF4_CONSTANTS = 4 / 64
_NF4_CONSTANTS_DOUBLE = 1 / 64 + 4 / (64 * 256)


def count_words(text: str) -> int:
    """Words as a reader counts them, accents included; an apostrophe splits ("l'università" is two words)."""
    return len(_WORD.findall(text))


def _it_decimal(value: float, digits: int = 1) -> str:
    return f"{value:.{digits}f}".replace(".", ",")


@dataclass
class TokenizerReport:
    it_tokens: int
    it_words: int
    en_tokens: int
    en_words: int
    it_tokens_per_word: float
    en_tokens_per_word: float
    ratio: float
    """Italian tokens per word over English ones: above 1, Italian costs more tokens for the same content."""
    examples: list[tuple[str, list[str]]]
    """Italian words and the readable pieces the tokenizer splits them into."""

    def summary(self) -> str:
        """One sentence for the UI, in the current language, about the cost of Italian."""
        extra = round((self.ratio - 1) * 100)
        it, en = _it_decimal(self.it_tokens_per_word), _it_decimal(self.en_tokens_per_word)
        return t("report_tokenizer_summary", it=it, en=en, extra=extra)


def token_pieces(tokenizer: PreTrainedTokenizerBase, text: str) -> list[str]:
    """`text` split into its tokens as readable strings.

    Byte-level BPE can cut a UTF-8 character across tokens ("È" is two tokens in SmolLM2), and decoding such a token
    alone gives "�"; consecutive tokens are decoded together until they form whole characters.
    """
    pieces, pending = [], []
    for token_id in tokenizer.encode(text, add_special_tokens=False):
        pending.append(token_id)
        piece = tokenizer.decode(pending)
        if "\ufffd" not in piece:
            pieces.append(piece)
            pending = []
    if pending:
        pieces.append(tokenizer.decode(pending))
    return pieces


def tokenizer_report(tokenizer: PreTrainedTokenizerBase) -> TokenizerReport:
    """Tokens per word on the parallel sample, in Italian and in English."""
    italian = " ".join(it for it, _ in PARALLEL_IT_EN)
    english = " ".join(en for _, en in PARALLEL_IT_EN)
    it_tokens = len(tokenizer.encode(italian, add_special_tokens=False))
    en_tokens = len(tokenizer.encode(english, add_special_tokens=False))
    it_words, en_words = count_words(italian), count_words(english)
    # A leading space, as inside a sentence: that is how the word is usually tokenized.
    examples = [(word, [p.strip() for p in token_pieces(tokenizer, " " + word)]) for word in EXAMPLE_WORDS]
    return TokenizerReport(
        it_tokens=it_tokens,
        it_words=it_words,
        en_tokens=en_tokens,
        en_words=en_words,
        it_tokens_per_word=it_tokens / it_words,
        en_tokens_per_word=en_tokens / en_words,
        ratio=(it_tokens / it_words) / (en_tokens / en_words),
        examples=examples,
    )


@dataclass(frozen=True)
class ModelCounts:
    """What the estimate needs from a model's architecture, read from its config without loading weights."""

    params: int
    quantizable: int
    """Weights NF4 would quantise: every matrix except the embeddings and the output layer."""
    lora: int
    """Trainable LoRA (and DoRA) parameters for the config's rank and target modules."""
    layers: int
    hidden: int
    heads: int
    vocab: int


def count_parameters(config: TrainConfig, model_config: PretrainedConfig) -> ModelCounts:
    """Count parameters on a meta-device model: shapes only, so an 8B model costs no memory and a second or two."""
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(model_config)
    embeddings = {id(p) for p in model.get_input_embeddings().parameters()}
    output = model.get_output_embeddings()
    if output is not None:
        embeddings |= {id(p) for p in output.parameters()}
    # parameters() yields a tied weight once, so a tied lm_head is not counted twice.
    params = quantizable = 0
    for p in model.parameters():
        params += p.numel()
        if p.dim() >= 2 and id(p) not in embeddings:
            quantizable += p.numel()

    lora = 0
    for name, module in model.named_modules():
        if not isinstance(module, torch.nn.Linear) or module is output:
            continue
        # PEFT matches a target on the module name's last components; unknown names simply match nothing here
        # (`pipeline.train.check.preflight` is where they are reported).
        if config.target_modules != "all-linear" and not any(
            name == t or name.endswith("." + t) for t in config.target_modules
        ):
            continue
        lora += config.lora_r * (module.in_features + module.out_features)
        if config.use_dora:
            lora += module.out_features  # DoRA's magnitude vector
    text = model_config.get_text_config()
    return ModelCounts(
        params=params,
        quantizable=quantizable,
        lora=lora,
        layers=text.num_hidden_layers,
        hidden=text.hidden_size,
        heads=text.num_attention_heads,
        vocab=text.vocab_size,
    )


@dataclass
class MemoryEstimate:
    """Peak training memory per device, in bytes, by component.

    Per device: DDP replicates all of it on each GPU; ZeRO-3/FSDP sharding is not modelled.
    """

    device: str
    params: int
    lora_params: int
    weights: int
    lora: int
    gradients: int
    optimizer: int
    activations: int
    """Layer activations kept for the backward pass, plus the logits and the loss's fp32 tensors."""
    overhead: int
    total: int
    available: int | None
    fits: bool | None
    advice: list[str]

    def table(self) -> list[tuple[str, str]]:
        """Rows (component, size) for a UI table, in the current language."""
        rows = [
            ("report_weights", self.weights),
            ("report_lora", self.lora),
            ("report_gradients", self.gradients),
            ("report_optimizer", self.optimizer),
            ("report_activations", self.activations),
            ("report_total", self.total),
        ]
        if self.device == "cuda":
            rows.insert(-1, ("report_overhead", self.overhead))
        if self.available is not None:
            rows.append(("report_available", self.available))
        return [(t(label), format_gib(size)) for label, size in rows]


def format_gib(size: int) -> str:
    """Bytes as GiB with an Italian decimal comma: "1,25 GiB"."""
    if 0 < size < GIB / 200:
        return "< 0,01 GiB"
    return f"{_it_decimal(size / GIB, 2)} GiB"


def _components(config: TrainConfig, counts: ModelCounts, device: str) -> dict[str, int]:
    """Bytes per component; `memory_estimate` re-runs it on changed configs to price each piece of advice."""
    # CPU runs train in float32; a GPU keeps the frozen base in the compute dtype (or NF4 with QLoRA).
    dtype_bytes = 4 if device == "cpu" else _DTYPE_BYTES[config.compute_dtype]
    if config.qlora and device == "cuda":
        constants = _NF4_CONSTANTS_DOUBLE if config.qlora_double_quant else _NF4_CONSTANTS
        weights = counts.quantizable * (_NF4_BYTES + constants) + (counts.params - counts.quantizable) * dtype_bytes
    else:
        weights = counts.params * dtype_bytes
    # PEFT keeps adapter weights in fp32 even on a bf16 base, so AdamW updates them directly: no fp32 master copy is
    # needed. Gradients exist for the adapters only (the base is frozen); AdamW keeps two fp32 moments per parameter.
    lora = 4 * counts.lora
    gradients = 4 * counts.lora
    optimizer = 8 * counts.lora

    # Korthikanti et al. 2022, activations per transformer layer in 16-bit: s*b*h*(34 + 5*a*s/h) bytes. The s² term
    # is the attention matrix, which fused kernels (flash, SDPA) never store, so this errs on the safe side. On CPU
    # with SmolLM2 the whole estimate came within ~10% of the measured peak of live tensors (glibc's malloc can keep
    # freed memory, so the process RSS may run higher).
    s, b, h, a = config.max_length, config.batch_size, counts.hidden, counts.heads
    if config.packing:
        # Padding-free packing flattens the batch's rows into one sequence: the attention term grows with (b·s)².
        s, b = s * b, 1
    scale = dtype_bytes / 2
    full_layer = s * b * h * (34 + 5 * a * s / h) * scale
    if config.gradient_checkpointing:
        # Only each layer's input survives the forward pass; one layer at a time is recomputed in full.
        layers = counts.layers * 2 * s * b * h * scale + full_layer
    else:
        layers = counts.layers * full_layer
    # The logits stay alive for the loss, which saves an fp32 log-softmax of the same shape; its backward adds two fp32
    # gradients of that shape. Large for small models with big vocabularies.
    logits = s * b * counts.vocab * (dtype_bytes + 4 + 4 + 4)
    return {
        "weights": int(weights),
        "lora": lora,
        "gradients": gradients,
        "optimizer": optimizer,
        "activations": int(layers + logits),
        "overhead": CUDA_OVERHEAD if device == "cuda" else 0,
    }


def memory_estimate(
    config: TrainConfig,
    model_config: PretrainedConfig,
    gpu_bytes: int | None,
    device: str | None = None,
) -> MemoryEstimate:
    """Estimate the peak memory of a LoRA/QLoRA run and, when `gpu_bytes` is known, whether it fits.

    `gpu_bytes` is the memory the run may use: `visible_gpu_bytes()` on a GPU, or `system_ram_bytes()` for a CPU run
    (then pass `device="cpu"`). `device` defaults to "cuda" when `gpu_bytes` is given, "cpu" otherwise.
    """
    device = device or ("cpu" if gpu_bytes is None else "cuda")
    if device not in ("cuda", "cpu"):
        raise ValueError(f'`device` dev\'essere "cuda" o "cpu", trovato {device!r}')
    counts = count_parameters(config, model_config)
    parts = _components(config, counts, device)
    total = sum(parts.values())
    fits = None if gpu_bytes is None else total <= gpu_bytes
    advice = [] if gpu_bytes is None or total <= 0.9 * gpu_bytes else _advice(config, counts, device, total, fits)
    return MemoryEstimate(
        device=device,
        params=counts.params,
        lora_params=counts.lora,
        **parts,
        total=total,
        available=gpu_bytes,
        fits=fits,
        advice=advice,
    )


def _advice(config: TrainConfig, counts: ModelCounts, device: str, total: int, fits: bool | None) -> list[str]:
    """Suggestions in the current language, each with the memory it would save."""

    def saving(**changes: Any) -> str:
        changed = sum(_components(dataclasses.replace(config, **changes), counts, device).values())
        return t("report_saving", size=format_gib(total - changed))

    advice = [t("report_over_memory" if fits is False else "report_over_90")]
    if device == "cuda" and not config.qlora:
        advice.append(t("report_use_qlora", saving=saving(qlora=True)))
    if config.batch_size > 1:
        batch = config.batch_size // 2
        accum = config.grad_accum * config.batch_size // batch
        advice.append(t("report_halve_batch", batch=batch, accum=accum, saving=saving(batch_size=batch)))
    if not config.gradient_checkpointing:
        advice.append(t("report_checkpointing", saving=saving(gradient_checkpointing=True)))
    if config.max_length > 256:
        length = config.max_length // 2
        advice.append(t("report_shorten", length=length, saving=saving(max_length=length)))
    if fits is False:
        advice.append(t("report_smaller_model"))
    return advice


def visible_gpu_bytes() -> int | None:
    """Total memory of the current CUDA device, or None without CUDA."""
    import torch

    if not torch.cuda.is_available():
        return None
    return torch.cuda.mem_get_info()[1]


def system_ram_bytes(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    """RAM a CPU run can use: MemAvailable, since RAM is shared with the system and other programs; None if unknown."""
    try:
        text = meminfo.read_text()
    except OSError:
        return None
    match = re.search(r"^MemAvailable:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) * 1024 if match else None
