// TypeScript declarations of the routerd browser client (client.js beside
// this file), served by routerd at /client.d.ts and installable as the npm
// package in this directory (package.json; docs/client.md).
//
// They declare the client's API, nothing else: the members client.js uses
// between its own classes (RouterClient's request, send, fire and connection
// state; Namespace's attach, restore, deliver, detached, auth and the like)
// are left out, so that code written against these types keeps working
// when they change. web/types-test checks that the two files agree.

/** A connection state, announced by the client's "status" event. */
export type ConnectionStatus = "connecting" | "open" | "reconnecting" | "closed";

/**
 * An error code: one of routerd's (docs/protocol.md, "Errors and close
 * codes"), any code a backend replied with in a Router-Error header, or
 * the client's own "closed" (the connection went away, or was never open).
 */
export type ErrorCode =
  | "bad_frame"
  | "unknown_type"
  | "invalid_name"
  | "unknown_namespace"
  | "not_connected"
  | "already_connected"
  | "unauthorized"
  | "forbidden"
  | "not_member"
  | "limit_exceeded"
  | "rate_limited"
  | "too_large"
  | "no_responders"
  | "timeout"
  | "unavailable"
  | "internal"
  | "closed"
  | (string & {});

/**
 * Why the server detached a namespace: "kicked", "token_expired",
 * "shutdown" (the server is restarting: the client attaches again after
 * the reconnect) or a reason a backend gave.
 */
export type DisconnectReason = "kicked" | "token_expired" | "shutdown" | (string & {});

/** Options of a RouterClient. */
export interface RouterClientOptions {
  /** Reopen a lost connection (default true). */
  reconnect?: boolean;
  /** The shortest delay before reopening, in ms (default 500). */
  minDelay?: number;
  /** The longest delay before reopening, in ms (default 10000). */
  maxDelay?: number;
  /** How long a request waits for its reply, in ms (default 10000). */
  ackTimeout?: number;
}

/** The frame routerd greets every (re)opened connection with. */
export interface HelloFrame {
  type: "hello";
  /** The protocol version, "1". */
  version: string;
  /** The name of the routerd node. */
  node: string;
  /** The largest message the server accepts, in bytes. */
  max_frame_bytes: number;
}

/**
 * An error frame: one that answered a request (RouterError.frame), or one
 * the client's "error" event reports: an error frame without an id, or a
 * namespace or room that could not be restored after a reconnect (with ns
 * and, for a room, room).
 */
export interface ErrorFrame {
  type: "error";
  /** The id of the request it answers. */
  id?: number;
  ns?: string;
  room?: string;
  code: ErrorCode;
  message: string;
}

/** What the client's "disconnected" event reports. */
export interface Disconnected {
  /** The namespace the server detached. */
  ns: string;
  reason: DisconnectReason;
}

/** The events of a RouterClient and the arguments of their listeners. */
export interface RouterClientEvents {
  /** The connection state changed. */
  status: [status: ConnectionStatus];
  /** Every namespace and room is back after a reconnect. */
  reconnected: [];
  /** An error frame that answers no request (see ErrorFrame). */
  error: [frame: ErrorFrame];
  /** The server detached a namespace. */
  disconnected: [info: Disconnected];
  /** A connection opened (again). */
  hello: [frame: HelloFrame];
}

/** A member of a room, as presence reports it and $join / $leave carry it. */
export interface PresenceMember {
  sid: string;
  /** The user, where the socket was authenticated as one. */
  user?: string;
}

/** Where an event came from: the meta argument of a namespace listener. */
export interface EventMeta {
  /** The event's name. */
  event: string;
  /** The namespace. */
  ns: string;
  /** The room it was emitted to, if any. */
  room: string | undefined;
  /** The sid of the socket that sent it, if a socket did. */
  from: string | undefined;
  /** Its seq in the room, where the namespace keeps history. */
  seq: number | undefined;
}

/**
 * Answers the event a backend asked an ack for (a reply frame): data, or
 * null when none is given. Only the first call sends, and only while the
 * socket that was asked is attached; other calls do nothing.
 */
export type Reply = (data?: unknown) => void;

/**
 * A namespace listener. T is the data the listener takes the event to carry:
 * nothing checks it at run time. reply is set when a backend asked for an
 * ack, and undefined otherwise.
 */
export type NamespaceListener<T = unknown> = (data: T, meta: EventMeta, reply: Reply | undefined) => void;

/** Where emit and emitWithAck send an event. */
export type EmitTarget =
  /** A room: every member but this socket, unless self is true. */
  | { room: string; self?: boolean | undefined; to?: undefined; server?: undefined }
  /** One socket, by sid (the namespace's policy must allow direct). */
  | { to: string; room?: undefined; self?: undefined; server?: undefined }
  /** The backends: {} or {server: true}. */
  | { server?: true | undefined; room?: undefined; to?: undefined; self?: undefined };

/** A room event kept in history, as Namespace.history returns it. */
export interface HistoryEvent {
  type: "event";
  ns: string;
  event: string;
  room: string;
  /** The sid of the socket that sent it, if a socket did. */
  from?: string;
  seq: number;
  data: unknown;
}

/**
 * RouterError is what failed requests reject with: `code` is the error
 * frame's code (docs/protocol.md, "Errors and close codes"), or "timeout"
 * when no reply came in time, or "closed" when the connection went away
 * first.
 */
export class RouterError extends Error {
  constructor(code: ErrorCode, message?: string, frame?: ErrorFrame);
  name: "RouterError";
  readonly code: ErrorCode;
  /** The error frame, when the server sent one. */
  readonly frame: ErrorFrame | undefined;
}

/**
 * RouterClient is one WebSocket connection to routerd, shared by every
 * namespace attached through it. After a lost connection it reopens it with
 * exponential backoff and jitter, attaches every namespace again (each gets
 * a new sid), joins every room it was in, then emits "reconnected".
 */
export class RouterClient {
  /**
   * @param url WebSocket URL; defaults to ws(s)://location.host/ws.
   * @param options reconnect (true), minDelay (500 ms), maxDelay
   *   (10000 ms): the backoff bounds; ackTimeout (10000 ms): how long a
   *   request waits for its reply.
   */
  constructor(url?: string, options?: RouterClientOptions);

  /** The WebSocket URL. */
  readonly url: string;
  /** The options, with the defaults filled in. */
  readonly options: Readonly<Required<RouterClientOptions>>;
  /** The connection state last announced by a "status" event. */
  readonly status: ConnectionStatus;
  /** The name of the routerd node, from its hello frame; null before one. */
  readonly node: string | null;

  /**
   * connect opens the connection. It resolves once it is open; with
   * reconnect off it rejects (RouterError "closed") if the first attempt
   * fails, with reconnect on it keeps trying.
   */
  connect(): Promise<void>;

  /** close ends the connection for good (no reconnect) and rejects pending requests. */
  close(): void;

  /**
   * namespace attaches to a namespace and resolves with its Namespace. Asked
   * again for the same name (say after a kick) it attaches the same object,
   * so listeners survive. auth, a JSON object, is sent in the connect frame,
   * e.g. {token} for JWT namespaces; it is kept for reconnects until given
   * anew (null: none).
   */
  namespace(name: string, options?: { auth?: object | null | undefined }): Promise<Namespace>;

  /** on adds a listener for an event and returns a function that removes it. */
  on<E extends keyof RouterClientEvents>(event: E, fn: (...args: RouterClientEvents[E]) => void): () => void;

  /** off removes a listener added with on. */
  off<E extends keyof RouterClientEvents>(event: E, fn: (...args: RouterClientEvents[E]) => void): void;
}

/**
 * Namespace is one attachment of the client to a routerd namespace, made by
 * RouterClient.namespace. Its sid changes on every reconnect.
 */
export class Namespace {
  private constructor(client: RouterClient, name: string);

  /** The client it is attached through. */
  readonly client: RouterClient;
  /** The namespace's name. */
  readonly name: string;
  /** This socket's id, null while not attached. */
  readonly sid: string | null;
  /**
   * The joined rooms, each with the last event seq seen there: a number
   * where the room keeps history and a seq is known (or the room was joined
   * with since), else null.
   */
  readonly rooms: ReadonlyMap<string, number | null>;

  /**
   * on adds a listener for every event of that name, from rooms, from other
   * sockets and from backends, and returns a function that removes it.
   * routerd's $join and $leave (presence_events) carry the member.
   */
  on(event: "$join" | "$leave", fn: NamespaceListener<PresenceMember>): () => void;
  /**
   * on adds a listener for every event of that name and returns a function
   * that removes it. T is the data the listener takes the event to carry.
   */
  on<T = unknown>(event: string, fn: NamespaceListener<T>): () => void;

  /** off removes a listener added with on. */
  off<T>(event: string, fn: NamespaceListener<T>): void;

  /**
   * join joins a room; it resolves with the ack's data. `since` replays the
   * room's events after that seq (0: all it keeps) before going on live,
   * and the data says {recovered}; the replayed events reach the listeners
   * before join resolves. Without since, or where the namespace keeps no
   * history, the ack has no data.
   */
  join(room: string, options?: { since?: number | undefined }): Promise<{ recovered: boolean } | undefined>;

  /**
   * history resolves with up to `limit` (default 50) of the room's kept
   * events before seq `before` (default: the newest), oldest first. It
   * rejects with code "forbidden" where the namespace keeps no history.
   */
  history(room: string, options?: { limit?: number | undefined; before?: number | undefined }): Promise<HistoryEvent[]>;

  /** leave leaves a room; while disconnected it only forgets it (the server already did). */
  leave(room: string): Promise<void>;

  /**
   * emit sends an event without waiting: to a room ({room, self?}: self also
   * delivers it back to this socket), to one socket ({to: sid}), or to the
   * backends ({} or {server: true}, the default). It throws a RouterError
   * ("closed") when not connected.
   */
  emit(event: string, data?: unknown, target?: EmitTarget): void;

  /**
   * emitWithAck sends an event and resolves with the ack's data: for a
   * server-bound event that is the backend's reply, for a room event where
   * the namespace keeps history {seq}. T is what the caller takes it to be:
   * nothing checks it at run time. It rejects with a RouterError (code from
   * the error frame, "timeout" after options.timeout or the client's
   * ackTimeout, or "closed").
   */
  emitWithAck<T = unknown>(
    event: string,
    data?: unknown,
    target?: EmitTarget,
    options?: { timeout?: number | undefined },
  ): Promise<T>;

  /** presence resolves with the members of a room. */
  presence(room: string): Promise<PresenceMember[]>;

  /** disconnect detaches from the namespace (leaving all its rooms). */
  disconnect(): Promise<void>;
}
