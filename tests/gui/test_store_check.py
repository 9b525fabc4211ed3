"""The window checks its job store in the background once the list is up, and says what it
found: a damaged store is a notice saying what to do (issue 15, item 10)."""

from __future__ import annotations

from desktop_app.core.job_store import STORE_FILE_NAME
from desktop_app.core.settings import load_settings
from desktop_app.gui.main_window import MainWindow
from tests.fakes import FakeEngine
from tests.test_job_store_integrity import SEGMENTS_ROOT_PAGE, damage_page, stored_jobs


def test_damage_found_after_the_list_is_up_is_a_notice(qtbot, _own_data_folder):
    path = _own_data_folder / "verbatim" / STORE_FILE_NAME
    path.parent.mkdir(mode=0o700)
    stored_jobs(path)
    damage_page(path, SEGMENTS_ROOT_PAGE)
    window = MainWindow(
        settings=load_settings(environ={}, saved={}), engine=FakeEngine(), environ={}
    )
    qtbot.addWidget(window)
    try:
        with qtbot.waitSignal(window.notice_shown, timeout=20_000) as notice:
            pass
        assert window.model.rowCount() == 60, "the list came up before the check"
        assert notice.args[0].startswith(f"The job store {path} is damaged")
        assert window.notice.text() == notice.args[0]
        assert window.queue.store.damage_mark.exists()
    finally:
        window.shutdown()
