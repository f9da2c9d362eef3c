"""The Genera tab in a real browser: start a small run against a scripted teacher and watch the counters move."""

import itertools
import re
import time
from pathlib import Path

from playwright.sync_api import Page, expect

from pipeline import dataset as ds_mod
from pipeline.jobs import Job
from tests.e2e.words import IT
from tests.fault_proxy import FaultProxy
from tests.test_generate import ANSWERS, TASKS, answer_reply, backtranslate_reply, task_reply, tasks_reply


def scripted_teacher():
    """Replies by step, as a good teacher would: new tasks for task prompts, Italian answers for answer prompts,
    requests for backtranslated passages."""
    tasks, answers = itertools.cycle(TASKS), itertools.cycle(ANSWERS)

    def respond(body: dict) -> str:
        prompt = body["messages"][-1]["content"]
        if "adatto:" in prompt:  # backtranslation: the request the passage answers, and the passage's fitness
            return backtranslate_reply(next(tasks), 5)
        if many := re.search(r"Inventa (\d+) compiti nuovi", prompt):  # several tasks per request
            return tasks_reply([next(tasks) for _ in range(int(many.group(1)))])
        return answer_reply(next(answers)) if "risposta: |" in prompt else task_reply(next(tasks))

    return respond


def fill(page: Page, elem_id: str, value: str) -> None:
    field = page.locator(f"#{elem_id} input, #{elem_id} textarea").first
    field.fill(value)
    field.press("Enter")


def start_run(page: Page, base_url: str, model: str, name: str, count: int) -> None:
    """Fill the Genera tab for a custom teacher at `base_url`, one request at a time, and press Avvia."""
    page.get_by_role("tab", name=IT["tab_generate"]).click()
    page.locator("#gen-preset").get_by_label("custom").check()
    fill(page, "gen-url", base_url)
    page.get_by_label(IT["gen_model"], exact=True).fill(model)
    fill(page, "gen-name", name)
    fill(page, "gen-count", str(count))
    fill(page, "gen-concurrency", "1")
    page.locator("#gen-start").click()


def test_a_small_run_moves_the_counters_and_writes_the_dataset(page: Page, serve_teacher, app_datasets: Path) -> None:
    page.get_by_role("tab", name=IT["tab_generate"]).click()  # before any run, the tables already name their columns
    expect(page.locator("#gen-reasons")).to_contain_text("motivo")
    expect(page.locator("#gen-latest")).to_contain_text("istruzione")
    local_note = page.get_by_text("serve a provare il flusso")  # the bundled model is no real teacher: said up front
    expect(local_note).to_be_visible()

    with FaultProxy(serve_teacher.base_url) as proxy:
        proxy.responder = scripted_teacher()
        proxy.latency_ms = 400  # slow enough for the page to see the counters between items

        start_run(page, proxy.base_url, serve_teacher.model, "e2e_generato", 4)
        expect(local_note).to_be_hidden()

        accepted, replies = page.locator("#gen-accepted"), page.locator("#gen-requests")
        seen, replies_seen = set(), set()
        deadline = time.monotonic() + 180
        while "4" not in seen:
            assert time.monotonic() < deadline, f"the run did not finish; counters seen: {sorted(seen)}"
            if accepted.count():
                seen.add(accepted.inner_text())
            if replies.count():
                replies_seen.add(int(replies.inner_text()))
            time.sleep(0.2)
        assert len(seen - {"0"}) >= 2, f"the counters jumped straight to the end: {sorted(seen)}"
        assert len(replies_seen) >= 2, f"the teacher's replies were not counted live: {sorted(replies_seen)}"
        expect(page.locator("#gen-state")).to_contain_text(IT["state_finished"], timeout=30_000)

    generated = ds_mod.load(app_datasets / "e2e_generato.yaml")
    assert len(generated.examples) == 4
    assert {e.meta.status for e in generated.examples} == {"draft"}

    page.locator("#gen-open").click()  # the result opens in the Dataset tab
    expect(page.locator("#ds-pick input")).to_have_value("e2e_generato.yaml")
    expect(page.locator("#ds-table")).to_contain_text(generated.examples[0].id)


def test_stop_then_resume_finishes_the_same_run(page: Page, serve_teacher, app_datasets: Path) -> None:
    with FaultProxy(serve_teacher.base_url) as proxy:
        proxy.responder = scripted_teacher()
        proxy.latency_ms = 400

        start_run(page, proxy.base_url, serve_teacher.model, "e2e_fermato", 5)
        # the status is rewritten about once a second, an item takes ~0.9 s: the counter may skip a value
        expect(page.locator("#gen-accepted")).to_have_text(re.compile(r"^[1-3]$"), timeout=60_000)
        page.locator("#gen-stop").click()
        expect(page.locator("#gen-state")).to_contain_text(IT["state_stopped"], timeout=60_000)
        stopped_at = int(page.locator("#gen-accepted").inner_text())
        assert 1 <= stopped_at < 5

        page.locator("#gen-resume").click()
        expect(page.locator("#gen-state")).to_contain_text(IT["state_finished"], timeout=120_000)
        expect(page.locator("#gen-accepted")).to_have_text("5")

    generated = ds_mod.load(app_datasets / "e2e_fermato.yaml")
    assert len({e.id for e in generated.examples}) == len(generated.examples) == 5


def test_backtranslation_from_uploaded_documents(page: Page, serve_teacher, app_datasets: Path) -> None:
    from pipeline.generate.passages import split_documents

    documents = sorted((Path(__file__).resolve().parents[2] / "pipeline" / "data" / "documenti").glob("*.md"))
    with FaultProxy(serve_teacher.base_url) as proxy:
        proxy.responder = scripted_teacher()
        page.get_by_role("tab", name=IT["tab_generate"]).click()
        for slider in ("gen-self-instruct", "gen-evol", "gen-orca"):
            fill(page, slider, "0")
        fill(page, "gen-backtranslation", "1")
        page.locator("#gen-documents input[type=file]").set_input_files([str(d) for d in documents])
        expect(page.locator("#gen-documents")).to_contain_text("spid_in_breve")
        fill(page, "gen-license", "CC0 1.0")
        start_run(page, proxy.base_url, serve_teacher.model, "e2e_retrotradotto", 3)
        expect(page.locator("#gen-state")).to_contain_text(IT["state_finished"], timeout=120_000)
    generated = ds_mod.load(app_datasets / "e2e_retrotradotto.yaml")
    passages = [p.text for p in split_documents(documents)]
    assert len(generated.examples) == 3
    assert all(e.output in passages and e.meta.method == "backtranslation" for e in generated.examples)
    assert {e.meta.license for e in generated.examples} == {"CC0 1.0"}


def test_several_tasks_per_request_and_magpie_from_the_tab(page: Page, serve_teacher, app_datasets: Path,
                                                            bottega_home: Path) -> None:  # fmt: skip
    import json

    with FaultProxy(serve_teacher.base_url) as proxy:
        scripted = scripted_teacher()
        proxy.responder = scripted
        page.get_by_role("tab", name=IT["tab_generate"]).click()
        for slider, value in (("gen-self-instruct", "1"), ("gen-evol", "0"), ("gen-orca", "0")):
            fill(page, slider, value)
        fill(page, "gen-tasks", "3")
        start_run(page, proxy.base_url, serve_teacher.model, "e2e_tre_per_volta", 3)
        expect(page.locator("#gen-state")).to_contain_text(IT["state_finished"], timeout=120_000)
        asked = [r["body"]["messages"][-1]["content"] for r in proxy.requests if "messages" in (r["body"] or {})]
        assert sum("Inventa 3 compiti nuovi" in a for a in asked) == 1  # one request for the three tasks
        assert len(ds_mod.load(app_datasets / "e2e_tre_per_volta.yaml").examples) == 3

        # Magpie: the real bundled model writes the users' requests from its own template; the answers are scripted.
        proxy.reset()
        proxy.responder = lambda body: None if "prompt" in body else scripted(body)
        for slider, value in (("gen-self-instruct", "0"), ("gen-magpie", "1")):
            fill(page, slider, value)
        fill(page, "gen-tasks", "1")
        start_run(page, proxy.base_url, serve_teacher.model, "e2e_magpie", 1)
        run = bottega_home / "runs" / "generate" / "e2e_magpie"
        deadline = time.monotonic() + 240
        while Job(run).status().state != "finished":  # the page still shows the first run's end for a moment
            assert time.monotonic() < deadline, Job(run).status()
            time.sleep(0.3)
        expect(page.locator("#gen-state")).to_contain_text(IT["state_finished"])
        assert any("prompt" in (r["body"] or {}) for r in proxy.requests)
    journal = (run / "journal.jsonl").read_text(encoding="utf-8")
    drawn = [json.loads(line) for line in journal.splitlines() if '"step": "magpie"' in line]
    assert drawn and all((r["data"] or {}).get("istruzione") or r["error"] == "truncated" for r in drawn)


def test_constrained_decoding_chosen_in_the_tab_reaches_the_real_model(page: Page, serve_teacher, app_datasets: Path,
                                                                        bottega_home: Path) -> None:  # fmt: skip
    import json

    with FaultProxy(serve_teacher.base_url) as proxy:  # no responder: the bundled model answers every request
        page.get_by_role("tab", name=IT["tab_generate"]).click()
        for slider, value in (("gen-self-instruct", "1"), ("gen-evol", "0"), ("gen-orca", "0"), ("gen-magpie", "0")):
            fill(page, slider, value)
        fill(page, "gen-tokens", "96")
        # a custom server does not get constrained requests unless asked: Bottega's own server supports them
        expect(page.locator("#gen-constrained").get_by_label(IT["gen_constrained_auto"])).to_be_checked()
        page.locator("#gen-constrained").get_by_label(IT["gen_constrained_on"]).check()
        start_run(page, proxy.base_url, serve_teacher.model, "e2e_vincolata", 2)
        run = bottega_home / "runs" / "generate" / "e2e_vincolata"
        deadline = time.monotonic() + 300
        while Job(run).status().state not in ("finished", "failed"):
            assert time.monotonic() < deadline, Job(run).status()
            time.sleep(0.3)
        bodies = [r["body"] for r in proxy.requests if "messages" in (r["body"] or {})]
    assert bodies and all("regex" in body["structured_outputs"] for body in bodies)
    replies = [json.loads(line) for line in (run / "journal.jsonl").read_text(encoding="utf-8").splitlines()]
    replies = [r for r in replies if r.get("type") == "reply"]
    assert replies and all(r["data"] is not None for r in replies)  # every reply parsed, at the first attempt
    assert len(replies) == len(bodies)  # nothing was re-asked
