"""Partitions: given by the call, else by its queue; names checked; one canonical form."""

from __future__ import annotations

from pathlib import Path

import pytest

from ari_recorder.domain import partitions
from ari_recorder.settings import SettingsError, load_settings


@pytest.mark.parametrize(
    ("given", "of_queue", "attached", "left_out"),
    [
        ({}, [], {}, []),
        ({}, ["emea"], {"partitions": "emea"}, []),
        ({"partitions": "vip;emea"}, ["emea"], {"partitions": "vip;emea"}, []),
        ({"partitions": "vip| emea vip"}, [], {"partitions": "vip;emea"}, []),
        ({"partitions": "a/b;vip"}, ["emea"], {"partitions": "vip"}, ["a/b"]),
        ({"partitions": "../x"}, ["emea"], {"partitions": "emea"}, ["../x"]),
        ({"partitions": ""}, ["emea"], {"partitions": "emea"}, []),
        ({"lang": "fr"}, [], {"lang": "fr"}, []),
    ],
)
def test_the_calls_own_else_its_queues(
    given: dict[str, str], of_queue: list[str], attached: dict[str, str], left_out: list[str]
) -> None:
    assert partitions.attach(given, of_queue) == (attached, left_out)
    assert partitions.of(attached) == partitions.split(attached.get("partitions", ""))


def test_a_queues_partition_that_is_no_name_is_refused_with_the_setting_named(tmp_path: Path) -> None:
    config = tmp_path / "settings.toml"
    config.write_text(
        '[agents.1001]\nendpoint = "PJSIP/1001"\n'
        '[queues.support]\nagents = ["1001"]\npartitions = ["emea", "e mea"]\n'
    )
    with pytest.raises(SettingsError, match=r"queues\.support\.partitions: 'e mea' is not a partition name"):
        load_settings(config, environ={})
