"""TLS for the HTTP API: the certificate and key of `api.tls_certificate` / `api.tls_key`, checked at start.

Agents' and supervisors' bearer tokens cross the network once desktops use the API: served
beyond loopback, it should be HTTPS (or sit behind a TLS proxy).
"""

from __future__ import annotations

import os
import ssl
import stat
from pathlib import Path

from ari_recorder.settings import ApiSettings, SettingsError


def server_context(settings: ApiSettings) -> ssl.SSLContext | None:
    """The server side's TLS context, or None when the API is plain HTTP. A missing, unreadable,
    malformed or mismatched file, or a key others may read, is a SettingsError naming the setting."""
    if not settings.tls_certificate and not settings.tls_key:
        return None
    certificate, key = Path(settings.tls_certificate), Path(settings.tls_key)
    _readable("api.tls_certificate", certificate)
    _readable("api.tls_key", key)
    mode = stat.S_IMODE(key.stat().st_mode)
    if mode & 0o077:
        raise SettingsError(
            f"api.tls_key: {key} may be read by others (mode {mode:o}); make it the controller "
            f"user's alone: chmod 600 {key}"
        )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(certificate, key)
    except ssl.SSLError as error:
        # The reason only (e.g. KEY_VALUES_MISMATCH, PEM lib): never the key's content.
        raise SettingsError(
            f"api.tls_certificate, api.tls_key: {certificate} and {key} are not a certificate and "
            f"its private key in PEM ({error.reason or error.strerror})"
        ) from None
    return context


def _readable(setting: str, path: Path) -> None:
    if not path.is_file():
        raise SettingsError(f"{setting}: no file {path}")
    if not os.access(path, os.R_OK):
        raise SettingsError(f"{setting}: {path} cannot be read by this user")
