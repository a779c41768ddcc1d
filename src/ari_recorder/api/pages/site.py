"""What the pages for people (/agent, /supervisor) share: the login form and its session, the
CSRF and Origin checks, the answers' headers (a strict Content-Security-Policy), the audit rows,
the static files, and the live stream's loop.

A page is a `Site` named by its path (`/agent`): its session cookie (`ari-agent`, over TLS
`__Host-ari-agent`), its login form at `/agent/login`, its files at `/agent/static/`. The session
lives in the database (storage/page_sessions.py): found by the cookie on every request, its token
checked again there (a revoked or expired one ends the session: the page goes back to the login
form), and kept over a restart and across controllers. Every state change must come from the page
itself: its Origin (or Referer) names this server's host, and it carries the CSRF token (the
session's, or for the login the form's double-submitted one). Each page load and each action has
its row in the audit trail.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import logging
import secrets
import string
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from ari_recorder.api.errors import status_of
from ari_recorder.api.privileges import Caller
from ari_recorder.domain.access import EVERYTHING, Role, Scope
from ari_recorder.engine.controller import Controller
from ari_recorder.engine.notifier import Listener
from ari_recorder.errors import AppError, Conflict, Forbidden, Invalid, NotFound, Unauthorized
from ari_recorder.settings import ApiSettings
from ari_recorder.storage.audit import Entry, audit_id, write_now
from ari_recorder.storage.page_sessions import (
    LIFETIME,
    MOST,
    admin_digest,
    close_session,
    csrf_of,
    find_session,
    open_session,
)
from ari_recorder.storage.tokens import Grant, TokenRefused, subject_of, verify_grant

log = logging.getLogger("ari_recorder.api")
LOGIN_SECONDS = 600  # the login form's CSRF cookie
MAX_STREAMS = 4  # live streams per session (tabs of the same login)
CSRF_HEADER = "X-CSRF-Token"
SEE_OTHER = HTTPStatus.SEE_OTHER  # the page's navigation (to the login form, to the page)
TYPES = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml"}
WHY = {
    "ended": "Your session has ended (the token was revoked or has expired). Log in again.",
    "logout": "You are logged out.",
}


class SignedOut(Unauthorized):
    """No session, an ended one, or one whose token no longer lets its holder in (`reason`)."""

    id = "signed-out"

    def __init__(self, page: str, reason: str) -> None:
        super().__init__(f"not logged in to the {page} page", reason)
        self.reason = reason


class NotFromThePage(Forbidden):
    """A state change without the page's CSRF token, or from another origin."""

    id = "not-from-the-page"


class TooManyStreams(Conflict):
    id = "too-many-streams"


class NoSuchFile(NotFound):
    id = "no-such-file"


@dataclass(frozen=True)
class Session:
    """A session found by its cookie, its token good now: who it is (as the API's Caller)."""

    cookie: str
    caller: Caller
    ends: datetime

    @property
    def csrf(self) -> str:
        return csrf_of(self.cookie)

    @property
    def short(self) -> str:
        """The session as the audit trail names it (not the cookie itself)."""
        return hashlib.sha256(self.cookie.encode()).hexdigest()[:12]

    @property
    def seconds_left(self) -> int:
        return max(0, int((self.ends - datetime.now(UTC)).total_seconds()))


def caller_of(grant: Grant) -> Caller:
    scope = Scope.of(grant.teams, grant.partitions) if grant.role is Role.SUPERVISOR else EVERYTHING
    return Caller(grant.role, grant.agent, grant.id, scope)


ADMIN = Caller(Role.ADMINISTRATOR)  # api.admin_token's


def subject(caller: Caller) -> str:
    """The audit trail's subject of a page's rows: the agent's, the token's, or "admin"."""
    return "admin" if caller.token is None else subject_of(caller.role, caller.agent, caller.token)


@dataclass
class Site:
    """One page: `name` is its path and its cookie's; `admits` says why a caller may not log in
    there (None: it may); `files` its static files, `templates` its HTML (with login.html)."""

    name: str
    controller: Controller
    settings: ApiSettings
    admits: Callable[[Caller], str | None]
    token_label: str  # the login form's: "Your agent token"
    files: tuple[str, ...]
    lifetime: timedelta = LIFETIME
    most: int = MOST
    static: dict[str, bytes] = field(default_factory=dict)
    templates: dict[str, string.Template] = field(default_factory=dict)
    streams: dict[str, int] = field(default_factory=dict)  # live streams open here, by session

    def __post_init__(self) -> None:
        folder = resources.files("ari_recorder.api.pages") / "static"
        for name in self.files:
            self.static[name] = (folder / name).read_bytes()
        for name in (f"{self.name}.html", "login.html"):
            self.templates[name] = string.Template((folder / name).read_text(encoding="utf-8"))

    @property
    def tls(self) -> bool:
        return bool(self.settings.tls_certificate)

    @property
    def cookie(self) -> str:
        # Over TLS the cookie takes the __Host- prefix: the browser then keeps it only if Secure,
        # Path=/ and without Domain, so a sibling subdomain cannot plant one.
        return f"__Host-ari-{self.name}" if self.tls else f"ari-{self.name}"

    @property
    def login_cookie(self) -> str:
        return f"ari-{self.name}-login"  # the login form's CSRF token, double-submitted

    @property
    def policy(self) -> str:
        """The pages' Content-Security-Policy: nothing inline, nothing from elsewhere."""
        return (
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
            "connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; "
            f"frame-ancestors {self.settings.page_frame_ancestors}"
        )

    # ----- sessions -----

    async def audit(
        self, request: web.Request, actor: str, action: str, subject_: str, **detail: Any
    ) -> None:
        """The action's row in the audit trail (one per occurrence), before the answer."""
        entry = Entry(
            id=audit_id(subject_, action, repeatable=True),
            at=datetime.now(UTC),
            action=f"{self.name}-page-{action}",
            subject=subject_,
            detail={**detail, "from": request.remote},
            actor=actor,
        )
        await write_now(self.controller.store, entry)

    async def signed_in(self, request: web.Request) -> Session:
        """The request's session, its token checked now; SignedOut if there is none that lets in."""
        cookie = request.cookies.get(self.cookie, "")
        found = await find_session(self.controller.store, cookie, self.name)
        if found is None:
            raise SignedOut(self.name, "no-session")
        caller = caller_of(found.grant) if found.grant is not None else ADMIN
        refused = found.refused
        if found.grant is None and not self._is_admin_digest(found.admin_sha256):
            refused = refused or "unknown"  # api.admin_token changed since
        session = Session(cookie, caller, found.ends_at)
        refused = refused or ("not-admitted" if self.admits(caller) else None)
        if refused is not None:
            await self.end(request, session, refused)
            raise SignedOut(self.name, refused)
        return session

    def _is_admin_digest(self, digest: str | None) -> bool:
        token = self.settings.admin_token
        return bool(token and digest and hmac.compare_digest(digest, admin_digest(token)))

    async def end(self, request: web.Request, session: Session, reason: str) -> None:
        if await close_session(self.controller.store, session.cookie):
            log.info("page=%s who=%s action=page-session-ended why=%s", self.name, session.caller.who, reason)
            await self.audit(
                request,
                session.caller.who,
                "ended",
                subject(session.caller),
                session=session.short,
                why=reason,
            )

    # ----- checks and answers -----

    def check_csrf(self, request: web.Request, expected: str, given: str | None) -> None:
        said = f"this request did not come from the {self.name} page"
        if not _same_origin(request):
            raise NotFromThePage(said, "origin")
        if not given or not hmac.compare_digest(given.encode(), expected.encode()):
            raise NotFromThePage(said, "csrf")

    def html(self, body: str, refused: type[AppError] | None = None) -> web.Response:
        """A page; answered with the status of `refused`'s kind when it says why something was not done."""
        status = HTTPStatus.OK if refused is None else status_of(refused)
        response = web.Response(text=body, status=status, content_type="text/html", charset="utf-8")
        response.headers["Content-Security-Policy"] = self.policy
        response.headers["Referrer-Policy"] = "same-origin"
        return response

    def see_other(self, location: str) -> web.Response:
        response = web.Response(status=SEE_OTHER, headers={"Location": location})
        response.headers["Content-Security-Policy"] = self.policy
        return response

    def render(self, name: str, **values: str) -> str:
        return self.templates[name].substitute({k: html.escape(v) for k, v in values.items()})

    async def opened(self, request: web.Request) -> Session | web.Response:
        """GET /<page>: the session, its load audited; or the way to the login form."""
        try:
            session = await self.signed_in(request)
        except SignedOut as out:
            return self.see_other(
                f"/{self.name}/login" + ("" if out.reason == "no-session" else "?why=ended")
            )
        await self.audit(
            request, session.caller.who, "opened", subject(session.caller), session=session.short
        )
        return session

    # ----- the handlers every page has -----

    async def login_form(self, request: web.Request) -> web.Response:
        """GET /<page>/login: the form (the page itself when already signed in)."""
        try:
            await self.signed_in(request)
            return self.see_other(f"/{self.name}")
        except SignedOut:
            pass
        return self._login_page(WHY.get(request.query.get("why", ""), ""))

    def _login_page(self, message: str, refused: type[AppError] | None = None) -> web.Response:
        csrf = secrets.token_urlsafe(32)
        values = {"csrf": csrf, "message": message, "page": self.name, "label": self.token_label}
        response = self.html(self.render("login.html", **values), refused)
        response.set_cookie(
            self.login_cookie,
            csrf,
            max_age=LOGIN_SECONDS,
            path=f"/{self.name}/login",
            httponly=True,
            samesite="Strict",
            secure=self.tls,
        )
        return response

    async def _caller_of_token(self, token: str) -> Caller:
        admin = self.settings.admin_token
        if admin and hmac.compare_digest(token.encode(), admin.encode()):
            return ADMIN
        return caller_of(await verify_grant(self.controller.store, token))

    async def login(self, request: web.Request) -> web.Response:
        """POST /<page>/login (a form: token, csrf): a new session, and the page."""
        form = await request.post()
        csrf, token = form.get("csrf"), form.get("token")
        try:
            given = csrf if isinstance(csrf, str) else None
            self.check_csrf(request, request.cookies.get(self.login_cookie, ""), given)
        except NotFromThePage:  # most often a form left open past LOGIN_SECONDS
            message = "The form had expired, or did not come from this page: try again."
            return self._login_page(message, NotFromThePage)
        if not isinstance(token, str) or not token.strip():
            return self._login_page(f"Enter {self.token_label.lower()}.", Invalid)
        try:
            caller = await self._caller_of_token(token.strip())
        except TokenRefused as refused:
            return await self._refused(
                request, refused.reason, f"This token does not let you in ({refused.reason})."
            )
        why_not = self.admits(caller)
        if why_not is not None:  # a token of a role this page does not take
            return await self._refused(request, f"not-{self.name}", why_not)
        old = request.cookies.get(self.cookie)
        if old:
            await close_session(
                self.controller.store, old
            )  # a new id at each login: a planted one is never used
        cookie, ends = await open_session(
            self.controller.store,
            self.name,
            token=caller.token,
            admin_sha256=admin_digest(token.strip()) if caller.token is None else None,
            lifetime=self.lifetime,
            most=self.most,
        )
        session = Session(cookie, caller, ends)
        log.info("page=%s who=%s action=page-login", self.name, caller.who)
        await self.audit(request, caller.who, "login", subject(caller), session=session.short)
        response = self.see_other(f"/{self.name}")
        response.set_cookie(
            self.cookie,
            cookie,
            max_age=session.seconds_left,
            path="/",
            httponly=True,
            samesite="Strict",
            secure=self.tls,
        )
        response.del_cookie(self.login_cookie, path=f"/{self.name}/login")
        return response

    async def _refused(self, request: web.Request, reason: str, message: str) -> web.Response:
        log.warning("page=%s action=page-login-refused why=%s", self.name, reason)
        await self.audit(request, "unknown", "login-refused", f"{self.name}-page", why=reason)
        return self._login_page(message, TokenRefused)

    async def logout(self, request: web.Request) -> web.Response:
        """POST /<page>/logout (a form: csrf): the session ended, back to the login form."""
        try:
            session = await self.signed_in(request)
        except SignedOut:
            return self.see_other(f"/{self.name}/login?why=ended")
        form = await request.post()
        given = form.get("csrf")
        self.check_csrf(
            request, session.csrf, given if isinstance(given, str) else request.headers.get(CSRF_HEADER)
        )
        await close_session(self.controller.store, session.cookie)
        log.info("page=%s who=%s action=page-logout", self.name, session.caller.who)
        await self.audit(
            request, session.caller.who, "logout", subject(session.caller), session=session.short
        )
        response = self.see_other(f"/{self.name}/login?why=logout")
        response.del_cookie(self.cookie, path="/")
        return response

    async def static_file(self, request: web.Request) -> web.Response:
        """GET /<page>/static/{name}: the page's CSS and JavaScript."""
        name = request.match_info["name"]
        body = self.static.get(name)
        if body is None:
            raise NoSuchFile(f"no file {name!r}")
        kind = TYPES[name[name.rindex(".") :]]
        return web.Response(body=body, content_type=kind, charset="utf-8")

    def add_routes(self, app: web.Application) -> None:
        """The routes every page has (its own are the caller's to add)."""
        app.router.add_get(f"/{self.name}/login", self.login_form)
        app.router.add_post(f"/{self.name}/login", self.login)
        app.router.add_post(f"/{self.name}/logout", self.logout)
        app.router.add_get(f"/{self.name}/static/{{name}}", self.static_file)

    # ----- the live stream -----

    async def stream(
        self,
        request: web.Request,
        listen: Callable[[], AbstractContextManager[Listener]],
        view: Callable[[Session], Awaitable[dict[str, Any]]],
        steady: Callable[[dict[str, Any]], Any],
        heartbeat: float,
    ) -> web.StreamResponse:
        """GET /<page>/events: `view` whenever the listener wakes and its `steady` part changed
        (text/event-stream); `ended` when the session ends; a comment every `heartbeat` seconds."""
        session = await self.signed_in(request)
        if request.method == "HEAD":  # aiohttp's HEAD beside the GET: no stream to hold open
            return web.Response(content_type="text/event-stream")
        key = session.short
        if self.streams.get(key, 0) >= MAX_STREAMS:
            raise TooManyStreams(f"at most {MAX_STREAMS} live streams per login: close another page")
        response = web.StreamResponse(headers={"X-Accel-Buffering": "no"})
        response.content_type = "text/event-stream"
        response.charset = "utf-8"
        self.streams[key] = self.streams.get(key, 0) + 1
        try:
            with listen() as listener:
                await response.prepare(request)
                await response.write(b"retry: 2000\n\n")
                sent: Any = None
                changed = True
                while not listener.closed:
                    now = await view(session)
                    if changed or steady(now) != sent:
                        await response.write(event("state", now))
                        sent = steady(now)
                    changed = await listener.wait(heartbeat)
                    if listener.closed:
                        break
                    try:
                        session = await self.signed_in(request)
                    except SignedOut as out:
                        await response.write(event("ended", {"why": out.reason}))
                        break
                    if not changed:
                        await response.write(b": heartbeat\n\n")
        except ConnectionResetError:  # the page went away: noticed at the next write
            pass
        finally:
            self.streams[key] -= 1
            if not self.streams[key]:
                del self.streams[key]
        return response


def event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def _same_origin(request: web.Request) -> bool:
    """The request came from a page of this server (the Origin, else the Referer, names its
    host): by host and port only, as a TLS proxy in front changes the scheme."""
    origin = request.headers.get("Origin") or request.headers.get("Referer") or ""
    if not origin or origin == "null":
        return False
    return urlsplit(origin).netloc.lower() == request.host.lower()


async def close_streams(app: web.Application, controller: Controller | None) -> None:
    """The server is stopping: the live streams end now, not at its shutdown timeout."""
    if controller is not None:
        controller.persister.notifier.close()
