"""The login gate in a simulated Space: the app runs with the environment a Space gives it (SYSTEM, SPACE_ID and the
OAuth app's variables), so Gradio mounts its real OAuth routes and session middleware. Hugging Face's login page
cannot be reached here, so a test logs a user in the way its callback does: by signing the session cookie that holds
the OAuth userinfo, with the key Gradio derives from the OAuth app's secret."""

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from pipeline.jobs import free_port, wait_for_http
from tests.conftest import ROOT
from tests.e2e.conftest import CHROMIUM  # noqa: F401  (the browser fixture lives there)
from tests.e2e.words import IT

SECRET = "segreto-oauth-di-prova"
# Gradio imports the `spaces` package (ZeroGPU) when SYSTEM=spaces; it is not installed here, and the repository's
# spaces/ folder would be imported in its place.
LAUNCH = "import sys; sys.modules['spaces'] = None; import app; from pipeline.ui import launch; launch(app.demo)"


@pytest.fixture(scope="module")
def space(tmp_path_factory: pytest.TempPathFactory, bundled_model: Path):
    root = tmp_path_factory.mktemp("space")
    datasets = root / "datasets"
    datasets.mkdir()
    shutil.copy(ROOT / "datasets_yaml" / "seed_it.yaml", datasets / "seed_it.yaml")
    port = free_port()
    env = {
        **os.environ,
        "SYSTEM": "spaces",
        "SPACE_ID": "proprietario/bottega",
        "OAUTH_CLIENT_ID": "bottega-test",
        "OAUTH_CLIENT_SECRET": SECRET,
        "OAUTH_SCOPES": "openid profile manage-repos inference-api",
        "OPENID_PROVIDER_URL": "http://127.0.0.1:9",  # never contacted: nobody clicks through to Hugging Face
        "BOTTEGA_ALLOWED_USERS": "alice",
        "BOTTEGA_MAX_UPLOAD_MB": "1",
        "BOTTEGA_DATASETS": str(datasets),
        "GRADIO_SERVER_PORT": str(port),
    }
    log = root / "app.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-c", LAUNCH], cwd=ROOT, env=env, stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_for_http(url, proc, log)
        yield url, datasets
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def session_cookie(user: str) -> str:
    """What Gradio's /login/callback stores after Hugging Face logs `user` in, signed as Starlette's
    SessionMiddleware signs it."""
    import itsdangerous

    info = {
        "access_token": f"hf_oauth_{user}",
        "token_type": "bearer",
        "scope": "openid profile manage-repos inference-api",
        "expires_at": int(time.time()) + 3600,
        "userinfo": {"preferred_username": user, "name": user.title(), "profile": "", "picture": "", "orgs": []},
    }
    data = base64.b64encode(json.dumps({"oauth_info": info}).encode("utf-8"))
    key = hashlib.sha256((SECRET + "-v4").encode()).hexdigest()
    return itsdangerous.TimestampSigner(key).sign(data).decode("utf-8")


def open_as(browser, url: str, user: str | None) -> Page:
    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
    if user:
        context.add_cookies([{"name": "session", "value": session_cookie(user), "url": url}])
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(url)
    return page


def create_button(page: Page):
    page.get_by_role("tab", name=IT["tab_dataset"]).click()
    return page.get_by_role("button", name=IT["ds_create"], exact=True)


def test_an_anonymous_visitor_gets_a_read_only_view_and_the_api_refuses_too(browser, space) -> None:
    from gradio_client import Client

    url, datasets = space
    page = open_as(browser, url, None)
    expect(page.locator("#login")).to_contain_text("Sign in with Hugging Face")
    expect(page.locator("#access")).to_contain_text("Sola lettura")
    expect(create_button(page)).to_be_disabled()
    expect(page.locator("#ds-table")).to_contain_text("it-grammatica-001")  # reading still works
    page.context.close()

    # A greyed-out button is only a hint: the handler itself refuses a caller without a login.
    with pytest.raises(Exception, match="Accedi con Hugging Face"):
        Client(url, verbose=False).predict("intruso", api_name="/create_dataset")
    assert not (datasets / "intruso.yaml").exists()


def test_a_user_outside_the_allow_list_is_told_why(browser, space) -> None:
    url, datasets = space
    page = open_as(browser, url, "mallory")
    expect(page.locator("#login")).to_contain_text("mallory")  # logged in...
    expect(page.locator("#access")).to_contain_text("'mallory' non è autorizzato")  # ...but not allowed
    expect(create_button(page)).to_be_disabled()
    page.context.close()


def test_an_allowed_user_can_act(browser, space) -> None:
    url, datasets = space
    page = open_as(browser, url, "alice")
    expect(page.locator("#access")).to_contain_text("Accesso come alice")
    button = create_button(page)
    expect(button).to_be_enabled()
    page.get_by_label(IT["ds_new_name"]).fill("ricette_alice")
    button.click()
    expect(page.locator("#ds-pick input")).to_have_value("ricette_alice.yaml")
    assert (datasets / "ricette_alice.yaml").exists()
    page.context.close()


def test_uploads_over_the_limit_are_refused_before_any_handler(space) -> None:
    import httpx

    url, datasets = space
    big = b'{"instruction": "Ciao", "output": "Ciao!"}\n' * 30_000  # about 1.3 MB, over the 1 MB set above
    refused = httpx.post(f"{url}gradio_api/upload", files={"files": ("grande.jsonl", big)}, timeout=30)
    assert refused.status_code == 413
    small = httpx.post(f"{url}gradio_api/upload", files={"files": ("piccolo.jsonl", big[:1000])}, timeout=30)
    assert small.status_code == 200 and small.json()[0].endswith("piccolo.jsonl")
