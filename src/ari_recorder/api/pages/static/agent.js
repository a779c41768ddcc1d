// The agent page: the state from the live stream (/agent/events), the pause button and its
// shortcut (Alt+P), the running pause timer and the auto-resume countdown.
"use strict";
(() => {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const $ = (id) => document.getElementById(id);
  const WORDS = {
    idle: "No call",
    ringing: "Call ringing",
    recording: "Recording",
    paused: "Recording paused",
    muted: "Recording paused",
    "not-recorded": "Not recorded",
  };
  let view = null;
  let paused = false;
  let pauseSince = 0;  // performance.now() when the pause began, by the server's count
  let resumesAt = 0;
  let ticking = null;
  let busy = false;

  // The pause's length counts up whole seconds gone; the countdown, whole seconds left.
  const clock = (seconds, round = Math.floor) => {
    const s = Math.max(0, round(seconds));
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  };

  const toLogin = () => window.location.assign("/agent/login?why=ended");

  function tick() {
    const now = performance.now();
    $("elapsed").textContent = clock((now - pauseSince) / 1000);
    $("countdown").textContent = clock((resumesAt - now) / 1000, Math.ceil);
  }

  function render(next) {
    view = next;
    const call = next.call;
    $("no-call").hidden = call !== null;
    $("call").hidden = call === null;
    if (call) {
      $("customer").textContent = call.customer || "unknown number";
      $("queue").textContent = call.queue || (call.direction === "outbound" ? "outbound call" : "none");
      $("since").textContent = call.since ? new Date(call.since).toLocaleTimeString() : "ringing";
    }
    const status = $("status");
    status.dataset.state = next.state;
    let words = WORDS[next.state] || next.state;
    if (next.state === "not-recorded") words = "This call is not recorded";
    if (status.textContent !== words) status.textContent = words;  // said once, not at each event
    const reason = call && !call.recorded && call.why_not_recorded;
    $("reason").hidden = !reason;
    $("reason").textContent = reason ? `Why: ${reason}` : "";

    paused = next.pause !== null;
    const button = $("toggle");
    button.dataset.action = paused ? "resume" : "pause";
    button.textContent = paused ? "Resume recording" : "Pause recording";
    const recordable = next.state === "recording" || paused;
    // Disabled while a pause or resume is under way: a second press would be dropped unseen.
    button.disabled = busy || !recordable || (!paused && next.pause_allowed === false);
    if (next.state === "recording" && next.pause_allowed === false) {
      button.textContent = "Pausing not allowed on this queue";
    } else if (!recordable) {
      button.textContent = "Nothing to pause";
    }
    if (paused) {
      const now = performance.now();
      pauseSince = now - next.pause.elapsed_seconds * 1000;
      resumesAt = now + next.pause.resumes_in_seconds * 1000;
      tick();
      if (ticking === null) ticking = window.setInterval(tick, 250);
    } else if (ticking !== null) {
      window.clearInterval(ticking);
      ticking = null;
    }
    $("timers").hidden = !paused;
  }

  async function toggle() {
    if (busy || view === null || $("toggle").disabled) return;
    busy = true;
    $("toggle").disabled = true;
    $("error").textContent = "";
    try {
      const verb = paused ? "resume" : "pause";
      const answer = await fetch(`/agent/${verb}`, {
        method: "POST",
        headers: { "X-CSRF-Token": csrf },
        credentials: "same-origin",
      });
      if (answer.status === 401) return toLogin();
      const body = await answer.json();
      if (answer.ok) render(body);
      else $("error").textContent = `Could not ${verb}: ${body.error}`;
    } catch (error) {
      $("error").textContent = "The controller did not answer; try again.";
    } finally {
      busy = false;
      if (view !== null) render(view);
    }
  }

  $("toggle").addEventListener("click", toggle);
  document.addEventListener("keydown", (event) => {
    if (event.altKey && !event.ctrlKey && !event.metaKey && event.code === "KeyP") {
      event.preventDefault();
      toggle();
    }
  });

  function listen() {
    const source = new EventSource("/agent/events");
    source.addEventListener("state", (event) => render(JSON.parse(event.data)));
    source.addEventListener("ended", () => {
      source.close();
      toLogin();
    });
    source.addEventListener("error", async () => {
      if (source.readyState !== EventSource.CLOSED) return;  // it reconnects by itself
      // Refused (401: the session ended, or the controller restarted): ask why.
      try {
        const answer = await fetch("/agent/state", { credentials: "same-origin" });
        if (answer.status === 401) return toLogin();
      } catch (error) { /* the controller is down: try again below */ }
      window.setTimeout(listen, 2000);
    });
  }
  listen();
})();
