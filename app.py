"""Bottega's Gradio app. `make run` starts it on http://127.0.0.1:7860.

Host and port follow GRADIO_SERVER_NAME / GRADIO_SERVER_PORT, as on Hugging Face Spaces, where it also installs what
the Space's build could not and starts keeping the votes in a dataset repo (pipeline/space.py).
"""

from pipeline import space
from pipeline.ui import build_app, launch

demo = build_app()

if __name__ == "__main__":
    space.startup()
    launch(demo)
