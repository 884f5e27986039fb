// Signpost live alerts: lists alerts, follows the live feed, lets the inclusion team act on them.
// EventSource can't send an Authorization header, so the feed is read with fetch() and a stream reader.
"use strict";

const RULES = {
  suspension_days_nearing_limit: "Nearing 45-day limit",
  suspension_days_limit_exceeded: "Over 45-day limit",
  informal_exclusions_repeated: "Repeated informal exclusions",
  end_of_term_spike: "End-of-term spike",
};
const alerts = new Map();
let token = sessionStorage.getItem("signpost-token") || "";
let feed = null;

const $ = (id) => document.getElementById(id);

function headers(extra = {}) {
  return { Authorization: `Bearer ${token}`, ...extra };
}

function say(text) {
  const m = $("message");
  m.textContent = text;
  m.hidden = !text;
}

function subject(a) {
  if (a.subject.kind === "child") return `child ${a.subject.upn || a.subject.child_id}`;
  if (a.subject.kind === "school") return `school ${a.subject.school_urn}`;
  return `LA ${a.subject.la_code}`;
}

function visible(a) {
  const la = $("la").value.trim();
  const status = $("status").value;
  return (!la || a.la_code === la) && (!status || a.status === status);
}

function render() {
  const rows = [...alerts.values()].filter(visible).sort((x, y) => y.updated_at.localeCompare(x.updated_at));
  const body = $("alerts").querySelector("tbody");
  body.replaceChildren(...rows.map(row));
  const counts = {};
  for (const a of alerts.values()) if (a.status === "open") counts[a.rule] = (counts[a.rule] || 0) + 1;
  $("summary").replaceChildren(...Object.entries(RULES).map(([rule, label]) => {
    const card = document.createElement("div");
    card.className = `card ${rule}`;
    card.innerHTML = `<strong></strong><span></span>`;
    card.querySelector("strong").textContent = counts[rule] || 0;
    card.querySelector("span").textContent = label;
    return card;
  }));
}

function row(a) {
  const tr = document.createElement("tr");
  tr.id = `alert-${a.id}`;
  tr.className = `sev-${a.severity} st-${a.status}`;
  const cells = [a.severity, RULES[a.rule] || a.rule, subject(a), a.la_code, a.academic_year + (a.term ? ` ${a.term}` : ""),
    `${a.value} / ${a.threshold}`, a.status + (a.snoozed_until ? ` until ${a.snoozed_until.slice(0, 10)}` : ""), a.updated_at.slice(0, 16).replace("T", " ")];
  for (const text of cells) {
    const td = document.createElement("td");
    td.textContent = text;
    tr.appendChild(td);
  }
  const actions = document.createElement("td");
  if (a.status !== "resolved") {
    actions.append(button("Acknowledge", () => act(a, "acknowledge", { note: "seen on the dashboard" })));
    actions.append(button("Snooze 7 days", () => {
      const reason = prompt("Why snooze this alert?");
      if (reason) act(a, "snooze", { until: new Date(Date.now() + 7 * 864e5).toISOString(), reason });
    }));
    actions.append(button("Resolve", () => act(a, "resolve", {})));
  }
  tr.appendChild(actions);
  return tr;
}

function button(label, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.addEventListener("click", onClick);
  return b;
}

async function act(a, action, body) {
  const r = await fetch(`/v1/alerts/${a.id}/${action}`, { method: "POST", headers: headers({ "Content-Type": "application/json" }), body: JSON.stringify(body) });
  if (!r.ok) return say(`${action} failed: ${(await r.json()).detail || r.status}`);
  const changed = await r.json();
  alerts.set(changed.id, changed);
  render();
}

async function load() {
  alerts.clear();
  let cursor = null;
  do {
    const r = await fetch(`/v1/alerts?limit=500${cursor ? `&cursor=${cursor}` : ""}`, { headers: headers() });
    if (!r.ok) return say(r.status === 401 ? "That token is not known." : r.status === 403 ? "That token can't read alerts." : `Error ${r.status}`);
    const page = await r.json();
    for (const a of page.items) alerts.set(a.id, a);
    cursor = page.next_cursor;
  } while (cursor);
  say("");
  render();
  follow();
}

async function follow() {
  if (feed) feed.abort();
  feed = new AbortController();
  const live = $("live");
  try {
    const r = await fetch("/v1/alerts/stream", { headers: headers({ Accept: "text/event-stream" }), signal: feed.signal });
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    live.textContent = "live";
    live.className = "live on";
    const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).join("\n");
        if (!data) continue;
        const a = JSON.parse(data);
        alerts.set(a.id, a);
        render();
        const tr = $(`alert-${a.id}`);
        if (tr) tr.classList.add("fresh");
      }
    }
  } catch (e) {
    if (e.name === "AbortError") return;
  }
  live.textContent = "reconnecting…";
  live.className = "live off";
  setTimeout(follow, 2000);
}

$("login").addEventListener("submit", (e) => {
  e.preventDefault();
  token = $("token").value.trim();
  sessionStorage.setItem("signpost-token", token);
  load();
});
$("status").addEventListener("change", render);
$("la").addEventListener("input", render);

// A token in the fragment (#token=...) never reaches the server's logs; it is moved to session storage.
const fromFragment = new URLSearchParams(location.hash.slice(1)).get("token");
if (fromFragment) {
  token = fromFragment;
  sessionStorage.setItem("signpost-token", token);
  history.replaceState(null, "", location.pathname);
}
if (token) {
  $("token").value = token;
  load();
}
