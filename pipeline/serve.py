"""A local teacher: `transformers serve` with a local model folder, an OpenAI-compatible API on a loopback port.

    server = start_local_server(models.prepare("smollm2-135m-instruct"), Path("serve.log"))
    config = dataclasses.replace(teacher_config, base_url=server.base_url, model=server.model)
    ...
    server.stop()

What `transformers serve` 5.23 needs, learned the hard way:
- the folder is passed as FORCE_MODEL (`transformers serve <folder> --port P --device cpu`): it is loaded before the
  HTTP server starts, so `GET /health` answering 200 means the model is ready;
- requests must name the model exactly as it was passed (the folder path as a string), or omit it: any other name
  gets HTTP 400 "Server is pinned to ...";
- unknown request fields get HTTP 422 (Bottega's server takes `structured_outputs` out first,
  pipeline/local_server.py); `response_format` is ignored with a warning; continuous batching ignores `stop`;
  `usage` is returned for non-streaming chat completions;
- without `--continuous-batching`, generation is sequential (one request at a time on one inference thread), so
  concurrent requests queue up; with it, requests share each forward pass over a paged KV cache, which the server
  sizes to 60% of the machine's RAM on CPU (14 GiB here) and 90% of the GPU's free memory unless `--cb-num-blocks`
  says otherwise (blocks of 256 tokens); it samples only if the model's generation config says `do_sample`, whatever
  the request's temperature (Bottega's server samples when the temperature is above 0); its sampling settings
  (temperature, top_p) are the first request's, for every later one (only max_tokens and the end-of-sequence token
  are per request): a run sends one temperature, and the local preset starts a server per run;
- continuous batching also keeps the blocks of finished requests and reuses them for a later prompt that starts
  with the same tokens (whole 256-token blocks; a request that ends in its own prefill step registers none);
- on a CPU, continuous batching's `sdpa` attends every request to every other's keys through one dense mask, so most
  of batching's gain is lost: Bottega starts the server through `pipeline.varlen_attention`, which attends each
  request to its own keys (same tokens, about 11x the decode speed at 16 requests; `bench/serve_batching.py`);
- `GET /v1/models` scans the Hub cache and fails with HTTP 500 when there is none: never poll it;
- the CLI checks PyPI for a newer version at start-up unless HF_HUB_DISABLE_UPDATE_CHECK is set.
"""

import math
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from pipeline.i18n import Message
from pipeline.jobs import free_port, wait_for_http
from pipeline.models import ModelError

ROOT = Path(__file__).resolve().parents[1]  # the folder that holds the pipeline package
PAGE_TOKENS = 256  # a block of the continuous-batching KV cache (ContinuousBatchingConfig.page_size)
CPU_BATCH_TOKENS = 2048  # tokens per forward pass on CPU: prefill is compute-bound there, bigger chunks only cost RAM


def on_gpu(device: str) -> bool:
    """Whether the server will run on a CUDA GPU: `--device cuda...`, or "auto" on a machine that has one."""
    import torch

    return device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())


def fast_dtype(device: str) -> str:
    """The dtype to serve in: bfloat16 where the hardware computes it natively (a CUDA GPU from Ampere on, a CPU with
    AMX or AVX512-BF16: about twice the speed of float32 there), float16 on an older GPU (a T4), else "auto", the
    weights' own dtype."""
    import torch

    if on_gpu(device):
        return "bfloat16" if torch.cuda.is_bf16_supported(including_emulation=False) else "float16"
    capabilities = torch.cpu.get_capabilities()
    return "bfloat16" if capabilities.get("amx_bf16") or capabilities.get("avx512_bf16") else "auto"


def batching_flags(device: str, concurrency: int, context_tokens: int) -> list[str]:
    """`transformers serve` flags for continuous batching with a KV cache that holds `concurrency` requests of
    `context_tokens` (prompt + reply) each, instead of the server's default of most of the memory.

    On a CPU even one request at a time goes through it: the paged cache keeps a finished request's blocks, so a
    re-ask, which repeats the whole previous conversation, prefills only its new tokens (a ~1,000-token prompt costs
    ~0.7 s of prefill there; the local teacher runs 1.5x faster at concurrency 1, `bench/generation.py`). On a GPU,
    where prefill is cheap, one request at a time is served without batching, as it always was."""
    if concurrency <= 1 and on_gpu(device):
        return []
    flags = ["--continuous-batching", "--cb-num-blocks", str(concurrency * math.ceil(context_tokens / PAGE_TOKENS))]
    if not on_gpu(device):
        flags += ["--cb-max-batch-tokens", str(CPU_BATCH_TOKENS)]
    return flags


@dataclass
class LocalServer:
    base_url: str  # what an OpenAI client takes, e.g. http://127.0.0.1:8123/v1
    model: str  # the name requests must carry: the model folder, as passed to the server
    proc: subprocess.Popen
    log_path: Path

    def stop(self, timeout: float = 15) -> None:
        """Stop the server (SIGTERM, then SIGKILL if it does not exit in `timeout` seconds). Safe to call twice."""
        if self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> "LocalServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_local_server(
    model_dir: Path,
    log_path: Path,
    device: str = "auto",
    timeout: float = 300,
    *,
    concurrency: int = 1,
    context_tokens: int = 4096,
    dtype: str = "",
    batching: bool = True,
    plain: bool = False,
) -> LocalServer:
    """Start `transformers serve` on a free loopback port and return once the model is loaded and answering.

    `device` is what `--device` takes: "auto" (a GPU when there is one), "cpu", "cuda:0". The server batches up to
    `concurrency` requests of up to `context_tokens` each (continuous batching; on a GPU, 1 means no batching, see
    `batching_flags`); `batching=False` serves one request at a time; `plain=True` starts `transformers serve` as it
    comes, without Bottega's additions (constrained decoding, sampling, per-request attention): what the benches
    compare against. `dtype` is what `--dtype` takes; empty picks `fast_dtype(device)`. The server logs to
    `log_path`, whose first line is the command; if it exits or does not answer within `timeout` seconds, the error
    carries that log.
    """
    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise ModelError(Message("model_no_config", path=model_dir))
    port = free_port()
    flags = batching_flags(device, concurrency, context_tokens) if batching else []
    # Bottega's server process (pipeline/local_server.py) adds constrained decoding and sampling to `transformers
    # serve`; on a CPU, batching also goes through its per-request attention (pipeline/varlen_attention.py); on a GPU
    # the server picks flash-attn's variable-length kernel when installed. plain=True: `transformers serve` as is.
    if plain:
        entry = ["transformers.cli.transformers"]
    else:
        entry = ["pipeline.local_server", *(["--varlen"] if flags and not on_gpu(device) else [])]
    command = [
        sys.executable,
        "-m",
        *entry,
        "serve",
        str(model_dir),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--device",
        device,
        "--dtype",
        dtype or fast_dtype(device),
        *flags,
    ]
    # A local folder needs no network: no Hub look-ups, no PyPI version check at start-up.
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_UPDATE_CHECK": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
    # pipeline.varlen_attention must import from any working folder
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log:
        log.write(f"$ {shlex.join(command[2:])}\n")  # how the server was started, for whoever reads the log
        log.flush()
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    server = LocalServer(f"http://127.0.0.1:{port}/v1", str(model_dir), proc, log_path)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/health", proc, log_path, timeout=timeout)
    except BaseException:
        server.stop()
        raise
    return server
