"""Click through the shell in a real browser: Italian by default, every tab, the language switch."""

from playwright.sync_api import Page, expect

from pipeline.ui.i18n import EN, IT

# For each tab, a text that only that tab shows: seeing it proves the tab really switched.
TABS = {
    "generate": lambda w: w["gen_name"],
    "dataset": lambda w: w["ds_examples"],
    "train": lambda w: w["train_model_data"].lstrip("# "),
    "compare": lambda w: w["cmp_eval"].splitlines()[0].lstrip("# "),
}


def assert_tabs_in(page: Page, words: dict) -> None:
    tabs = page.get_by_role("tab")
    expect(tabs).to_have_text([words[f"tab_{name}"] for name in TABS])
    for name, marker in TABS.items():
        tabs.filter(has_text=words[f"tab_{name}"]).click()
        expect(page.get_by_text(marker(words)).first).to_be_visible()


def test_italian_by_default_even_in_an_english_browser(page: Page) -> None:
    expect(page.get_by_text(IT["intro"].split("**")[2][:30])).to_be_visible()
    assert_tabs_in(page, IT)


def test_switch_to_english_and_back(page: Page) -> None:
    page.get_by_label("English").check()
    expect(page.get_by_role("tab").first).to_have_text(EN["tab_generate"])
    assert_tabs_in(page, EN)
    expect(page.get_by_label("English")).to_be_checked()

    page.reload()  # the choice is remembered
    expect(page.get_by_role("tab").first).to_have_text(EN["tab_generate"])

    page.get_by_label("Italiano").check()
    expect(page.get_by_role("tab").first).to_have_text(IT["tab_generate"])
    assert_tabs_in(page, IT)


def test_models_panel_shows_the_prepared_bundled_model(page: Page) -> None:
    page.get_by_text(IT["models_title"]).click()
    row = page.get_by_role("row").filter(has_text="smollm2-135m-instruct")
    expect(row).to_be_visible()
    expect(row.get_by_role("checkbox")).to_be_checked()


def test_both_languages_have_the_same_keys() -> None:
    assert IT.keys() == EN.keys()
