// The declarations against the code: tsc infers the types of impl/client.js,
// the copy of ../static/client.js that run.sh makes (the original would
// resolve to its client.d.ts). Every export and member declared exists in
// client.js, and every export and public member of client.js is declared or
// named below as internal (a member its classes use between themselves).
// A key tsc reports here is one to declare in client.d.ts, or to list.

import type * as Decl from "@routerd/client";
import type * as Code from "./impl/client.js";

type None<T extends never> = T;

/** Members of RouterClient that are not API. */
type ClientInternal =
  | "ws"
  | "namespaces"
  | "pending"
  | "nextID"
  | "attempt"
  | "wasOpen"
  | "retryTimer"
  | "stopped"
  | "opened"
  | "request"
  | "send"
  | "fire";

/** Members of Namespace that are not API. */
type NamespaceInternal = "auth" | "wanted" | "attaching" | "attach" | "restore" | "deliver" | "detached" | "fire";

export type Checks = [
  None<Exclude<keyof typeof Decl, keyof typeof Code> | Exclude<keyof typeof Code, keyof typeof Decl>>,
  None<Exclude<keyof Decl.RouterError, keyof Code.RouterError> | Exclude<keyof Code.RouterError, keyof Decl.RouterError>>,
  None<Exclude<keyof Decl.RouterClient, keyof Code.RouterClient> | Exclude<keyof Code.RouterClient, keyof Decl.RouterClient | ClientInternal>>,
  None<Exclude<keyof Decl.Namespace, keyof Code.Namespace> | Exclude<keyof Code.Namespace, keyof Decl.Namespace | NamespaceInternal>>,
];
