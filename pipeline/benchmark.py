"""Bottega's offline Italian benchmark: multiple-choice questions written natively for the project (not translated),
shipped in `pipeline/data/mc_it/` (one YAML file per category), scored by log-likelihood the way lm-eval scores ARC
and HellaSwag, so it runs with no data from the Hub.

    python -m pipeline benchmark --model smollm2-135m-instruct [--adapter RUN_DIR]

Each item is a question and four options, one right. The model reads "Domanda: <question>\\nRisposta:" and each
option is scored as the continuation " <option>": the sum of its tokens' log-probabilities. `acc` picks the option
with the highest sum; `acc_norm` divides each sum by the option's length in bytes first (lm-eval's `acc_norm`), so
longer options are not penalised for having more tokens. Results per category and overall, each with a Wilson 95%
interval (300 items give about ±5 points).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.errors import UserError
from pipeline.files import parse_yaml
from pipeline.i18n import Message

ITEMS_DIR = Path(__file__).parent / "data" / "mc_it"
PROMPT = "Domanda: {question}\nRisposta:"


@dataclass
class Item:
    id: str
    category: str
    question: str
    options: list[str]
    answer: int


def problems(item: Any, where: str) -> list[Message]:
    """What is wrong with a raw item: four distinct options, an answer among them, text fields."""
    if not isinstance(item, dict) or set(item) != {"id", "question", "options", "answer"}:
        return [Message("mc_item_fields", where=where)]
    found, where = [], f"{where} ({item['id']})"
    options = item["options"]
    texts = isinstance(options, list) and all(isinstance(o, str) and o.strip() for o in options)
    if not (texts and len(options) == 4):
        found.append(Message("mc_item_options", where=where))
    elif len({o.strip().casefold() for o in options}) != 4:
        found.append(Message("mc_item_distinct", where=where))
    if not (isinstance(item["answer"], int) and not isinstance(item["answer"], bool) and 0 <= item["answer"] < 4):
        found.append(Message("mc_item_answer", where=where))
    if not (isinstance(item["question"], str) and item["question"].strip()):
        found.append(Message("mc_item_question", where=where))
    return found


def load_items(folder: Path = ITEMS_DIR) -> list[Item]:
    """Every item of every category file, checked; UserError listing every problem."""
    items, found, seen = [], [], set()
    for path in sorted(folder.glob("*.yaml")):
        data = parse_yaml(path.read_text(encoding="utf-8"))
        category = data.get("category") if isinstance(data, dict) else None
        if category != path.stem or not isinstance(data.get("items"), list):
            found.append(Message("mc_file", file=path.name, category=path.stem))
            continue
        for index, raw in enumerate(data["items"]):
            wrong = problems(raw, f"{path.name}, {index + 1}")
            if not wrong and raw["id"] in seen:
                wrong = [Message("mc_duplicate", file=path.name, id=raw["id"])]
            found += wrong
            if not wrong:
                seen.add(raw["id"])
                items.append(Item(raw["id"], category, raw["question"].strip(), list(raw["options"]), raw["answer"]))
    if found:
        raise UserError(*found)
    return items


@dataclass
class Score:
    """Correct answers over the items, with a Wilson 95% interval."""

    correct: int
    total: int

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    @property
    def interval(self) -> tuple[float, float] | None:
        from pipeline.votes import wilson

        return wilson(self.correct, self.total)


@dataclass
class Result:
    acc: dict[str, Score] = field(default_factory=dict)
    """Per category, and "tutte" for all items."""
    acc_norm: dict[str, Score] = field(default_factory=dict)
    choices: dict[str, int] = field(default_factory=dict)
    """The option picked for each item id (acc_norm)."""

    def to_dict(self) -> dict[str, Any]:
        def scores(table: dict[str, Score]) -> dict[str, Any]:
            out = {}
            for key, found in table.items():
                low, high = found.interval or (0.0, 0.0)
                out[key] = {"accuracy": round(found.accuracy, 4), "correct": found.correct, "total": found.total,
                            "ci95": [round(low, 4), round(high, 4)]}  # fmt: skip
            return out

        return {"acc": scores(self.acc), "acc_norm": scores(self.acc_norm)}


def option_logprobs(model: Any, tokenizer: Any, items: list[Item], batch_size: int = 16) -> list[list[float]]:
    """For each item, the summed log-probability of each option's tokens after the prompt."""
    import torch

    rows = []  # (item index, option index, prompt ids, option ids)
    for i, item in enumerate(items):
        prompt = tokenizer(PROMPT.format(question=item.question), add_special_tokens=False)["input_ids"]
        for j, option in enumerate(item.options):
            whole = tokenizer(PROMPT.format(question=item.question) + " " + option, add_special_tokens=False)
            ids = whole["input_ids"]
            # The option's tokens are those after the prompt's (a merge across the boundary counts as the option's).
            start = next((k for k, (a, b) in enumerate(zip(prompt, ids, strict=False)) if a != b), len(prompt))
            rows.append((i, j, ids[:start], ids[start:]))
    sums = [[0.0] * 4 for _ in items]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    device = next(model.parameters()).device
    for start in range(0, len(rows), batch_size):
        batch = rows[start : start + batch_size]
        width = max(len(p) + len(o) for _, _, p, o in batch)
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for r, (_, _, p, o) in enumerate(batch):  # right padding: positions stay those of an unpadded row
            ids[r, : len(p) + len(o)] = torch.tensor(p + o)
            mask[r, : len(p) + len(o)] = 1
        with torch.no_grad():
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()
        logprobs = torch.log_softmax(logits, dim=-1)
        for r, (i, j, p, o) in enumerate(batch):
            positions = torch.arange(len(p) - 1, len(p) + len(o) - 1)  # token t is predicted at t - 1
            targets = torch.tensor(o)
            sums[i][j] = float(logprobs[r, positions.to(device), targets.to(device)].sum())
    return sums


def score(model: Any, tokenizer: Any, items: list[Item], batch_size: int = 16) -> Result:
    """Accuracy (raw and length-normalised) per category and overall."""
    sums = option_logprobs(model, tokenizer, items, batch_size)
    result = Result()
    for name, table, values in (
        ("acc", result.acc, sums),
        ("acc_norm", result.acc_norm,
         [[s / len(o.encode("utf-8")) for s, o in zip(row, item.options, strict=True)]
          for row, item in zip(sums, items, strict=True)]),
    ):  # fmt: skip
        for item, row in zip(items, values, strict=True):
            picked = max(range(4), key=lambda k: row[k])
            if name == "acc_norm":
                result.choices[item.id] = picked
            for key in (item.category, "tutte"):
                found = table.setdefault(key, Score(0, 0))
                found.correct += picked == item.answer
                found.total += 1
    return result
