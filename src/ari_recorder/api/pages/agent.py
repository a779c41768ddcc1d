"""The agent page (/agent): log in with the agent's token, see the call, pause and resume its
recording, live (server-sent events); HTML, CSS and a little JavaScript served from the package.

Every request but the static files and the login form finds its session by the cookie and
verifies the session's token again: a revoked or expired one ends the session (the page goes
back to the login form). Every state change (login, logout, pause, resume) must come from the
page itself: its Origin (or Referer) names this server's host, and it carries the CSRF token
(the session's, or for the login the form's double-submitted one). Each page load and each
action has its row in the audit trail; a pause's own rows are the call's, as for the API.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import logging
import secrets
import string
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from ari_recorder.api.errors import CallTimedOut, status_of
from ari_recorder.api.pages.sessions import (
    COOKIE,
    LOGIN_COOKIE,
    LOGIN_SECONDS,
    SECURE_COOKIE,
    Session,
    Sessions,
)
from ari_recorder.api.pages.view import agent_view, steady
from ari_recorder.engine.controller import AsteriskRefused, Controller, NoSuchCall, NotNow
from ari_recorder.errors import AppError, Conflict, Forbidden, Invalid, NotFound, Unauthorized
from ari_recorder.settings import ApiSettings
from ari_recorder.storage.audit import Entry, audit_id, write_now
from ari_recorder.storage.tokens import TokenRefused, verify_token

log = logging.getLogger("ari_recorder.api")
HEARTBEAT_SECONDS = 15.0  # a comment on the live stream this often keeps proxies from closing it
MAX_STREAMS = 4  # live streams per session (tabs of the same login)
CSRF_HEADER = "X-CSRF-Token"
STATIC = {"agent.css": "text/css", "agent.js": "text/javascript"}
WHY = {
    "ended": "Your session has ended (the token was revoked or has expired, or the controller "
    "restarted). Log in again.",
    "logout": "You are logged out.",
}


@dataclass
class AgentPages:
    controller: Controller
    settings: ApiSettings
    sessions: Sessions = field(default_factory=Sessions)
    static: dict[str, bytes] = field(default_factory=dict)
    templates: dict[str, string.Template] = field(default_factory=dict)

    @property
    def tls(self) -> bool:
        return bool(self.settings.tls_certificate)

    @property
    def cookie(self) -> str:
        return SECURE_COOKIE if self.tls else COOKIE

    @property
    def policy(self) -> str:
        """The pages' Content-Security-Policy: nothing inline, nothing from elsewhere."""
        return (
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
            "connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; "
            f"frame-ancestors {self.settings.page_frame_ancestors}"
        )


PAGES = web.AppKey("agent_pages", AgentPages)


SEE_OTHER = HTTPStatus.SEE_OTHER  # the page's navigation (to the login form, to the page)


class SignedOut(Unauthorized):
    """No session, an ended one, or one whose token no longer lets the agent in (`reason`)."""

    id = "signed-out"

    def __init__(self, reason: str) -> None:
        super().__init__("not logged in to the agent page", reason)
        self.reason = reason


class NotFromThePage(Forbidden):
    """A state change without the page's CSRF token, or from another origin."""

    id = "not-from-the-page"


class TooManyStreams(Conflict):
    id = "too-many-streams"


class NoSuchFile(NotFound):
    id = "no-such-file"


def _short(cookie: str) -> str:
    """The session as the audit trail names it (not the cookie itself)."""
    return hashlib.sha256(cookie.encode()).hexdigest()[:12]


async def _audit(request: web.Request, actor: str, action: str, subject: str, **detail: Any) -> None:
    """The action's row in the audit trail (one per occurrence), before the answer."""
    entry = Entry(
        id=audit_id(subject, action, repeatable=True),
        at=datetime.now(UTC),
        action=action,
        subject=subject,
        detail={**detail, "from": request.remote},
        actor=actor,
    )
    await write_now(request.app[PAGES].controller.store, entry)


async def _signed_in(request: web.Request) -> tuple[str, Session]:
    """The session's cookie and the session, its token verified now; SignedOut if not."""
    pages = request.app[PAGES]
    cookie = request.cookies.get(pages.cookie, "")
    session = pages.sessions.get(cookie)
    if session is None:
        raise SignedOut("no-session")
    try:
        agent = await verify_token(pages.controller.store, session.token)
    except TokenRefused as refused:
        await _end(request, cookie, session, refused.reason)
        raise SignedOut(refused.reason) from None
    if agent != session.agent:  # cannot happen: a token is its agent's for life
        await _end(request, cookie, session, "other-agent")
        raise SignedOut("other-agent")
    return cookie, session


async def _end(request: web.Request, cookie: str, session: Session, reason: str) -> None:
    if request.app[PAGES].sessions.close(cookie) is not None:
        log.info("agent=%s action=page-session-ended why=%s", session.agent, reason)
        await _audit(
            request,
            session.agent,
            "agent-page-ended",
            f"agent/{session.agent}",
            session=_short(cookie),
            why=reason,
        )


def _same_origin(request: web.Request) -> bool:
    """The request came from a page of this server (the Origin, else the Referer, names its
    host): by host and port only, as a TLS proxy in front changes the scheme."""
    origin = request.headers.get("Origin") or request.headers.get("Referer") or ""
    if not origin or origin == "null":
        return False
    return urlsplit(origin).netloc.lower() == request.host.lower()


def _check_csrf(request: web.Request, expected: str, given: str | None) -> None:
    if not _same_origin(request):
        raise NotFromThePage("this request did not come from the agent page", "origin")
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise NotFromThePage("this request did not come from the agent page", "csrf")


def _html(pages: AgentPages, body: str, refused: type[AppError] | None = None) -> web.Response:
    """A page; answered with the status of `refused`'s kind when it says why something was not done."""
    status = HTTPStatus.OK if refused is None else status_of(refused)
    response = web.Response(text=body, status=status, content_type="text/html", charset="utf-8")
    response.headers["Content-Security-Policy"] = pages.policy
    response.headers["Referrer-Policy"] = "same-origin"
    return response


def _see_other(pages: AgentPages, location: str) -> web.Response:
    response = web.Response(status=SEE_OTHER, headers={"Location": location})
    response.headers["Content-Security-Policy"] = pages.policy
    return response


def _render(pages: AgentPages, name: str, **values: str) -> str:
    return pages.templates[name].substitute({k: html.escape(v) for k, v in values.items()})


async def login_form(request: web.Request) -> web.Response:
    """GET /agent/login: the form (the page itself when already signed in)."""
    pages = request.app[PAGES]
    try:
        await _signed_in(request)
        return _see_other(pages, "/agent")
    except SignedOut:
        pass
    return _login_page(pages, WHY.get(request.query.get("why", ""), ""))


def _login_page(pages: AgentPages, message: str, refused: type[AppError] | None = None) -> web.Response:
    csrf = secrets.token_urlsafe(32)
    response = _html(pages, _render(pages, "login.html", csrf=csrf, message=message), refused)
    response.set_cookie(
        LOGIN_COOKIE,
        csrf,
        max_age=LOGIN_SECONDS,
        path="/agent/login",
        httponly=True,
        samesite="Strict",
        secure=pages.tls,
    )
    return response


async def login(request: web.Request) -> web.Response:
    """POST /agent/login (a form: token, csrf): a new session, and the page."""
    pages = request.app[PAGES]
    form = await request.post()
    csrf, token = form.get("csrf"), form.get("token")
    try:
        _check_csrf(request, request.cookies.get(LOGIN_COOKIE, ""), csrf if isinstance(csrf, str) else None)
    except NotFromThePage:  # most often a form left open past LOGIN_SECONDS
        message = "The form had expired, or did not come from this page: try again."
        return _login_page(pages, message, NotFromThePage)
    if not isinstance(token, str) or not token.strip():
        return _login_page(pages, "Enter your agent token.", Invalid)
    try:
        agent = await verify_token(pages.controller.store, token.strip())
    except TokenRefused as refused:
        log.warning("action=page-login-refused why=%s", refused.reason)
        await _audit(request, "unknown", "agent-page-login-refused", "agent-page", why=refused.reason)
        if refused.reason == "not-agent":  # a supervisor's, the chat platform's...: agents only here
            return _login_page(pages, "Only an agent's token logs in here.", TokenRefused)
        return _login_page(pages, f"This token does not let you in ({refused.reason}).", TokenRefused)
    if agent not in pages.controller.settings.agents:
        return _login_page(pages, f"Agent {agent} is not configured on this controller.", Forbidden)
    old = request.cookies.get(pages.cookie)
    if old:
        pages.sessions.close(old)  # a new id at each login: a planted one is never used
    cookie, session = pages.sessions.open(agent, token.strip())
    log.info("agent=%s action=page-login", agent)
    await _audit(request, agent, "agent-page-login", f"agent/{agent}", session=_short(cookie))
    response = _see_other(pages, "/agent")
    response.set_cookie(
        pages.cookie,
        cookie,
        max_age=session.seconds_left,
        path="/",
        httponly=True,
        samesite="Strict",
        secure=pages.tls,
    )
    response.del_cookie(LOGIN_COOKIE, path="/agent/login")
    return response


async def logout(request: web.Request) -> web.Response:
    """POST /agent/logout (a form: csrf): the session ended, back to the login form."""
    pages = request.app[PAGES]
    try:
        cookie, session = await _signed_in(request)
    except SignedOut:
        return _see_other(pages, "/agent/login?why=ended")
    form = await request.post()
    given = form.get("csrf")
    _check_csrf(request, session.csrf, given if isinstance(given, str) else request.headers.get(CSRF_HEADER))
    pages.sessions.close(cookie)
    log.info("agent=%s action=page-logout", session.agent)
    await _audit(
        request, session.agent, "agent-page-logout", f"agent/{session.agent}", session=_short(cookie)
    )
    response = _see_other(pages, "/agent/login?why=logout")
    response.del_cookie(pages.cookie, path="/")
    return response


async def page(request: web.Request) -> web.Response:
    """GET /agent: the page (its state comes by the live stream)."""
    pages = request.app[PAGES]
    try:
        cookie, session = await _signed_in(request)
    except SignedOut as out:
        return _see_other(pages, "/agent/login" if out.reason == "no-session" else "/agent/login?why=ended")
    await _audit(
        request, session.agent, "agent-page-opened", f"agent/{session.agent}", session=_short(cookie)
    )
    return _html(pages, _render(pages, "agent.html", agent=session.agent, csrf=session.csrf))


def _view(pages: AgentPages, agent: str) -> dict[str, Any]:
    return agent_view(agent, pages.controller.agent_call(agent), time.time())


async def state(request: web.Request) -> web.Response:
    """GET /agent/state: the page's state now, as the live stream gives it."""
    _, session = await _signed_in(request)
    return web.json_response(_view(request.app[PAGES], session.agent))


async def pause_or_resume(request: web.Request) -> web.Response:
    """POST /agent/pause or /agent/resume (X-CSRF-Token): the state after."""
    pages = request.app[PAGES]
    cookie, session = await _signed_in(request)
    _check_csrf(request, session.csrf, request.headers.get(CSRF_HEADER))
    verb, agent = request.match_info["verb"], session.agent
    ask = pages.controller.pause if verb == "pause" else pages.controller.resume_recording
    refused: AppError | None = None
    try:
        call = await ask(agent, agent)
    except NoSuchCall as e:  # as the API: the agent is there, on no call
        refused = NotNow(str(e))
    except AsteriskRefused as e:
        refused = AsteriskRefused(f"the recording could not be {verb}d", str(e))
    except TimeoutError:
        refused = CallTimedOut(f"the call did not answer the {verb} in time; ask for the state")
    except AppError as e:  # not now, not allowed on this queue
        refused = e
    outcome = {"error": refused.id, "message": refused.message} if refused else {"error": None}
    log.info("agent=%s action=page-%s outcome=%s", agent, verb, outcome["error"] or "done")
    await _audit(request, agent, f"agent-page-{verb}", f"agent/{agent}", session=_short(cookie), **outcome)
    if refused is not None:
        raise refused
    return web.json_response(agent_view(agent, call, time.time()))


def _event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


async def events(request: web.Request) -> web.StreamResponse:
    """GET /agent/events: the page's state whenever the agent's call changes (text/event-stream);
    `ended` when the session ends; a comment every HEARTBEAT_SECONDS."""
    pages = request.app[PAGES]
    _, session = await _signed_in(request)
    if request.method == "HEAD":  # aiohttp's HEAD beside the GET: no stream to hold open
        return web.Response(content_type="text/event-stream")
    if session.streams >= MAX_STREAMS:
        raise TooManyStreams(f"at most {MAX_STREAMS} live streams per login: close another page")
    response = web.StreamResponse(headers={"X-Accel-Buffering": "no"})
    response.content_type = "text/event-stream"
    response.charset = "utf-8"
    notifier = pages.controller.persister.notifier
    session.streams += 1
    try:
        with notifier.listen(session.agent) as listener:
            await response.prepare(request)
            await response.write(b"retry: 2000\n\n")
            sent: dict[str, Any] | None = None
            changed = True
            while not listener.closed:
                view = _view(pages, session.agent)
                if changed or steady(view) != sent:
                    await response.write(_event("state", view))
                    sent = steady(view)
                changed = await listener.wait(HEARTBEAT_SECONDS)
                if listener.closed:
                    break
                try:
                    await _signed_in(request)
                except SignedOut as out:
                    await response.write(_event("ended", {"why": out.reason}))
                    break
                if not changed:
                    await response.write(b": heartbeat\n\n")
    except ConnectionResetError:  # the page went away: noticed at the next write
        pass
    finally:
        session.streams -= 1
    return response


async def static(request: web.Request) -> web.Response:
    """GET /agent/static/{name}: the page's CSS and JavaScript."""
    name = request.match_info["name"]
    body = request.app[PAGES].static.get(name)
    if body is None:
        raise NoSuchFile(f"no file {name!r}")
    return web.Response(body=body, content_type=STATIC[name], charset="utf-8")


def _load(pages: AgentPages) -> None:
    folder = resources.files("ari_recorder.api.pages") / "static"
    for name in STATIC:
        pages.static[name] = (folder / name).read_bytes()
    for name in ("agent.html", "login.html"):
        pages.templates[name] = string.Template((folder / name).read_text(encoding="utf-8"))


async def _close_streams(app: web.Application) -> None:
    """The server is stopping: the live streams end now, not at its shutdown timeout."""
    pages = app[PAGES]
    if pages.controller is not None:
        pages.controller.persister.notifier.close()


def add_agent_page(app: web.Application, controller: Controller, settings: ApiSettings) -> None:
    """The agent page's routes on the API's app."""
    pages = AgentPages(controller, settings)
    _load(pages)
    app[PAGES] = pages
    app.on_shutdown.append(_close_streams)
    app.router.add_get("/agent", page)
    app.router.add_get("/agent/login", login_form)
    app.router.add_post("/agent/login", login)
    app.router.add_post("/agent/logout", logout)
    app.router.add_get("/agent/state", state)
    app.router.add_post("/agent/{verb:pause|resume}", pause_or_resume)
    app.router.add_get("/agent/events", events)
    app.router.add_get("/agent/static/{name}", static)
