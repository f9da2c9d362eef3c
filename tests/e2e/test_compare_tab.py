"""The Confronta tab in a real browser and through gradio_client: both answers stream in one event, a vote is
stored with its sides revealed, and the statistics update."""

import time

from playwright.sync_api import Page, expect

from pipeline import votes
from tests.e2e.words import IT


def _text(message: dict) -> str:
    content = message["content"]
    if isinstance(content, list):  # content parts
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content or ""


def test_both_sides_stream_in_one_event(app_url: str, adapter_run) -> None:
    """gradio_client sees one event's updates where both chats grow, not one side after the other."""
    from gradio_client import Client

    client = Client(app_url, verbose=False)
    job = client.submit(
        "Dimmi tre città italiane.", "smollm2-135m-instruct", str(adapter_run), 0.0, 0.9, 24, 7, 1.2, "",
        api_name="/compare_send",
    )  # fmt: skip
    lengths = []
    for update in job:
        chat_a, chat_b = update[1], update[2]
        if chat_a and chat_b and chat_a[-1]["role"] == "assistant":
            lengths.append((len(_text(chat_a[-1])), len(_text(chat_b[-1]))))
    both_growing = [(a, b) for a, b in lengths if a and b]
    assert len(both_growing) >= 3, lengths
    # The two sides advance together: an update moved both, not one side to its end and then the other.
    assert any(a1 > a0 and b1 > b0 for (a0, b0), (a1, b1) in zip(both_growing, both_growing[1:], strict=False))


def test_chat_vote_and_see_the_stats_update(page: Page, adapter_run, bottega_home) -> None:
    store = votes.VoteStore()
    before = store.count()
    page.get_by_role("tab", name=IT["tab_compare"]).click()
    adapter = page.locator("#cmp-adapter input")
    adapter.fill(str(adapter_run))
    adapter.press("Enter")
    tokens = page.locator("#cmp-tokens input")
    page.get_by_text(IT["cmp_sampling"]).click()
    tokens.fill("16")
    tokens.press("Enter")
    message = page.locator("#cmp-message textarea")
    message.fill("Qual è la capitale d'Italia?")
    message.press("Enter")
    expect(page.locator("#cmp-hint")).to_contain_text(IT["vote_now"].split("?")[0], timeout=120_000)
    expect(page.locator("#cmp-chat-a")).to_contain_text("capitale")

    page.locator("#cmp-tags label").filter(has_text="anglicismi").click()
    page.locator("#cmp-vote-a").click()
    expect(page.locator("#cmp-hint")).to_contain_text("voto salvato", timeout=20_000)
    deadline = time.monotonic() + 10
    while store.count() == before and time.monotonic() < deadline:
        time.sleep(0.1)
    saved = store.all()[-1]
    assert store.count() == before + 1
    assert saved.verdict == "a" and saved.tags == ["anglicismi"] and saved.turns[-1]["content"].startswith("Qual")
    assert saved.models["finetuned"] == str(adapter_run) and saved.sampling["max_new_tokens"] == 16
    assert saved.sampling["seed"] == 42 and saved.sampling["min_new_tokens"] == 0  # each setting in its place
    revealed = f"A: {votes.MODEL_LABELS[saved.sides['A']]}"
    expect(page.locator("#cmp-hint")).to_contain_text(revealed)
    expect(page.locator("#cmp-stats")).to_contain_text(str(before + 1))

    # The same answer cannot be voted twice.
    page.locator("#cmp-vote-b").click()
    expect(page.get_by_text("Hai già votato")).to_be_visible()
    assert store.count() == before + 1

    # A thumbs down on one answer is stored for KTO, with the model it came from.
    thumbs = votes.VoteStore(record=votes.Thumb)
    page.locator("#cmp-chat-b").get_by_role("button", name="Dislike").first.click()
    expect(page.locator("#cmp-hint")).to_contain_text("👎 salvato per la risposta B", timeout=20_000)
    thumb = thumbs.all()[-1]
    assert not thumb.up and thumb.model == saved.sides["B"] and thumb.answer == saved.answer_b
    assert store.count() == before + 1  # not a vote
