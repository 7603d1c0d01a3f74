// A usage of every API of the routerd client, typed through the package
// (@routerd/client, installed from ../static as a bundled app would have
// it). tsc only checks it: nothing here runs. Each @ts-expect-error line is
// a mistake the declarations must refuse (tsc fails if it compiles).

import { Namespace, RouterClient, RouterError } from "@routerd/client";
import type {
  ConnectionStatus,
  Disconnected,
  EmitTarget,
  ErrorCode,
  ErrorFrame,
  EventMeta,
  HelloFrame,
  HistoryEvent,
  NamespaceListener,
  PresenceMember,
  Reply,
  RouterClientOptions,
} from "@routerd/client";

interface Message {
  name: string;
  text: string;
}

/** exhaustive fails to compile when a switch misses a case. */
function exhaustive(x: never): never {
  throw new Error(`unexpected ${String(x)}`);
}

export async function clientAPI(): Promise<void> {
  new RouterClient(); // ws(s)://<page host>/ws
  new RouterClient("wss://example.test/ws");
  const options: RouterClientOptions = { reconnect: false, minDelay: 100, maxDelay: 1000, ackTimeout: 3000 };
  const r = new RouterClient(undefined, options);
  // @ts-expect-error the URL is a string
  new RouterClient(new URL("ws://example.test/ws"));
  // @ts-expect-error no such option (a typo of ackTimeout)
  new RouterClient(undefined, { ackTimout: 3000 });
  // @ts-expect-error an option given as undefined replaces its default
  new RouterClient(undefined, { ackTimeout: undefined });

  const url: string = r.url;
  const timeout: number = r.options.ackTimeout;
  const reconnect: boolean = r.options.reconnect;
  // @ts-expect-error options are read-only
  r.options.ackTimeout = 1;
  const node: string | null = r.node;
  // @ts-expect-error the client sets its status
  r.status = "open";
  void [url, timeout, reconnect, node];

  const onStatus = (s: ConnectionStatus): void => {
    switch (s) {
      case "connecting":
      case "open":
      case "reconnecting":
      case "closed":
        break;
      default:
        exhaustive(s);
    }
  };
  const offStatus: () => void = r.on("status", onStatus);
  offStatus();
  r.off("status", onStatus);
  r.on("reconnected", () => {});
  r.on("error", (frame: ErrorFrame) => console.warn(frame.code, frame.message, frame.ns, frame.room, frame.id));
  r.on("disconnected", ({ ns, reason }: Disconnected) => {
    if (reason === "shutdown") return;
    console.log(ns, reason);
  });
  r.on("hello", (frame: HelloFrame) => console.log(frame.node, frame.version, frame.max_frame_bytes));
  r.on("status", async (s) => {
    await Promise.resolve(s); // async listeners are fine: nothing awaits them
  });
  // @ts-expect-error the client fires no such event (namespace events are on the Namespace)
  r.on("message", () => {});
  // @ts-expect-error "reconnected" has no argument
  r.on("reconnected", (what: string) => console.log(what));
  // @ts-expect-error a status is not a frame
  r.on("status", (frame: HelloFrame) => console.log(frame));

  const opened: Promise<void> = r.connect();
  await opened;

  const chat: Namespace = await r.namespace("chat");
  interface Credentials {
    token: string;
  }
  const creds: Credentials = { token: "jwt" };
  await r.namespace("private", { auth: creds });
  await r.namespace("private", { auth: null }); // no auth from now on
  // @ts-expect-error auth is a JSON object
  await r.namespace("private", { auth: "jwt" });
  // @ts-expect-error a Namespace comes from RouterClient.namespace
  new Namespace(r, "chat");

  const name: string = chat.name;
  const sid: string | null = chat.sid;
  const same: RouterClient = chat.client;
  const seq: number | null | undefined = chat.rooms.get("lobby");
  // @ts-expect-error the rooms are the client's to change
  chat.rooms.set("lobby", 1);
  // @ts-expect-error the sid is the server's
  chat.sid = "abc";
  void [name, sid, same, seq];

  r.close();
}

export async function namespaceAPI(chat: Namespace): Promise<void> {
  // Listeners: (data, meta, reply).
  const off = chat.on("message", (data, meta, reply) => {
    const d: unknown = data;
    // @ts-expect-error data is unknown until the listener says what it is
    console.log(data.text);
    const m: EventMeta = meta;
    const room: string | undefined = meta.room;
    const from: string | undefined = meta.from;
    const at: number | undefined = meta.seq;
    const both: string = meta.event + meta.ns;
    const r: Reply | undefined = reply;
    void [d, m, room, from, at, both, r];
  });
  off();
  chat.on<Message>("message", (data) => console.log(data.name, data.text.toUpperCase()));
  const onMessage = (data: Message, meta: EventMeta): void => console.log(meta.from, data.text);
  chat.on("message", onMessage); // T from the listener's parameter
  chat.off("message", onMessage);
  chat.on("confirm", (data, meta, reply) => reply?.({ ok: true, for: meta.from, data }));
  chat.on("confirm", (_data, _meta, reply) => reply?.()); // answered with null
  // @ts-expect-error reply is undefined unless a backend asked for an ack
  chat.on("confirm", (_data, _meta, reply) => reply({ ok: true }));
  chat.on("$join", ({ sid, user }: PresenceMember, { room }) => console.log(sid, user ?? "anonymous", room));
  chat.on("$leave", (member) => console.log(member.sid));
  // @ts-expect-error $join carries {sid, user?}
  chat.on("$join", (member) => console.log(member.name));
  const listener: NamespaceListener<Message> = (data) => console.log(data.text);
  chat.on("message", listener);
  chat.off("message", listener);

  // Rooms.
  const joined: { recovered: boolean } | undefined = await chat.join("lobby");
  const resumed = await chat.join("lobby", { since: 41 });
  if (resumed && !resumed.recovered) console.log("missed events");
  await chat.join("lobby", { since: undefined }); // as without since
  void joined;
  // @ts-expect-error since is a seq
  await chat.join("lobby", { since: "41" });
  // @ts-expect-error join resolves with the ack's data, which may be absent
  console.log((await chat.join("lobby")).recovered);

  const events: HistoryEvent[] = await chat.history("lobby", { limit: 20, before: 44 });
  await chat.history("lobby");
  for (const e of events) {
    const s: number = e.seq;
    const room: string = e.room;
    const from: string | undefined = e.from;
    console.log(e.type, e.ns, e.event, s, room, from, e.data);
  }
  // @ts-expect-error noUncheckedIndexedAccess: there may be no event
  console.log(events[0].seq);
  // @ts-expect-error limit is a number
  await chat.history("lobby", { limit: "20" });

  const members: PresenceMember[] = await chat.presence("lobby");
  const sids: string[] = members.map((m) => m.sid);
  const users: (string | undefined)[] = members.map((m) => m.user);
  void [sids, users];
  await chat.leave("lobby");

  // Emits.
  const msg: Message = { name: "ann", text: "hi" };
  chat.emit("message", msg, { room: "lobby" });
  chat.emit("message", msg, { room: "lobby", self: true });
  chat.emit("message", { text: "psst" }, { to: "sid-1" });
  chat.emit("typing", msg, {});
  chat.emit("typing", msg, { server: true });
  chat.emit("typing", msg);
  chat.emit("ping"); // no data
  const targets: EmitTarget[] = [{ room: "lobby" }, { to: "sid-1" }, {}, { server: true }];
  void targets;
  // @ts-expect-error one target: a room or a socket
  chat.emit("message", msg, { room: "lobby", to: "sid-1" });
  // @ts-expect-error self is for rooms
  chat.emit("message", msg, { to: "sid-1", self: true });
  // @ts-expect-error server: false would still go to the backends
  chat.emit("message", msg, { server: false });
  // @ts-expect-error the event name is a string
  chat.emit(1, msg);

  const reply: unknown = await chat.emitWithAck("nick", { name: "ann" }, { server: true }, { timeout: 3000 });
  const nick = await chat.emitWithAck<{ ok: boolean }>("nick", { name: "ann" });
  const stored = await chat.emitWithAck<{ seq: number }>("message", msg, { room: "lobby" });
  const n: number = stored.seq;
  void [reply, nick.ok, n];
  await chat.emitWithAck("nick", { name: "ann" }, {}, { timeout: undefined }); // the client's ackTimeout
  // @ts-expect-error the timeout is in ms
  await chat.emitWithAck("nick", {}, {}, { timeout: "3s" });

  await chat.disconnect();
}

export async function errors(chat: Namespace): Promise<void> {
  try {
    await chat.emitWithAck("nick", { name: "ann" });
  } catch (err) {
    if (!(err instanceof RouterError)) throw err;
    const e: Error = err;
    const name: "RouterError" = err.name;
    const code: ErrorCode = err.code;
    if (err.code === "timeout" || err.code === "closed") console.log("retry later");
    const frame: ErrorFrame | undefined = err.frame;
    console.log(e.message, name, code, frame?.code, frame?.message, frame?.id);
    // @ts-expect-error the code is the error's
    err.code = "internal";
  }
  const own = new RouterError("closed", "not connected");
  const backends: ErrorCode = "quota_exceeded"; // a backend's Router-Error code
  new RouterError(backends);
  new RouterError("forbidden", "no history", { type: "error", id: 3, code: "forbidden", message: "no history" });
  // @ts-expect-error the frame is an error frame
  new RouterError("forbidden", "no history", { type: "ack", id: 3 });
  void own;
}
