"""ComfyUI's ``server`` module names (``PromptServer``, ``BinaryEventTypes``), answered by Atelier's ``server.py``."""
