"""The pure parts: settings checks naming the key, remote names, backoff, the key pair file."""

from __future__ import annotations

import random
import stat
from pathlib import Path

import msgspec
import pytest

from ari_recorder.delivery import Delivery, DeliverySettings, NotConfigured, generate_keypair
from ari_recorder.delivery.naming import render, safe
from ari_recorder.delivery.service import backoff_seconds
from tests.delivery.support import age_decrypt

KEY = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"


class Wrapper(msgspec.Struct, forbid_unknown_fields=True):
    delivery: DeliverySettings = msgspec.field(default_factory=DeliverySettings)


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ({"sftp_port": 70000}, "$.delivery.sftp_port"),
        ({"format": "flac"}, "$.delivery.format"),
        ({"parallel_uploads": 0}, "$.delivery.parallel_uploads"),
        ({"sftp_pasword": "x"}, "sftp_pasword"),
        ({"age_recipients": ["ssh-ed25519 AAAA"]}, "age_recipients[0]"),
        ({"name_template": "{date}/{agent}.{ext}"}, "name_template: must contain {recording}"),
        ({"name_template": "{interaction}-{segment}.wav"}, "name_template: must contain {ext}"),
        ({"name_template": "{interaction}-{segment}-{who}.{ext}"}, "name_template: unknown field {who}"),
        ({"name_template": "../{recording}.{ext}"}, "name_template: must stay inside"),
        ({"sftp_host": "platform.example"}, "sftp_known_hosts: required when sftp_host is set"),
        ({"backoff_base": 60, "backoff_cap": 10}, "backoff_cap: must be at least"),
    ],
)
def test_a_wrong_setting_is_refused_naming_its_key(given: dict[str, object], named: str) -> None:
    with pytest.raises(msgspec.ValidationError) as refused:
        msgspec.convert({"delivery": given}, Wrapper)
    assert named in str(refused.value)


def test_the_defaults_are_valid_and_deliver_to_the_outbox() -> None:
    settings = DeliverySettings(age_recipients=[KEY])
    assert (settings.spool_dir, settings.outbox_dir, settings.sftp_host) == ("var/spool", "var/outbox", "")
    assert settings.name_template == "{date}/{queue}/{interaction}-{segment}-{agent}.{ext}"


def test_delivery_refuses_to_start_without_a_recipient() -> None:
    with pytest.raises(NotConfigured, match=r"delivery\.age_recipients"):
        Delivery(None, None, DeliverySettings())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"queue": "support", "agent": "1001"}, "2024-05-17/support/9.1-1-1001.wav"),
        ({"queue": "sales/../../etc", "agent": "1001"}, "2024-05-17/sales_.._.._etc/9.1-1-1001.wav"),
        ({"queue": "fr ventes", "agent": "Zoé:1"}, "2024-05-17/fr_ventes/9.1-1-Zo_1.wav"),
        ({"queue": "..", "agent": ""}, "2024-05-17/_/9.1-1-_.wav"),
    ],
)
def test_remote_names_are_safe_for_any_filesystem(fields: dict[str, str], path: str) -> None:
    template = DeliverySettings().name_template
    assert render(template, date="2024-05-17", interaction="9.1", segment=1, ext="wav", **fields) == path


def test_a_component_is_bounded_and_never_hidden() -> None:
    assert safe("." * 3 + "x" * 500) == "x" * 120


def test_backoff_doubles_up_to_the_cap_with_jitter() -> None:
    rng = random.Random(1)
    for attempts, ceiling in [(1, 2), (2, 4), (3, 8), (5, 32), (6, 60), (30, 60)]:
        delays = [backoff_seconds(attempts, 2, 60, rng) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1, "jittered"


def test_generate_keypair_writes_a_private_file_age_can_use(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "platform.key"
    public = generate_keypair(path)
    assert public.startswith("age1") and f"# public key: {public}" in path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(FileExistsError):
        generate_keypair(path)  # never over a key recordings may already be encrypted to

    import pyrage
    from pyrage import x25519

    sealed = tmp_path / "hello.age"
    sealed.write_bytes(pyrage.encrypt(b"hello", [x25519.Recipient.from_str(public)]))
    assert age_decrypt(path, sealed) == b"hello"
