"""Addestra: LoRA/QLoRA supervised fine-tuning with TRL, as jobs the app launches and follows.

config.py (TrainConfig, presets) → check.py (preflight, template/tokenizer/memory reports) → data.py (conversations,
label mask) → sft.py (the SFT run itself: `python -m pipeline train`); runs.py starts, stops and lists runs.
"""
