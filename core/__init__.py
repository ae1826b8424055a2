"""The node contract: what nodes, the executor and the server agree on.

Node definitions and the registry, the execution context a running node reaches its services through, the
error shape, the user's folders and the names of the value types that flow between nodes. This package is the
bottom layer: it imports nothing of Atelier's, and never torch.
"""
