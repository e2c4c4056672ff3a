"""Which cameras a command works on, and how a report names them.

A camera is a (terminal, stream). An archive of one terminal names its cameras by stream
(`in_gate`), one of several terminals by `TERMINAL:STREAM`; a Scope carries that choice, so
every command loops over one Scope instead of over copies of the settings per terminal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dogcli.model.errors import UsageError


@dataclass(frozen=True, order=True)
class Camera:
    terminal: str
    stream: str


@dataclass(frozen=True)
class Scope:
    cameras: tuple[Camera, ...]
    several: bool = False  # the archive has several terminals: names carry the terminal

    @classmethod
    def pick(cls, archived: Sequence[tuple[str, str]], picked: Sequence[str] = ()) -> Scope:
        """The archived cameras among those `picked` (`S` or `TERMINAL:S`; none: all); a name
        no archived camera has is a usage error."""
        cameras = [Camera(t, s) for t, s in archived]
        several = len({c.terminal for c in cameras}) > 1
        known = {f"{c.terminal}:{c.stream}" for c in cameras} | {c.stream for c in cameras}
        unknown = [p for p in dict.fromkeys(picked) if p not in known]
        if unknown:
            names = [_label(c, several) for c in cameras]
            raise UsageError(
                f"unknown stream {unknown[0]!r} (known: {', '.join(names)}; "
                "set DOGCLI_STREAMS or DOGCLI_CAMERAS to add one)"
            )
        chosen = tuple(
            c for c in cameras if not picked or c.stream in picked or _label(c, True) in picked
        )
        return cls(chosen, several)

    @property
    def terminals(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.terminal for c in self.cameras))

    def streams(self, terminal: str) -> tuple[str, ...]:
        return tuple(c.stream for c in self.cameras if c.terminal == terminal)

    def by_terminal(self) -> list[tuple[str, tuple[str, ...]]]:
        """(terminal, its chosen streams), terminals in archive order."""
        return [(t, self.streams(t)) for t in self.terminals]

    def label(self, terminal: str, stream: str) -> str:
        """A camera as reports, the run journal and summaries name it."""
        return _label(Camera(terminal, stream), self.several)

    def labels(self) -> list[str]:
        """Every chosen camera's name, a terminal's cameras together."""
        return [self.label(t, s) for t, streams in self.by_terminal() for s in streams]

    def prefix(self, terminal: str) -> str:
        """What a note about one terminal starts with: nothing when the scope has one."""
        return f"{terminal}: " if len(self.terminals) > 1 else ""

    def short_label(self, terminal: str, stream: str) -> str:
        """A camera as a summary names it: with its terminal when the scope has several."""
        return f"{terminal}:{stream}" if len(self.terminals) > 1 else stream


def _label(camera: Camera, several: bool) -> str:
    return f"{camera.terminal}:{camera.stream}" if several else camera.stream
