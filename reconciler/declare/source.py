"""One YAML file as read: its data and, for each JSON path, where it was written.

Both readers produce it: the position-tracking reference loader (``load``) fills the
position tables; the fast path (``fastload``) leaves them empty and says so (``exact``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reconciler.declare.diagnostics import Position

JsonPath = tuple[str | int, ...]


@dataclass(frozen=True)
class SourceDocument:
    """One YAML file's data and, for each JSON path, where it was written."""

    path: str
    data: Any
    value_positions: dict[JsonPath, tuple[int, int]] = field(repr=False)
    key_positions: dict[JsonPath, tuple[int, int]] = field(repr=False)
    plain_text: dict[JsonPath, str] = field(repr=False)
    sha256: str = ""
    exact: bool = True  # False: read by the fast path, which keeps no positions
    # False when the loader refused characters in it (S006): its enterprise is then left out
    # of the hierarchy rules, as when a file fails the schema.
    clean: bool = True

    def position(self, path: JsonPath, *, key: bool = False) -> Position:
        """Position of the value at ``path`` (or of its key), or of the nearest parent known."""
        if key and path in self.key_positions:
            return Position(self.path, *self.key_positions[path])
        probe = tuple(path)
        while probe not in self.value_positions and probe:
            probe = probe[:-1]
        line, column = self.value_positions.get(probe, (1, 1))
        return Position(self.path, line, column)

    def source_text(self, path: JsonPath) -> str | None:
        """What the user wrote for a plain scalar that YAML did not read as text."""
        return self.plain_text.get(tuple(path))
