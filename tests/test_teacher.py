"""The teacher client against a real `transformers serve` (bundled model, CPU) behind a fault-injecting proxy.

The bundled model's Italian is poor: these tests assert behaviour (retries, waits, counts, budgets), never prose.
Replies the proxy makes up (`replace_content`) keep the tests that need many requests fast.
"""

import asyncio
import dataclasses
import logging
import time
from pathlib import Path

import pytest

from pipeline.jobs import free_port
from pipeline.models import ModelError
from pipeline.serve import LocalServer, start_local_server
from pipeline.teacher import (
    BudgetExhausted,
    ReplyFormatError,
    Teacher,
    TeacherConfig,
    TeacherError,
    estimate_tokens,
    key_status,
    parse_yaml_reply,
)
from tests.fault_proxy import (
    Fault,
    FaultProxy,
    delay,
    passthrough,
    replace_content,
    status429,
    status500,
    truncate,
)

QUESTION = [{"role": "user", "content": "Scrivi una parola in italiano."}]
KEYS = ["domanda", "risposta"]


@pytest.fixture(scope="module")
def proxy(serve_teacher: LocalServer):
    with FaultProxy(serve_teacher.base_url) as p:
        yield p


@pytest.fixture
def fp(proxy: FaultProxy) -> FaultProxy:
    """The proxy with no faults queued and its counters at zero."""
    proxy.reset()
    return proxy


def config(proxy: FaultProxy, server: LocalServer, **overrides) -> TeacherConfig:
    # Few tokens: a reply from the real model takes about a second on two CPU cores.
    settings = dict(preset="custom", base_url=proxy.base_url, model=server.model, max_tokens=4, backoff_s=0.05)
    return TeacherConfig(**{**settings, **overrides})


def run(config: TeacherConfig, scenario):
    """Run `scenario(teacher)` on a fresh event loop; return (teacher, what the scenario returned)."""

    async def main():
        async with Teacher(config) as teacher:
            return teacher, await scenario(teacher)

    return asyncio.run(main())


@pytest.mark.slow
def test_a_plain_request_is_answered_and_its_tokens_and_cost_counted(fp, serve_teacher):
    cfg = config(fp, serve_teacher, price_per_1k_prompt=1.0, price_per_1k_completion=2.0)
    teacher, reply = run(cfg, lambda t: t.chat(QUESTION))

    assert reply.text and not reply.estimated and reply.retries == 0
    assert reply.prompt_tokens > 0 and 1 <= reply.completion_tokens <= 4
    tokens = reply.prompt_tokens, reply.completion_tokens
    u = teacher.usage
    assert (u.requests, u.retries, u.prompt_tokens, u.completion_tokens) == (1, 0, *tokens)
    assert u.cost == pytest.approx((u.prompt_tokens * 1.0 + u.completion_tokens * 2.0) / 1000)
    assert fp.forwarded == 1
    assert fp.requests[0]["body"]["max_tokens"] == 4 and fp.requests[0]["body"]["model"] == serve_teacher.model


@pytest.mark.slow
def test_a_429_is_retried_after_the_seconds_retry_after_asks_for(fp, serve_teacher):
    fp.push(status429(retry_after=1))
    start = time.monotonic()
    # backoff_s=0: without Retry-After the retry would go out at once.
    teacher, reply = run(config(fp, serve_teacher, backoff_s=0), lambda t: t.chat(QUESTION))
    assert time.monotonic() - start >= 1.0
    assert reply.text and reply.retries == 1 and teacher.usage.retries == 1
    assert (fp.received, fp.forwarded) == (2, 1)


@pytest.mark.slow
def test_a_server_error_is_retried(fp, serve_teacher):
    fp.push(status500())
    teacher, reply = run(config(fp, serve_teacher), lambda t: t.chat(QUESTION))
    assert reply.text and teacher.usage.retries == 1 and teacher.usage.requests == 1
    assert (fp.received, fp.forwarded) == (2, 1)


@pytest.mark.slow
def test_a_truncated_body_is_retried(fp, serve_teacher):
    fp.push(truncate(), replace_content("intera"))
    teacher, reply = run(config(fp, serve_teacher), lambda t: t.chat(QUESTION))
    assert reply.text == "intera" and teacher.usage.retries == 1
    assert (fp.received, fp.forwarded) == (2, 1)


def test_a_timeout_is_retried_and_a_persistent_one_fails_naming_the_timeout(fp, serve_teacher):
    cfg = config(fp, serve_teacher, timeout_s=0.5, max_retries=1)
    fp.push(delay(30), replace_content("pronto"))
    teacher, reply = run(cfg, lambda t: t.chat(QUESTION))
    assert reply.text == "pronto" and teacher.usage.retries == 1

    fp.reset()
    fp.push(delay(30), delay(30))

    async def persistent(t: Teacher) -> TeacherError:
        with pytest.raises(TeacherError) as e:
            await t.chat(QUESTION)
        return e.value

    start = time.monotonic()
    teacher, error = run(cfg, persistent)
    assert time.monotonic() - start < 10  # gave up after two attempts of 0.5 s, not after the proxy's 30 s
    assert error.cause == "timeout" and "timeout" in str(error) and "`timeout_s`" in str(error)
    assert "2 tentativi" in str(error) and teacher.usage.requests == 0
    assert fp.received == 2 and fp.forwarded == 0  # the proxy dropped what the client had given up on


@pytest.mark.slow
def test_a_request_the_server_rejects_fails_at_once_with_its_reason(fp, serve_teacher):
    teacher, error = run(config(fp, serve_teacher, model="un-altro-modello"), _expect(TeacherError))
    # transformers serve answers 400 to any model name but the folder it was started with.
    assert error.cause == "http_400" and error.status == 400
    assert "HTTP 400" in str(error) and "pinned" in str(error)
    assert fp.received == 1 and teacher.usage.retries == 0


def test_an_unreachable_server_fails_after_the_retries_naming_the_connection(serve_teacher):
    cfg = TeacherConfig(preset="custom", base_url=f"http://127.0.0.1:{free_port()}/v1", model="m", max_retries=2)
    cfg = dataclasses.replace(cfg, backoff_s=0.01)
    teacher, error = run(cfg, _expect(TeacherError))
    assert error.cause == "connection" and "connessione" in str(error) and cfg.base_url in str(error)
    assert teacher.usage.retries == 2


def test_a_reply_without_usage_is_counted_with_an_estimate(fp, serve_teacher):
    text = "Roma è la capitale d'Italia."
    fp.push(replace_content(text, usage=False))
    teacher, reply = run(config(fp, serve_teacher), lambda t: t.chat(QUESTION))
    assert reply.text == text and reply.estimated
    assert reply.completion_tokens == estimate_tokens(text) and reply.prompt_tokens > 0
    assert teacher.usage.estimated_requests == 1 and teacher.usage.completion_tokens == estimate_tokens(text)


@pytest.mark.parametrize("k", [1, 3])
def test_no_more_than_max_concurrency_requests_are_in_flight(fp, serve_teacher, k):
    fp.latency_ms = 300  # long enough that k requests surely overlap at the proxy
    fp.push(*(replace_content(f"risposta {i}") for i in range(8)))

    async def many(t: Teacher):
        return await asyncio.gather(*(t.chat(QUESTION) for _ in range(8)))

    teacher, replies = run(config(fp, serve_teacher, max_concurrency=k), many)
    assert fp.max_in_flight == k
    assert sorted(r.text for r in replies) == sorted(f"risposta {i}" for i in range(8))
    assert teacher.usage.requests == 8


def test_a_budget_too_small_for_one_request_sends_nothing(fp, serve_teacher):
    teacher, error = run(config(fp, serve_teacher, budget_tokens=5), _expect(BudgetExhausted))
    assert "`budget_tokens`" in str(error)
    assert fp.received == 0 and teacher.usage.requests == 0


@pytest.mark.parametrize(
    "budget",
    [
        {"budget_tokens": 120},
        {"budget_cost": 0.1, "price_per_1k_prompt": 1.0, "price_per_1k_completion": 1.0},
    ],
    ids=["tokens", "cost"],
)
def test_a_run_stops_before_the_request_that_could_go_over_budget(fp, serve_teacher, budget):
    fp.push(*(replace_content("va bene") for _ in range(50)))

    async def until_exhausted(t: Teacher):
        while True:
            try:
                await t.chat(QUESTION)
            except BudgetExhausted:
                received = fp.received
                with pytest.raises(BudgetExhausted):  # it stays stopped
                    await t.chat(QUESTION)
                return received

    teacher, received_at_stop = run(config(fp, serve_teacher, **budget), until_exhausted)
    u = teacher.usage
    assert u.requests >= 2
    assert fp.received == received_at_stop == u.requests  # nothing reached the proxy after the stop
    if "budget_tokens" in budget:
        assert u.total_tokens <= budget["budget_tokens"]
    else:
        assert 0 < u.cost <= budget["budget_cost"]


@pytest.mark.slow
def test_a_token_budget_holds_on_the_real_server_whose_template_adds_a_system_prompt(fp, serve_teacher):
    # The chat template adds SmolLM's system prompt: real prompts are about three times the character estimate.
    async def until_exhausted(t: Teacher):
        with pytest.raises(BudgetExhausted):
            while True:
                await t.chat(QUESTION)

    teacher, _ = run(config(fp, serve_teacher, budget_tokens=70), until_exhausted)
    assert teacher.usage.requests >= 1 and teacher.usage.total_tokens <= 70
    assert fp.forwarded == teacher.usage.requests


@pytest.mark.slow
def test_the_api_key_never_leaks(fp, serve_teacher, tmp_path, monkeypatch):
    key = "sk-bottega-finta-7f3a9c2e1d"
    monkeypatch.setenv("BOTTEGA_TEST_TEACHER_KEY", key)
    cfg = config(fp, serve_teacher, api_key_env="BOTTEGA_TEST_TEACHER_KEY", max_retries=1)
    assert key not in repr(cfg) and key not in str(dataclasses.asdict(cfg))
    status = key_status(cfg)
    assert "impostata" in status and "BOTTEGA_TEST_TEACHER_KEY" in status and key not in status

    # Everything the client and the SDK log, down to DEBUG, goes to a file we then search.
    client_log = tmp_path / "client.log"
    handler = logging.FileHandler(client_log)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    fp.push(status500(), passthrough(), status500(), status500(), Fault("status", status=401))

    async def scenario(t: Teacher):
        reply = await t.chat(QUESTION)
        errors = []
        for _ in range(2):
            with pytest.raises(TeacherError) as e:
                await t.chat(QUESTION)
            errors.append(e.value)
        return reply, errors

    try:
        _, (reply, errors) = run(cfg, scenario)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        handler.close()

    assert reply.text
    assert fp.requests[0]["headers"]["authorization"] == f"Bearer {key}"  # the key was really used
    assert [e.cause for e in errors] == ["http_500", "http_401"]
    assert "BOTTEGA_TEST_TEACHER_KEY" in str(errors[1])  # says where to fix the key ...
    for error in errors:  # ... never what it is
        assert key not in str(error) and key not in repr(error)
    assert "HTTP Request" in client_log.read_text()  # the SDK did log at DEBUG
    assert key not in client_log.read_text()
    assert key not in serve_teacher.log_path.read_text()


def test_presets_fill_url_and_key_variable_and_missing_keys_are_reported(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    openai = TeacherConfig(preset="openai", model="gpt-4o-mini")
    assert (openai.base_url, openai.api_key_env) == ("https://api.openai.com/v1", "OPENAI_API_KEY")
    assert "mancante" in key_status(openai) and "OPENAI_API_KEY" in key_status(openai)
    with pytest.raises(TeacherError, match="OPENAI_API_KEY") as e:
        Teacher(openai)
    assert e.value.cause == "no_key"

    hf = TeacherConfig(preset="hf", model="meta-llama/Llama-3.3-70B-Instruct")
    assert (hf.base_url, hf.api_key_env) == ("https://router.huggingface.co/v1", "HF_TOKEN")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr("huggingface_hub.get_token", lambda: "hf_finto_del_login")
    assert "hf auth login" in key_status(hf) and "hf_finto_del_login" not in key_status(hf)

    local = TeacherConfig()
    assert local.base_url == "" and "Nessuna chiave" in key_status(local)
    with pytest.raises(TeacherError, match="start_local_server"):
        Teacher(local)


def test_config_reports_every_problem_at_once_quoting_the_fields():
    with pytest.raises(ValueError) as e:
        TeacherConfig(preset="custom", max_concurrency=0, temperature=3, budget_cost=1.0, max_retries=-1)
    message = str(e.value)
    assert "`max_concurrency`: dev'essere > 0, trovato 0" in message
    assert "`base_url`: è obbligatorio con il preset 'custom'" in message
    assert "`model`: è obbligatorio" in message
    assert "`temperature`: dev'essere tra 0 e 2, trovato 3" in message
    assert "`max_retries`: dev'essere >= 0, trovato -1" in message
    assert "`budget_cost`: richiede `price_per_1k_prompt`" in message
    with pytest.raises(ValueError, match="`preset`: 'azure' non è ammesso, usa uno tra"):
        TeacherConfig(preset="azure")


def test_a_folder_without_a_model_is_refused_before_starting_a_server(tmp_path):
    with pytest.raises(ModelError, match="config.json"):
        start_local_server(tmp_path, tmp_path / "serve.log")
    assert not (tmp_path / "serve.log").exists()


FENCED = """Ecco la coppia che mi hai chiesto:

```yaml
domanda: Qual è la capitale d'Italia?
risposta: |
  È Roma.
  Lo è dal 1871.
```

Fammi sapere se ne vuoi altre!"""


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "domanda: È vero che l'Etna è un vulcano?\nrisposta: Sì, è il più alto d'Europa.",
            {"domanda": "È vero che l'Etna è un vulcano?", "risposta": "Sì, è il più alto d'Europa."},
        ),
        (FENCED, {"domanda": "Qual è la capitale d'Italia?", "risposta": "È Roma.\nLo è dal 1871."}),
        (
            "domanda: Perché?\nrisposta: |\n\tPerché sì.\n\tE perché no.",
            {"domanda": "Perché?", "risposta": "Perché sì.\nE perché no."},
        ),
        (
            "domanda: Com'è il tempo?\nrisposta:\n  Oggi piove: prendi l'ombrello.\n  Domani c'è il sole.",
            {"domanda": "Com'è il tempo?", "risposta": "Oggi piove: prendi l'ombrello.\nDomani c'è il sole."},
        ),
        (
            "domanda: Nota bene: è un test?\nrisposta: Sì: lo è, più o meno.",
            {"domanda": "Nota bene: è un test?", "risposta": "Sì: lo è, più o meno."},
        ),
        (
            "Certo! Ecco qui.\n\ndomanda: Dov'è Matera?\nrisposta: In Basilicata.\n\nSpero ti sia utile: ciao!",
            {"domanda": "Dov'è Matera?", "risposta": "In Basilicata."},
        ),
        (
            "domanda: 'Sta bene la nonna?\nrisposta: Sì, grazie.",
            {"domanda": "'Sta bene la nonna?", "risposta": "Sì, grazie."},
        ),
        (
            "```yaml\ndomanda: Città più antica?\nrisposta: Forse Matera",  # fence never closed: cut off
            {"domanda": "Città più antica?", "risposta": "Forse Matera"},
        ),
    ],
    ids=["plain-accents", "fenced-with-prose", "tabs", "missing-pipe", "colons", "prose-around", "apostrophe", "open"],
)
def test_yaml_replies_are_parsed_and_repaired(text, expected):
    assert parse_yaml_reply(text, KEYS) == expected


@pytest.mark.parametrize(
    "text, kind",
    [
        ("", "empty"),
        ("   \n", "empty"),
        ("Non so rispondere a questa domanda, mi dispiace.", "not_yaml"),
        ("- Roma\n- Milano", "not_mapping"),
        ("domanda: Dov'è Bari?", "missing_keys"),
        ("domanda: Dov'è Bari?\nrisposta:", "missing_keys"),
        ("[Roma, Milano", "not_yaml"),
    ],
)
def test_broken_replies_fail_with_a_stable_kind(text, kind):
    with pytest.raises(ReplyFormatError) as e:
        parse_yaml_reply(text, KEYS)
    assert e.value.kind == kind and e.value.message


def test_ask_yaml_reasks_with_the_parser_error_after_a_non_yaml_reply(fp, serve_teacher):
    fp.push(replace_content("Certo! Ecco una bella domanda sull'Italia."), replace_content(FENCED))
    teacher, reply = run(config(fp, serve_teacher), lambda t: t.ask_yaml(QUESTION, KEYS))

    assert reply.data == {"domanda": "Qual è la capitale d'Italia?", "risposta": "È Roma.\nLo è dal 1871."}
    assert reply.tokens == teacher.usage.total_tokens  # both attempts, the failed one too
    assert teacher.usage.reply_failures == {"not_yaml": 1} and teacher.usage.requests == 2
    reask = fp.requests[1]["body"]["messages"]
    assert reask[-2] == {"role": "assistant", "content": "Certo! Ecco una bella domanda sull'Italia."}
    assert reask[-1]["role"] == "user" and "La tua risposta non è YAML valido" in reask[-1]["content"]
    assert "domanda, risposta" in reask[-1]["content"]


def test_ask_yaml_gives_up_after_max_reasks_with_every_failure_counted(fp, serve_teacher):
    fp.push(replace_content("solo prosa"), replace_content("- una lista"), replace_content("domanda: e basta"))
    teacher, error = run(config(fp, serve_teacher), _expect(ReplyFormatError, lambda t: t.ask_yaml(QUESTION, KEYS)))
    assert error.kind == "missing_keys"
    assert error.tokens == teacher.usage.total_tokens > 0
    assert teacher.usage.reply_failures == {"not_yaml": 1, "not_mapping": 1, "missing_keys": 1}
    assert fp.received == 3


@pytest.mark.slow
def test_ask_yaml_counts_a_real_reply_cut_by_max_tokens_and_takes_the_next(fp, serve_teacher):
    # Four tokens of the real model for a long essay: cut at the limit, never a mapping with both keys.
    essay = [{"role": "user", "content": "Scrivi un tema di tre paragrafi sulla storia di Roma antica."}]
    fp.push(passthrough(), replace_content("domanda: Chi era Dante?\nrisposta: Un poeta."))
    teacher, reply = run(config(fp, serve_teacher), lambda t: t.ask_yaml(essay, KEYS))
    assert reply.data == {"domanda": "Chi era Dante?", "risposta": "Un poeta."}
    assert teacher.usage.reply_failures == {"truncated": 1} and fp.forwarded == 1
    # asked the same way, a cut reply would be cut again: the re-ask names the limit and asks for less
    reask = fp.requests[1]["body"]["messages"][-1]["content"]
    assert f"limite di {fp.requests[1]['body']['max_tokens']} token" in reask and "più breve" in reask


def _expect(error: type[Exception], call=lambda t: t.chat(QUESTION)):
    """A scenario that expects `call(teacher)` to raise `error` and returns it."""

    async def scenario(t: Teacher) -> Exception:
        with pytest.raises(error) as e:
            await call(t)
        return e.value

    return scenario


def test_the_session_server_serves_the_bundled_model(serve_teacher: LocalServer, bundled_model: Path):
    assert serve_teacher.proc.poll() is None
    assert serve_teacher.model == str(bundled_model) and serve_teacher.base_url.startswith("http://127.0.0.1:")
