"""A thousand files dropped on a window with a hundred waiting places."""

from __future__ import annotations

import threading

from desktop_app.core.jobs import JobState
from desktop_app.core.settings import SPECS_BY_NAME
from tests.fakes import FakeEngine


def test_a_flood_takes_exactly_the_free_places_and_refuses_the_rest_in_one_message(
    make_window, drop, tmp_path
):
    gate = threading.Event()
    window = make_window(FakeEngine(gate=gate), workers=2, queue_size=100)
    files = []
    for index in range(1000):
        path = tmp_path / f"flood{index:04d}.wav"
        path.touch()
        files.append(path)
    notices: list[str] = []
    window.notice_shown.connect(notices.append)

    outcome = drop(window, files)

    assert (len(outcome.accepted), len(outcome.refused)) == (102, 898)
    assert [job.path for job in outcome.accepted] == files[:102]  # in the order dropped
    assert outcome.refused == files[102:]
    assert len(notices) == 1
    assert "Added 102 of 1000 files; 898 refused" in notices[0]
    # The setting is named as Settings shows it; the environment variable is the CLI's.
    queue_size = SPECS_BY_NAME["max_queue_size"]
    assert (
        f"raise {queue_size.label} in Settings ({queue_size.env} for the command line)"
        in (notices[0])
    )
    assert "in the environment" not in notices[0]
    assert f"raise {queue_size.label} in Settings" in window.capacity_label.toolTip()
    assert window.model.rowCount() == 102
    states = [job.state for job in window.queue.jobs()]
    assert states == [JobState.RUNNING] * 2 + [JobState.QUEUED] * 100
    assert window.capacity_label.text().endswith("0 free places · AT CAPACITY")
    assert window.queue.capacity().queued == 100
