"""The agent page's sessions: in this process's memory (a restart logs every agent out).

A session is a random id in a cookie (HttpOnly, SameSite=Strict, Path=/, Secure over TLS), kept
here by its SHA-256 with the agent's token (checked again on every request), a CSRF token for
the page's state changes, and an end twelve hours after the login.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass, field

LIFETIME = 12 * 3600.0  # seconds: a shift, and then some
MOST = 10_000  # sessions at once; past that the one nearest its end goes
COOKIE = "ari-agent"
# Over TLS the cookie takes the __Host- prefix: the browser then keeps it only if Secure, Path=/
# and without Domain, so a sibling subdomain cannot plant one.
SECURE_COOKIE = "__Host-ari-agent"
LOGIN_COOKIE = "ari-agent-login"  # the login form's CSRF token, double-submitted
LOGIN_SECONDS = 600


@dataclass
class Session:
    agent: str
    token: str  # the agent's bearer token, verified again on each request
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    ends: float = field(default_factory=lambda: time.time() + LIFETIME)
    streams: int = 0  # live streams open

    @property
    def seconds_left(self) -> int:
        return max(0, int(self.ends - time.time()))


def _key(cookie: str) -> str:
    return hashlib.sha256(cookie.encode()).hexdigest()


class Sessions:
    def __init__(self, lifetime: float = LIFETIME, most: int = MOST) -> None:
        self.lifetime, self.most = lifetime, most
        self._sessions: dict[str, Session] = {}

    def open(self, agent: str, token: str) -> tuple[str, Session]:
        """A new session; the cookie's value (only the client keeps it) and the session."""
        self._forget_ended()
        while len(self._sessions) >= self.most:
            nearest = min(self._sessions, key=lambda k: self._sessions[k].ends)
            del self._sessions[nearest]
        cookie = secrets.token_urlsafe(32)
        session = Session(agent, token, ends=time.time() + self.lifetime)
        self._sessions[_key(cookie)] = session
        return cookie, session

    def get(self, cookie: str | None) -> Session | None:
        if not cookie:
            return None
        session = self._sessions.get(_key(cookie))
        if session is not None and session.ends <= time.time():
            self.close(cookie)
            return None
        return session

    def close(self, cookie: str) -> Session | None:
        return self._sessions.pop(_key(cookie), None)

    def __len__(self) -> int:
        return len(self._sessions)

    def _forget_ended(self) -> None:
        now = time.time()
        for key in [k for k, s in self._sessions.items() if s.ends <= now]:
            del self._sessions[key]
