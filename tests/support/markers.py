"""Marker files: how an activity in a worker process tells a test what it saw."""

from __future__ import annotations

from pathlib import Path


def write_whole(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` at once (a rename): a test that waits for the file to
    exist reads it right away, and once read it empty, between the file's creation and
    the write (a CI run)."""
    partial = Path(f"{path}.part")
    partial.write_text(text)
    partial.replace(path)
