// A socket.io-client 4.8 driver for routerd's Go tests (socketio/node_test.go).
// It reads one JSON command per line on stdin and writes one JSON line per
// reply and per thing that happens on stdout:
//   {"id":N,"op":"connect","name":"a","url":"http://host/chat","opts":{...}}
//       -> {"id":N,"ok":true,"sid":"...","recovered":false} or {"id":N,"error":{"message","data"}}
//   {"id":N,"op":"emit","name":"a","event":"e","args":[...],"ack":true,"timeout":3000}
//       -> {"id":N,"ok":true,"ack":[...]} (without "ack": {"id":N,"ok":true} once sent)
//   {"id":N,"op":"transport","name":"a"} -> {"id":N,"ok":true,"transport":"polling"|"websocket"}
//   {"id":N,"op":"upgraded","name":"a"} -> replies once the connection runs on WebSocket
//   {"id":N,"op":"drop","name":"a","stay":bool}  closes the Engine.IO connection as a network loss would
//   {"id":N,"op":"reconnect","name":"a","url"?:"http://host"}  reconnects a socket dropped with "stay"
//   {"id":N,"op":"disconnect","name":"a"} -> socket.disconnect()
//   {"id":N,"op":"burst","name":"a","emits":[{"event","args","ack"?}],"timeout"?:5000}
//       emits them all at once, then -> {"id":N,"ok":true,"acks":[...]}: the
//       ack's argument (or {"$error":message}) of each emit with "ack", in order
//   {"id":N,"op":"answer","askId":K,"args":[...]} calls the ack callback K
//       of an event the server asked an ack for
// Events on stdout: {"socket":"a","event":"name","args":[...]} for every
// event received ("askId":K when the server asked an ack: answer it with
// the op answer), {"socket":"a","event":"$connect","sid","recovered"} on a
// reconnect, {"socket":"a","event":"$disconnect","reason"}.
// Binary values travel in JSON as {"$bytes":"<base64>"} both ways.
import { createInterface } from "node:readline";
import { io } from "socket.io-client";

const sockets = new Map();
const asked = new Map(); // askId -> the ack callback of an event received
let nextAsk = 1;

function out(v) {
  process.stdout.write(JSON.stringify(v) + "\n");
}

function toWire(v) {
  if (Array.isArray(v)) return v.map(toWire);
  if (v && typeof v === "object") {
    if (typeof v.$bytes === "string" && Object.keys(v).length === 1) return Buffer.from(v.$bytes, "base64");
    return Object.fromEntries(Object.entries(v).map(([k, e]) => [k, toWire(e)]));
  }
  return v;
}

function fromWire(v) {
  if (Buffer.isBuffer(v) || v instanceof ArrayBuffer || ArrayBuffer.isView(v)) {
    return { $bytes: Buffer.from(v instanceof ArrayBuffer ? new Uint8Array(v) : v).toString("base64") };
  }
  if (Array.isArray(v)) return v.map(fromWire);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, e]) => [k, fromWire(e)]));
  return v;
}

const ops = {
  connect(c) {
    return new Promise((resolve) => {
      const s = io(c.url, { reconnectionDelay: 50, reconnectionDelayMax: 200, ...c.opts, forceNew: true });
      sockets.set(c.name, s);
      let first = true;
      s.on("connect", () => {
        if (first) {
          first = false;
          resolve({ ok: true, sid: s.id, recovered: s.recovered });
          return;
        }
        out({ socket: c.name, event: "$connect", sid: s.id, recovered: s.recovered });
      });
      s.on("connect_error", (err) => {
        if (first) {
          first = false;
          s.close();
          resolve({ error: { message: err.message, data: err.data ?? null } });
        }
      });
      s.on("disconnect", (reason) => out({ socket: c.name, event: "$disconnect", reason }));
      s.onAny((event, ...args) => {
        const line = { socket: c.name, event };
        if (typeof args.at(-1) === "function") {
          line.askId = nextAsk++;
          asked.set(line.askId, args.pop());
        }
        out({ ...line, args: fromWire(args) });
      });
    });
  },
  async emit(c) {
    const s = sockets.get(c.name);
    const args = toWire(c.args ?? []);
    if (!c.ack) {
      s.emit(c.event, ...args);
      return { ok: true };
    }
    try {
      const ack = await s.timeout(c.timeout ?? 5000).emitWithAck(c.event, ...args);
      return { ok: true, ack: fromWire([ack]) };
    } catch (err) {
      return { error: { message: err.message } };
    }
  },
  async burst(c) {
    const s = sockets.get(c.name);
    const waits = [];
    for (const e of c.emits) {
      const args = toWire(e.args ?? []);
      if (e.ack) waits.push(s.timeout(c.timeout ?? 5000).emitWithAck(e.event, ...args));
      else s.emit(e.event, ...args);
    }
    const settled = await Promise.allSettled(waits);
    return { ok: true, acks: settled.map((r) => (r.status === "fulfilled" ? fromWire(r.value) : { $error: r.reason.message })) };
  },
  answer(c) {
    const ack = asked.get(c.askId);
    asked.delete(c.askId);
    ack(...toWire(c.args ?? []));
    return { ok: true };
  },
  transport(c) {
    return { ok: true, transport: sockets.get(c.name).io.engine.transport.name };
  },
  upgraded(c) {
    const engine = sockets.get(c.name).io.engine;
    if (engine.transport.name === "websocket") return { ok: true };
    return new Promise((resolve) => engine.once("upgrade", () => resolve({ ok: true })));
  },
  drop(c) {
    // What a lost network does: the transport closes ("transport close"),
    // the server sees it end, the client reconnects by itself (unless
    // "stay": then it waits for the op reconnect).
    const s = sockets.get(c.name);
    if (c.stay) s.io.reconnection(false);
    s.io.engine._onClose("transport close");
    return { ok: true };
  },
  reconnect(c) {
    const s = sockets.get(c.name);
    if (c.url) s.io.uri = c.url; // another node, as a load balancer may pick
    s.io.reconnection(true);
    s.connect();
    return { ok: true };
  },
  disconnect(c) {
    sockets.get(c.name).disconnect();
    return { ok: true };
  },
};

const rl = createInterface({ input: process.stdin });
rl.on("line", async (line) => {
  const c = JSON.parse(line);
  try {
    out({ id: c.id, ...(await ops[c.op](c)) });
  } catch (err) {
    out({ id: c.id, error: { message: String(err) } });
  }
});
rl.on("close", () => {
  for (const s of sockets.values()) s.close();
  process.exit(0);
});
