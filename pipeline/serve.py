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
- unknown request fields get HTTP 422; `usage` is returned for non-streaming chat completions;
- generation is sequential (one request at a time on one inference thread), so concurrent requests queue up;
- `GET /v1/models` scans the Hub cache and fails with HTTP 500 when there is none: never poll it;
- the CLI checks PyPI for a newer version at start-up unless HF_HUB_DISABLE_UPDATE_CHECK is set.
"""

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from pipeline.jobs import free_port, wait_for_http
from pipeline.models import ModelError


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


def start_local_server(model_dir: Path, log_path: Path, device: str = "auto", timeout: float = 300) -> LocalServer:
    """Start `transformers serve` on a free loopback port and return once the model is loaded and answering.

    `device` is what `--device` takes: "auto" (a GPU when there is one), "cpu", "cuda:0". The server logs to
    `log_path`; if it exits or does not answer within `timeout` seconds, the error carries that log.
    """
    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise ModelError(f"La cartella '{model_dir}' non contiene config.json: non è un modello da servire.")
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "transformers.cli.transformers",
        "serve",
        str(model_dir),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--device",
        device,
    ]
    # A local folder needs no network: no Hub look-ups, no PyPI version check at start-up.
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_UPDATE_CHECK": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    server = LocalServer(f"http://127.0.0.1:{port}/v1", str(model_dir), proc, log_path)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/health", proc, log_path, timeout=timeout)
    except BaseException:
        server.stop()
        raise
    return server
