// routerd browser client: an ES module with no dependencies, served by
// routerd at /client.js. It speaks the JSON WebSocket protocol (docs/protocol.md
// in the routerd repository) and reconnects by itself.
//
//   import { RouterClient } from "/client.js";
//   const r = new RouterClient();              // ws(s)://<this host>/ws
//   r.on("status", (s) => console.log(s));     // connecting|open|reconnecting|closed
//   await r.connect();
//   const chat = await r.namespace("chat");
//   chat.on("message", (data, meta) => console.log(meta.room, meta.from, data));
//   chat.on("confirm", (data, meta, reply) => reply?.({ ok: true })); // a backend's request
//   await chat.join("lobby");
//   chat.emit("message", { name: "ann", text: "hi" }, { room: "lobby" });
//   const reply = await chat.emitWithAck("nick", { name: "ann" }, { server: true });
//
// After a lost connection the client reopens it with exponential backoff and
// jitter, attaches every namespace again (each gets a new sid) and joins
// every room it was in, then emits "reconnected".

/** Default options of a RouterClient. */
const DEFAULTS = { reconnect: true, minDelay: 500, maxDelay: 10000, ackTimeout: 10000 };

/**
 * RouterError is what failed requests reject with: `code` is the error
 * frame's code (docs/protocol.md, "Errors and close codes"), or "timeout"
 * when no reply came in time, or "closed" when the connection went away
 * first.
 */
export class RouterError extends Error {
  constructor(code, message, frame) {
    super(message || code);
    this.name = "RouterError";
    this.code = code;
    this.frame = frame;
  }
}

/** Emitter is a minimal listener registry shared by the client and namespaces. */
class Emitter {
  #listeners = new Map();

  /** on adds a listener for name and returns a function that removes it. */
  on(name, fn) {
    if (!this.#listeners.has(name)) this.#listeners.set(name, new Set());
    this.#listeners.get(name).add(fn);
    return () => this.off(name, fn);
  }

  /** off removes a listener added with on. */
  off(name, fn) {
    this.#listeners.get(name)?.delete(fn);
  }

  /** fire calls every listener of name; a throwing listener does not stop the others. */
  fire(name, ...args) {
    for (const fn of [...(this.#listeners.get(name) ?? [])]) {
      try {
        fn(...args);
      } catch (err) {
        console.error(`routerd: "${name}" listener failed`, err);
      }
    }
  }
}

/**
 * RouterClient is one WebSocket connection to routerd, shared by every
 * namespace attached through it.
 *
 * Events (client.on): "status" (s) with s one of "connecting", "open",
 * "reconnecting", "closed"; "reconnected" () once every namespace and room is
 * back after a reconnect; "error" (frame) for error frames that answer no
 * request; "disconnected" ({ns, reason}) when the server detached a namespace;
 * "hello" (frame) on every (re)opened connection.
 */
export class RouterClient extends Emitter {
  /**
   * @param {string} [url] WebSocket URL; defaults to ws(s)://location.host/ws.
   * @param {object} [options] reconnect (true), minDelay (500 ms), maxDelay
   *   (10000 ms): the backoff bounds; ackTimeout (10000 ms): how long a
   *   request waits for its reply.
   */
  constructor(url, options = {}) {
    super();
    this.url = url ?? `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
    this.options = { ...DEFAULTS, ...options };
    /** status is the connection state last announced by a "status" event. */
    this.status = "closed";
    /** node is the name of the routerd node, from its hello frame. */
    this.node = null;
    this.ws = null;
    this.namespaces = new Map(); // name -> Namespace, attached or wanted
    this.pending = new Map(); // request id -> {resolve, reject, timer}
    this.nextID = 1;
    this.attempt = 0; // failed opens since the last open connection
    this.wasOpen = false; // a connection was open before: the next open is a reconnect
    this.retryTimer = null;
    this.stopped = true;
    this.opened = null; // resolves when the connection is open
  }

  /**
   * connect opens the connection. It resolves once it is open; with
   * reconnect off it rejects if the first attempt fails, with reconnect on
   * it keeps trying.
   */
  connect() {
    if (!this.stopped) return this.opened.promise;
    this.stopped = false;
    this.opened = deferred();
    this.#open();
    return this.opened.promise;
  }

  /** close ends the connection for good (no reconnect) and rejects pending requests. */
  close() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.ws?.close(1000, "client closed");
    this.#dropped();
    this.#setStatus("closed");
  }

  /**
   * namespace attaches to a namespace and resolves with its Namespace. Asked
   * again for the same name (say after a kick) it attaches the same object,
   * so listeners survive. auth is sent in the connect frame, e.g. {token}
   * for JWT namespaces; it is kept for reconnects until given anew.
   */
  async namespace(name, { auth } = {}) {
    const known = this.namespaces.get(name);
    const ns = known ?? new Namespace(this, name);
    this.namespaces.set(name, ns);
    if (auth !== undefined) ns.auth = auth;
    if (ns.sid) return ns;
    await this.connect();
    if (ns.sid) return ns; // a reconnect attached it meanwhile
    try {
      await ns.attach();
    } catch (err) {
      if (!known) this.namespaces.delete(name);
      throw err;
    }
    return ns;
  }

  /** request sends a frame with a fresh id and resolves with its reply frame. */
  request(frame, timeout = this.options.ackTimeout) {
    if (this.ws?.readyState !== WebSocket.OPEN) {
      return Promise.reject(new RouterError("closed", "not connected"));
    }
    const id = this.nextID++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new RouterError("timeout", `no reply to ${frame.type} within ${timeout} ms`));
      }, timeout);
      this.pending.set(id, { resolve, reject, timer });
      this.ws.send(JSON.stringify({ ...frame, id }));
    });
  }

  /** send sends a frame that expects no reply; it throws when not connected. */
  send(frame) {
    if (this.ws?.readyState !== WebSocket.OPEN) throw new RouterError("closed", "not connected");
    this.ws.send(JSON.stringify(frame));
  }

  #open() {
    this.#setStatus(this.wasOpen || this.attempt > 0 ? "reconnecting" : "connecting");
    const ws = new WebSocket(this.url, "routerd.v1");
    this.ws = ws;
    ws.onopen = () => this.#opened(ws);
    ws.onmessage = (ev) => this.#receive(ev.data);
    ws.onclose = () => this.#closed(ws);
  }

  async #opened(ws) {
    const again = this.wasOpen;
    this.wasOpen = true;
    this.attempt = 0;
    this.#setStatus("open");
    this.opened.resolve();
    if (!again) return;
    // A reconnect: attach every namespace again and rejoin its rooms.
    const restored = [...this.namespaces.values()].filter((ns) => ns.wanted);
    await Promise.all(restored.map((ns) => ns.restore()));
    if (this.ws === ws && ws.readyState === WebSocket.OPEN) this.fire("reconnected");
  }

  #closed(ws) {
    if (this.ws !== ws) return;
    this.ws = null;
    this.#dropped();
    if (this.stopped) return;
    if (!this.options.reconnect) {
      this.stopped = true;
      this.opened.reject(new RouterError("closed", `cannot connect to ${this.url}`));
      this.#setStatus("closed");
      return;
    }
    if (this.opened.settled) this.opened = deferred();
    this.#setStatus("reconnecting");
    const { minDelay, maxDelay } = this.options;
    const ceiling = Math.min(maxDelay, minDelay * 2 ** this.attempt++);
    const delay = ceiling / 2 + Math.random() * (ceiling / 2); // "equal jitter"
    this.retryTimer = setTimeout(() => this.#open(), delay);
  }

  /** #dropped forgets the sids of the lost connection and fails its requests. */
  #dropped() {
    for (const ns of this.namespaces.values()) ns.sid = null;
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new RouterError("closed", "connection lost"));
      this.pending.delete(id);
    }
  }

  #setStatus(status) {
    if (this.status === status) return;
    this.status = status;
    this.fire("status", status);
  }

  /** #receive handles one server message: one frame or several separated by "\n". */
  #receive(text) {
    for (const line of String(text).split("\n")) {
      if (!line.trim()) continue;
      let frame;
      try {
        frame = JSON.parse(line);
      } catch {
        console.error("routerd: unreadable frame", line);
        continue;
      }
      this.#dispatch(frame);
    }
  }

  #dispatch(frame) {
    if (frame.id != null) {
      const p = this.pending.get(frame.id);
      if (!p) return; // the reply to a request that timed out
      this.pending.delete(frame.id);
      clearTimeout(p.timer);
      if (frame.type === "error") p.reject(new RouterError(frame.code, frame.message, frame));
      else p.resolve(frame);
      return;
    }
    switch (frame.type) {
      case "hello":
        this.node = frame.node;
        this.fire("hello", frame);
        break;
      case "event":
        this.namespaces.get(frame.ns)?.deliver(frame);
        break;
      case "disconnected":
        this.namespaces.get(frame.ns)?.detached(frame.reason);
        break;
      case "error":
        this.fire("error", frame);
        break;
    }
  }
}

/**
 * Namespace is one attachment of the client to a routerd namespace. Its sid
 * changes on every reconnect. Listeners (ns.on(event, (data, meta, reply)
 * => ...)) get every event of that name, from rooms, from other sockets and
 * from backends, with meta = {event, ns, room, from, seq}; routerd's $join
 * and $leave (data {sid, user?}) arrive the same way. When a backend asked
 * for an ack (a NATS request), reply(data) answers it (once: later calls,
 * and calls after the socket was lost, do nothing); otherwise reply is
 * undefined.
 */
export class Namespace extends Emitter {
  constructor(client, name) {
    super();
    this.client = client;
    this.name = name;
    /** sid is this socket's id, null while not attached. */
    this.sid = null;
    this.auth = undefined;
    /**
     * rooms maps each joined room to the last event seq seen there: a number
     * where the room keeps history and a seq is known (or the room was
     * joined with since), else null.
     */
    this.rooms = new Map();
    this.wanted = false; // attach again after a reconnect
    this.attaching = null; // the connect request in flight
  }

  /** attach sends connect (once, however many callers wait) and records the new sid. */
  attach() {
    if (!this.attaching) {
      const frame = { type: "connect", ns: this.name };
      if (this.auth !== undefined) frame.auth = this.auth;
      this.attaching = this.client
        .request(frame)
        .then((reply) => {
          this.sid = reply.sid;
          this.wanted = true;
        })
        .finally(() => (this.attaching = null));
    }
    return this.attaching;
  }

  /**
   * restore attaches again after a reconnect and rejoins every room (with
   * `since` the last seq seen, where the room had history). What fails is
   * reported as an "error" event of the client; a room that cannot be joined
   * again is forgotten.
   */
  async restore() {
    const report = (err, room) =>
      this.client.fire("error", { type: "error", ns: this.name, room, code: err.code, message: err.message });
    try {
      await this.attach();
    } catch (err) {
      report(err);
      return;
    }
    await Promise.all(
      [...this.rooms].map(([room, seq]) =>
        this.join(room, seq !== null ? { since: seq } : {}).catch((err) => {
          this.rooms.delete(room);
          report(err, room);
        }),
      ),
    );
  }

  /**
   * join joins a room; it resolves with the ack's data. `since` replays the
   * room's events after that seq (0: all it keeps) before going on live,
   * and the data says {recovered} (docs/history.md); the replayed events reach the
   * listeners before join resolves.
   */
  async join(room, { since } = {}) {
    const frame = { type: "join", ns: this.name, room };
    if (since !== undefined) frame.since = since;
    const had = this.rooms.has(room);
    // Known before the reply, so that replayed events advance the seq.
    if (!had) this.rooms.set(room, since ?? null);
    let reply;
    try {
      reply = await this.client.request(frame);
    } catch (err) {
      if (!had) this.rooms.delete(room);
      throw err;
    }
    return reply.data;
  }

  /**
   * history resolves with up to `limit` (default 50) of the room's kept
   * events before seq `before` (default: the newest), oldest first, as event
   * frames {event, data, room, from?, seq}. It rejects with code "forbidden"
   * where the namespace keeps no history.
   */
  async history(room, { limit, before } = {}) {
    const frame = { type: "history", ns: this.name, room };
    if (limit !== undefined) frame.limit = limit;
    if (before !== undefined) frame.before = before;
    const reply = await this.client.request(frame);
    return reply.data?.events ?? [];
  }

  /** leave leaves a room; while disconnected it only forgets it (the server already did). */
  async leave(room) {
    this.rooms.delete(room);
    if (!this.sid) return;
    await this.client.request({ type: "leave", ns: this.name, room });
  }

  /**
   * emit sends an event without waiting: to a room ({room, self?}: self also
   * delivers it back to this socket), to one socket ({to: sid}), or to the
   * backends ({} or {server: true}). It throws when not connected.
   */
  emit(event, data, target = {}) {
    this.client.send(this.#emitFrame(event, data, target));
  }

  /**
   * emitWithAck sends an event and resolves with the ack's data: for a
   * server-bound event that is the backend's reply. It rejects with a
   * RouterError (code from the error frame, or "timeout").
   */
  async emitWithAck(event, data, target = {}, { timeout } = {}) {
    const reply = await this.client.request(this.#emitFrame(event, data, target), timeout);
    return reply.data;
  }

  /** presence resolves with the members of a room: [{sid, user?}]. */
  async presence(room) {
    const reply = await this.client.request({ type: "presence", ns: this.name, room });
    return reply.data?.members ?? [];
  }

  /** disconnect detaches from the namespace (leaving all its rooms). */
  async disconnect() {
    this.wanted = false;
    this.rooms.clear();
    if (!this.sid) return;
    this.sid = null;
    await this.client.request({ type: "disconnect", ns: this.name });
  }

  #emitFrame(event, data, { room, to, self } = {}) {
    const frame = { type: "emit", ns: this.name, event };
    if (data !== undefined) frame.data = data;
    if (room !== undefined) frame.room = room;
    else if (to !== undefined) frame.to = to;
    if (self) frame.self = true;
    return frame;
  }

  /** deliver hands a server event frame to the listeners of its name. */
  deliver(frame) {
    if (frame.room !== undefined && frame.seq !== undefined && this.rooms.has(frame.room)) {
      this.rooms.set(frame.room, Math.max(frame.seq, this.rooms.get(frame.room) ?? 0));
    }
    const meta = { event: frame.event, ns: frame.ns, room: frame.room, from: frame.from, seq: frame.seq };
    this.fire(frame.event, frame.data, meta, frame.ack ? this.#replier(frame.ack) : undefined);
  }

  /**
   * #replier returns the function that answers ack id `ack` of this
   * socket: a reply frame, sent once, and only while the socket that was
   * asked is still attached (ack ids are per sid: a new sid's ack of the
   * same number is another request).
   */
  #replier(ack) {
    const sid = this.sid;
    let sent = false;
    return (data) => {
      if (sent || this.sid !== sid) return;
      sent = true;
      const frame = { type: "reply", ns: this.name, ack };
      if (data !== undefined) frame.data = data;
      try {
        this.client.send(frame);
      } catch {
        // Not connected: the socket is gone, and routerd answered the
        // backend for it (not_connected).
      }
    };
  }

  /**
   * detached handles a disconnected frame. On "shutdown" the connection is
   * about to close and everything is restored after the reconnect; any other
   * reason (kicked, token_expired, ...) ends the attachment.
   */
  detached(reason) {
    this.sid = null;
    if (reason !== "shutdown") {
      this.wanted = false;
      this.rooms.clear();
    }
    this.client.fire("disconnected", { ns: this.name, reason });
  }
}

/** deferred returns a promise with its resolve and reject, and whether it settled. */
function deferred() {
  const d = { settled: false };
  d.promise = new Promise((resolve, reject) => {
    d.resolve = (v) => {
      d.settled = true;
      resolve(v);
    };
    d.reject = (e) => {
      d.settled = true;
      reject(e);
    };
  });
  d.promise.catch(() => {}); // a rejection nobody awaits is not an error
  return d;
}
