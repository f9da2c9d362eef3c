"""Bottega's local teacher process: `transformers serve` with what a teacher needs added, in the server's own process.

    python -m pipeline.local_server [--varlen] serve MODEL_FOLDER --continuous-batching --device cpu ...

takes the arguments of `transformers serve`; `pipeline.serve.start_local_server` starts it this way. It adds:
- **Constrained decoding**: a chat request may carry `structured_outputs: {"regex": ...}`, the field vLLM (0.12 and
  later) reads, and its reply then matches the regex token by token: every token the regex cannot continue with is
  masked before the model picks, and the end-of-turn token is allowed only once the regex is satisfied. The masks
  come from llguidance (Rust): 0.12 ms a token for Bottega's YAML shapes on this CPU, 0.3% of a 35 ms decode step of
  the 135M model, and ~1 ms to compile a shape; xgrammar masks faster (0.004 ms) but takes 40-55 ms to compile each
  shape and pulls in 1 GB of triton (`bench/grammar_backends.py`). With continuous batching each request in a batch
  gets its own mask (a per-request logits processor whose state lives on the request's state); without it (a GPU
  serving one request at a time) a plain logits processor joins `generate`. A regex that does not compile is refused
  with HTTP 400 before anything is queued. On a GPU the server gives up CUDA graphs and asynchronous batching, whose
  next batch is prepared before the previous tokens are known (not yet run on a GPU).
- **Sampling when asked**: `transformers serve` samples only when the model's generation config says `do_sample`
  (SmolLM2's does not), so a request's temperature was ignored and the local teacher always decoded greedily. A
  temperature above 0 now samples. With continuous batching the sampling settings are the first request's, for
  every request after it (one temperature per run: the local preset starts a server per run).
- `--varlen`: per-request attention for continuous batching on a CPU (`pipeline.varlen_attention`).
"""

import contextvars
import logging
import sys

log = logging.getLogger(__name__)

KWARG = "bottega_regex"  # the per-request logits-processor argument that carries a request's regex
_REGEX: contextvars.ContextVar[str | None] = contextvars.ContextVar("bottega_regex", default=None)
_TOKENIZER = None  # the served model's llguidance tokenizer, built on the first constrained request


def _lltokenizer(processor, vocab_size: int, eos: int | list[int] | None):
    global _TOKENIZER
    if _TOKENIZER is None:
        import llguidance.hf

        tokenizer = getattr(processor, "tokenizer", processor)
        _TOKENIZER = llguidance.hf.from_tokenizer(tokenizer, n_vocab=vocab_size, eos_token=eos)
    return _TOKENIZER


def _matcher(regex: str):
    """A fresh matcher of `regex` over the served model's tokens."""
    import llguidance

    return llguidance.LLMatcher(_TOKENIZER, llguidance.LLMatcher.grammar_from_regex(regex))


def _apply(scores, bitmasks) -> None:
    """Mask, row by row, the tokens each row's regex cannot take next; rows without a regex (None) stay as they
    are. (llguidance's own helper goes through torch.compile, which would need a C++ compiler on a CPU.)"""
    import torch

    rows = [i for i, mask in enumerate(bitmasks) if mask is not None and i < scores.shape[0]]
    if not rows:
        return
    # [rows, vocab / 32] on the scores' device (a GPU's too), bit j of word w: token 32 w + j
    words = torch.stack([bitmasks[i] for i in rows]).to(scores.device)
    bits = torch.arange(32, dtype=torch.int32, device=scores.device)
    allowed = ((words.unsqueeze(-1) >> bits) & 1).bool().view(len(rows), -1)
    vocab = scores.shape[1]
    if allowed.shape[1] < vocab:
        allowed = torch.nn.functional.pad(allowed, (0, vocab - allowed.shape[1]), value=False)
    index = torch.tensor(rows, device=scores.device)
    scores[index] = scores[index].masked_fill(~allowed[:, :vocab], float("-inf"))


class _Constraint:
    """One request's matcher, fed the tokens the request generated since the last step."""

    def __init__(self, regex: str) -> None:
        import torch

        self.matcher = _matcher(regex)
        self.fed = 0
        self.bitmask = torch.full((1, (_TOKENIZER.vocab_size + 31) // 32), -1, dtype=torch.int32)
        self.broken = False

    def mask(self, generated: list[int]):
        """The bitmask of tokens allowed after `generated` (the whole reply so far), or None once the request left
        the regex (it cannot under the masks; it is logged and the request goes on unconstrained)."""
        import llguidance.torch as lt

        if self.broken:
            return None
        new = generated[self.fed :]
        self.fed = len(generated)
        if new and not self.matcher.consume_tokens(new):
            log.warning("constrained decoding: the reply left its regex (%s)", self.matcher.get_error())
            self.broken = True
            return None
        lt.fill_next_token_bitmask(self.matcher, self.bitmask)
        return self.bitmask[0]


def _cb_processor_class():
    import torch
    from transformers.generation.continuous_batching.cb_logits_processors import ContinuousBatchingLogitsProcessor

    class RegexMasks(ContinuousBatchingLogitsProcessor):
        """Continuous batching's per-request logits processor for `structured_outputs`: `prepare_tensor_args` sees
        the batch's requests in the order of the logits' rows, with their tokens so far."""

        supported_kwargs = {KWARG: str}
        ignored_kwargs = ()

        def __init__(self) -> None:
            self.bitmasks: list = []

        def fill_defaults(self, int32_tensor: torch.Tensor) -> None:
            int32_tensor.zero_()

        def prepare_tensor_args(self, requests_with_new_token) -> torch.Tensor:
            self.bitmasks = []
            for future in requests_with_new_token:
                state = future.state
                regex = state.logit_processor_kwargs.get(KWARG)
                if regex is None:
                    self.bitmasks.append(None)
                    continue
                # The constraint lives on the request's state and goes with it. A request that the cache evicted
                # comes back as a new state whose prompt holds what it had written: the reply so far is that part
                # of the prompt plus what it writes now.
                constraint = getattr(state, "_bottega_constraint", None)
                if constraint is None:
                    constraint = state._bottega_constraint = _Constraint(regex)
                written = state.initial_tokens[state._true_initial_tokens :] if state._true_initial_tokens else []
                self.bitmasks.append(constraint.mask(written + state.generated_tokens))
            return torch.zeros(len(requests_with_new_token), dtype=torch.int32)

        def __call__(self, scores: torch.Tensor, tensor_arg: torch.Tensor) -> torch.Tensor:
            _apply(scores, self.bitmasks)
            return scores

    return RegexMasks


def _plain_processor(regex: str, prompt_length: int):
    """The same constraint for `generate` (no continuous batching): one request, batch of one."""
    from transformers import LogitsProcessor

    class RegexMask(LogitsProcessor):
        def __init__(self) -> None:
            self.constraint = _Constraint(regex)

        def __call__(self, input_ids, scores):
            _apply(scores, [self.constraint.mask(input_ids[0, prompt_length:].tolist())])
            return scores

    return RegexMask()


def install() -> None:
    """Patch, in this process only, the server's chat handler, continuous batching and generation config."""
    from fastapi import HTTPException
    from transformers.cli.serving import utils
    from transformers.cli.serving.chat_completion import ChatCompletionHandler
    from transformers.generation.continuous_batching import cb_logits_processors, continuous_api, initialization

    handle_request = ChatCompletionHandler.handle_request

    async def constrained_handle_request(self, body: dict, request_id: str):
        spec = body.pop("structured_outputs", None)
        if spec is None:
            return await handle_request(self, body, request_id)
        if not isinstance(spec, dict) or set(spec) != {"regex"} or not isinstance(spec["regex"], str):
            raise HTTPException(400, "structured_outputs: this server supports only {'regex': '<pattern>'}")
        _, model, processor = self._resolve_model(body)
        eos = model.generation_config.eos_token_id
        _lltokenizer(processor, model.config.get_text_config().vocab_size, eos)
        probe = _matcher(spec["regex"])
        if probe.is_error():
            raise HTTPException(400, f"structured_outputs.regex: {probe.get_error()}")
        token = _REGEX.set(spec["regex"])
        try:
            return await handle_request(self, body, request_id)
        finally:
            _REGEX.reset(token)

    ChatCompletionHandler.handle_request = constrained_handle_request

    # continuous batching: the request's regex rides along as a logits-processor argument ...
    add_request = continuous_api.ContinuousBatchingManager.add_request

    def add_request_with_regex(self, *args, **kwargs):
        regex = _REGEX.get()
        if regex is not None:
            kwargs[KWARG] = regex
        return add_request(self, *args, **kwargs)

    continuous_api.ContinuousBatchingManager.add_request = add_request_with_regex

    # ... read by a per-request processor that every continuous-batching manager gets, first in its list
    processor_list_init = cb_logits_processors.ContinuousBatchingLogitsProcessorList.__init__
    regex_masks = _cb_processor_class()

    def processor_list_with_regex(self, logits_processor, *args, **kwargs):
        processor_list_init(self, logits_processor, *args, **kwargs)
        self.logits_processor.insert(0, regex_masks())
        self.tensors_required += 1
        self._retrieve_processors_kwargs()
        self.do_processing = True

    cb_logits_processors.ContinuousBatchingLogitsProcessorList.__init__ = processor_list_with_regex

    # masks are computed from the tokens so far: no batch may be prepared before the previous one's tokens are known
    decide_async = initialization.decide_use_async_batching

    def no_async_batching(cb_config, is_attn_mask_needed):
        cb_config.use_cuda_graph = (False, False)
        cb_config.use_async_batching = False
        decide_async(cb_config, is_attn_mask_needed)

    initialization.decide_use_async_batching = no_async_batching

    # without continuous batching: a plain logits processor for `generate`
    async_submit = utils.GenerateManager.async_submit

    def async_submit_with_regex(self, fn, *args, **kwargs):
        regex = _REGEX.get()
        if regex is not None and "input_ids" in kwargs:
            kwargs["logits_processor"] = [_plain_processor(regex, kwargs["input_ids"].shape[-1])]
        return async_submit(self, fn, *args, **kwargs)

    utils.GenerateManager.async_submit = async_submit_with_regex

    # a temperature above 0 samples
    build_generation_config = utils.BaseHandler._build_generation_config

    def sampling_generation_config(self, body, model_generation_config, use_cb=False):
        config = build_generation_config(self, body, model_generation_config, use_cb=use_cb)
        if body.get("temperature") is not None and float(body["temperature"]) > 0:
            config.do_sample = True
        return config

    utils.BaseHandler._build_generation_config = sampling_generation_config


def main() -> None:
    args = sys.argv[1:]
    if args and args[0] == "--varlen":
        from pipeline.varlen_attention import register

        register()
        args = args[1:]
    install()
    from transformers.cli.transformers import main as transformers_cli

    sys.argv = ["transformers", *args]
    transformers_cli()


if __name__ == "__main__":
    main()
