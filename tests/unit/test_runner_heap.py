"""The embedded server's garbage-collection set-up: no full collection after every page run
(Streamlit's default walks the whole process, restored rule states included, under the
interpreter lock), and what is alive at start set aside from later collections."""

from __future__ import annotations

import gc
from pathlib import Path

from streams.runner import settle_heap, streamlit_options
from streams.settings import Settings


def test_streamlit_options_are_known_and_turn_the_post_run_collection_off(tmp_path: Path) -> None:
    from streamlit import config

    opts = streamlit_options(Settings(data_dir=tmp_path, dashboard_port=8599))
    assert opts["runner.postScriptGC"] is False
    assert opts["server.port"] == 8599
    for key in opts:  # a misspelt option would be ignored by Streamlit without a word
        config.get_option(key)  # raises RuntimeError for an unknown key


def test_settle_heap_sets_what_is_alive_aside_and_later_objects_stay_collectable() -> None:
    before = [object()]  # a container the collector tracks
    try:
        frozen = settle_heap()
        assert frozen >= 1 and gc.get_freeze_count() == frozen
        assert not any(o is before for o in gc.get_objects())  # no longer walked
        later: list[object] = []
        later.append(later)  # a cycle made after start: still found and freed
        assert any(o is later for o in gc.get_objects())
        del later
        assert gc.collect() >= 1
    finally:
        gc.unfreeze()
