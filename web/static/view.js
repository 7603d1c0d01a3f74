// DOM helpers of the chat page. Whatever a user or a backend sent is set as
// text (textContent, text nodes): nothing received is ever parsed as HTML.

/**
 * el creates an element. props: class, text, dataset, on<event> handlers,
 * and plain attributes (false/null/undefined ones are left out). Children are
 * nodes or strings (added as text).
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

/** avatar is a round badge with the name's initial in a colour derived from the name. */
export function avatar(name) {
  let hash = 0;
  for (const ch of name) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
  const initial = [...name.trim()][0]?.toUpperCase() ?? "?";
  return el("span", { class: "avatar", style: `--hue: ${hash % 360}`, "aria-hidden": "true", text: initial });
}

/** clock formats a time as the reader's hours and minutes. */
function clock(date = new Date()) {
  return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

/**
 * messageItem is one chat line. m: {name, text, self, backend, time}.
 * `continued` hides the avatar and header under a line of the same sender.
 */
export function messageItem(m, continued) {
  const classes = ["msg", m.self && "self", m.backend && "backend", continued && "continued"];
  return el(
    "li",
    { class: classes.filter(Boolean).join(" ") },
    avatar(m.name),
    el(
      "div",
      { class: "body" },
      el(
        "div",
        { class: "meta" },
        el("span", { class: "name", text: m.name }),
        m.backend ? el("span", { class: "tag", text: "bot" }) : null,
        el("time", { text: clock(m.time) }),
      ),
      el("p", { class: "text", text: m.text }),
    ),
  );
}

/** systemItem is a muted line (joins, leaves, reconnects); parts are strings or nodes. */
export function systemItem(...parts) {
  return el("li", { class: "system" }, el("span", {}, ...parts), el("time", { text: clock() }));
}

/** toast shows a short notice in the corner; kind "error" makes it red. */
export function toast(text, kind = "error") {
  const node = el("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status", text });
  node.addEventListener("click", () => node.remove());
  document.getElementById("toasts").append(node);
  setTimeout(() => node.remove(), 6000);
}

/** STATUS_LABELS are the words of the connection indicator. */
const STATUS_LABELS = {
  connecting: "Connecting…",
  open: "Connected",
  reconnecting: "Reconnecting…",
  closed: "Offline",
};

/** showStatus updates the connection indicator (its data-state drives the colour). */
export function showStatus(state) {
  const node = document.getElementById("status");
  node.dataset.state = state;
  node.querySelector(".label").textContent = STATUS_LABELS[state] ?? state;
  document.body.dataset.connection = state;
}
