// holdsense live page: renders the state pushed over the WebSocket (holdsense.listeners.web.snapshot).
// No framework, no build step, nothing loaded from the internet.
"use strict";

const $ = (id) => document.getElementById(id);
const RING_LEN = 2 * Math.PI * 86;
const SUBS = {
  hold: "holding: stay and breathe", too_hard: "ease off: take weight off with your hands",
  roll: "rolling", off: "off the roller", link_lost: "no data from the roller: check the cable or the radio",
  waiting: "waiting for the roller", ended: "session ended",
};
// what tests and the curious can read: messages received, when, the last state shown
const hs = (window.__hs = { messages: 0, firstAt: null, lastAt: null, last: null, cues: [], said: [] });

// m:ss. A running clock floors (whole seconds elapsed); a finished duration is rounded as Python's round()
// does (half to even), like the terminal, the report and `holdsense analyze` (37.7 s is 0:38 everywhere)
function clock(s, round = false) {
  if (s === null || s === undefined || !isFinite(s)) return "–";
  let t = Math.max(0, Math.floor(s));
  if (round) { t = Math.max(0, Math.round(s)); if (Math.abs(s % 1) === 0.5 && t % 2) t -= 1; }
  return `${Math.floor(t / 60)}:${String(t % 60).padStart(2, "0")}`;
}
const dur = (s) => clock(s, true);
// A finished hold's score as the page shows it: [text, colour class]. The colour is the hold's `tone`, which
// holdsense works out once for every output (holdsense/verdict.py: the page, the terminal, the report, the
// plots): green from 75, amber from 50, red below, but a too-hard hold is red whatever its number, a
// too-short or fairly firm one at most amber, and a hold cut off before the release window shows no number
// (its length is not judged and the analysis leaves it out of the session's mean; its grade says so).
const TONE_CLASS = { good: "good", fair: "mid", poor: "bad", not_judged: "cut" };
function scoreView(h) {
  if (h.tone === "not_judged") return ["–", "cut"];
  if (h.score === null || h.score === undefined) return ["–", ""];
  return [h.score, TONE_CLASS[h.tone] || ""];
}
// write text only when it changes: a screen reader may re-read a live region (or a status) whenever its
// text node is replaced, and the state arrives 20 times a second
function setText(el, text) { if (el.textContent !== text) el.textContent = text; }
// "0:38" as words for a screen reader ("0 minutes 38 seconds" is how some read the digits)
function spoken(s, round = false) {
  if (s === null || s === undefined || !isFinite(s)) return "unknown";
  const c = clock(s, round).split(":"), m = Number(c[0]), sec = Number(c[1]);
  return [m ? `${m} minute${m === 1 ? "" : "s"}` : "", sec || !m ? `${sec} second${sec === 1 ? "" : "s"}` : ""]
    .filter(Boolean).join(" ");
}
// what a screen reader says when the state changes (#say, polite); TOO HARD and LINK LOST go to #alert
const SAY = {
  hold: "Holding. Stay and breathe.", too_hard: "Too hard. Ease off: take weight off with your hands.",
  roll: "Rolling.", off: "Off the roller.", waiting: "Waiting for the roller.", ended: "Session ended.",
  link_lost: "Link lost: no data from the roller. Check the cable or the radio. The hold timer is paused.",
};
const ALERT_STATES = ["too_hard", "link_lost"];
// the light-pressure zone in words, next to its colour (a colour-blind reader cannot tell green from amber)
const ZONE_WORDS = { "in-band": "in the light band", over: "above the light band", hard: "too hard",
  under: "below the light band" };
// nb: a non-breaking space between number and unit (captions must not leave "N" alone on a line)
function fmtForce(v, units, nb = false) {
  if (v === null || v === undefined) return "–";
  const sp = nb ? "\u00a0" : " ";
  return units === "N" ? `${Math.round(v)}${sp}N` : `${v.toFixed(1)}${sp}${units}`;
}
// the ring's caption in one or two centred lines (<tspan>s), so a long one stays inside the ring
function ringSub(text) {
  const el = $("timer-sub");
  if (el.dataset.text === text) return;
  el.dataset.text = text;
  el.textContent = "";
  let lines = [text];
  if (text.length > 16 && text.includes(" ")) {
    const cut = text.lastIndexOf(" ", Math.ceil(text.length * 0.7));
    lines = cut > 0 ? [text.slice(0, cut), text.slice(cut + 1)] : [text];
  }
  lines.forEach((line, i) => {
    const t = document.createElementNS("http://www.w3.org/2000/svg", "tspan");
    t.setAttribute("x", "100"); t.setAttribute("dy", i ? "1.2em" : lines.length > 1 ? "-0.6em" : "0"); t.textContent = line;
    el.appendChild(t);
  });
}

// --- sound (Web Audio) and keeping the screen awake (Wake Lock), both after one tap ---------------
let audio = null;
let wakeLock = null;
function tone(freq, start, dur, gain = 0.25) {
  if (!audio) return;
  const o = audio.createOscillator(), g = audio.createGain();
  o.type = "sine"; o.frequency.value = freq;
  g.gain.setValueAtTime(0, audio.currentTime + start);
  g.gain.linearRampToValueAtTime(gain, audio.currentTime + start + 0.02);
  g.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + start + dur);
  o.connect(g).connect(audio.destination);
  o.start(audio.currentTime + start); o.stop(audio.currentTime + start + dur + 0.05);
}
function cue(kind) {
  hs.cues.push(kind);
  if (kind === "release") { tone(660, 0, 0.25); tone(880, 0.28, 0.25); tone(1320, 0.56, 0.45); }
  else if (kind === "end") { tone(520, 0, 0.35); tone(390, 0.32, 0.5); }
}
async function keepAwake() {
  if (!("wakeLock" in navigator)) { $("enable-note").textContent = "this browser cannot keep the screen on"; return; }
  try {
    wakeLock = await navigator.wakeLock.request("screen");
    $("enable-note").textContent = "screen stays on";
    wakeLock.addEventListener("release", () => { wakeLock = null; });
  } catch (e) { $("enable-note").textContent = `screen may sleep (${e.name})`; }
}
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && audio && !wakeLock) keepAwake();
});
$("enable").addEventListener("click", async () => {
  const Ctx = window.AudioContext || window.webkitAudioContext;
  if (Ctx && !audio) audio = new Ctx();
  if (audio && audio.state === "suspended") await audio.resume();
  tone(880, 0, 0.15);
  $("enable").textContent = "sound on";
  await keepAwake();
});

// --- rendering --------------------------------------------------------------------------------------
let lastHoldN = null, releaseCued = false, holdsKey = null, saidState = null;  // null: the list is not drawn yet (an empty one says so)
function render(s) {
  hs.last = s;
  document.title = `${s.word} · holdsense`;
  const who = $("who");
  who.textContent = [s.name, s.region].filter(Boolean).join(" · ");
  if (s.device) {
    const dev = document.createElement("span"); dev.className = "dev";
    dev.textContent = (who.textContent ? " · " : "") + s.device; who.appendChild(dev);
  }

  const st = $("state");
  setText(st, s.word);
  st.className = `state s-${s.state}`;
  const say = [];  // sentences for #say, spoken once each
  if (s.state !== saidState) {
    const prev = saidState;
    saidState = s.state;
    let line = SAY[s.state] || s.word;
    if (s.state === "ended" && s.session_score != null) line += ` Session score ${s.session_score}.`;
    if (ALERT_STATES.includes(s.state)) setText($("alert"), line);
    else {
      if (ALERT_STATES.includes(prev)) setText($("alert"), "");  // cleared, so the next one is news again
      say.push(line);
    }
  }
  let sub = SUBS[s.state] || "";
  if (s.state === "link_lost") sub = `link lost ${clock(s.link.lost_for_s)}: ${SUBS.link_lost}`;
  else if (s.state_for_s !== null && ["hold", "roll", "off"].includes(s.state)) sub += ` · ${clock(s.state_for_s)}`;
  setText($("state-sub"), sub);

  // hold timer: the ring fills over the release window, then stays full and turns green
  const ring = $("ring");
  const held = s.hold ? s.hold.elapsed_s : null;
  if (held !== null) {
    const frac = Math.min(1, held / s.release_s);
    $("ring-fill").style.strokeDashoffset = String(RING_LEN * (1 - frac));
    setText($("timer"), clock(held));
    const left = s.release_s - held;
    // link lost: the timer stands still until samples flow again, greyed as the terminal greys its clock;
    // too hard: no countdown to a release the pressure works against (the score is capped anyway)
    const lost = s.state === "link_lost";
    const caption = lost ? "timer paused" : s.state === "too_hard" ? "ease off first"
      : left > 0 ? `release window in ${Math.ceil(left)} s` : "release window reached";
    ringSub(caption);
    setText($("timer-text"), `hold timer ${spoken(held)}, ${caption}`);
    if (left <= 0 && !releaseCued && !lost) say.push(`Release window reached: ${spoken(s.release_s)}.`);
    ring.classList.toggle("reached", left <= 0);
    ring.classList.toggle("hard", s.state === "too_hard");
    ring.classList.toggle("idle", lost);
    if (left <= 0 && !releaseCued) { releaseCued = true; cue("release"); }
  } else {
    $("ring-fill").style.strokeDashoffset = String(RING_LEN);
    setText($("timer"), "0:00");
    ringSub(s.state === "link_lost" ? "paused: link lost" : `hold ${s.release_s} s`);
    setText($("timer-text"), `hold timer: no hold (hold ${s.release_s} s for a release)`);
    ring.classList.remove("reached", "hard"); ring.classList.add("idle");
    releaseCued = false;
  }

  // force: under LINK LOST and after the end the figure is the last reading, not the load now; dimmed and
  // named so, it is not taken for a live value that happens to stand still
  const stale = s.state === "link_lost" || s.state === "ended";
  $("force-card").classList.toggle("stale", stale);
  setText($("force-label"), stale ? "force (last reading)" : "force");
  setText($("force"), fmtForce(s.force, s.units));
  const pct = $("pct");
  setText(pct, s.pct_bw !== null ? `${s.pct_bw} % body weight` : (s.body_mass_kg ? "" : "set your body mass: holdsense profile --body-mass KG"));
  let zone = "";
  // the light band and the too-hard limit are about holding: rolling at 25-40 % body weight is normal
  if (s.pct_bw !== null && s.band_n && (s.state === "hold" || s.state === "too_hard")) {
    const f = s.force_n;
    if (s.too_hard_n && f >= s.too_hard_n) zone = "hard";
    else if (f > s.band_n[1]) zone = "over";
    else if (f >= s.band_n[0]) zone = "in-band";
    else zone = "under";
  }
  pct.className = zone === "under" ? "" : zone;
  setText($("zone"), zone ? ZONE_WORDS[zone] : "");
  $("zone").className = pct.className;
  const scale = s.scale_n || 300;
  const at = (n) => `${Math.max(0, Math.min(100, (100 * n) / scale))}%`;
  $("bar-fill").style.width = at(s.force_n || 0);
  $("bar-mark").style.left = at(s.force_n || 0);
  if (s.band_n) {
    $("bar-band").style.left = at(s.band_n[0]);
    $("bar-band").style.width = `calc(${at(s.band_n[1])} - ${at(s.band_n[0])})`;
    $("bar-band").hidden = false;
  } else $("bar-band").hidden = true;
  if (s.too_hard_n) { $("bar-hard").style.left = at(s.too_hard_n); $("bar-hard").hidden = false; }
  else $("bar-hard").hidden = true;
  $("bar-legend").textContent = s.band
    ? `light pressure ${fmtForce(s.band[0], s.units, true)}–${fmtForce(s.band[1], s.units, true)} (10–25 % body weight)` +
      (s.too_hard ? ` · too hard from ${fmtForce(s.too_hard, s.units, true)}` : "") + ` · scale\u00a00–\u2060${fmtForce(s.scale, s.units, true)}`
    : `scale\u00a00–\u2060${fmtForce(s.scale, s.units, true)}`;
  const warn = s.warnings.length ? s.warnings[s.warnings.length - 1] : (s.state === "too_hard" ? "Too hard: ease off." : "");
  setText($("warning"), warn); $("warning").hidden = !warn;

  // last hold
  const h = s.last_hold;
  $("last").hidden = !h; $("last-none").hidden = !!h;
  if (h) {
    const sc = $("last-score"), [text, cls] = scoreView(h);
    sc.textContent = text;
    sc.className = `score ${cls}`;
    sc.title = h.tone === "not_judged" ? "no score: cut off before the release window, its length is not judged" : "";
    $("last-dur").textContent = `held ${dur(h.duration_s)}` + (h.mean_force !== null ? ` at ${fmtForce(h.mean_force, s.units)}` : "");
    $("last-grade").textContent = h.grade || "";
    $("last-conf").textContent = h.confidence !== null && h.confidence !== undefined
      ? `confidence ${typeof h.confidence === "number" ? Math.round(100 * h.confidence) + " %" : h.confidence}` : "";
    $("last-feedback").textContent = h.feedback || "";
    if (lastHoldN !== null && h.n > lastHoldN) {
      cue("end");
      say.push(`Hold ${h.n} ended: held ${spoken(h.duration_s, true)}` + (h.score != null ? `, score ${h.score}` : "")
        + (h.grade ? `, ${h.grade}` : "") + ".");
    }
    lastHoldN = h.n;
  } else lastHoldN = 0;

  // the session's holds (rebuilt only when they change)
  const key = s.holds.map((x) => `${x.n}:${x.score}:${x.tone}`).join(",");
  if (key !== holdsKey) {
    holdsKey = key;
    const ol = $("holds");
    ol.textContent = "";
    if (!s.holds.length) {
      const li = document.createElement("li"); li.className = "empty"; li.textContent = "no holds yet"; ol.appendChild(li);
    }
    for (const x of s.holds.slice().reverse()) {
      const li = document.createElement("li");
      const [score, scls] = scoreView(x);
      // the columns have no visible header: a screen reader gets the words ("hold 3, held 0:38, score 50")
      for (const [cls, text, words] of [["n", `${x.n}`, "hold"], ["d", dur(x.duration_s), "held"],
        [`sc ${scls}`, score, "score"], ["gr", x.grade || "", ""]]) {
        if (words) { const hint = document.createElement("span"); hint.className = "sr-only"; hint.textContent = words; li.appendChild(hint); }
        const span = document.createElement("span"); span.className = cls; span.textContent = text; li.appendChild(span);
      }
      ol.appendChild(li);
    }
  }
  const t = s.totals || {};
  // the end's totals are the session's analysis: finished durations, rounded as the terminal and analyze round
  const tc = s.totals_final ? dur : clock;
  setText($("totals"), `holding ${tc(t.hold)} · rolling ${tc(t.roll)} · off ${tc(t.off)}` +
    (t.lost >= 0.5 ? ` · link lost ${tc(t.lost)}` : "") + (s.session_score != null ? ` · score ${s.session_score}` : ""));

  // markers while rolling: buttons when the session takes them, the last few pressed
  const m = s.marks || { on: false, recent: [] };
  $("marks-card").hidden = !m.on;
  $("main").classList.toggle("with-marks", !!m.on);  // the layout gives the card its place (style.css)
  markButtons();
  const mkey = m.recent.map((x) => `${x.t_s}:${x.text}`).join("|");
  if (mkey !== marksKey) {
    marksKey = mkey;
    const ol = $("marks");
    ol.textContent = "";
    for (const x of m.recent.slice().reverse()) {
      const li = document.createElement("li"); li.textContent = `${clock(x.t_s)} ${x.text}`; ol.appendChild(li);
    }
  }

  // replay controls
  const r = s.replay;
  $("replay-card").hidden = !r;
  if (r) {
    setText($("replay-src"), r.source);
    setText($("play"), r.playing ? "pause" : "play");
    const scrub = $("scrub");
    scrub.max = String(r.duration_s);
    if (!scrubbing) scrub.value = String(r.position_s);
    setText($("replay-pos"), `${clock(r.position_s)} / ${clock(r.duration_s)}`);
    // the slider's value is seconds; a screen reader says the position as the page shows it
    const vt = `${clock(scrubbing ? parseFloat(scrub.value) : r.position_s)} of ${clock(r.duration_s)}`;
    if (scrub.getAttribute("aria-valuetext") !== vt) scrub.setAttribute("aria-valuetext", vt);
  }
  if (say.length) { $("say").textContent = say.join(" "); hs.said.push(say.join(" ")); }
}

// --- the connection ---------------------------------------------------------------------------------
let ws = null, scrubbing = false, marksKey = null;
function send(obj) { if (ws && ws.readyState === 1) ws.send(JSON.stringify(obj)); }
// The marker buttons work only while a session takes markers: after its end (ENDED) a press went nowhere
// (nothing recorded, no word said), as it does while the page has no connection to holdsense. Then they are
// disabled and the card says why.
const MARK_IDS = ["mark-start", "mark-end", "mark-note"];
function markButtons() {
  const s = hs.last, open = ws !== null && ws.readyState === 1;
  const why = s && s.ended ? "session ended: markers are no longer recorded"
    : !open ? "no connection to holdsense: markers cannot be recorded"
    // holdsense refuses them too (listeners/markers.py): timed at the reconnection, a label would be wrong
    : s && s.state === "link_lost" ? "link lost: a marker now could not be timed on the roller's clock; press again when the link is back" : "";
  for (const id of MARK_IDS) $(id).disabled = !!why;
  $("marks-why").textContent = why;
  $("marks-why").hidden = !why;
}
$("play").addEventListener("click", () => send({ cmd: hs.last && hs.last.replay && hs.last.replay.playing ? "pause" : "play" }));
$("scrub").addEventListener("input", () => { scrubbing = true; });
for (const id of MARK_IDS) {
  $(id).addEventListener("click", (e) => {
    const mark = e.currentTarget.dataset.mark;
    if (e.currentTarget.disabled) return;
    if (mark !== "note") { send({ cmd: "mark", mark }); return; }
    const text = window.prompt("note (saved in the recording at this moment):", "");
    // the session may have ended while the prompt was open
    if (text && text.trim() && !(hs.last && hs.last.ended)) send({ cmd: "mark", mark, text: text.trim() });
  });
}
$("scrub").addEventListener("change", (e) => { scrubbing = false; send({ cmd: "seek", t_s: parseFloat(e.target.value) }); });

function connect() {
  const url = new URL("ws", window.location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  ws = new WebSocket(url);
  ws.onopen = () => { setText($("conn"), "connected"); $("conn").className = "conn ok"; markButtons(); };
  ws.onmessage = (ev) => {
    const now = performance.now();
    hs.messages += 1; if (hs.firstAt === null) hs.firstAt = now; hs.lastAt = now;
    const s = JSON.parse(ev.data);
    render(s);
    if (hs.messages % 20 === 0 && hs.lastAt > hs.firstAt) {
      $("rate").textContent = `${((1000 * (hs.messages - 1)) / (hs.lastAt - hs.firstAt)).toFixed(0)} updates/s`;
    }
  };
  ws.onclose = () => {
    // after the session's end holdsense stops on purpose: no alarm, the ENDED page and its totals stay
    if (hs.last && hs.last.ended) { setText($("conn"), "session over"); $("conn").className = "conn"; }
    else { setText($("conn"), "no connection to holdsense: retrying"); $("conn").className = "conn bad"; }
    markButtons();
    setTimeout(connect, 1000);
  };
}
connect();
