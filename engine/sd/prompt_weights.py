"""Prompt weighting as ComfyUI parses it.

``(text)`` multiplies the weight by 1.1, ``(text:1.3)`` sets it to 1.3, parentheses nest, and ``\\(`` /
``\\)`` are literal parentheses. Square brackets are plain text, as in ComfyUI (A1111 reads ``[text]`` as a
weight of 1/1.1; shared ComfyUI workflows must encode the same way here).
"""

from __future__ import annotations

ESCAPED_CLOSE, ESCAPED_OPEN = "\0\1", "\0\2"


def escape(text: str) -> str:
    return text.replace("\\)", ESCAPED_CLOSE).replace("\\(", ESCAPED_OPEN)


def unescape(text: str) -> str:
    return text.replace(ESCAPED_CLOSE, ")").replace(ESCAPED_OPEN, "(")


def split_parentheses(text: str) -> list[str]:
    """Top-level pieces: plain runs and ``( ... )`` groups. Unbalanced input is split exactly as ComfyUI
    splits it (a stray ``)`` lowers the depth below zero), so odd prompts encode the same in both."""
    pieces: list[str] = []
    current = ""
    depth = 0
    for char in text:
        if char == "(":
            if depth == 0:
                if current:
                    pieces.append(current)
                current = "("
            else:
                current += char
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                pieces.append(current + ")")
                current = ""
            else:
                current += char
        else:
            current += char
    if current:
        pieces.append(current)
    return pieces


def token_weights(text: str, weight: float = 1.0) -> list[tuple[str, float]]:
    """(segment, weight) pairs for already-escaped text."""
    out: list[tuple[str, float]] = []
    for piece in split_parentheses(text):
        if len(piece) >= 2 and piece[0] == "(" and piece[-1] == ")":
            inner = piece[1:-1]
            inner_weight = weight * 1.1
            colon = inner.rfind(":")
            if colon > 0:
                try:
                    inner_weight = float(inner[colon + 1:])
                    inner = inner[:colon]
                except ValueError:
                    pass
            out += token_weights(inner, inner_weight)
        else:
            out.append((piece, weight))
    return out


def parse_prompt(text: str) -> list[tuple[str, float]]:
    """The weighted segments of a prompt, with escapes resolved."""
    return [(unescape(segment), weight) for segment, weight in token_weights(escape(text))]
