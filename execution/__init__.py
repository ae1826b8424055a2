"""Graph validation, caching, execution and the prompt queue. Pure Python: no torch here."""
