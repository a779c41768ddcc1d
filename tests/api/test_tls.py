"""HTTPS for the API (`api.tls_certificate`, `api.tls_key`): served with the given certificate, and
every wrong file refused at start with the setting named."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import os
import ssl
from pathlib import Path

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from yarl import URL

from ari_recorder.api.tls import server_context
from ari_recorder.settings import ApiSettings, QueueSettings, SettingsError, load_settings
from tests.support.world import ADMIN_TOKEN, world

LOOPBACK = "127.0.0.1"
QUEUES = {"support": QueueSettings(agents=["1001"])}


def self_signed(folder: Path, name: str = "api") -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key (mode 600), as an administrator would install them."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ari-recorder test")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(LOOPBACK))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / f"{name}.crt", folder / f"{name}.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.touch(mode=0o600)
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def tls_api(certificate: Path, key: Path) -> ApiSettings:
    return ApiSettings(port=0, admin_token=ADMIN_TOKEN, tls_certificate=str(certificate), tls_key=str(key))


async def test_the_api_answers_over_https_with_its_certificate_and_not_in_clear(tmp_path: Path) -> None:
    certificate, key = self_signed(tmp_path)
    async with world(tmp_path, QUEUES, api=tls_api(certificate, key)) as w:
        url = URL(w.api_url)
        assert url.scheme == "https"
        trusting = ssl.create_default_context(cafile=str(certificate))
        async with (
            aiohttp.ClientSession() as client,
            client.get(
                f"{w.api_url}/api/v1/calls", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, ssl=trusting
            ) as answer,
        ):
            assert answer.status == 200
            assert await answer.json() == {"calls": []}
        # A client that does not trust this certificate stops at the handshake: it is what is served.
        async with aiohttp.ClientSession() as client:
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                await client.get(f"{w.api_url}/healthz")
        # Plain HTTP on the same port gets no HTTP answer: nothing is ever served in clear.
        reader, writer = await asyncio.open_connection(url.host, url.port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: api\r\n\r\n")
        await writer.drain()
        async with asyncio.timeout(10):
            received = await reader.read()
        writer.close()
        assert not received.startswith(b"HTTP/")


def test_plain_http_when_neither_is_set() -> None:
    assert server_context(ApiSettings()) is None


def test_one_without_the_other_is_refused_when_the_settings_load(tmp_path: Path) -> None:
    certificate, _ = self_signed(tmp_path)
    both = r"api\.tls_certificate, api\.tls_key: give both \(HTTPS\) or neither"
    with pytest.raises(SettingsError, match=both):
        load_settings(environ={"ARI_RECORDER_API__TLS_CERTIFICATE": str(certificate)})


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    certificate, _ = self_signed(tmp_path)
    with pytest.raises(SettingsError, match=rf"^api\.tls_key: no file {tmp_path / 'gone.key'}$"):
        server_context(tls_api(certificate, tmp_path / "gone.key"))


def test_a_key_others_may_read_is_refused(tmp_path: Path) -> None:
    certificate, key = self_signed(tmp_path)
    os.chmod(key, 0o644)
    with pytest.raises(SettingsError, match=rf"api\.tls_key: {key} may be read by others \(mode 644\)"):
        server_context(tls_api(certificate, key))


def test_a_key_that_is_not_the_certificates_is_refused_without_showing_it(tmp_path: Path) -> None:
    certificate, _ = self_signed(tmp_path, "one")
    _, other_key = self_signed(tmp_path, "two")
    with pytest.raises(SettingsError) as refused:
        server_context(tls_api(certificate, other_key))
    message = str(refused.value)
    assert message.startswith("api.tls_certificate, api.tls_key:")
    assert "not a certificate and its private key in PEM" in message
    assert "PRIVATE KEY" not in message and other_key.read_text().splitlines()[1] not in message


def test_a_file_that_is_not_pem_is_refused(tmp_path: Path) -> None:
    _, key = self_signed(tmp_path)
    garbage = tmp_path / "garbage.crt"
    garbage.write_text("not a certificate\n")
    with pytest.raises(SettingsError, match="not a certificate and its private key in PEM"):
        server_context(tls_api(garbage, key))
