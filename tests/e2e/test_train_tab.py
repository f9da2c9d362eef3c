"""The Addestra tab in a real browser: check the template, launch a short run, see the loss plot fill in, reload
the page mid-run and find the job again."""

import time

from playwright.sync_api import Page, expect

from tests.e2e.words import IT


def fill(page: Page, elem_id: str, value: str) -> None:
    field = page.locator(f"#{elem_id} input, #{elem_id} textarea").first
    field.fill(value)
    field.press("Enter")


def open_tab(page: Page) -> None:
    page.get_by_role("tab", name=IT["tab_train"]).click()


def test_check_then_a_short_run_draws_the_loss_and_survives_a_reload(page: Page, bottega_home) -> None:
    open_tab(page)
    fill(page, "train-name", "dal-browser")
    fill(page, "train-dataset", "test/corto_it.yaml")
    fill(page, "train-steps", "10")
    fill(page, "train-max-length", "128")
    fill(page, "train-eval-steps", "5")
    fill(page, "train-samples-count", "2")

    page.locator("#train-check").click()
    mask = page.locator("#train-mask")
    expect(mask).to_contain_text("esempio 1", timeout=60_000)
    expect(mask).to_contain_text("<|im_end|>")
    expect(page.get_by_text("Il token di fine turno è addestrato")).to_be_visible()
    expect(page.locator("#train-tokenizer")).to_contain_text("token per parola")

    page.locator("#train-start").click()
    step = page.locator("#train-step")
    expect(step).to_be_visible(timeout=30_000)
    deadline = time.monotonic() + 180
    while not (step.count() and int(step.inner_text()) >= 2):
        assert time.monotonic() < deadline, "the run did not reach step 2"
        time.sleep(0.3)
    # The live plot has points: Gradio draws it with vega once there is data.
    expect(page.locator("#train-live canvas, #train-live svg.marks").first).to_be_visible(timeout=20_000)

    # A reload (or an app restart) finds the running job again from its folder.
    page.reload()
    open_tab(page)
    expect(page.locator("#train-progress")).to_contain_text("dal-browser", timeout=20_000)
    expect(page.locator("#train-progress")).to_contain_text("✅ finito", timeout=240_000)
    expect(page.locator("#train-step")).to_have_text("10")
    expect(page.locator("#train-runs")).to_contain_text("dal-browser")
    assert (bottega_home / "runs" / "train" / "dal-browser" / "adapter" / "adapter_model.safetensors").exists()
    # At each evaluation (steps 5 and 10) the model answered the two first fixed prompts: a table per step, and
    # their fidelity as a curve.
    answers = page.locator("#train-samples")
    expect(answers).to_contain_text("moka", timeout=20_000)
    expect(answers).to_contain_text("cielo")
    expect(page.locator("#train-fidelity canvas, #train-fidelity svg.marks").first).to_be_visible(timeout=20_000)


def test_a_sweep_started_from_the_tab_fills_its_trials_table(page: Page, bottega_home) -> None:
    from pipeline.train import sweep

    open_tab(page)
    fill(page, "train-dataset", "test/corto_it.yaml")
    fill(page, "train-steps", "4")
    fill(page, "train-max-length", "128")
    fill(page, "train-eval-steps", "2")
    fill(page, "train-samples-count", "0")
    page.get_by_text(IT["sweep_title"]).click()
    name = page.locator("#sweep-name input, #sweep-name textarea").first
    expect(name).to_be_visible()  # the accordion has opened: a fill before that is lost
    fill(page, "sweep-name", "ricerca-browser")
    expect(name).to_have_value("ricerca-browser")
    fill(page, "sweep-trials", "2")
    page.locator("#sweep-start").click()
    table = page.locator("#sweep-trials-table")
    expect(table).to_contain_text("ricerca-browser-t000", timeout=60_000)
    expect(page.locator("#sweep-progress")).to_contain_text("✅ finito", timeout=300_000)
    expect(table).to_contain_text("ricerca-browser-t001")
    expect(page.locator("#sweep-best-value")).to_be_visible()
    expect(page.locator("#sweep-best canvas, #sweep-best svg.marks").first).to_be_visible(timeout=20_000)
    folder = bottega_home / "runs" / "sweeps" / "ricerca-browser"
    assert [r["state"] for r in sweep.trials(folder)] == ["complete", "complete"]
    assert sweep.load_config(folder / "config.yaml").trials == 2
    assert (folder / "best.yaml").is_file()


def test_fidelity_pairs_then_a_dpo_run_from_the_tab(page: Page, bottega_home, app_datasets) -> None:
    from pipeline import dataset

    open_tab(page)
    fill(page, "train-dataset", "test/corto_it.yaml")
    page.locator("#train-pairs").click()
    progress = page.locator("#train-progress")
    expect(progress).to_contain_text("✅ finito", timeout=240_000)
    expect(page.locator("#train-message")).to_contain_text("coppie da 12 risposte")
    pairs = app_datasets / "fedelta-smollm2-135m-instruct.yaml"
    built = dataset.load(pairs)
    assert built.examples and all(e.rejected and e.meta.method == "fidelity" for e in built.examples)

    # A preference method offers the pair datasets first, and picks the new one.
    fill(page, "train-method", "dpo")
    expect(page.locator("#train-dataset input")).to_have_value("fedelta-smollm2-135m-instruct.yaml")
    fill(page, "train-name", "dpo-dal-browser")
    fill(page, "train-steps", "4")
    fill(page, "train-max-length", "256")
    page.locator("#train-start").click()
    expect(progress).to_contain_text("dpo-dal-browser", timeout=30_000)
    expect(progress).to_contain_text("✅ finito", timeout=240_000)
    expect(page.locator("#train-step")).to_have_text("4")
    adapter = bottega_home / "runs" / "train" / "dpo-dal-browser" / "adapter"
    assert (adapter / "adapter_model.safetensors").exists()
    assert "1. DPO su" in (adapter / "README.md").read_text(encoding="utf-8")
