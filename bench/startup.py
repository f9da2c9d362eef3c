"""Start-up benchmark: seconds from `python app.py` to the first HTTP 200, and the import time of `pipeline`.

    python bench/startup.py [--runs 3]

Targets on the 2-core CI machine: the app answers in under 10 s, `import pipeline` takes under 1 s. Each figure is
the median of several cold runs, printed with its ratio to the target (below 1.0 meets it).
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.jobs import free_port, wait_for_http  # noqa: E402

APP_TARGET_S = 10.0
IMPORT_TARGET_S = 1.0


def app_startup_seconds() -> float:
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port)}
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "app.log"
        with open(log, "w") as out:
            start = time.perf_counter()
            proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=out, stderr=out)
        try:
            wait_for_http(f"http://127.0.0.1:{port}/", proc, log, timeout=120)
            return time.perf_counter() - start
        finally:
            proc.terminate()
            proc.wait(timeout=15)


def import_seconds() -> float:
    code = "import time; t = time.perf_counter(); import pipeline; print(time.perf_counter() - t)"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return float(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    app = statistics.median(app_startup_seconds() for _ in range(args.runs))
    imp = statistics.median(import_seconds() for _ in range(args.runs))
    print(f"{'measure':<28}{'median':>10}{'target':>10}{'ratio':>8}")
    print(f"{'python app.py -> HTTP 200':<28}{app:>9.2f}s{APP_TARGET_S:>9.1f}s{app / APP_TARGET_S:>8.2f}")
    print(f"{'import pipeline':<28}{imp:>9.3f}s{IMPORT_TARGET_S:>9.1f}s{imp / IMPORT_TARGET_S:>8.3f}")


if __name__ == "__main__":
    main()
