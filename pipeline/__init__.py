"""Bottega: make open LLMs better at Italian.

One package behind the Gradio app (`app.py`) and the CLI (`python -m pipeline --help`).
Importing it is cheap on purpose: heavy libraries (torch, transformers) load inside the functions that need them.
"""

__version__ = "0.1.0"
