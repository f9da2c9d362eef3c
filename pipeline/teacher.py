"""The teacher: an LLM behind any OpenAI-compatible API that writes the dataset (local `transformers serve`, OpenAI,
the Hugging Face router, vLLM, Ollama ...).

    config = TeacherConfig(preset="openai", model="gpt-4o-mini", budget_cost=2.0,
                           price_per_1k_prompt=0.00015, price_per_1k_completion=0.0006)
    async with Teacher(config) as teacher:
        row = (await teacher.ask_yaml(messages, ["istruzione", "risposta"])).data
    print(teacher.usage)

What it adds to the `openai` SDK: bounded concurrency, retries with exponential backoff and full jitter (429, 5xx,
timeouts, dropped connections, truncated bodies; `Retry-After` honoured), token accounting per request and per run,
a budget checked before each request, and YAML replies parsed, repaired and re-asked for when broken.

The API key is read from the environment variable named by `api_key_env` when a `Teacher` is created and handed
only to the SDK client: it is never stored in the config, logged, written to a file or put in an error message.
For the "local" preset, start the server first (`pipeline.serve.start_local_server`) and fill `base_url` and
`model` from it.
"""

import asyncio
import json
import logging
import math
import os
import random
import re
from dataclasses import asdict, dataclass, field
from urllib.parse import urlsplit

import yaml

from pipeline.errors import Problems, UserError
from pipeline.i18n import Message, t
from pipeline.structured import Shape

log = logging.getLogger(__name__)

# preset -> (base_url, api_key_env). "local" gets its URL from pipeline.serve at run time; "custom" from the user.
PRESETS = {
    "local": ("", ""),
    "openai": ("https://api.openai.com/v1", "OPENAI_API_KEY"),
    "hf": ("https://router.huggingface.co/v1", "HF_TOKEN"),
    "custom": ("", ""),
}
NO_KEY = "not-needed"  # what the SDK gets when the server wants no key (it refuses an empty one)
MAX_BACKOFF_S = 60
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass
class TeacherConfig:
    preset: str = "local"
    """Where the teacher lives: "local" (transformers serve), "openai", "hf" (Hugging Face router), "custom"."""
    base_url: str = ""
    """The OpenAI-compatible endpoint, e.g. http://localhost:8000/v1. Filled by the preset; required for "custom"."""
    model: str = ""
    """The model name requests carry. Required except for "local", where the server says it."""
    api_key_env: str = ""
    """The NAME of the environment variable that holds the API key (the key itself is never stored)."""
    max_concurrency: int = 4
    """Requests in flight at once."""
    timeout_s: float = 120.0
    """Seconds to wait for one reply of `max_tokens` before giving up on that attempt; a request allowed more tokens
    (a reply with several tasks) waits proportionally longer."""
    max_retries: int = 4
    """Retries after the first attempt, for 429, 5xx, timeouts and connection errors."""
    backoff_s: float = 1.0
    """The first retry waits up to this long (full jitter); the cap doubles each retry, up to 60 s."""
    temperature: float = 0.7
    """Sampling temperature, 0-2."""
    max_tokens: int = 1024
    """Tokens the teacher may write per reply."""
    price_per_1k_prompt: float | None = None
    """Price of 1000 prompt tokens (any currency), to report the cost and to enforce `budget_cost`."""
    price_per_1k_completion: float | None = None
    """Price of 1000 completion tokens, same currency."""
    budget_tokens: int | None = None
    """Stop the run before a request that could take it past this many tokens (prompt + completion; the prompt is
    estimated before sending, from its length and the prompts measured so far)."""
    budget_cost: float | None = None
    """Stop the run before it would cost more than this; needs both prices."""
    constrained: bool | None = None
    """Ask the server to decode YAML replies under their shape (`structured_outputs`, constrained decoding), so that
    every reply parses with the requested keys. Empty: on for the local preset, whose server supports it; set it for
    a vLLM server (0.12 or later); other APIs refuse the field."""

    def __post_init__(self) -> None:
        if self.preset in PRESETS:
            default_url, default_env = PRESETS[self.preset]
            self.base_url = self.base_url or default_url
            self.api_key_env = self.api_key_env or default_env
        problems = Problems()
        problems.check(self.preset in PRESETS, "preset", Message("must_be_one_of", value=self.preset,
                                                                 choices=", ".join(PRESETS)))  # fmt: skip
        problems.check(self.preset != "custom" or bool(self.base_url), "base_url", Message("teacher_custom_url"))
        if self.base_url and not self.base_url.startswith(("http://", "https://")):
            problems.add("base_url", Message("teacher_url_scheme", value=self.base_url))
        problems.check("@" not in urlsplit(self.base_url).netloc, "base_url", Message("teacher_url_credentials"))
        if self.api_key_env and (not _ENV_NAME.fullmatch(self.api_key_env) or self.api_key_env.startswith("hf_")):
            # Most likely the key itself, typed where its variable's name goes: never repeat it, never save it.
            problems.add("api_key_env", Message("teacher_key_not_name"))
        if self.preset in ("openai", "hf", "custom") and not self.model:
            problems.add("model", Message("teacher_model_required", preset=self.preset))
        for name in ("max_concurrency", "max_tokens", "timeout_s", "budget_tokens", "budget_cost"):
            value = getattr(self, name)
            problems.check(value is None or value > 0, name, Message("must_be_positive", value=value))
        for name in ("max_retries", "backoff_s", "price_per_1k_prompt", "price_per_1k_completion"):
            value = getattr(self, name)
            problems.check(value is None or value >= 0, name, Message("must_be_non_negative", value=value))
        problems.check(
            0 <= self.temperature <= 2,
            "temperature",
            Message("must_be_between", low=0, high=2, value=self.temperature),
        )
        if self.budget_cost is not None and None in (self.price_per_1k_prompt, self.price_per_1k_completion):
            problems.add("budget_cost", Message("teacher_budget_needs_prices"))
        problems.raise_any()

    @property
    def constrains(self) -> bool:
        """Whether replies are decoded under their shape."""
        return self.preset == "local" if self.constrained is None else self.constrained

    @property
    def priced(self) -> bool:
        return self.price_per_1k_prompt is not None and self.price_per_1k_completion is not None


def _api_key(config: TeacherConfig) -> tuple[str | None, str]:
    """(key or None if missing, where it came from). The only place that reads the key."""
    if config.preset == "local" or (config.preset == "custom" and not config.api_key_env):
        return NO_KEY, "none"
    if key := os.environ.get(config.api_key_env):
        return key, "env"
    if config.preset == "hf":
        from huggingface_hub import get_token

        if key := get_token():
            return key, "hf_login"
    return None, "missing"


def key_status(config: TeacherConfig) -> str:
    """Whether the teacher's API key is available and where from, in words for the UI. Never the key itself."""
    _, source = _api_key(config)
    if source == "none":
        return t("key_none_needed")
    if source == "env":
        return t("key_from_env", env=config.api_key_env)
    if source == "hf_login":
        return t("key_from_hf_login")
    return t("key_missing_hf" if config.preset == "hf" else "key_missing", env=config.api_key_env)


class TeacherError(UserError):
    """A request failed for good. The message names the cause and what to do; `cause` is a stable code
    ("timeout", "connection", "http_429", "http_500", "bad_response", "no_key", ...) for stats."""

    def __init__(self, message: str | Message, cause: str, status: int | None = None) -> None:
        super().__init__(message)
        self.cause = cause
        self.status = status


class BudgetExhausted(Exception):
    """The next request could go over the budget: nothing was sent. The run should stop and keep what it has."""


REPLY_FAILURE_KINDS = ("empty", "not_yaml", "not_mapping", "missing_keys", "truncated")


class ReplyFormatError(ValueError):
    """A reply that is not the YAML asked for. `kind` is one of REPLY_FAILURE_KINDS, for counting."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.tokens = 0  # set by ask_yaml: what the failed attempts used
        self.cost: float | None = None


@dataclass
class Usage:
    """What a run has used so far."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    requests: int = 0  # replies received (retries not counted)
    retries: int = 0
    estimated_requests: int = 0  # replies whose server gave no `usage`: their tokens are a rough estimate
    cost: float | None = None  # None when no prices are configured
    reply_failures: dict[str, int] = field(default_factory=dict)  # YAML replies rejected, by kind

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def as_dict(self) -> dict:
        return {**asdict(self), "total_tokens": self.total_tokens}


@dataclass
class Reply:
    text: str
    prompt_tokens: int
    completion_tokens: int
    estimated: bool  # True when the server sent no `usage` and the tokens were estimated
    finish_reason: str | None  # "length" means it hit max_tokens
    retries: int


@dataclass
class YamlReply:
    data: dict
    tokens: int  # prompt + completion tokens of every attempt, re-asks included
    cost: float | None  # None when the teacher has no prices


def estimate_tokens(text: str) -> int:
    """A rough token count (about 4 characters a token) for servers that report no usage, and for budgets."""
    return math.ceil(len(text) / 4)


def estimate_prompt_tokens(messages: list[dict]) -> int:
    return sum(estimate_tokens(str(m.get("content", ""))) + 4 for m in messages)  # +4: the template's role markers


class Teacher:
    """An async client for one teacher. Use one per event loop (`async with Teacher(config) as teacher:`)."""

    def __init__(self, config: TeacherConfig) -> None:
        from openai import AsyncOpenAI

        if not config.base_url:
            raise TeacherError(Message("teacher_no_url"), cause="no_url")
        key, _ = _api_key(config)
        if key is None:
            raise TeacherError(key_status(config), cause="no_key")
        self.config = config
        self.usage = Usage(cost=0.0 if config.priced else None)
        self.exhausted = False
        # The SDK's own retries are off: ours count every attempt and honour the budget.
        self._client = AsyncOpenAI(base_url=config.base_url, api_key=key, max_retries=0, timeout=config.timeout_s)
        self._semaphore = asyncio.Semaphore(config.max_concurrency)
        self.in_flight = 0  # requests sent and not yet answered (or failed for good)
        self._reserved_tokens = 0
        self._reserved_cost = 0.0
        # Real prompts outgrow the character estimate (system prompts, chat templates, tokenizers weak on Italian):
        # budgets scale it by the worst ratio seen so far.
        self._prompt_scale = 1.0

    async def __aenter__(self) -> "Teacher":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.close()

    async def chat(
        self, messages: list[dict], max_tokens: int | None = None, temperature: float | None = None,
        regex: str | None = None,
    ) -> Reply:  # fmt: skip
        """One chat completion, retried on transient failures; `regex`: the server decodes under it
        (`structured_outputs`).

        Raises BudgetExhausted (nothing was sent) or TeacherError (failed for good, after the retries)."""
        return await self._complete(messages, max_tokens, temperature, None, regex)

    async def complete(self, prompt: str, stop: list[str], max_tokens: int | None = None) -> Reply:
        """One raw text completion (`/v1/completions`: the prompt goes as it is, no chat template), with the same
        retries, budget and accounting as `chat`: how Magpie lets the model write the user's turn itself."""
        return await self._complete([{"role": "user", "content": prompt}], max_tokens, None, (prompt, stop))

    async def _complete(self, messages: list[dict], max_tokens: int | None, temperature: float | None,
                        raw: tuple[str, list[str]] | None, regex: str | None = None) -> Reply:  # fmt: skip
        max_tokens = max_tokens or self.config.max_tokens
        temperature = self.config.temperature if temperature is None else temperature
        async with self._semaphore:
            # Checked once we may send, so replies that arrived while we queued are already counted; requests in
            # flight hold a worst-case reservation, so concurrent requests cannot overshoot together.
            estimate = estimate_prompt_tokens(messages)
            tokens, cost = self._reserve(math.ceil(estimate * self._prompt_scale), max_tokens)
            self.in_flight += 1
            try:
                reply = await self._send(messages, max_tokens, temperature, raw, regex)
            finally:
                self.in_flight -= 1
                self._reserved_tokens -= tokens
                self._reserved_cost -= cost
            self._account(reply)
            if not reply.estimated:
                self._prompt_scale = max(self._prompt_scale, reply.prompt_tokens / estimate)
        return reply

    async def ask_yaml(
        self, messages: list[dict], shape: Shape | list[str], max_reasks: int = 2, max_tokens: int | None = None
    ) -> YamlReply:
        """Ask for a YAML mapping of `shape` (or just with these required keys); on a broken reply, show the teacher
        the parser's complaint and ask again, up to `max_reasks` times. Each broken reply is counted by kind in
        `usage.reply_failures`. Where the config `constrains`, the server decodes under the shape's regex.
        Raises the last ReplyFormatError when every attempt failed; its `tokens` and `cost` say what they used."""
        required_keys = shape.keys if isinstance(shape, Shape) else list(shape)
        conversation = list(messages)
        tokens, cost = 0, 0.0
        max_tokens = max_tokens or self.config.max_tokens
        regex = shape.regex(max_tokens) if isinstance(shape, Shape) and self.config.constrains else None
        for attempt in range(max_reasks + 1):
            reply = await self.chat(conversation, max_tokens=max_tokens, regex=regex)
            tokens += reply.prompt_tokens + reply.completion_tokens
            cost += self._cost(reply.prompt_tokens, reply.completion_tokens)
            try:
                data = parse_yaml_reply(reply.text, required_keys)
                return YamlReply(data, tokens, cost if self.config.priced else None)
            except ReplyFormatError as e:
                error = e
                if reply.finish_reason == "length":
                    error = ReplyFormatError("truncated", f"la risposta si è interrotta al limite di token ({e})")
                self.usage.reply_failures[error.kind] = self.usage.reply_failures.get(error.kind, 0) + 1
                log.info("risposta YAML scartata (%s): %s", error.kind, error.message)
                # under constraints only the token limit breaks a reply, and a re-ask would meet the same limit
                if attempt == max_reasks or (regex and error.kind == "truncated"):
                    error.tokens, error.cost = tokens, cost if self.config.priced else None
                    raise error from None
            conversation = [
                *conversation,
                {"role": "assistant", "content": reply.text},
                {"role": "user", "content": reask_message(error, required_keys, max_tokens)},
            ]
        raise AssertionError("unreachable")

    def _reserve(self, prompt_estimate: int, max_tokens: int) -> tuple[int, float]:
        c = self.config
        tokens = prompt_estimate + max_tokens
        cost = self._cost(prompt_estimate, max_tokens)
        used = self.usage.total_tokens + self._reserved_tokens
        problem = None
        if self.exhausted:
            problem = Message("teacher_budget_already_spent")
        elif c.budget_tokens is not None and used + tokens > c.budget_tokens:
            problem = Message(
                "teacher_budget_tokens", used=self.usage.total_tokens, budget=c.budget_tokens, next=tokens
            )
        elif c.budget_cost is not None and self.usage.cost + self._reserved_cost + cost > c.budget_cost:
            problem = Message("teacher_budget_cost", spent=self.usage.cost, budget=c.budget_cost, next=cost)
        if problem:
            self.exhausted = True
            raise BudgetExhausted(Message("teacher_budget_exhausted", problem=problem))
        self._reserved_tokens += tokens
        self._reserved_cost += cost
        return tokens, cost

    def reply_cost(self, reply: Reply) -> float | None:
        """What one reply cost, None when the teacher has no prices."""
        return self._cost(reply.prompt_tokens, reply.completion_tokens) if self.config.priced else None

    def _cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        if not self.config.priced:
            return 0.0
        c = self.config
        return (prompt_tokens * c.price_per_1k_prompt + completion_tokens * c.price_per_1k_completion) / 1000

    def _account(self, reply: Reply) -> None:
        u = self.usage
        u.requests += 1
        u.prompt_tokens += reply.prompt_tokens
        u.completion_tokens += reply.completion_tokens
        u.estimated_requests += reply.estimated
        if u.cost is not None:
            u.cost += self._cost(reply.prompt_tokens, reply.completion_tokens)

    async def _send(self, messages: list[dict], max_tokens: int, temperature: float,
                    raw: tuple[str, list[str]] | None = None, regex: str | None = None) -> Reply:  # fmt: skip
        c = self.config
        extra = {"structured_outputs": {"regex": regex}} if regex else None
        timeout = c.timeout_s * max(1.0, max_tokens / c.max_tokens)
        for attempt in range(c.max_retries + 1):
            try:
                if raw is None:
                    completion = await self._client.chat.completions.create(
                        model=c.model, messages=messages, max_tokens=max_tokens, temperature=temperature,
                        extra_body=extra, timeout=timeout,
                    )  # fmt: skip
                else:
                    completion = await self._client.completions.create(
                        model=c.model,
                        prompt=raw[0],
                        stop=raw[1],
                        max_tokens=max_tokens,
                        temperature=temperature,
                        timeout=timeout,
                    )
                if not completion.choices:
                    raise ValueError("nessuna scelta nella risposta")
            except Exception as e:
                cause, status, retry_after = self._classify(e)  # re-raises what is not a server's fault
                if status is not None and not _retryable(status):
                    raise TeacherError(self._message(cause, status, e, attempt + 1, timeout), cause, status) from None
                if attempt == c.max_retries:
                    raise TeacherError(self._message(cause, status, e, attempt + 1, timeout), cause, status) from None
                wait = retry_after if retry_after is not None else self._backoff(attempt)
                self.usage.retries += 1
                # The request keeps its concurrency slot while it waits: a struggling server gets fewer requests.
                log.warning("teacher: tentativo %d fallito (%s), riprovo tra %.1f s", attempt + 1, cause, wait)
                await asyncio.sleep(wait)
                continue
            return self._reply(completion, messages, attempt)
        raise AssertionError("unreachable")

    def _classify(self, e: Exception) -> tuple[str, int | None, float | None]:
        """(cause, HTTP status or None, Retry-After seconds or None); anything else propagates as the bug it is."""
        import openai

        if isinstance(e, openai.APITimeoutError):
            return "timeout", None, None
        if isinstance(e, openai.APIConnectionError):
            return "connection", None, None
        if isinstance(e, openai.APIStatusError):
            return f"http_{e.status_code}", e.status_code, _retry_after(e.response.headers.get("retry-after"))
        if isinstance(e, ValueError | openai.APIResponseValidationError):  # json.JSONDecodeError is a ValueError
            return "bad_response", None, None
        raise e

    def _backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2**attempt)], so clients that failed together spread out."""
        return random.uniform(0, min(MAX_BACKOFF_S, self.config.backoff_s * 2**attempt))

    def _message(self, cause: str, status: int | None, e: Exception, attempts: int, timeout: float) -> Message:
        c = self.config
        tries = Message("teacher_after_one" if attempts == 1 else "teacher_after_many", attempts=attempts)
        if cause == "timeout":
            return Message("teacher_timeout", timeout=round(timeout), tries=tries)
        if cause == "connection":
            return Message("teacher_connection", url=c.base_url, tries=tries)
        if cause == "bad_response":
            return Message("teacher_bad_response", tries=tries)
        if status == 429:
            return Message("teacher_http_429", tries=tries)
        if status is not None and status >= 500:
            return Message("teacher_http_5xx", status=status, tries=tries)
        if status == 401:
            return Message("teacher_http_401", env=c.api_key_env)
        if status == 403:
            return Message("teacher_http_403", model=c.model)
        if status == 404:
            return Message("teacher_http_404", model=c.model)
        return Message("teacher_refused", status=status, detail=self._redact(_detail(e)))

    def _redact(self, text: str) -> str:
        """Server text goes into our messages: make sure the key cannot ride along."""
        key = self._client.api_key
        return text.replace(key, "***") if key and key != NO_KEY else text

    def _reply(self, completion, messages: list[dict], retries: int) -> Reply:
        choice = completion.choices[0]
        text = (choice.message.content if hasattr(choice, "message") else choice.text) or ""
        usage = completion.usage
        if usage is not None and usage.prompt_tokens is not None and usage.completion_tokens is not None:
            return Reply(text, usage.prompt_tokens, usage.completion_tokens, False, choice.finish_reason, retries)
        tokens = estimate_prompt_tokens(messages), estimate_tokens(text)
        return Reply(text, *tokens, True, choice.finish_reason, retries)


def _retryable(status: int) -> bool:
    return status in (408, 429) or status >= 500


def _retry_after(value: str | None) -> float | None:
    """`Retry-After` in seconds; the HTTP-date form is rare for APIs and falls back to backoff."""
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and 0 <= seconds <= 3600 else None


def _detail(e: Exception) -> str:
    body = getattr(e, "body", None)
    if isinstance(body, dict):
        error = body.get("error", body)
        text = error.get("message") or error.get("detail") if isinstance(error, dict) else error
        text = str(text or body)
    else:
        text = str(body or e)
    return text[:300]


_FENCE = re.compile(r"```[ \t]*(?:ya?ml)?[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL | re.IGNORECASE)
# A top-level `key:` line: a key without spaces, then a colon at the end or before a space.
_KEY_LINE = re.compile(r"^(\w[\w-]*)[ \t]*:(?:[ \t]+(.*?))?[ \t]*$")


def parse_yaml_reply(text: str, required_keys: list[str] | tuple[str, ...] = ()) -> dict:
    """The YAML mapping in a teacher's reply, with its top-level strings stripped.

    Takes the whole reply if it is such a mapping (a ``` fence inside a text, such as code in an answer, stays text),
    else the first ``` fenced block if there is one. When the YAML does not load or lacks keys, repairs what LLMs
    commonly break and tries again: tabs, text before the first key or after the last value, a missing `|` before an
    indented multi-line text, an unquoted `: ` inside a one-line value. Raises ReplyFormatError.
    """
    if not text or not text.strip():
        raise ReplyFormatError("empty", "la risposta è vuota")
    match = _FENCE.search(text)
    if match:
        try:
            return _load_mapping(text, required_keys)
        except ReplyFormatError:
            pass
    candidate = match.group(1) if match else text
    try:
        return _load_mapping(candidate, required_keys)
    except ReplyFormatError as first:
        repaired = _repair(candidate, required_keys)
        if repaired == candidate:
            raise first from None
        return _load_mapping(repaired, required_keys)


def reask_message(error: ReplyFormatError, required_keys: list[str] | tuple[str, ...], max_tokens: int) -> str:
    """What to tell the teacher after a broken reply. A reply cut at the token limit would be cut again if asked the
    same way: the teacher is told the limit and asked to be shorter."""
    keys = ", ".join(required_keys)
    layout = f"con le chiavi: {keys}. Per i testi su più righe usa `chiave: |` e indenta il testo di due spazi."
    if error.kind == "truncated":
        return (
            f"La tua risposta si è interrotta al limite di {max_tokens} token, prima della fine del YAML. Rispondi di "
            f"nuovo, più breve, così che stia tutta nel limite: solo YAML, {layout}"
        )
    return (
        f"La tua risposta non è YAML valido: {error.message}. Rispondi solo con YAML, senza testo prima o dopo, "
        f"{layout}"
    )


def _load_mapping(text: str, required_keys: list[str] | tuple[str, ...]) -> dict:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" alla riga {mark.line + 1}" if mark is not None else ""
        raise ReplyFormatError("not_yaml", f"YAML non leggibile{where} ({getattr(e, 'problem', None) or e})") from None
    if data is None:
        raise ReplyFormatError("empty", "la risposta non contiene YAML")
    if isinstance(data, str | int | float):
        raise ReplyFormatError("not_yaml", "la risposta è testo semplice, senza chiavi YAML")
    if not isinstance(data, dict):
        raise ReplyFormatError("not_mapping", f"serve una mappa di chiavi e valori, trovato un {type(data).__name__}")
    data = {str(k): v.strip() if isinstance(v, str) else v for k, v in data.items()}
    missing = [k for k in required_keys if data.get(k) is None or data.get(k) == ""]
    if missing:
        raise ReplyFormatError("missing_keys", f"mancano o sono vuote le chiavi: {', '.join(missing)}")
    return data


def _repair(text: str, required_keys: list[str] | tuple[str, ...]) -> str:
    lines = text.replace("\t", "  ").splitlines()
    starts = [i for i, line in enumerate(lines) if (m := _KEY_LINE.match(line))]
    wanted = [i for i in starts if _KEY_LINE.match(lines[i]).group(1) in required_keys]
    if not starts:
        return text
    i = (wanted or starts)[0]  # text before the first key is prose
    out = []
    while i < len(lines):
        line = lines[i]
        if not line.strip() or line[0] == " " or line.startswith("- "):
            out.append(line)  # a blank line, or part of a nested block or a list we leave as it is
            i += 1
            continue
        m = _KEY_LINE.match(line)
        if not m:
            break  # the first unindented line that is no key: prose after the YAML
        key, value = m.group(1), m.group(2) or ""
        j = i + 1
        while j < len(lines) and (not lines[j].strip() or lines[j][0] == " "):
            j += 1
        block = lines[i + 1 : j]
        while block and not block[-1].strip():
            block.pop()
        if block and _is_text(block) and value[:1] not in ("|", ">", '"', "'"):
            out.extend(_literal_block(key, value, block))
        else:
            one_line = value and not block
            out.append(f"{key}: {_quote(value)}" if one_line and _needs_quotes(value) else line)
            out.extend(block)
        i = j
    return "\n".join(out) + "\n"


def _is_text(block: list[str]) -> bool:
    """Whether indented lines are free text rather than a nested mapping or list."""
    lines = [line for line in block if line.strip()]
    indent = min(len(line) - len(line.lstrip()) for line in lines)
    top = [line.strip() for line in lines if len(line) - len(line.lstrip()) == indent]
    return not all(line.startswith("- ") or _KEY_LINE.match(line) for line in top)


def _literal_block(key: str, first: str, block: list[str]) -> list[str]:
    """`key: |` with the text re-indented by two spaces; a text that starts on the key's line moves under it."""
    indent = min(len(line) - len(line.lstrip()) for line in block if line.strip())
    body = ([first] if first else []) + [line[indent:] for line in block]
    # An explicit indentation indicator when the first line is itself indented (YAML would take it as the base).
    header = f"{key}: |2" if body[0].startswith(" ") else f"{key}: |"
    return [header] + [f"  {line}" if line.strip() else "" for line in body]


def _needs_quotes(value: str) -> bool:
    if " #" in value:  # YAML would silently cut the rest as a comment
        return True
    try:
        loaded = yaml.safe_load(f"k: {value}")
    except yaml.YAMLError:
        return True
    return not isinstance(loaded, dict) or isinstance(loaded.get("k"), dict)


def _quote(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid YAML double-quoted scalar
