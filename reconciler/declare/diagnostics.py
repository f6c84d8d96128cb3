"""Findings reported to the user, compiler style: ``path:line:column: RULE message``.

Every check in the tool returns findings instead of raising, so that one run reports
every problem in every file; the CLI sorts them and fails once.  A finding is printed with
every control and format character escaped, so that neither a value quoted in its message
nor a file's name can drive the terminal that shows it.
"""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.declare.characters import escape


@dataclass(frozen=True, order=True)
class Position:
    """A place in a source file; line and column count from 1."""

    path: str
    line: int = 1
    column: int = 1

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One problem: where, which stable rule id, and a message a person can act on."""

    position: Position
    rule: str
    message: str

    def __str__(self) -> str:
        return escape(f"{self.position}: {self.rule} {self.message}")


class ReconcilerError(Exception):
    """Raised by the core when it cannot go on; carries every finding collected so far."""

    def __init__(self, diagnostics: list[Diagnostic] | tuple[Diagnostic, ...]):
        self.diagnostics = tuple(sorted(diagnostics))
        super().__init__("\n".join(str(d) for d in self.diagnostics))


def where(position: Position) -> str:
    """Short back-reference used inside messages: the line, and the file when it differs."""
    return f"{position.path}:{position.line}"
