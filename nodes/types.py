"""Custom socket types of the pack."""
from comfy_api.latest import io

# A prompt_embeds.RestorationPrompt travelling between nodes.
RestorationPromptType = io.Custom("RESTORATION_PROMPT")
