"""Stop sequences beyond what a backend accepts, enforced on the text the proxy passes on.

The Chat Completions reference allows "up to 4" stop sequences (a per-backend setting).
The first ones go upstream; the proxy watches the answer's text for the rest. At the
first match the text is cut before it and the answer ends with ``stop_sequence``, as
Anthropic does. In a stream a match may straddle chunks, so the tail that could still
begin one is held back until the next text shows whether it does.
"""

from __future__ import annotations

from typing import Any, Sequence


def split_stop_sequences(stops: Any, limit: int) -> tuple[list[str], tuple[str, ...]]:
    """(sent upstream, enforced by the proxy): the first ``limit`` non-empty sequences, then the rest."""
    given = [s for s in stops if isinstance(s, str) and s] if isinstance(stops, list) else []
    return given[:limit], tuple(given[limit:])


def first_match(text: str, sequences: Sequence[str]) -> tuple[int, str] | None:
    """(start, sequence) of the match generation reaches first: earliest end, then the longest."""
    best: tuple[int, int, str] | None = None
    for sequence in sequences:
        start = text.find(sequence)
        if start < 0:
            continue
        end = start + len(sequence)
        if best is None or (end, start) < (best[0], best[1]):
            best = (end, start, sequence)
    return (best[1], best[2]) if best else None


def cut_at_stop(text: str, sequences: Sequence[str]) -> tuple[str, str | None]:
    """A whole answer's text cut before the first match, and the sequence matched (or None)."""
    match = first_match(text, sequences)
    if match is None:
        return text, None
    return text[: match[0]], match[1]


def _pending(text: str, sequences: Sequence[str], firsts: frozenset[str], window: int) -> int:
    """Length of the longest tail of ``text`` that begins some sequence without completing it.

    Only a tail starting with some sequence's first character can, so those are found
    with ``str.find`` (most chunks have none near their end) and checked in order.
    """
    position = max(len(text) - window, 0)
    while True:
        found = [i for i in (text.find(c, position) for c in firsts) if i >= 0]
        if not found:
            return 0
        position = min(found)
        tail = text[position:]
        if any(len(s) > len(tail) and s.startswith(tail) for s in sequences):
            return len(tail)
        position += 1


class StopScanner:
    """Finds the first stop sequence in text that arrives in pieces."""

    def __init__(self, sequences: Sequence[str] = ()) -> None:
        self.sequences = tuple(s for s in sequences if s)
        self._firsts = frozenset(s[0] for s in self.sequences)
        self._window = max((len(s) for s in self.sequences), default=1) - 1
        self._held = ""

    @property
    def active(self) -> bool:
        """Whether there is anything to watch for."""
        return bool(self.sequences)

    def feed(self, text: str) -> tuple[str, str | None]:
        """(text that may go out now, the sequence matched); after a match, the text before it."""
        buffer = self._held + text
        match = first_match(buffer, self.sequences)
        if match is not None:
            self._held = ""
            return buffer[: match[0]], match[1]
        keep = _pending(buffer, self.sequences, self._firsts, self._window) if self._window else 0
        cut = len(buffer) - keep
        self._held = buffer[cut:]
        return buffer[:cut], None

    def release(self) -> str:
        """The held-back tail, now known not to be a match (other output came, or the end)."""
        held, self._held = self._held, ""
        return held
