"""Click through the shell in a real browser: Italian by default, every tab, the language switch."""

from playwright.sync_api import Page, expect

from tests.e2e.words import EN, IT

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


def test_switch_to_english_and_back(page: Page, app_url: str) -> None:
    page.get_by_label("English").check()
    page.wait_for_url(f"{app_url}en")
    expect(page.get_by_role("tab").first).to_have_text(EN["tab_generate"])
    assert_tabs_in(page, EN)
    expect(page.get_by_label("English")).to_be_checked()

    page.goto(app_url)  # the choice is remembered: the Italian address opens the English page
    page.wait_for_url(f"{app_url}en")
    expect(page.get_by_role("tab").first).to_have_text(EN["tab_generate"])

    page.get_by_label("Italiano").check()
    page.wait_for_url(app_url)
    expect(page.get_by_role("tab").first).to_have_text(IT["tab_generate"])
    assert_tabs_in(page, IT)
    page.reload()
    expect(page.get_by_role("tab").first).to_have_text(IT["tab_generate"])


def test_the_pages_never_load_gradio_assets_by_name(app_url: str) -> None:
    """The switch is two pages rendered on the server: no script of ours imports Gradio's hashed bundles."""
    import urllib.request

    for path in ("", "en"):
        with urllib.request.urlopen(app_url + path) as r:
            html = r.read().decode()
        assert "bottega-lang" in html and "/assets/core-" not in html.split("bottega-lang")[0][-2000:]
        assert "changeLocale" not in html


def test_handler_messages_and_headers_follow_the_page_language(page: Page, app_url: str) -> None:
    """A status line, a table header and an error raised in pipeline/ are all in English on the English page."""
    page.goto(f"{app_url}en")
    page.get_by_role("tab", name=EN["tab_train"]).click()
    expect(page.locator("#train-runs")).to_contain_text(EN["col_steps"])
    page.locator("#train-name textarea, #train-name input").first.fill("a/b")
    page.locator("#train-start").click()
    toast = page.locator(".toast-body").first
    expect(toast).to_contain_text("is not a valid name")
    expect(toast).not_to_contain_text("non è un nome valido")


def test_models_panel_shows_the_prepared_bundled_model(page: Page) -> None:
    page.get_by_text(IT["models_title"]).click()
    row = page.get_by_role("row").filter(has_text="smollm2-135m-instruct")
    expect(row).to_be_visible()
    expect(row.get_by_role("checkbox")).to_be_checked()


def test_both_languages_fill_the_same_fields() -> None:
    import string

    def fields(text: str) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name}

    assert IT.keys() == EN.keys()
    assert all(fields(IT[key]) == fields(EN[key]) for key in IT), [k for k in IT if fields(IT[k]) != fields(EN[k])]
