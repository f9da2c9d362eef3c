"""The per-request masks of Bottega's server process, driven as continuous batching drives them: the requests of a
batch in the order of the logits' rows, each with its own regex or none, and a request the cache evicted coming back
as a new state whose prompt holds what it had written."""

from dataclasses import dataclass, field

import pytest
import torch

from pipeline import local_server
from pipeline.generate import prompts


@dataclass
class State:  # the fields of transformers' RequestState the processor reads
    initial_tokens: list[int]
    generated_tokens: list[int] = field(default_factory=list)
    logit_processor_kwargs: dict = field(default_factory=dict)
    _true_initial_tokens: int = 0


@dataclass
class Future:
    state: State


@pytest.fixture(scope="module")
def tokenizer(bundled_model):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(bundled_model)
    local_server._TOKENIZER = None
    local_server._lltokenizer(tokenizer, len(tokenizer), tokenizer.eos_token_id)
    return tokenizer


def _masked(processor, futures, vocab: int) -> torch.Tensor:
    processor.prepare_tensor_args(futures)
    scores = torch.zeros(len(futures), vocab)
    return processor(scores, torch.zeros(len(futures), dtype=torch.int32))


def test_each_row_gets_its_own_requests_mask_and_free_rows_none(tokenizer):
    processor = local_server._cb_processor_class()()
    regex = prompts.SCORE.regex(256)
    written = tokenizer("motivazione: |\n  Buona.\n", add_special_tokens=False).input_ids
    futures = [
        Future(State([1, 2, 3])),  # free
        Future(State([1, 2, 3], list(written), {local_server.KWARG: regex})),  # after its reasoning: the score key
        Future(State([4, 5], [], {local_server.KWARG: regex})),  # at the start: its first key
    ]
    rows = _masked(processor, futures, len(tokenizer))
    assert torch.isfinite(rows[0]).all()
    allowed = [set(torch.isfinite(row).nonzero().flatten().tolist()) for row in rows[1:]]
    assert allowed[0] and allowed[1]
    assert all(tokenizer.decode([t]) and "punteggio".startswith(tokenizer.decode([t])) for t in allowed[0])
    assert all("motivazione".startswith(tokenizer.decode([t])) for t in allowed[1])
    assert tokenizer.eos_token_id not in allowed[0] | allowed[1]  # the regex is not satisfied yet


def test_an_evicted_request_continues_its_regex_where_it_was(tokenizer):
    processor = local_server._cb_processor_class()()
    regex = prompts.ANSWER.regex(256)
    prompt = [1, 2, 3]
    reply = tokenizer("ragionamento: |\n  Parto dai fatti.\nrisposta: |\n  Sì.\n", add_special_tokens=False).input_ids
    kwargs = {local_server.KWARG: regex}
    running = _masked(processor, [Future(State(prompt, list(reply), dict(kwargs)))], len(tokenizer))
    # soft reset: same request, a new state whose prompt ends with the first part of the reply
    evicted = State(prompt + reply[:10], reply[10:], dict(kwargs), _true_initial_tokens=len(prompt))
    resumed = _masked(processor, [Future(evicted)], len(tokenizer))
    assert torch.equal(torch.isfinite(running), torch.isfinite(resumed))
    assert torch.isfinite(resumed[0, tokenizer.eos_token_id])  # a whole line of the last block: the reply may end here
