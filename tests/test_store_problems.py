"""The job store off the happy path, as the user meets it: a data folder that cannot be made, a
damaged store (moved aside by the window, only reported by ``verbatim-cli jobs``)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from desktop_app.core.job_store import DamagedStoreError, JobStore, StoreFolderError
from desktop_app.core.jobs import Job
from desktop_app.core.transcriber import TranscriptionOptions
from tests.read_only import read_only
from tests.test_cli import cli

DAMAGED = b"this is not a database" * 100


def test_a_file_where_the_data_folder_should_be_is_one_sentence(tmp_path):
    (tmp_path / "verbatim").write_bytes(b"in the way")
    with pytest.raises(StoreFolderError) as error:
        JobStore(tmp_path / "verbatim" / "jobs.sqlite3")
    message = str(error.value)
    assert f"the folder {tmp_path / 'verbatim'}" in message
    assert "a file is in the way" in message and "start Verbatim again" in message


def test_a_file_above_the_data_folder_is_one_sentence(tmp_path):
    (tmp_path / "share").write_bytes(b"in the way")
    with pytest.raises(StoreFolderError, match="a file is in the way"):
        JobStore(tmp_path / "share" / "verbatim" / "jobs.sqlite3")


def test_an_unwritable_parent_of_the_data_folder_is_one_sentence(tmp_path):
    share = tmp_path / "share"
    share.mkdir()
    with read_only(share), pytest.raises(StoreFolderError) as error:
        JobStore(share / "verbatim" / "jobs.sqlite3")
    message = str(error.value)
    assert str(share / "verbatim") in message and "writable" in message
    assert "XDG_DATA_HOME" in message


def test_a_damaged_store_says_where_it_was_moved(tmp_path):
    path = tmp_path / "jobs.sqlite3"
    path.write_bytes(DAMAGED)
    store = JobStore(path)
    try:
        assert store.moved_aside is not None
        assert store.moved_aside.read_bytes() == DAMAGED
        assert store.moved_aside.name.startswith("jobs.sqlite3.corrupt-")
    finally:
        store.close()
    again = JobStore(path)
    assert again.moved_aside is None, "a healthy store was not moved"
    again.close()


def test_reading_a_damaged_store_leaves_it_where_it_is(tmp_path):
    path = tmp_path / "jobs.sqlite3"
    path.write_bytes(DAMAGED)
    with pytest.raises(DamagedStoreError, match="left as it is"):
        JobStore(path, read_only=True)
    assert path.read_bytes() == DAMAGED
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jobs.sqlite3"]


def test_reading_a_store_changes_nothing_in_it(tmp_path):
    path = tmp_path / "jobs.sqlite3"
    writer = JobStore(path)
    writer.add_job(Job(path=tmp_path / "a.wav", options=TranscriptionOptions()))
    writer.close()
    before = path.read_bytes()
    reader = JobStore(path, read_only=True)
    try:
        assert [j.path.name for j in reader.load_jobs()] == ["a.wav"]
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            reader.add_job(Job(path=tmp_path / "b.wav", options=TranscriptionOptions()))
    finally:
        reader.close()
    assert path.read_bytes() == before


def test_cli_jobs_reports_a_damaged_store_and_does_not_move_it(tmp_path):
    folder = tmp_path / "data" / "verbatim"
    folder.mkdir(parents=True)
    (folder / "jobs.sqlite3").write_bytes(DAMAGED)
    listing = cli("jobs", env={"XDG_DATA_HOME": str(tmp_path / "data")}, timeout=60)
    assert listing.returncode == 1
    lines = [line for line in listing.stderr.splitlines() if line.startswith("verbatim-cli:")]
    assert len(lines) == 1 and "is damaged" in lines[0], listing.stderr
    assert str(folder / "jobs.sqlite3") in lines[0]
    assert "Traceback" not in listing.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["jobs.sqlite3"]
    assert (folder / "jobs.sqlite3").read_bytes() == DAMAGED


def test_cli_jobs_lists_a_healthy_store(tmp_path):
    folder = tmp_path / "data" / "verbatim"
    folder.mkdir(parents=True)
    store = JobStore(folder / "jobs.sqlite3")
    store.add_job(Job(path=tmp_path / "a.wav", options=TranscriptionOptions()))
    store.close()
    listing = cli("jobs", "--json", env={"XDG_DATA_HOME": str(tmp_path / "data")}, timeout=60)
    assert listing.returncode == 0, listing.stderr
    assert [job["file"] for job in json.loads(listing.stdout)] == [str(tmp_path / "a.wav")]


def test_a_data_folder_path_is_not_an_existing_store(tmp_path: Path):
    # Nothing stored yet: the listing says so and creates nothing.
    listing = cli("jobs", env={"XDG_DATA_HOME": str(tmp_path / "data")}, timeout=60)
    assert listing.returncode == 0 and "No jobs stored" in listing.stdout
    assert not (tmp_path / "data").exists()
