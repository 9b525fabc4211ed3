"""The hidden temp files of an interrupted atomic export are cleaned, and nothing else is."""

from __future__ import annotations

import threading
from pathlib import Path

from desktop_app.core import exporters
from desktop_app.core.exporters import export, remove_leftover_temp_files
from desktop_app.core.transcript import Segment, Transcript


def test_only_our_leftovers_for_that_destination_are_removed(tmp_path):
    destination = tmp_path / "talk.json"
    ours = [tmp_path / ".talk.json.k3j_9x2a.tmp", tmp_path / ".talk.json.00000000.tmp"]
    others = [
        tmp_path / ".talk.srt.k3j_9x2a.tmp",  # another destination's
        tmp_path / ".talk.json.short.tmp",  # not a name our writes make
        tmp_path / ".talk.json.k3j_9x2a.tmp.keep",
        tmp_path / "talk.json.k3j_9x2a.tmp",  # not hidden
    ]
    for path in [*ours, *others]:
        path.write_bytes(b"half")
    assert sorted(remove_leftover_temp_files(destination)) == sorted(ours)
    assert sorted(tmp_path.iterdir()) == sorted(others)


def test_a_write_under_way_keeps_its_temp_file(tmp_path, monkeypatch):
    destination = tmp_path / "talk.txt"
    inside = threading.Event()
    release = threading.Event()
    real_fsync = exporters.os.fsync

    def slow_fsync(descriptor: int) -> None:
        inside.set()
        release.wait(10)
        real_fsync(descriptor)

    monkeypatch.setattr(exporters.os, "fsync", slow_fsync)
    transcript = Transcript([Segment(0.0, 1.0, "Hello.")])
    writer = threading.Thread(target=export, args=(transcript, "txt", destination))
    writer.start()
    try:
        assert inside.wait(10)
        [temp] = tmp_path.glob(".talk.txt.*.tmp")
        assert remove_leftover_temp_files(destination) == []
        assert temp.exists()
    finally:
        release.set()
        writer.join()
    assert destination.read_text(encoding="utf-8") == "Hello.\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["talk.txt"]


def test_a_folder_that_cannot_be_listed_is_no_error(tmp_path: Path):
    assert remove_leftover_temp_files(tmp_path / "missing" / "talk.txt") == []
