// The routerd chat page. It uses only /client.js: rooms of one namespace
// (default "chat"), live member lists from presence plus $join/$leave,
// display names shared with `intro` room events, direct messages to a sid,
// the server-bound `nick` request when a backend answers it, and, where the
// namespace keeps history, the room's recent lines on joining and a gap-free
// resume after a reconnect. Where examples/chatbot runs with a language
// model, its answers grow on the page as they are written (answers.js), and
// a conversation with the assistant itself sits among the direct messages.
//
// URL parameters: ?name=ann skips the name prompt, ?room=lobby (repeatable)
// picks the rooms to join, ?ns=chat the namespace.

import { Answers } from "./answers.js";
import { RouterClient } from "./client.js";
import { avatar, el, messageItem, showStatus, systemItem, toast } from "./view.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const nsName = params.get("ns") || "chat";

/** NICK_TIMEOUT bounds the wait for a backend's answer to `nick` (ms). */
const NICK_TIMEOUT = 3000;
/** RECENT_LINES is how much of a room's history the page shows on joining. */
const RECENT_LINES = 50;
/** GROUP_MS: lines of one sender closer than this share one header. */
const GROUP_MS = 5 * 60 * 1000;

const app = {
  client: new RouterClient(),
  ns: null, // the Namespace, once attached
  name: "", // our display name
  names: new Map(), // sid -> display name, learnt from intro and message events
  convs: new Map(), // key ("room:x" | "dm:sid" | "bot:name") -> Conversation
  active: null, // key of the conversation on screen
  assistant: null, // {name, model, direct, rooms} when a backend answers "assistant"
  answers: new Answers(answerConv), // answers growing on the page
};

/** Conversation is a room, a direct-message thread or the assistant's, with its own message list. */
class Conversation {
  constructor(kind, id) {
    this.kind = kind; // "room" | "dm" | "bot"
    this.id = id; // room name, peer sid, or the assistant's name
    this.key = `${kind}:${id}`;
    this.joined = kind !== "room"; // rooms: whether we are in it now
    this.members = new Map(); // rooms: sid -> {sid, user?}
    this.unread = 0;
    this.last = null; // {sender, at} of the last chat line, for grouping
    this.lastSeq = undefined; // rooms with history: seq of the last event shown
    this.list = el("ol", { class: "messages", dataset: { conv: this.key }, hidden: true });
    $("conversations").append(this.list);
  }

  /** title is what the sidebar and header call this conversation. */
  get title() {
    return this.kind === "dm" ? displayName(this.id) : this.id;
  }

  /** message appends a chat line and returns its element. */
  message(m) {
    const at = Date.now();
    const continued = this.last?.sender === m.sender && at - this.last.at < GROUP_MS;
    this.last = { sender: m.sender, at };
    return this.#append(messageItem({ ...m, time: new Date(at) }, continued), m.self);
  }

  /** system appends a muted line. */
  system(...parts) {
    this.last = null;
    return this.#append(systemItem(...parts), false);
  }

  /** nearBottom says whether the list shows its end (new lines then keep it in view). */
  nearBottom() {
    const list = this.list;
    return list.scrollHeight - list.scrollTop - list.clientHeight < 48;
  }

  #append(item, mine) {
    const list = this.list;
    const atBottom = this.nearBottom();
    list.append(item);
    if (atBottom || mine) list.scrollTop = list.scrollHeight;
    if (app.active !== this.key && !item.classList.contains("system")) {
      this.unread++;
      renderNav();
    }
    return item;
  }
}

// ---- names ------------------------------------------------------------

/** cleanName returns a usable display name from untrusted input, or "". */
function cleanName(v) {
  return typeof v === "string" ? v.replace(/\s+/g, " ").trim().slice(0, 32) : "";
}

/** shorten cuts a long user-chosen name (a room) for a notice. */
function shorten(s, max = 40) {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/** displayName is a sid's name: ours, an announced one, or a short sid. */
function displayName(sid) {
  if (sid === app.ns?.sid) return app.name;
  return app.names.get(sid) ?? `guest-${sid.slice(0, 6)}`;
}

/** who is a name that follows the sid's later renames. */
function who(sid) {
  return el("span", { class: "who", dataset: { sid }, text: displayName(sid) });
}

/** learnName records a sid's display name and updates everything showing it. */
function learnName(sid, name) {
  if (!sid || !name || app.names.get(sid) === name) return;
  app.names.set(sid, name);
  for (const node of document.querySelectorAll(`.who[data-sid="${CSS.escape(sid)}"]`)) {
    node.textContent = name;
  }
  renderNav();
  renderHeader();
  renderMembers();
}

/** introduce tells a room our display name (sent after joining and on every $join). */
function introduce(room) {
  try {
    app.ns.emit("intro", { name: app.name }, { room });
  } catch {
    // not connected: the reconnect introduces us again
  }
}

/**
 * registerNick asks a backend to reserve our name. It returns null when the
 * name is ours or nobody keeps names (no_responders, timeout), else why not.
 */
async function registerNick(name) {
  try {
    const reply = await app.ns.emitWithAck("nick", { name }, { server: true }, { timeout: NICK_TIMEOUT });
    return reply?.ok === false ? String(reply.error?.message ?? "refused") : null;
  } catch (err) {
    return ["no_responders", "timeout", "closed"].includes(err.code) ? null : err.message || err.code;
  }
}

// ---- server events ----------------------------------------------------

/**
 * onMessage shows a `message` event: a room line, a direct message, a
 * backend's note to this socket, or a broadcast. The final message of an
 * answer growing here ends that answer instead.
 */
function onMessage(data, meta) {
  if (meta.room !== undefined && meta.seq !== undefined) {
    const room = app.convs.get(`room:${meta.room}`);
    if (room) room.lastSeq = meta.seq;
  }
  if (!meta.from && typeof data?.answer === "string" && app.answers.finish(data)) return;
  const text = typeof data?.text === "string" ? data.text : typeof data === "string" ? data : JSON.stringify(data);
  const name = cleanName(data?.name) || (meta.from ? displayName(meta.from) : "server");
  if (meta.from && cleanName(data?.name)) learnName(meta.from, name);
  let conv;
  if (meta.room !== undefined) conv = app.convs.get(`room:${meta.room}`);
  else if (meta.from) conv = conversation("dm", meta.from);
  else if (typeof data?.room === "string") conv = app.convs.get(`room:${data.room}`); // e.g. the assistant's refusal
  else if (typeof data?.answer === "string") conv = botConv(data.name); // a direct answer whose start we missed
  else conv = activeConv(); // a namespace broadcast from a backend
  const item = conv?.message({ name, text, sender: meta.from ?? `backend:${name}`, backend: !meta.from });
  if (item && (data?.status === "refused" || data?.status === "error")) item.classList.add("answer-error");
}

/** answerConv is where an answer event shows: its room (when we are in it) or the assistant's conversation. */
function answerConv(data) {
  if (typeof data?.room === "string") {
    const conv = app.convs.get(`room:${data.room}`);
    return conv?.joined ? conv : undefined;
  }
  return botConv(data?.name);
}

/** botConv returns the conversation with the assistant called name. */
function botConv(name) {
  return conversation("bot", cleanName(name) || app.assistant?.name || "assistant");
}

/**
 * discoverAssistant asks whether an assistant answers in this namespace
 * (the server-bound "assistant" request of examples/chatbot) and, when it
 * takes direct questions, opens a conversation with it.
 */
async function discoverAssistant() {
  let info;
  try {
    info = await app.ns.emitWithAck("assistant", {}, { server: true }, { timeout: NICK_TIMEOUT });
  } catch {
    return; // no_responders: no assistant here
  }
  const name = cleanName(info?.name);
  if (!name) return;
  app.assistant = { name, model: String(info.model ?? ""), direct: info.direct === true, rooms: Array.isArray(info.rooms) ? info.rooms : [] };
  if (app.assistant.direct && !app.convs.has(`bot:${name}`)) {
    conversation("bot", name).system(`Ask ${name} anything here; mention @${name} in a room to ask there.`);
  }
}

function onIntro(data, meta) {
  if (meta.from && meta.from !== app.ns.sid) learnName(meta.from, cleanName(data?.name));
}

function onJoin(data, meta) {
  const conv = app.convs.get(`room:${meta.room}`);
  if (!conv?.joined || !data?.sid) return;
  conv.members.set(data.sid, data);
  conv.system(who(data.sid), " joined");
  introduce(meta.room);
  refreshViews(conv);
}

function onLeave(data, meta) {
  const conv = app.convs.get(`room:${meta.room}`);
  if (!conv?.joined || !data?.sid || !conv.members.delete(data.sid)) return;
  conv.system(who(data.sid), " left");
  refreshViews(conv);
}

/** onReconnected refreshes what a reconnect changed: our sid, the members, the nick. */
async function onReconnected() {
  app.answers.interrupt((a) => a.room === undefined); // direct answers went to our old sid
  const refused = await registerNick(app.name);
  if (refused) toast(`Your name “${app.name}” is no longer available: ${refused}`);
  for (const conv of roomConvs()) {
    if (!app.ns.rooms.has(conv.id)) continue;
    conv.system("Reconnected");
    await refreshMembers(conv);
    introduce(conv.id);
  }
}

/** onDisconnected handles the server detaching the namespace (kicked, token expired...). */
function onDisconnected({ ns, reason }) {
  if (ns !== nsName || reason === "shutdown") return; // a restart: the client reconnects
  toast(`Disconnected from ${ns}: ${reason}. Pick a room to join again.`);
  for (const conv of roomConvs()) {
    conv.joined = false;
    conv.members.clear();
    conv.system(`Disconnected by the server (${reason})`);
  }
  renderNav();
  renderMembers();
}

// ---- rooms and conversations --------------------------------------------

function activeConv() {
  return app.convs.get(app.active);
}

function roomConvs() {
  return [...app.convs.values()].filter((c) => c.kind === "room");
}

/** conversation returns the conversation of kind and id, creating it when new. */
function conversation(kind, id) {
  const key = `${kind}:${id}`;
  if (!app.convs.has(key)) {
    app.convs.set(key, new Conversation(kind, id));
    renderNav();
  }
  return app.convs.get(key);
}

/**
 * attach attaches to the namespace if we are not (first start, or after a
 * kick); the Namespace object, and so its listeners, stays the same.
 */
async function attach() {
  if (app.ns?.sid) return;
  const ns = await app.client.namespace(nsName);
  if (!app.ns) {
    ns.on("message", onMessage);
    ns.on("intro", onIntro);
    ns.on("$join", onJoin);
    ns.on("$leave", onLeave);
    // Answers come from a backend (no `from`): a client could emit these names too.
    ns.on("answer_start", (data, meta) => meta.from || app.answers.start(data));
    ns.on("answer_delta", (data, meta) => meta.from || app.answers.delta(data));
  }
  app.ns = ns;
}

/** joinRoom joins a room (or shows it when already in) and introduces us there. */
async function joinRoom(room, { show = true } = {}) {
  room = room.trim();
  if (!room) return;
  const known = app.convs.get(`room:${room}`);
  if (!known?.joined) {
    const conv = conversation("room", room); // first, so replayed lines land in it
    try {
      await attach();
      await app.ns.join(room, await recent(conv, room));
    } catch (err) {
      if (!known) drop(conv.key);
      toast(`Cannot join #${shorten(room)}: ${err.code ?? "error"}: ${err.message}`);
      return;
    }
    conv.joined = true;
    conv.system(`You joined #${room}`);
    if (app.assistant?.rooms.includes(room)) conv.system(`${app.assistant.name} answers every message here`);
    await refreshMembers(conv);
    introduce(room);
  }
  if (show) select(`room:${room}`);
}

/**
 * recent shows the room's recent history in a conversation new to it and
 * returns the join options that go on from there without a gap: {since: the
 * last seq shown}. A conversation that showed the room before goes on from
 * its last line. Where the namespace keeps no history: {}.
 */
async function recent(conv, room) {
  if (conv.lastSeq !== undefined) return { since: conv.lastSeq };
  let events;
  try {
    events = await app.ns.history(room, { limit: RECENT_LINES });
  } catch (err) {
    if (err.code === "forbidden") return {};
    throw err;
  }
  if (events.length > 0) conv.system(`Recent history of #${room}`);
  for (const ev of events) app.ns.deliver(ev);
  conv.lastSeq = events.at(-1)?.seq ?? 0;
  return { since: conv.lastSeq };
}

/** leaveRoom leaves a room and drops its conversation. */
async function leaveRoom(room) {
  try {
    await app.ns.leave(room);
  } catch (err) {
    toast(`Cannot leave #${shorten(room)}: ${err.message}`);
    return;
  }
  drop(`room:${room}`);
}

/** drop removes a conversation and shows another one. */
function drop(key) {
  app.convs.get(key)?.list.remove();
  app.convs.delete(key);
  if (app.active === key) app.active = null;
  select(app.active ?? [...app.convs.keys()][0] ?? null);
}

/** refreshMembers replaces a room's member list with a fresh presence answer. */
async function refreshMembers(conv) {
  try {
    const members = await app.ns.presence(conv.id);
    conv.members = new Map(members.map((m) => [m.sid, m]));
  } catch (err) {
    toast(`Cannot list the members of #${shorten(conv.id)}: ${err.message}`);
  }
  refreshViews(conv);
}

/** refreshViews redraws what shows a conversation's members when it is on screen. */
function refreshViews(conv) {
  if (conv.key !== app.active) return;
  renderHeader();
  renderMembers();
}

/** isOnline says whether a sid is in any room we are in. */
function isOnline(sid) {
  return roomConvs().some((c) => c.members.has(sid));
}

/** select shows a conversation (null: none). */
function select(key) {
  app.active = key;
  const conv = activeConv();
  for (const c of app.convs.values()) c.list.hidden = c !== conv;
  if (conv) {
    conv.unread = 0;
    conv.list.scrollTop = conv.list.scrollHeight;
  }
  $("empty").hidden = Boolean(conv);
  for (const node of [$("text"), $("composer").querySelector("button")]) node.disabled = !conv;
  $("text").placeholder = conv ? `Message ${conv.kind === "room" ? "#" : "@"}${conv.title}` : "";
  document.body.classList.remove("show-rooms", "show-members");
  renderNav();
  renderHeader();
  renderMembers();
  if (conv) $("text").focus();
}

/** send posts the composer's text to the conversation on screen. */
async function send(text) {
  const conv = activeConv();
  if (!conv || !text) return;
  const line = conv.message({ name: app.name, text, sender: "self", self: true });
  line.classList.add("pending");
  try {
    if (conv.kind === "bot") await app.ns.emitWithAck("ask", { name: app.name, text }, { server: true });
    else await app.ns.emitWithAck("message", { name: app.name, text }, conv.kind === "room" ? { room: conv.id } : { to: conv.id });
    line.classList.remove("pending");
  } catch (err) {
    line.classList.replace("pending", "failed");
    line.querySelector(".body").append(el("p", { class: "failure", text: `Not sent: ${err.code}` }));
    toast(`Message not sent: ${err.code}: ${err.message}`);
  }
}

// ---- rendering ----------------------------------------------------------

/** renderNav redraws the room and direct-message lists of the sidebar. */
function renderNav() {
  const convs = [...app.convs.values()];
  $("rooms").replaceChildren(...convs.filter((c) => c.kind === "room").map(navItem));
  $("dms").replaceChildren(...convs.filter((c) => c.kind !== "room").map(navItem));
  $("dm-hint").hidden = convs.some((c) => c.kind === "dm");
}

function navItem(conv) {
  const active = conv.key === app.active;
  const room = conv.kind === "room";
  return el(
    "li",
    { class: ["conv", active && "active", !conv.joined && "gone"].filter(Boolean).join(" ") },
    el(
      "button",
      {
        type: "button",
        class: "open",
        "aria-current": active ? "true" : null,
        title: room && !conv.joined ? "Join again" : null,
        onclick: () => (room && !conv.joined ? joinRoom(conv.id) : select(conv.key)),
      },
      el("span", { class: "sigil", text: room ? "#" : "@" }),
      el("span", { class: "conv-name", text: conv.title }),
      conv.unread ? el("span", { class: "badge", text: String(conv.unread) }) : null,
    ),
    el("button", {
      type: "button",
      class: "close",
      title: room ? `Leave #${conv.id}` : "Close",
      "aria-label": room ? `Leave ${conv.id}` : `Close conversation with ${conv.title}`,
      text: "×",
      onclick: () => (room ? leaveRoom(conv.id) : drop(conv.key)),
    }),
  );
}

/** renderHeader redraws the title line of the conversation on screen. */
function renderHeader() {
  const conv = activeConv();
  $("conv-title").textContent = conv ? `${conv.kind === "room" ? "#" : "@"} ${conv.title}` : "Not in a room";
  let sub = "";
  if (conv?.kind === "room") {
    const n = conv.members.size;
    sub = conv.joined ? `${n} member${n === 1 ? "" : "s"} · ${nsName}` : "not joined";
  } else if (conv?.kind === "bot") {
    sub = ["assistant", app.assistant?.model].filter(Boolean).join(" · ");
  } else if (conv) {
    sub = `direct message · ${isOnline(conv.id) ? "online" : "offline"}`;
  }
  $("conv-sub").textContent = sub;
  $("share").hidden = conv?.kind !== "room";
  $("leave").hidden = !conv;
  $("leave").textContent = conv?.kind === "room" ? "Leave" : "Close";
}

/** renderMembers redraws the member list of the conversation on screen. */
function renderMembers() {
  const conv = activeConv();
  const me = app.ns?.sid;
  let sids = [];
  if (conv?.kind === "room") sids = [...conv.members.keys()];
  else if (conv?.kind === "dm") sids = [me, conv.id].filter(Boolean);
  else if (conv) sids = [me].filter(Boolean);
  sids.sort((a, b) => (a === me ? -1 : b === me ? 1 : displayName(a).localeCompare(displayName(b))));
  $("members").replaceChildren(...sids.map((sid) => memberItem(sid, conv.members.get(sid)?.user, sid === me)));
  $("member-count").textContent = sids.length ? String(sids.length) : "";
}

function memberItem(sid, user, self) {
  const label = el(
    "span",
    { class: "member-label" },
    who(sid),
    self ? el("span", { class: "tag", text: "you" }) : null,
    user ? el("span", { class: "user", text: user }) : null,
  );
  const content = [avatar(displayName(sid)), label];
  const item = self
    ? el("div", { class: "member-row" }, ...content)
    : el(
        "button",
        { type: "button", class: "member-row", title: "Send a direct message", onclick: () => select(conversation("dm", sid).key) },
        ...content,
      );
  return el("li", { class: self ? "member self" : "member", dataset: { sid } }, item);
}

// ---- start --------------------------------------------------------------

/** askName opens the name dialog; error says why the last name was refused. */
function askName(rooms, error = "") {
  const form = $("welcome-form");
  form.elements.name.value = cleanName(params.get("name")) || app.name || localStorage.getItem("routerd.name") || "";
  form.elements.room.value = rooms[0] ?? "lobby";
  form.elements.room.closest("label").hidden = app.convs.size > 0;
  $("welcome-error").textContent = error;
  $("welcome-error").hidden = !error;
  $("welcome").showModal();
}

/** begin takes a display name, registers it and joins the rooms. */
async function begin(name, rooms) {
  try {
    await attach();
  } catch (err) {
    toast(`Cannot use namespace “${nsName}”: ${err.code}: ${err.message}`);
    return;
  }
  const refused = await registerNick(name);
  if (refused) {
    askName(rooms, `“${name}” is not available: ${refused}`);
    return;
  }
  app.name = name;
  learnName(app.ns.sid, name); // a rename: redraw where our name shows
  if (!app.assistant) await discoverAssistant();
  localStorage.setItem("routerd.name", name);
  $("me").replaceChildren(avatar(name), el("span", { text: name }));
  $("me").hidden = false;
  for (const conv of roomConvs()) if (conv.joined) introduce(conv.id);
  for (const [i, room] of rooms.entries()) await joinRoom(room, { show: i === 0 });
  renderMembers();
  $("text").focus();
}

function wireUI() {
  $("ns-label").textContent = `namespace ${nsName}`;
  $("welcome-form").addEventListener("submit", () => {
    const form = $("welcome-form");
    const name = cleanName(form.elements.name.value);
    const room = form.elements.room.value.trim();
    if (name) begin(name, app.convs.size ? [] : [room || "lobby"]);
  });
  $("welcome").addEventListener("cancel", (ev) => {
    if (!app.name) ev.preventDefault(); // a name is needed to start
  });
  $("me").addEventListener("click", () => askName([]));
  $("composer").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const input = $("text");
    const text = input.value.trim();
    input.value = "";
    send(text);
  });
  $("join-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    joinRoom($("join-input").value);
    $("join-input").value = "";
  });
  $("leave").addEventListener("click", () => {
    const conv = activeConv();
    if (conv) conv.kind === "room" ? leaveRoom(conv.id) : drop(conv.key);
  });
  $("share").addEventListener("click", async () => {
    const link = new URL(location.pathname, location.href);
    link.searchParams.set("room", activeConv().id);
    if (nsName !== "chat") link.searchParams.set("ns", nsName);
    try {
      await navigator.clipboard.writeText(link.href);
      toast("Link copied: anyone opening it joins this room.", "info");
    } catch {
      toast(link.href, "info");
    }
  });
  $("rooms-toggle").addEventListener("click", () => document.body.classList.toggle("show-rooms"));
  $("members-toggle").addEventListener("click", () => document.body.classList.toggle("show-members"));
}

function main() {
  wireUI();
  const { client } = app;
  client.on("status", showStatus);
  client.on("error", (frame) => toast(`${frame.code}: ${frame.message}`));
  client.on("disconnected", onDisconnected);
  client.on("reconnected", onReconnected);
  const rooms = params.getAll("room").map((r) => r.trim()).filter(Boolean);
  const name = cleanName(params.get("name"));
  if (name) begin(name, rooms.length ? rooms : ["lobby"]);
  else askName(rooms);
}

main();
