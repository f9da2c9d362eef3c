"""Bottega's Gradio app. `make run` starts it on http://127.0.0.1:7860.

Host and port follow GRADIO_SERVER_NAME / GRADIO_SERVER_PORT, as on Hugging Face Spaces.
"""

from pipeline.ui import build_app, launch

demo = build_app()

if __name__ == "__main__":
    launch(demo)
