"""The Dataset tab in a real browser: open the seed set, find an example, edit it, find the change on disk."""

import time
from pathlib import Path

from playwright.sync_api import Page, expect

from pipeline import dataset as ds_mod
from tests.e2e.words import IT


def wait_for_file(path: Path, predicate, timeout: float = 20) -> ds_mod.Dataset:
    deadline = time.monotonic() + timeout
    while True:
        loaded = ds_mod.load(path)
        if predicate(loaded) or time.monotonic() > deadline:
            return loaded
        time.sleep(0.1)


def open_seed(page: Page) -> None:
    """The seed set is the dataset the tab opens by default."""
    page.get_by_role("tab", name=IT["tab_dataset"]).click()
    expect(page.locator("#ds-pick input")).to_have_value("seed_it.yaml")
    expect(page.locator("#ds-table")).to_contain_text("it-grammatica-001")


def pick(page: Page, example_id: str) -> None:
    search = page.locator("#ds-search textarea, #ds-search input").first
    search.fill(example_id)
    search.press("Enter")
    expect(page.locator("#ds-table").get_by_test_id("cell-0-0")).to_have_text(example_id)
    page.locator("#ds-table").get_by_test_id("cell-0-0").click()
    expect(page.locator("#ds-id input, #ds-id textarea").first).to_have_value(example_id)


def test_edit_an_example_and_find_it_in_the_yaml_file(page: Page, app_datasets: Path) -> None:
    open_seed(page)
    pick(page, "it-cucina-003")
    new_output = "Risposta corretta a mano: è più chiara così.\nSeconda riga, con l’apostrofo tipografico."
    page.locator("#ds-output textarea").fill(new_output)
    expect(page.get_by_text("Seconda riga, con l’apostrofo tipografico.").last).to_be_visible()  # YAML preview
    page.locator("#ds-save").click()

    path = app_datasets / "seed_it.yaml"
    saved = wait_for_file(path, lambda d: d.find("it-cucina-003").output == new_output)
    assert saved.find("it-cucina-003").output == new_output
    assert "    Seconda riga, con l’apostrofo tipografico.\n" in path.read_text(encoding="utf-8")  # block scalar
    assert len(saved.examples) == 327


def test_a_save_over_a_newer_file_is_refused_in_the_page(page: Page, app_datasets: Path) -> None:
    open_seed(page)
    pick(page, "it-storia-002")
    path = app_datasets / "seed_it.yaml"
    behind_the_page = ds_mod.load(path)
    behind_the_page.find("it-storia-002").output = "Cambiato da un altro editor."
    ds_mod.save(behind_the_page, path)

    page.locator("#ds-output textarea").fill("Cambiato dalla pagina, che non sa dell'altro.")
    page.locator("#ds-save").click()
    expect(page.get_by_text("è stato modificato da qualcun altro dopo che l'hai aperto")).to_be_visible()
    assert ds_mod.load(path).find("it-storia-002").output == "Cambiato da un altro editor."
