"""Node types: the typed node API, the registry, plug-in loading and the built-in nodes."""
