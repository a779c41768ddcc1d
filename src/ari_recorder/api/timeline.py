"""An interaction's timeline as a picture (SVG), drawn by the server from what GET
/api/v1/interactions/{id} answers (storage/interaction_reads.py) and the recording-gap checks of
its recordings (the audit trail's `recording-gap` rows): a lane per agent segment with its
decision, the recorded stretches, the pauses (who paused, by keys or the desktop, who resumed),
the transfers from lane to lane, and below, each recording's gap check and each file's delivery.
The picture a compliance officer wants when a customer disputes a call.

Pure: data in, text out. Every text that comes from the data (agent names, reasons, errors,
attached data) is escaped for XML; the picture holds no script and no link.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from typing import Any

WIDTH = 980
LEFT = 250  # the lanes' labels
RIGHT = 20
TOP = 70  # the title and the time axis above the lanes
LANE = 78
LINE = 18  # a line of text below the lanes
TICKS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200)  # seconds between ticks
MOST_TICKS = 10
# Presentation attributes, not a <style>: the pages' policy allows no inline style.
PAINT = {
    "title": 'font-size="15" font-weight="700"',
    "head": 'font-weight="600"',
    "small": 'font-size="11" fill="#4a4a4a"',
    "lane": 'fill="#eef1f5" stroke="#c8c8c8"',
    "recorded": 'fill="#b00020"',
    "pause": 'fill="#ffbf47" stroke="#8a5a00"',
    "transfer": 'stroke="#12355b" stroke-width="2"',
    "axis": 'stroke="#c8c8c8"',
    "bad": 'fill="#b00020" font-weight="600"',
    "good": 'fill="#1d5e20"',
}


def _c(kind: str) -> str:
    """The element's class (for whoever reads the picture) and its paint."""
    return f'class="{kind}" {PAINT[kind]}'


def _t(text: object) -> str:
    """Text from the data, safe in an XML text node or a quoted attribute."""
    return escape(str(text), quote=True)


def _at(moment: str | None) -> float | None:
    return None if moment is None else datetime.fromisoformat(moment).timestamp()


def _placed(x: float) -> str:
    """A label's x and anchor: towards the left from points near the right edge, so it stays in."""
    return f'x="{x}"' if x < WIDTH * 0.72 else f'x="{x}" text-anchor="end"'


def _wall(moment: str | None) -> str:
    """A moment as people read it: to the second, in UTC."""
    if moment is None:
        return ""
    return datetime.fromisoformat(moment).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _clock(seconds: float) -> str:
    whole = round(seconds)
    if whole >= 86400:
        return f"+{whole / 86400:.4g} d"
    return (
        f"+{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"
        if whole >= 3600
        else f"+{whole // 60}:{whole % 60:02d}"
    )


def _short(text: str | None, most: int = 60) -> str:
    text = text or ""
    return text if len(text) <= most else text[: most - 1] + "…"


@dataclass(frozen=True)
class Axis:
    start: float
    end: float

    def x(self, moment: float | None) -> float:
        span = max(self.end - self.start, 1.0)
        at = self.end if moment is None else min(max(moment, self.start), self.end)
        return round(LEFT + (at - self.start) / span * (WIDTH - LEFT - RIGHT), 1)

    def ticks(self) -> list[float]:
        """At most MOST_TICKS + 1, whatever the span (an interaction's times are data: a webchat's
        report may span centuries)."""
        span = max(self.end - self.start, 1.0)
        step = next((s for s in TICKS if span / s <= MOST_TICKS), None)
        if step is None:  # longer than a day or so: whole hours
            step = math.ceil(span / MOST_TICKS / 3600) * 3600
        return [self.start + k * step for k in range(int(span // step) + 1)]


def _moments(detail: Mapping[str, Any]) -> list[float]:
    found = [detail.get("started_at"), detail.get("ended_at")]
    found += [s.get("started_at") for s in detail["segments"]]
    for recording in detail["recordings"]:
        found += [recording.get("started_at"), recording.get("finished_at")]
        found += [p.get(k) for p in recording["pauses"] for k in ("started_at", "ended_at")]
    return [m for m in (_at(f) for f in found) if m is not None]


def _segment_end(detail: Mapping[str, Any], index: int, axis: Axis) -> float:
    segments = detail["segments"]
    if index + 1 < len(segments):
        following = _at(segments[index + 1]["started_at"])
        return following if following is not None else axis.end
    return _at(detail.get("ended_at")) or axis.end


def _pause_words(pause: Mapping[str, Any]) -> str:
    how = {"keys": "by keys", "api": "from the desktop"}.get(str(pause.get("source")), "")
    words = f"pause {pause.get('number') or ''} by {pause.get('by') or '?'} {how}".strip()
    resumed = pause.get("resumed_by")
    ending = pause.get("ended_by")
    if ending == "resume" and resumed:
        words += f", resumed by {resumed}"
    elif ending:
        words += f", ended: {ending}"
    else:
        words += ", still paused"
    if pause.get("seconds") is not None:
        words += f" ({pause['seconds']:.1f} s)"
    return words


def _lane(
    detail: Mapping[str, Any], index: int, axis: Axis, names: Mapping[str, str], out: list[str]
) -> None:
    segment = detail["segments"][index]
    y = TOP + index * LANE
    start, end = _at(segment["started_at"]), _segment_end(detail, index, axis)
    agent = segment["agent"]
    name = names.get(agent)
    who = f"{name} ({agent})" if name else agent
    out.append(f'<g class="segment" data-segment="{segment["number"]}">')
    out.append(
        f'<rect {_c("lane")} x="{axis.x(start)}" y="{y}" width="{max(axis.x(end) - axis.x(start), 1)}" '
        f'height="{LANE - 12}" rx="4"/>'
    )
    out.append(f'<text x="8" y="{y + 16}" font-weight="600">Segment {segment["number"]}</text>')
    out.append(f'<text x="8" y="{y + 32}"><title>{_t(who)}</title>{_t(_short(who, 36))}</text>')
    if segment["recorded"]:
        out.append(f'<text {_c("small")} x="8" y="{y + 48}">recorded</text>')
    else:
        reason = _short(segment.get("reason"), 38)
        out.append(f'<text {_c("small")} x="8" y="{y + 48}">not recorded: {_t(reason)}</text>')
    for recording in detail["recordings"]:
        if recording["segment"] == segment["number"]:
            _recording(recording, y, axis, out)
    out.append("</g>")


def _recording(recording: Mapping[str, Any], y: float, axis: Axis, out: list[str]) -> None:
    start, finish = _at(recording["started_at"]), _at(recording.get("finished_at"))
    if recording.get("failure"):
        text = f"not recorded: {_short(recording['failure'], 50)}"
        out.append(f'<text {_c("bad")} x="{axis.x(start) + 4}" y="{y + 30}">{_t(text)}</text>')
        return
    x0, x1 = axis.x(start), axis.x(finish)
    out.append(
        f'<rect {_c("recorded")} x="{x0}" y="{y + 22}" width="{max(x1 - x0, 1)}" height="14">'
        f"<title>{_t(recording['name'])}: recorded ({_t(recording['side'])} side)</title></rect>"
    )
    out.append(
        f'<text {_c("small")} {_placed(x0)} y="{y + 16}">recorded, {_t(recording["side"])} side</text>'
    )
    for row, pause in enumerate(recording["pauses"]):
        p0, p1 = axis.x(_at(pause.get("started_at"))), axis.x(_at(pause.get("ended_at")))
        words = _pause_words(pause)
        out.append(
            f'<rect {_c("pause")} x="{p0}" y="{y + 20}" width="{max(p1 - p0, 2)}" height="18">'
            f"<title>{_t(words)}</title></rect>"
        )
        below = y + 52 + 12 * (row % 2)  # alternate lines: labels of close pauses stay apart
        out.append(f'<text {_c("small")} data-label="pause" {_placed(p0)} y="{below}">{_t(words)}</text>')


def _transfers(detail: Mapping[str, Any], axis: Axis, names: Mapping[str, str], out: list[str]) -> None:
    segments = detail["segments"]
    for index in range(1, len(segments)):
        x = axis.x(_at(segments[index]["started_at"]))
        y0, y1 = TOP + (index - 1) * LANE + 40, TOP + index * LANE + 4
        agent = segments[index]["agent"]
        to = names.get(agent) or agent
        out.append(
            f'<g class="transfer-mark"><line {_c("transfer")} x1="{x}" y1="{y0}" x2="{x}" y2="{y1}" '
            f'marker-end="url(#arrow)"/><text {_placed(x + 4 if x < WIDTH * 0.72 else x - 4)} y="{y1 - 4}" '
            f"{_c('small')}>transfer to "
            f"{_t(to)}</text></g>"
        )


def _gap_line(recording: Mapping[str, Any], gap: Mapping[str, Any] | None) -> tuple[str, str]:
    """The recording's gap check, said in words, and its class (good, bad, small: not yet)."""
    if gap is not None:
        missing = gap.get("missing_seconds")
        more = f", {missing:.1f} s missing" if isinstance(missing, int | float) else ""
        return f"recording gap: {gap.get('gap') or 'found'}{more} ({gap.get('why') or ''})", "bad"
    audio = [f for f in recording["files"] if f["kind"] in ("audio", "transcript")]
    if any(f["state"] in ("pending", "uploading", "done") for f in audio):
        return "no recording gap: the file holds the segment's time", "good"
    if recording["state"] in ("reported",):
        return "no file: reported not recorded", "bad"
    return "gap check: not yet (the file is not fetched)", "small"


def _file_line(file: Mapping[str, Any]) -> tuple[str, str]:
    state = file["state"]
    words = f"{file['kind']}: {state}"
    if state == "done":
        words += f", delivered {_wall(file.get('delivered_at'))} to {file.get('remote_path') or ''}"
        return words, "good"
    if file.get("attempts"):
        words += f" after {file['attempts']} attempts"
    if file.get("last_error"):
        words += f", last error: {_short(file['last_error'], 80)}"
    return words, "bad" if state == "dead" else "small"


def render(detail: Mapping[str, Any], gaps: Mapping[str, Mapping[str, Any]], names: Mapping[str, str]) -> str:
    """The timeline of `detail` (an interaction as storage/interaction_reads.one gives it);
    `gaps`: each recording's `recording-gap` audit detail; `names`: the agents' display names."""
    moments = _moments(detail) or [0.0]
    axis = Axis(min(moments), max(moments))
    segments: Sequence[Mapping[str, Any]] = detail["segments"]
    below = TOP + max(len(segments), 1) * LANE + 10
    lines: list[tuple[str, str]] = []
    for recording in detail["recordings"]:
        lines.append((f"Recording {recording['name']} (segment {recording['segment']})", "head"))
        lines.append(_gap_line(recording, gaps.get(recording["name"])))
        lines.extend(_file_line(file) for file in recording["files"])
    height = below + 30 + LINE * len(lines) + 10
    title = (
        f"Interaction {detail['id']}: {detail['direction']}"
        + (f", queue {detail['queue']}" if detail.get("queue") else "")
        + f", {detail['phase']}, from {_wall(detail['started_at'])}"
    )
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" role="img" aria-labelledby="title">',
        f'<title id="title">{_t(title)}</title>',
        '<g font-family="system-ui, sans-serif" font-size="12" fill="#1a1a1a">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#12355b"/></marker></defs>',
        f'<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>',
        f'<text {_c("title")} x="8" y="22">{_t(title)}</text>',
    ]
    for tick in axis.ticks():
        x = axis.x(tick)
        out.append(f'<line {_c("axis")} x1="{x}" y1="{TOP - 18}" x2="{x}" y2="{below - 10}"/>')
        if x < WIDTH - RIGHT - 20:  # its label fits
            out.append(f'<text {_c("small")} x="{x + 2}" y="{TOP - 22}">{_clock(tick - axis.start)}</text>')
    if not segments:
        out.append(f'<text x="8" y="{TOP + 20}">No agent answered: no segment.</text>')
    for index in range(len(segments)):
        _lane(detail, index, axis, names, out)
    _transfers(detail, axis, names, out)
    y = below + 20
    out.append(f'<text {_c("title")} x="8" y="{y}">Recordings: the gap check and each file</text>')
    for text, kind in lines:
        y += LINE
        out.append(f'<text {_c(kind)} x="8" y="{y}">{_t(text)}</text>')
    out.append("</g></svg>")
    return "\n".join(out) + "\n"
