// routerd admin console. It logs in (name and password, or a token), then
// follows the cluster over Server-Sent Events (api/stream) and acts on
// sockets through api/action, with the session's CSRF token on every POST.
// Whatever the server sends is set as text (textContent, text nodes):
// nothing received is ever parsed as HTML.

import { drawChart } from "./chart.js";

/** POINTS is how many seconds the charts show. */
const POINTS = 60;

/** $ returns the element with that id. */
const $ = (id) => document.getElementById(id);

/**
 * el creates an element. props: class, text, dataset, title, on<event>
 * handlers and plain attributes; children are nodes or strings (text).
 */
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = String(value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

/** state is what the page shows and follows. */
const state = {
  session: null, // {name, method, csrf, expires, node}
  source: null, // the EventSource
  ns: "", // the selected namespace
  room: "", // the selected room
  snapshot: null,
  series: { deliveries: [], slow: [], limited: [], dropped: [], ackMean: [], ackP99: [] },
};

/** request calls the API; POSTs carry the CSRF token. It resolves with {status, body}. */
async function request(name, body) {
  const init = { headers: {}, credentials: "same-origin" };
  if (body !== undefined) {
    init.method = "POST";
    init.headers["Content-Type"] = "application/json";
    if (state.session) init.headers["X-CSRF-Token"] = state.session.csrf;
    init.body = JSON.stringify(body);
  }
  const res = await fetch(`api/${name}`, init);
  let data = null;
  if (res.status !== 204) data = await res.json().catch(() => null);
  return { status: res.status, body: data };
}

/** setLive shows the state of the stream. */
function setLive(stateName, label) {
  $("live").dataset.state = stateName;
  $("live").querySelector(".label").textContent = label;
}

// ---- login

/** showLogin shows the login form, with the ways the server offers. */
function showLogin(options = { password: true, token: false }, message = "") {
  state.source?.close();
  state.source = null;
  state.session = null;
  $("console").hidden = true;
  $("logout").hidden = true;
  $("who").hidden = true;
  $("cluster").hidden = true;
  $("login-view").hidden = false;
  $("password-login").hidden = !options.password;
  $("token-login").hidden = !options.token;
  $("login-name").required = !!options.password && !options.token;
  $("login-error").hidden = !message;
  $("login-error").textContent = message;
  setLive("off", "Offline");
  (options.password ? $("login-name") : $("login-token")).focus();
}

$("login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const token = $("login-token").value.trim();
  const body = token ? { token } : { name: $("login-name").value, password: $("login-password").value };
  $("login-submit").disabled = true;
  try {
    const res = await request("login", body);
    $("login-password").value = "";
    $("login-token").value = "";
    if (res.status === 200) {
      showConsole(res.body);
      return;
    }
    $("login-error").hidden = false;
    $("login-error").textContent =
      res.status === 429 ? "Too many attempts: wait a moment." : "Login refused: check the name and password.";
  } finally {
    $("login-submit").disabled = false;
  }
});

$("logout").addEventListener("click", async () => {
  await request("logout", {});
  const res = await request("session");
  showLogin(res.body?.login);
});

// ---- the console

/** showConsole shows the console for a session and starts following the cluster. */
function showConsole(session) {
  state.session = session;
  $("login-view").hidden = true;
  $("console").hidden = false;
  $("who").hidden = false;
  $("who").textContent = `${session.name} · via ${session.node}`;
  $("logout").hidden = false;
  follow();
}

/** follow (re)opens the stream for the current selection. */
function follow() {
  state.source?.close();
  const q = new URLSearchParams();
  if (state.ns) q.set("ns", state.ns);
  if (state.ns && state.room) {
    q.set("room", state.room);
    q.set("tail", "1");
  }
  const src = new EventSource(`api/stream?${q}`);
  state.source = src;
  setLive("connecting", "Connecting…");
  src.addEventListener("open", () => setLive("open", "Live"));
  src.addEventListener("snapshot", (e) => renderSnapshot(JSON.parse(e.data)));
  src.addEventListener("sockets", (e) => renderSockets(JSON.parse(e.data)));
  src.addEventListener("tail", (e) => renderTail(JSON.parse(e.data)));
  src.addEventListener("session", () => sessionGone());
  src.addEventListener("error", () => {
    if (state.source !== src) return;
    if (src.readyState === EventSource.CLOSED) sessionGone();
    else setLive("connecting", "Reconnecting…");
  });
}

/** sessionGone checks the session after the stream ended, and shows the login when it is over. */
async function sessionGone() {
  state.source?.close();
  const res = await request("session").catch(() => null);
  if (res?.status === 200) {
    state.session = res.body;
    setTimeout(follow, 1000);
    return;
  }
  showLogin(res?.body?.login, "Your session ended: log in again.");
}

/** select picks a namespace and room ("" for none) and follows them. */
function select(ns, room = "") {
  if (ns === state.ns && room === state.room) return;
  state.ns = ns;
  state.room = room;
  $("tail").replaceChildren();
  $("sockets").querySelector("tbody").replaceChildren();
  if (state.snapshot) renderSnapshot(state.snapshot);
  renderSelection();
  follow();
}

/** renderSelection shows what is selected in the titles and forms. */
function renderSelection() {
  $("rooms-ns").textContent = state.ns ? `of ${state.ns}` : "";
  $("sockets-title").textContent = state.room
    ? `Members of ${state.ns} / ${state.room}`
    : state.ns
      ? `Sockets of ${state.ns}`
      : "Sockets";
  $("sockets-hint").hidden = !!state.ns;
  $("actions").hidden = !state.ns;
  $("sockets").hidden = !state.ns;
  $("emit-room").disabled = !state.room;
  $("tail-room").textContent = state.room ? `of ${state.ns} / ${state.room}` : "";
  $("tail-hint").hidden = !!state.room;
  if (state.room && !$("act-room").value) $("act-room").value = state.room;
}

/** age writes how long ago a time was, as "3d 4h", "5m 12s". */
function age(since, now) {
  let s = Math.max(0, Math.floor((now - since) / 1000));
  const parts = [];
  for (const [unit, n] of [["d", 86400], ["h", 3600], ["m", 60], ["s", 1]]) {
    if (s >= n || (unit === "s" && parts.length === 0)) parts.push(`${Math.floor(s / n)}${unit}`);
    s %= n;
  }
  return parts.slice(0, 2).join(" ");
}

/** bytes writes a size in B, KiB, MiB or GiB. */
function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i ? n.toFixed(1) : n} ${units[i]}`;
}

/** rate writes a per-second figure. */
function rate(n) {
  return n >= 100 ? Math.round(n).toString() : n.toFixed(1);
}

/**
 * sync makes a table's body show items, in order, one row each: a row is
 * made once per key (create) and kept while its key is listed, its cells
 * brought up to date (update), so that rows under the pointer stay put.
 */
function sync(table, items, keyOf, create, update) {
  const body = $(table).querySelector("tbody");
  const old = new Map([...body.children].map((tr) => [tr.dataset.key, tr]));
  let prev = null;
  for (const item of items) {
    const key = keyOf(item);
    let tr = old.get(key);
    if (!tr) {
      tr = create(item);
      tr.dataset.key = key;
    }
    old.delete(key);
    update(tr, item);
    const want = prev ? prev.nextSibling : body.firstChild;
    if (want !== tr) body.insertBefore(tr, want);
    prev = tr;
  }
  for (const tr of old.values()) tr.remove();
}

/** row makes a row of empty cells, one per class given ("" for none). */
function row(props, ...classes) {
  return el("tr", props, ...classes.map((c) => el("td", { class: c || null })));
}

/** setText sets the text (and title) of a row's i-th cell. */
function setText(tr, i, text, title) {
  const td = tr.children[i];
  if (td.textContent !== String(text)) td.textContent = String(text);
  if (title !== undefined) td.title = title;
}

/** policyText sums up a namespace policy. */
function policyText(p) {
  const parts = [`auth ${p.auth}`, `publish ${p.client_publish}`];
  if (!p.client_join) parts.push("no client joins");
  if (p.direct) parts.push("direct");
  if (!p.presence) parts.push("no presence");
  if (p.presence_events) parts.push("presence events");
  if (p.history) parts.push(`history ${p.history}`);
  return parts.join(" · ");
}

/** renderSnapshot shows a snapshot of the cluster. */
function renderSnapshot(s) {
  state.snapshot = s;
  const now = Date.parse(s.time);
  const answered = s.nodes.filter((n) => n.answered).length;
  $("cluster").hidden = false;
  $("cluster").textContent = `${s.nodes.length} node${s.nodes.length === 1 ? "" : "s"}`;
  $("partial").hidden = !s.partial;

  sync(
    "nodes",
    s.nodes,
    (n) => n.id,
    (n) => row({ dataset: { node: n.name } }, "", "mono", "", "num", "num", "", "mono"),
    (tr, n) => {
      tr.className = n.answered ? "" : "silent";
      setText(tr, 0, n.name);
      setText(tr, 1, n.id, n.id);
      setText(tr, 2, n.started ? age(Date.parse(n.started), now) : "—");
      setText(tr, 3, n.answered ? n.connections : "—");
      setText(tr, 4, n.answered ? n.sockets : "—");
      const nats = n.nats ? (n.nats.connected ? "connected" : n.nats.status.toLowerCase()) : "console off";
      setText(tr, 5, nats, n.nats?.server ?? "");
      tr.children[5].className = n.nats ? (n.nats.connected ? "ok" : "bad") : "";
      setText(tr, 6, n.version || "—");
    },
  );
  $("nodes").dataset.answered = answered;

  sync(
    "namespaces",
    s.namespaces,
    (ns) => ns.name,
    (ns) => row({ dataset: { ns: ns.name }, onclick: () => select(ns.name) }, "name", "policy", "num", "num"),
    (tr, ns) => {
      tr.className = `pick${ns.name === state.ns ? " selected" : ""}`;
      setText(tr, 0, ns.key !== ns.name ? `${ns.name} (${ns.key})` : ns.name);
      setText(tr, 1, policyText(ns.policy));
      setText(tr, 2, ns.sockets);
      setText(tr, 3, ns.room_count);
    },
  );

  const ns = s.namespaces.find((n) => n.name === state.ns);
  const rooms = ns?.rooms ?? [];
  $("rooms-empty").hidden = rooms.length > 0;
  $("rooms-empty").textContent = state.ns ? "No room has members." : "Pick a namespace.";
  sync(
    "rooms",
    rooms,
    (r) => r.room,
    (r) => row({ dataset: { room: r.room }, onclick: () => select(state.ns, r.room) }, "name", "num", "num"),
    (tr, r) => {
      tr.className = `pick${r.room === state.room ? " selected" : ""}`;
      setText(tr, 0, r.room);
      setText(tr, 1, r.members);
      setText(tr, 2, rate(r.rate));
    },
  );

  $("streams-empty").hidden = s.streams.length > 0;
  sync(
    "streams",
    s.streams,
    (st) => `${st.account}/${st.name}`,
    (st) => row({ dataset: { stream: st.name } }, "mono", "num", "num", "num", "num", ""),
    (tr, st) => {
      setText(tr, 0, st.name, st.account ? `account ${st.account}` : "");
      setText(tr, 1, st.messages);
      setText(tr, 2, bytes(st.bytes));
      setText(tr, 3, st.first_seq);
      setText(tr, 4, st.last_seq);
      setText(tr, 5, st.last_time ? `${age(Date.parse(st.last_time), now)} ago` : "—");
    },
  );

  if (s.rates) pushRates(s.rates);
}

/** pushRates adds a second of rates to the charts and draws them. */
function pushRates(r) {
  const add = (name, v) => {
    const a = state.series[name];
    a.push(v);
    if (a.length > POINTS) a.shift();
  };
  add("deliveries", r.deliveries);
  add("slow", r.slow_consumer);
  add("limited", r.rate_limited);
  add("dropped", r.dropped);
  add("ackMean", r.ack_mean_ms);
  add("ackP99", r.ack_p99_ms);
  const s = state.series;
  drawChart($("chart-deliveries"), [{ name: "deliveries", values: s.deliveries }], POINTS);
  drawChart(
    $("chart-drops"),
    [
      { name: "slow consumer", values: s.slow },
      { name: "rate limited", values: s.limited },
      { name: "dropped", values: s.dropped },
    ],
    POINTS,
  );
  drawChart(
    $("chart-acks"),
    [
      { name: "mean", values: s.ackMean },
      { name: "p99 ≤", values: s.ackP99 },
    ],
    POINTS,
  );
  $("chart-deliveries").querySelector(".value").textContent = rate(r.deliveries);
  $("chart-drops").querySelector(".value").textContent = rate(r.slow_consumer + r.rate_limited + r.dropped);
  $("chart-acks").querySelector(".value").textContent = r.ack_mean_ms == null ? "—" : r.ack_mean_ms.toFixed(1);
}

/** renderSockets shows the sockets (or room members) the stream listed. */
function renderSockets(v) {
  if (v.ns !== state.ns || (v.room ?? "") !== state.room) return;
  const now = Date.now();
  sync(
    "sockets",
    v.sockets,
    (so) => `${so.node}/${so.sid}`,
    (so) => {
      const tr = row({ dataset: { sid: so.sid, node: so.node } }, "mono", "", "", "", "mono", "", "rooms-cell", "row-actions");
      const buttons = [
        el("button", { type: "button", class: "danger", dataset: { act: "disconnect" }, text: "Disconnect", onclick: () => act("disconnect", so) }),
        el("button", { type: "button", class: "secondary", dataset: { act: "join" }, text: "Join room", onclick: () => act("join", so) }),
        state.room ? el("button", { type: "button", class: "secondary", dataset: { act: "leave" }, text: "Leave room", onclick: () => act("leave", so) }) : null,
        el("button", { type: "button", class: "secondary", dataset: { act: "emit" }, text: "Emit", onclick: () => act("emit", so) }),
      ];
      tr.lastChild.append(...buttons.filter(Boolean)); // append would write a null as "null"
      return tr;
    },
    (tr, so) => {
      setText(tr, 0, so.sid);
      setText(tr, 1, so.user ?? "");
      setText(tr, 2, so.transport ?? "—");
      setText(tr, 3, so.node);
      setText(tr, 4, so.address ?? "—");
      setText(tr, 5, so.since ? `${age(Date.parse(so.since), now)} ago` : "—", so.since ?? "");
      setText(tr, 6, (so.rooms ?? []).join(", "));
    },
  );
  const more = v.total - v.sockets.length;
  $("sockets-more").hidden = more <= 0 && !v.partial;
  $("sockets-more").textContent = [more > 0 ? `${more} more not listed` : "", v.partial ? "some nodes did not answer" : ""]
    .filter(Boolean)
    .join(" · ");
}

/** renderTail adds an event of the followed room. */
function renderTail(e) {
  const list = $("tail");
  const item = el(
    "li",
    {},
    el("time", { text: clock(new Date(e.time)) }),
    el("span", { class: "event", text: e.event }),
    e.from ? el("span", { class: "mono muted", text: e.from }) : null,
    el("code", { text: e.data + (e.cut ? " …" : "") }),
    e.skipped ? el("span", { class: "muted", text: `(+${e.skipped} not shown)` }) : null,
  );
  list.prepend(item);
  while (list.children.length > 100) list.lastChild.remove();
}

/** clock writes a time as hours, minutes and seconds. */
function clock(t = new Date()) {
  return t.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
}

/** logLine adds a line to the actions log. */
function logLine(text, ok) {
  const list = $("log");
  list.prepend(el("li", { class: ok ? "ok" : "bad" }, el("time", { text: clock() }), text));
  while (list.children.length > 50) list.lastChild.remove();
}

/** act carries out an action on a socket (or, for emit-room, the room). */
async function act(op, s) {
  const body = { op: op === "emit-room" ? "emit" : op, ns: state.ns };
  if (s) body.sid = s.sid;
  switch (op) {
    case "disconnect":
      body.reason = $("act-reason").value.trim();
      break;
    case "join":
      body.room = $("act-room").value.trim();
      break;
    case "leave":
      body.room = state.room;
      break;
    case "emit":
    case "emit-room":
      if (op === "emit-room") body.room = state.room;
      body.event = $("act-event").value.trim();
      body.data = $("act-data").value;
      break;
  }
  const target = s ? `socket ${s.sid}` : `room ${state.room}`;
  let what = `${body.op} ${target}`;
  if (body.op !== "emit" && body.room && s) what += ` ${op === "join" ? "to" : "from"} ${body.room}`;
  const res = await request("action", body).catch((err) => ({ status: 0, body: { error: { message: err.message } } }));
  if (res.status === 401 || (res.status === 403 && !state.session)) {
    sessionGone();
    return;
  }
  const ok = res.status === 200 && res.body?.ok;
  let result = ok ? (body.op === "emit" ? "sent" : `${res.body.count} socket${res.body.count === 1 ? "" : "s"}`) : `refused: ${res.body?.error?.message ?? res.status}`;
  if (ok && res.body.partial) result += " (a node did not answer)";
  logLine(`${what}: ${result}`, ok);
}

$("emit-room").addEventListener("click", () => act("emit-room", null));
$("actions").addEventListener("submit", (e) => e.preventDefault());

// ---- start

const res = await request("session").catch(() => null);
if (res?.status === 200) showConsole(res.body);
else showLogin(res?.body?.login);
renderSelection();
