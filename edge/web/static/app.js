/* FieldCoach teacher's screen: live view, last attempt, class view, settings.
   Talks to the same-origin JSON API; live changes arrive as server-sent events (/api/events).
   Every POST carries the session's CSRF token. Data is put on the page with textContent only. */
"use strict";

const $ = id => document.getElementById(id);
const S = {
  session: null,     // {user, kiosk, csrf, demo}
  meta: null,        // {actions, grades, edges, joints}
  live: null,        // the state snapshot, kept up to date by events
  shown: null,       // the attempt view on the result screen
  shownKey: null,    // live attempt key shown (null: a stored attempt)
  view: "live",
  classId: null,
  events: null,
  pictureTimer: null,
};

/* ---------------------------------------------------------------- API */

async function api(path, opts, retried) {
  const o = Object.assign({ method: "GET" }, opts || {});
  const init = { method: o.method, credentials: "same-origin", headers: {} };
  if (o.method !== "GET") {
    init.headers["X-CSRF-Token"] = S.session ? S.session.csrf : "";
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(o.body || {});
  }
  const r = await fetch(path, init);
  if (r.status === 401) { location.href = "/login"; throw new Error("log in first"); }
  let data = null;
  try { data = await r.json(); } catch (e) { data = null; }
  if (r.status === 403 && o.method !== "GET" && !retried) {
    // the kiosk's session (the carrier of its CSRF token) may have expired: fetch a new one, retry once
    S.session = await api("/api/session");
    return api(path, opts, true);
  }
  if (!r.ok) throw new Error((data && data.error) || `request failed (${r.status})`);
  return data;
}

/* ---------------------------------------------------------------- helpers */

function fmtScore(v) { return v === null || v === undefined ? "—" : (Math.round(v * 10) / 10).toFixed(Math.abs(v - Math.round(v)) < 0.05 ? 0 : 1); }

function setGrade(el, grade) {
  el.className = "grade" + (grade ? " " + grade : "");
  el.textContent = grade || "";
  el.hidden = !grade;
}

function setSaved(el, a) {
  if (!a) { el.hidden = true; return; }
  el.hidden = false;
  if (a.attempt_id && (a.saved || a.saved === undefined)) { el.className = "saved ok"; el.textContent = "✓ Saved"; }
  else if (a.save_error) { el.className = "saved error"; el.textContent = "NOT saved"; el.title = a.save_error; }
  else { el.className = "saved pending"; el.textContent = "Saving…"; }
}

function kv(dl, obj) {
  FCDraw.clear(dl);
  if (!obj || typeof obj !== "object" || !Object.keys(obj).length) {
    const dt = document.createElement("dt"); dt.textContent = "status";
    const dd = document.createElement("dd"); dd.textContent = "not available";
    dl.append(dt, dd); return;
  }
  for (const [k, v] of Object.entries(obj)) {
    const dt = document.createElement("dt"); dt.textContent = k.replace(/_/g, " ");
    const dd = document.createElement("dd");
    const short = x => (typeof x === "string" && /^[0-9a-f]{24,}$/.test(x) ? x.slice(0, 12) + "…" : x ?? "—");
    dd.textContent = v === null || v === undefined ? "—" : typeof v === "object" ? Object.entries(v).map(([a, b]) => `${a}: ${short(b)}`).join(", ") : String(short(v));
    dl.append(dt, dd);
  }
}

function actionName(id) {
  const a = S.meta && S.meta.actions.find(x => x.id === id);
  return a ? a.name : id;
}

/* ---------------------------------------------------------------- views */

function show(view) {
  S.view = view;
  for (const v of ["live", "result", "class", "settings"]) {
    $("view-" + v).hidden = v !== view;
    $("tab-" + v).setAttribute("aria-selected", String(v === view));
  }
  if (view === "class") loadClass();
  if (view === "settings") loadSettings();
  if (view === "result" && S.shown === null && S.live && S.live.attempt) showLiveAttempt();
  managePicture();
}

/* ---- live */

function renderPhase() {
  const p = S.live.phase || { phase: "waiting" };
  const card = $("phase");
  card.className = "phase-card " + p.phase;
  $("phase-name").textContent = { waiting: "WAITING", recording: "● RECORDING", analysing: "ANALYSING…" }[p.phase] || p.phase;
  $("phase-detail").textContent = p.detail || "";
  $("next-title").textContent = p.phase === "waiting" ? "Up next" : "Now";
}

function renderNext() {
  const n = S.live.next;
  $("next-name").textContent = n && n.label ? n.label : "—";
}

function renderLiveLast() {
  const a = S.live.attempt;
  $("live-last-score").textContent = a ? fmtScore(a.score) : "—";
  $("live-last-who").textContent = a && a.student ? a.student.label : "";
  setGrade($("live-last-grade"), a ? a.grade : null);
  setSaved($("live-last-saved"), a);
}

function renderFrame() {
  FCDraw.live($("live-skeleton"), S.live.frame, S.meta);
}

function managePicture() {
  const want = S.view === "live" && S.session && S.session.kiosk && S.live && S.live.picture;
  const img = $("live-picture");
  img.hidden = !want;
  if (want && !S.pictureTimer) {
    S.pictureTimer = setInterval(() => { img.src = "/api/live/picture?ts=" + Date.now(); }, 250);
  } else if (!want && S.pictureTimer) {
    clearInterval(S.pictureTimer); S.pictureTimer = null;
  }
}

/* ---- result */

function showLiveAttempt() {
  S.shown = S.live.attempt;
  S.shownKey = S.live.attempt ? S.live.attempt.key : null;
  renderResult();
}

function renderResult() {
  const a = S.shown;
  $("result-empty").hidden = !!a;
  $("result").hidden = !a;
  if (!a) return;
  $("r-who").textContent = a.student ? a.student.label : "";
  $("r-action").textContent = a.action_name || a.action;
  $("r-when").textContent = a.created_at ? new Date(a.created_at).toLocaleString() : "";
  setSaved($("r-saved"), a);
  $("r-back").hidden = S.shownKey !== null;
  const score = $("r-score");
  score.textContent = a.score === null || a.score === undefined ? "Score not computed" : fmtScore(a.score);
  score.className = "score-value" + (a.score === null || a.score === undefined ? " none" : "");
  setGrade($("r-grade"), a.grade);
  $("r-teacher").hidden = !a.overridden;
  $("r-model").textContent = a.overridden ? `model: ${fmtScore(a.model_score)} ${a.model_grade || ""}` : "";
  $("override-open").disabled = !a.attempt_id;
  FCDraw.phaseBars($("r-phases"), a.phase_scores);
  renderProblems(a);
  renderGuidance(a);
  FCDraw.keyframeStrip($("r-keyframes"), a.keyframes, S.meta);
  $("r-plot-title").textContent = a.curve ? `${a.curve.joint} angle` : "Joint angle";
  FCDraw.anglePlot($("r-plot"), a.curve);
  $("r-plot-note").textContent = a.curve ? `Black: this attempt. Blue band: ${a.curve.band_note}. Green bars: normal ranges at keyframes.` : "";
  $("r-not-computed").textContent = a.not_computed && a.not_computed.length ? "Not computed: " + a.not_computed.join("; ") : "";
}

function renderProblems(a) {
  const ol = $("r-problems");
  FCDraw.clear(ol);
  if (!a.problems.length) {
    const li = document.createElement("li");
    li.className = "none";
    li.textContent = a.metrics && a.metrics.length ? "No problems found." : "Problems not computed.";
    ol.appendChild(li);
  }
  for (const p of a.problems.slice(0, 3)) {
    const li = document.createElement("li");
    li.className = "problem";
    const t = document.createElement("div"); t.className = "p-title";
    t.textContent = p.title + (p.probability !== null && p.probability !== undefined ? ` (${Math.round(p.probability * 100)}%)` : "") + (p.from_teacher ? " — teacher" : "");
    li.appendChild(t);
    if (p.cue) { const c = document.createElement("div"); c.className = "p-cue"; c.textContent = p.cue; li.appendChild(c); }
    if (p.evidence) { const e = document.createElement("div"); e.className = "p-evidence"; e.textContent = p.evidence; li.appendChild(e); }
    ol.appendChild(li);
  }
  $("r-strengths").textContent = a.strengths && a.strengths.length ? a.strengths.slice(0, 2).join(" ") : "";
}

function renderGuidance(a) {
  const el = $("r-guidance");
  const live = S.shownKey !== null;
  const streaming = live && !a.guidance_done;
  let txt = live ? a.guidance_stream : (a.guidance && a.guidance.text) || "";
  if (!txt && !streaming) txt = "Guidance not available.";
  el.textContent = txt;
  el.classList.toggle("streaming", !!streaming);
  const g = a.guidance;
  $("r-guidance-src").textContent = g && g.engine ? `written by ${g.engine}` + (g.sources && g.sources.length ? ` from ${g.sources.length} knowledge-base entries` : "") : "";
}

/* ---- override */

function openOverride() {
  const a = S.shown;
  if (!a || !a.attempt_id) return;
  $("ov-score").value = a.score === null || a.score === undefined ? "" : a.score;
  const grades = $("ov-grades");
  FCDraw.clear(grades);
  for (const g of S.meta.grades) {
    const b = document.createElement("button");
    b.type = "button"; b.textContent = g; b.dataset.grade = g;
    b.setAttribute("aria-pressed", String(g === a.grade));
    b.addEventListener("click", () => {
      for (const x of grades.children) x.setAttribute("aria-pressed", String(x === b && x.getAttribute("aria-pressed") !== "true"));
    });
    grades.appendChild(b);
  }
  const probs = $("ov-problems");
  FCDraw.clear(probs);
  const act = S.meta.actions.find(x => x.id === a.action);
  const current = new Set(a.problems.map(p => p.id));
  for (const p of act ? act.problems : []) {
    const label = document.createElement("label");
    const cb = document.createElement("input");
    cb.type = "checkbox"; cb.value = p.id; cb.checked = current.has(p.id);
    label.append(cb, document.createTextNode(p.title));
    probs.appendChild(label);
  }
  $("ov-note").value = "";
  $("ov-error").textContent = "";
  $("override-dialog").showModal();
}

async function saveOverride() {
  const a = S.shown;
  const body = {};
  const sv = $("ov-score").value.trim();
  if (sv !== "" && Number(sv) !== a.score) body.score = Number(sv);
  const g = [...$("ov-grades").children].find(b => b.getAttribute("aria-pressed") === "true");
  if (g && g.dataset.grade !== a.grade) body.grade = g.dataset.grade;
  const picked = [...$("ov-problems").querySelectorAll("input:checked")].map(x => x.value);
  const before = a.problems.map(p => p.id);
  if (picked.length !== before.length || picked.some(p => !before.includes(p))) body.problems = picked;
  const note = $("ov-note").value.trim();
  if (note) body.note = note;
  if (!("score" in body) && !("grade" in body) && !("problems" in body)) {
    $("ov-error").textContent = "Nothing changed."; return;
  }
  try {
    const view = await api(`/api/attempts/${a.attempt_id}/override`, { method: "POST", body });
    $("override-dialog").close();
    applyUpdated(view);
  } catch (e) {
    $("ov-error").textContent = e.message;
  }
}

function applyUpdated(view) {
  if (S.shown && S.shown.attempt_id === view.attempt_id) {
    const keep = S.shownKey !== null ? { key: S.shown.key, saved: S.shown.saved, guidance_stream: S.shown.guidance_stream, guidance_done: S.shown.guidance_done } : {};
    S.shown = Object.assign({}, view, keep);
    renderResult();
  }
  if (S.live.attempt && S.live.attempt.attempt_id === view.attempt_id) {
    Object.assign(S.live.attempt, { score: view.score, grade: view.grade, overridden: view.overridden, problems: view.problems });
    renderLiveLast();
  }
  if (S.view === "class") loadClass();
}

/* ---- next student */

async function openNext() {
  const ctx = S.live.context || {};
  $("next-error").textContent = "";
  const roster = $("roster");
  FCDraw.clear(roster);
  if (!ctx.class_id) { $("next-error").textContent = "No class is being recorded."; $("next-dialog").showModal(); return; }
  const students = await api(`/api/classes/${ctx.class_id}/students`);
  for (const s of students) {
    const b = document.createElement("button");
    b.type = "button"; b.textContent = s.label; b.className = "student";
    b.addEventListener("click", async () => {
      try { await api("/api/next", { method: "POST", body: { student_id: s.id } }); $("next-dialog").close(); }
      catch (e) { $("next-error").textContent = e.message; }
    });
    roster.appendChild(b);
  }
  $("next-dialog").showModal();
}

/* ---- class */

async function loadClass() {
  const classes = await api("/api/classes");
  const sel = $("class-select");
  const ctx = (S.live && S.live.context) || {};
  if (S.classId === null) S.classId = ctx.class_id || (classes[0] && classes[0].id) || null;
  FCDraw.clear(sel);
  for (const c of classes) {
    const o = document.createElement("option"); o.value = c.id; o.textContent = c.name; o.selected = c.id === S.classId; sel.appendChild(o);
  }
  const asel = $("class-action");
  if (!asel.options.length) {
    for (const a of S.meta.actions) { const o = document.createElement("option"); o.value = a.id; o.textContent = a.name; asel.appendChild(o); }
    asel.value = ctx.action || S.meta.actions[0].id;
  }
  const rows = $("class-rows");
  FCDraw.clear(rows);
  if (S.classId === null) { $("class-empty").hidden = false; return; }
  $("csv-export").href = `/api/classes/${S.classId}/export.csv`;
  const ov = await api(`/api/classes/${S.classId}/overview?action=${encodeURIComponent(asel.value)}`);
  $("class-empty").hidden = ov.n_attempts > 0;
  for (const s of ov.students) {
    const tr = document.createElement("tr");
    const name = document.createElement("td"); name.textContent = s.label; name.className = "who-small";
    const att = document.createElement("td"); const chips = document.createElement("div"); chips.className = "chips";
    for (const a of s.attempts) {
      const b = document.createElement("button");
      b.type = "button"; b.className = "chip" + (s.best && s.best.attempt_id === a.id ? " best" : "");
      b.textContent = fmtScore(a.score) + (a.overridden ? " ✎" : "");
      b.dataset.attempt = a.id;
      b.addEventListener("click", () => openStored(a.id));
      chips.appendChild(b);
    }
    att.appendChild(chips);
    const best = document.createElement("td"); best.className = "best-score"; best.textContent = s.best ? fmtScore(s.best.score) : "—";
    const tr_ = document.createElement("td");
    if (s.trend) {
      tr_.className = "trend " + s.trend.direction;
      tr_.textContent = { up: "▲ rising", down: "▼ falling", flat: "► steady" }[s.trend.direction];
      tr_.title = `${s.trend.slope} points per attempt`;
    } else { tr_.className = "trend"; tr_.textContent = "—"; }
    tr.append(name, att, best, tr_);
    rows.appendChild(tr);
  }
}

async function openStored(id) {
  const view = await api(`/api/attempts/${id}`);
  S.shown = view; S.shownKey = null;
  show("result");
  renderResult();
}

/* ---- settings */

async function loadSettings() {
  const st = await api("/api/settings");
  const sel = $("set-action");
  FCDraw.clear(sel);
  for (const a of st.actions) { const o = document.createElement("option"); o.value = a.id; o.textContent = a.name; o.selected = a.id === st.action; sel.appendChild(o); }
  $("set-action-apply").disabled = !st.service;
  $("set-action-msg").textContent = st.service ? "" : "The recording service is not running.";
  kv($("set-camera"), st.camera);
  kv($("set-models"), st.models);
  kv($("set-update"), st.update);
  kv($("set-screen"), { user: st.user, "this display": st.kiosk ? "local kiosk (trusted)" : "remote (logged in)", "local trust": st.trust_local ? "on" : "off", mode: st.demo ? "demo (simulated athlete)" : "live" });
  $("logout").hidden = !!st.kiosk;  // the trusted kiosk has nothing to log out of
}

async function applyAction() {
  try {
    const r = await api("/api/settings/action", { method: "POST", body: { action: $("set-action").value } });
    $("set-action-msg").textContent = `Now recording: ${actionName(r.action)}`;
  } catch (e) { $("set-action-msg").textContent = e.message; }
}

/* ---------------------------------------------------------------- events */

function onEvent(kind, data) {
  const L = S.live;
  switch (kind) {
    case "snapshot":
      S.live = data; renderPhase(); renderNext(); renderLiveLast(); renderFrame(); managePicture();
      if (S.shownKey !== null || S.shown === null) { if (data.attempt) showLiveAttempt(); }
      return;
    case "phase": L.phase = data; renderPhase(); return;
    case "next": L.next = data && data.id ? data : null; renderNext(); return;
    case "context": L.context = data; return;
    case "status": L.status = data; if (S.view === "settings") loadSettings(); return;
    case "frame": L.frame = data; renderFrame(); return;
    case "attempt":
      L.attempt = data; renderLiveLast();
      if (S.shownKey !== null || S.shown === null) { showLiveAttempt(); }
      return;
    case "saved": case "not_saved":
      if (L.attempt && L.attempt.key === data.key) {
        if (kind === "saved") { L.attempt.saved = true; L.attempt.attempt_id = data.attempt_id; }
        else { L.attempt.saved = false; L.attempt.save_error = data.reason; }
        renderLiveLast();
        if (S.shownKey === data.key) { S.shown = L.attempt; renderResult(); }
        if (kind === "saved" && S.view === "class") loadClass();
      }
      return;
    case "guidance":
      if (L.attempt && L.attempt.key === data.key) {
        L.attempt.guidance_stream += data.token;
        if (S.shownKey === data.key) { $("r-guidance").textContent = L.attempt.guidance_stream; $("r-guidance").classList.add("streaming"); }
      }
      return;
    case "guidance_done":
      if (L.attempt && L.attempt.key === data.key) {
        L.attempt.guidance_done = true; L.attempt.guidance = data.guidance;
        if (data.guidance && data.guidance.text) L.attempt.guidance_stream = data.guidance.text;
        if (S.shownKey === data.key) renderGuidance(L.attempt);
      }
      return;
    case "updated": applyUpdated(data); return;
    case "logout": location.href = "/login"; return;
  }
}

function connect() {
  const es = new EventSource("/api/events");
  S.events = es;
  const kinds = ["snapshot", "phase", "next", "context", "status", "frame", "attempt", "saved", "not_saved", "guidance", "guidance_done", "updated", "logout"];
  for (const k of kinds) es.addEventListener(k, ev => onEvent(k, JSON.parse(ev.data)));
  es.onopen = () => { $("conn").textContent = "● live"; $("conn").classList.remove("down"); };
  es.onerror = async () => {
    $("conn").textContent = "reconnecting…"; $("conn").classList.add("down");
    if (es.readyState === EventSource.CLOSED) {
      try { const s = await api("/api/session"); if (!s.authenticated) location.href = "/login"; else setTimeout(connect, 3000); }
      catch (e) { setTimeout(connect, 3000); }
    }
  };
}

/* ---------------------------------------------------------------- start */

async function start() {
  S.session = await api("/api/session");
  if (!S.session.authenticated) { location.href = "/login"; return; }
  S.meta = await api("/api/meta");
  S.live = await api("/api/state");
  for (const t of document.querySelectorAll(".tab")) t.addEventListener("click", () => show(t.dataset.view));
  $("live-last").addEventListener("click", () => { if (S.live.attempt) { showLiveAttempt(); show("result"); } });
  $("choose-next").addEventListener("click", openNext);
  $("next-cancel").addEventListener("click", () => $("next-dialog").close());
  $("override-open").addEventListener("click", openOverride);
  $("ov-save").addEventListener("click", saveOverride);
  $("ov-cancel").addEventListener("click", () => $("override-dialog").close());
  $("r-back").addEventListener("click", () => show("class"));
  $("class-select").addEventListener("change", e => { S.classId = Number(e.target.value); loadClass(); });
  $("class-action").addEventListener("change", loadClass);
  $("set-action-apply").addEventListener("click", applyAction);
  $("logout").addEventListener("click", async () => { await api("/api/logout", { method: "POST" }); location.href = "/login"; });
  const demo = $("demo-attempt");
  demo.hidden = !S.session.demo;
  demo.addEventListener("click", async () => {
    demo.disabled = true;
    try { await api("/api/demo/attempt", { method: "POST" }); } catch (e) { $("phase-detail").textContent = e.message; }
    setTimeout(() => { demo.disabled = false; }, 1500);
  });
  onEvent("snapshot", S.live);
  show("live");
  connect();
}

start().catch(e => { $("conn").textContent = "error: " + e.message; });
