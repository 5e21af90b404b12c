"""Test harness for a real ComfyUI host (tier 2): finding a checkout, importing it, serving it."""
