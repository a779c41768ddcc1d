// The supervisor page: the live calls from the live stream (/supervisor/events), the delivery
// queue (and, for administrators, retrying a dead file), and an interaction's timeline picture.
"use strict";
(() => {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const main = document.getElementById("main");
  const $ = (id) => document.getElementById(id);
  const WORDS = {
    recording: "Recording",
    paused: "Paused",
    muted: "Paused (muted)",
    "not-recorded": "Not recorded",
    ringing: "Ringing",
    ended: "Ended",
  };
  const SOURCES = { keys: "by keys", api: "from the desktop" };
  const known = new Map();  // call id -> the last view of it (kept once it ended)
  let ticking = null;

  const toLogin = () => window.location.assign("/supervisor/login?why=ended");
  const el = (tag, text, attributes = {}) => {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = text;
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
    return node;
  };
  const clock = (seconds) => {
    const s = Math.max(0, Math.floor(seconds));
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  };
  const person = (id, name) => (name ? `${name} (${id})` : id);
  const say = (text) => { $("changes").textContent = text; };

  function pauseCell(call) {
    const cell = el("td");
    if (!call.pause) {
      cell.textContent = "—";
      return cell;
    }
    const by = SOURCES[call.pause.source] || call.pause.source;
    cell.append(el("span", `by ${call.pause.by} ${by}, for `));
    const timer = el("strong", clock(call.pause.elapsed_seconds), { class: "pause-timer" });
    timer.dataset.since = String(performance.now() - call.pause.elapsed_seconds * 1000);
    cell.append(timer);
    return cell;
  }

  function row(call, ended) {
    const tr = el("tr", null, { "data-call": call.id, "data-ended": String(ended) });
    const who = el("td");
    who.append(el("strong", call.customer || "unknown number"));
    who.append(el("br"));
    const agent = call.agent ? `talking to ${person(call.agent, call.agent_name)}` : "no agent yet";
    who.append(el("span", ended ? `${agent} (ended)` : agent));
    if (call.transferring_to && !ended) {
      who.append(el("br"));
      who.append(el("span", `transfer to ${call.transferring_to} under way`, { class: "transfer" }));
    }
    tr.append(who);
    tr.append(el("td", call.queue || (call.direction === "outbound" ? "outbound" : "—")));
    const recording = el("td");
    const state = ended ? "ended" : call.state;
    recording.append(el("span", WORDS[state] || state, { class: "badge", "data-state": state }));
    if (!ended && call.state === "not-recorded" && call.why_not_recorded) {
      recording.append(el("br"));
      recording.append(el("span", `Why: ${call.why_not_recorded}`, { class: "why" }));
    }
    tr.append(recording);
    tr.append(ended ? el("td", "—") : pauseCell(call));
    const segments = el("td");
    const list = el("ol", null, { class: "segments" });
    for (const s of call.segments) {
      const how = s.recorded ? "recorded" : `not recorded: ${s.reason}`;
      list.append(el("li", `${person(s.agent, s.agent_name)}: ${how}`, { "data-segment": String(s.number) }));
    }
    segments.append(call.segments.length ? list : el("span", "—"));
    tr.append(segments);
    const action = el("td");
    if (main.dataset.timeline === "true") {
      const button = el("button", "Timeline", { type: "button", class: "small-button" });
      button.addEventListener("click", () => showTimeline(call.id));
      action.append(button);
    } else {
      action.textContent = "—";
    }
    tr.append(action);
    return tr;
  }

  function tick() {
    const now = performance.now();
    for (const timer of document.querySelectorAll(".pause-timer")) {
      timer.textContent = clock((now - Number(timer.dataset.since)) / 1000);
    }
  }

  function render(view) {
    const live = new Set(view.calls.map((call) => call.id));
    for (const call of view.calls) {
      const before = known.get(call.id);
      if (!before) say(`Call from ${call.customer || "unknown"} in queue ${call.queue || "none"}`);
      else if (before.agent !== call.agent && call.agent) say(`Call ${call.customer}: now with ${call.agent}`);
      known.set(call.id, { call, ended: false });
    }
    for (const [id, entry] of known) {
      if (!live.has(id) && !entry.ended) {
        known.set(id, { call: entry.call, ended: true });
        say(`Call from ${entry.call.customer || "unknown"} ended`);
      }
    }
    const rows = $("call-rows");
    rows.replaceChildren(...[...known.values()].reverse().map((e) => row(e.call, e.ended)));
    $("calls").hidden = known.size === 0;
    $("no-calls").hidden = view.calls.length !== 0;
    const paused = view.calls.some((call) => call.pause);
    if (paused && ticking === null) ticking = window.setInterval(tick, 500);
    if (!paused && ticking !== null) {
      window.clearInterval(ticking);
      ticking = null;
    }
  }

  function listen() {
    const source = new EventSource("/supervisor/events");
    source.addEventListener("open", () => { $("connection").textContent = "Live"; });
    source.addEventListener("state", (event) => {
      $("connection").textContent = "Live";
      render(JSON.parse(event.data));
    });
    source.addEventListener("ended", () => {
      source.close();
      toLogin();
    });
    source.addEventListener("error", async () => {
      $("connection").textContent = "Reconnecting…";
      if (source.readyState !== EventSource.CLOSED) return;  // it reconnects by itself
      try {
        const answer = await fetch("/supervisor/state", { credentials: "same-origin" });
        if (answer.status === 401) return toLogin();
      } catch (error) { /* the controller is down: try again below */ }
      window.setTimeout(listen, 2000);
    });
  }

  // ----- the delivery queue -----

  let offset = 0;

  async function loadDeliveries(from = 0) {
    offset = from;
    $("delivery-error").textContent = "";
    const state = $("delivery-state").value;
    const query = new URLSearchParams({ offset: String(offset) });
    if (state) query.set("state", state);
    try {
      const answer = await fetch(`/supervisor/deliveries?${query}`, { credentials: "same-origin" });
      if (answer.status === 401) return toLogin();
      const body = await answer.json();
      if (!answer.ok) {
        $("delivery-error").textContent = `Could not read the queue: ${body.error}`;
        return;
      }
      const rows = body.items.map(deliveryRow);
      $("delivery-rows").replaceChildren(...rows);
      $("delivery-table").hidden = rows.length === 0;
      $("no-deliveries").hidden = rows.length !== 0;
      $("more-deliveries").hidden = !body.more;
    } catch (error) {
      $("delivery-error").textContent = "The controller did not answer; try again.";
    }
  }

  function deliveryRow(item) {
    const tr = el("tr", null, { "data-delivery": item.id });
    const file = el("td");
    file.append(el("code", item.id));
    if (item.interaction) {
      file.append(el("br"));
      file.append(el("span", `interaction ${item.interaction}`, { class: "hint" }));
    }
    tr.append(file);
    tr.append(el("td", item.state));
    tr.append(el("td", String(item.attempts)));
    tr.append(el("td", item.last_error || "—"));
    const action = el("td");
    if (item.state === "dead" && main.dataset.retry === "true") {
      const button = el("button", "Retry", { type: "button", class: "small-button" });
      button.setAttribute("aria-label", `Retry ${item.id}`);
      button.addEventListener("click", () => retry(item.id, button));
      action.append(button);
    }
    if (item.interaction && main.dataset.timeline === "true") {
      const button = el("button", "Timeline", { type: "button", class: "small-button" });
      button.addEventListener("click", () => showTimeline(item.interaction));
      action.append(button);
    }
    tr.append(action);
    return tr;
  }

  async function retry(id, button) {
    button.disabled = true;
    $("delivery-error").textContent = "";
    try {
      const answer = await fetch("/supervisor/deliveries/retry", {
        method: "POST",
        headers: { "X-CSRF-Token": csrf, "Content-Type": "application/json" },
        credentials: "same-origin",
        body: JSON.stringify({ id }),
      });
      if (answer.status === 401) return toLogin();
      const body = await answer.json();
      if (!answer.ok) {
        $("delivery-error").textContent = `Could not retry ${id}: ${body.error}`;
        button.disabled = false;
        return;
      }
      say(`${id} is back in the queue (${body.state})`);
      await loadDeliveries(offset);
    } catch (error) {
      $("delivery-error").textContent = "The controller did not answer; try again.";
      button.disabled = false;
    }
  }

  // ----- the timeline -----

  async function showTimeline(id) {
    $("interaction").value = id;
    $("timeline-error").textContent = "";
    const path = `/supervisor/timeline/${encodeURIComponent(id)}`;
    try {
      const answer = await fetch(path, { credentials: "same-origin" });
      if (answer.status === 401) return toLogin();
      if (!answer.ok) {
        const body = await answer.json();
        $("timeline-error").textContent = body.error;
        $("timeline").replaceChildren();
        $("download-line").hidden = true;
        return;
      }
      const parsed = new DOMParser().parseFromString(await answer.text(), "image/svg+xml");
      const picture = document.importNode(parsed.documentElement, true);
      $("timeline").replaceChildren(picture);
      $("download").href = `${path}?download=1`;
      $("download-line").hidden = false;
      $("timeline-section").scrollIntoView({ block: "start" });
    } catch (error) {
      $("timeline-error").textContent = "The controller did not answer; try again.";
    }
  }

  if (main.dataset.deliveries === "true") {
    $("deliveries").hidden = false;
    $("delivery-filter").addEventListener("submit", (event) => {
      event.preventDefault();
      loadDeliveries(0);
    });
    $("next-deliveries").addEventListener("click", () => loadDeliveries(offset + 50));
    loadDeliveries(0);
  }
  if (main.dataset.timeline === "true") {
    $("timeline-section").hidden = false;
    $("timeline-form").addEventListener("submit", (event) => {
      event.preventDefault();
      showTimeline($("interaction").value.trim());
    });
  }
  listen();
})();
