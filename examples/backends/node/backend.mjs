// A routerd backend in Node: plain NATS with the official client
// (@nats-io/transport-node), no routerd SDK. It does what ../go/main.go
// does: serves the server-bound events ping, upper, who and poll of
// namespace chat, greets each socket that connects, and decides who may
// connect to namespace private (auth: backend). ../README.md shows each
// exchange.
//
//   npm ci && node backend.mjs    # NATS_URL=nats://host:4222 to change it
import { connect, headers } from "@nats-io/transport-node";

const url = process.env.NATS_URL || "nats://127.0.0.1:4222";
const nc = await connect({ servers: url, name: "routerd-backend-node" });

// escape makes a room, event, user or sid name one subject token, as
// routerd does: bytes [A-Za-z0-9_-] stay, every other byte (UTF-8) is %XX.
const escape = (name) =>
  Array.from(new TextEncoder().encode(name), (b) => {
    const c = String.fromCharCode(b);
    return /[A-Za-z0-9_-]/.test(c) ? c : "%" + b.toString(16).toUpperCase().padStart(2, "0");
  }).join("");

// log writes one line: a message and its fields as JSON.
const log = (msg, fields) => console.log(msg, JSON.stringify(fields));

// data is a message's JSON payload (routerd sends event data as JSON).
const data = (m) => (m.data.length ? m.json() : null);

// respond answers a request with value as JSON: the client's ack data.
const respond = (m, value) => m.respond(JSON.stringify(value));

// refuse answers a request with a Router-Error header: the client gets an
// error frame with that code, and the payload as its message.
function refuse(m, code, message) {
  const h = headers();
  h.set("Router-Error", code);
  m.respond(message, { headers: h });
}

// presence asks routerd, for the whole cluster, who is in room.
async function presence(room) {
  const r = await nc.request("router.chat.ctl.presence", JSON.stringify({ room }), { timeout: 3000 });
  const rep = r.json();
  if (!rep.ok) throw new Error(`ctl.presence ${room}: ${rep.error.code}: ${rep.error.message}`);
  return rep.members; // [{sid, user?}]
}

// who answers {"room"} with the room's members: [{"sid","user"?}].
async function who(m) {
  const room = data(m)?.room;
  if (typeof room !== "string" || !room) return refuse(m, "bad_frame", 'who wants {"room":".."}');
  respond(m, await presence(room));
}

// greet logs each socket that connects to chat and welcomes it by the name
// its WebSocket URL gave (ws://host/ws?name=ann), if any.
function greet(m) {
  if (m.headers?.get("Router-Reason")) return; // node_returned: old sockets announced again
  const { sid, node, handshake: h } = m.json();
  let name = "stranger";
  if (h) { // left out only when too large
    log("connect", { sid, node, address: h.address, url: h.url, userAgent: h.headers["user-agent"] });
    name = [h.query.name].flat()[0] || name; // a string, or an array when given twice
  }
  nc.publish(`router.chat.socket.${escape(sid)}.welcome`, JSON.stringify({ text: `welcome, ${name}`, from: "node" }));
}

// poll takes {"room","question"}, answers {"asked":N}, asks the room's
// members, and publishes what they answered to the room as poll_result:
// {"question","answers":{sid:data},"errors":{sid:code}}.
async function poll(m) {
  const { room, question } = data(m) ?? {};
  if (typeof room !== "string" || !room) return refuse(m, "bad_frame", 'poll wants {"room":"..","question":".."}');
  const members = await presence(room);
  respond(m, { asked: members.length });
  // A request, not a publish, to each member's socket subject: its client
  // gets the event with an "ack" id and answers with a reply frame; routerd
  // replies for it with Router-Error timeout or not_connected otherwise.
  // (One request on the room's subject reaches every member at once, each
  // reply naming its socket in Router-Sid, but only in a namespace without
  // history: chat keeps history.)
  const answers = {}, errors = {};
  await Promise.all(members.map(async ({ sid }) => {
    try {
      const r = await nc.request(`router.chat.socket.${escape(sid)}.poll`, JSON.stringify({ question }), {
        timeout: 6000, // limits.ack_timeout (5s), and a margin
      });
      const code = r.headers?.get("Router-Error"); // its Router-Sid header is sid
      if (code) errors[sid] = code;
      else answers[sid] = data(r);
    } catch {
      errors[sid] = "not_connected"; // gone before it was asked: no reply, the request timed out
    }
  }));
  nc.publish(`router.chat.room.${escape(room)}.poll_result`, JSON.stringify({ question, answers, errors }));
}

// authenticate decides who may connect to namespace private: the body is
// the connect frame's auth object; headers say where the client came from.
const users = new Map([["ann-secret", "ann"], ["bob-secret", "bob"]]); // a demo's user store
function authenticate(m) {
  const user = users.get(data(m)?.token);
  log("auth", { user, allow: !!user, remote: m.headers?.get("Router-Remote-Addr"), origin: m.headers?.get("Http-Origin") });
  respond(m, user ? { allow: true, user, rooms: ["lobby", `${user}-*`] } : { allow: false, message: "unknown token" });
}

const handlers = {
  "router.chat.server.ping": (m) => respond(m, { pong: true, from: "node" }),
  "router.chat.server.upper": (m) => {
    const s = data(m);
    if (typeof s !== "string") return refuse(m, "bad_frame", "upper wants a string");
    respond(m, s.toUpperCase());
  },
  "router.chat.server.who": who,
  "router.chat.server.poll": poll,
  "router.chat.lifecycle.connect": greet,
  "router.private.auth": authenticate,
};
for (const [subject, handler] of Object.entries(handlers)) {
  // In a queue group: one instance of the backend gets each message.
  nc.subscribe(subject, {
    queue: "workers",
    callback: (err, m) => {
      if (err) return console.error(subject, err);
      Promise.resolve().then(() => handler(m)).catch((e) => {
        console.error(subject, e);
        if (m.reply) refuse(m, "internal", e.message);
      });
    },
  });
}
await nc.flush(); // the server has every subscription
log("backend ready", { nats: nc.getServer() });

// On SIGINT or SIGTERM drain: what has arrived is answered, then it closes.
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    console.log("backend stopping");
    nc.drain().catch((err) => console.error("drain", err));
  });
}
const err = await nc.closed(); // after the drain, or when the connection is lost for good
if (err) {
  console.error("nats", err);
  process.exitCode = 1;
}
