// Streamed answers of the chat assistant (examples/chatbot): `answer_start`
// shows a message with a typing indicator, each `answer_delta` appends to
// its text as the model writes it, and the final `message` (with `answer`,
// the answer's id) replaces the text with the whole answer and ends it.
// The model's output is text: it is only ever set with textContent.

import { el } from "./view.js";

/** IDLE_MS: an answer that hears nothing for this long is shown as interrupted. */
const IDLE_MS = 120000;

/** typing is the animated "being written" indicator. */
function typing() {
  return el("span", { class: "typing", role: "status", "aria-label": "typing" }, el("i"), el("i"), el("i"));
}

/** Answers tracks the answers growing on the page, by id. */
export class Answers {
  /**
   * @param {(data: object) => object|undefined} convFor returns the
   *   Conversation an answer event belongs to (undefined: not shown here).
   */
  constructor(convFor) {
    this.convFor = convFor;
    this.live = new Map(); // id -> {conv, item, textNode, text, n, timer, room}
  }

  /** start shows a new answer (or, after a join, the answer so far). */
  start(data) {
    if (typeof data?.id !== "string" || this.live.has(data.id)) return;
    const conv = this.convFor(data);
    if (!conv) return;
    const name = typeof data.name === "string" && data.name ? data.name : "assistant";
    const text = typeof data.text === "string" ? data.text : "";
    const item = conv.message({ name, text: "", sender: `backend:${name}`, backend: true });
    item.classList.add("streaming");
    item.dataset.answer = data.id;
    const para = item.querySelector(".text");
    const textNode = document.createTextNode(text); // grows; a text node's data is never parsed
    para.append(textNode, typing());
    const a = { conv, item, para, textNode, text, n: Number(data.n) || 0, room: data.room };
    this.live.set(data.id, a);
    this.#idle(data.id, a);
  }

  /** delta appends a piece of text to its answer; out-of-order or late pieces are dropped. */
  delta(data) {
    const a = this.live.get(data?.id);
    if (!a || typeof data.text !== "string" || data.n !== a.n + 1) return;
    a.n = data.n;
    a.text += data.text;
    this.#show(a, () => (a.textNode.data = a.text));
    this.#idle(data.id, a);
  }

  /**
   * finish ends an answer with its final message and reports whether it
   * was one shown here (else the caller shows the message as a new line).
   */
  finish(data) {
    const a = this.live.get(data?.answer);
    if (!a) return false;
    this.#end(data.answer, a);
    this.#show(a, () => (a.para.textContent = typeof data.text === "string" ? data.text : a.text));
    if (data.status === "error") a.item.classList.add("answer-error");
    if (data.status === "cancelled") a.item.classList.add("answer-cancelled");
    return true;
  }

  /** interrupt ends the answers for which which(answer) holds, as interrupted. */
  interrupt(which) {
    for (const [id, a] of this.live) {
      if (!which(a)) continue;
      this.#end(id, a);
      a.item.classList.add("answer-error");
      a.item.querySelector(".body").append(el("p", { class: "failure", text: "The answer was interrupted." }));
    }
  }

  /** show changes what an answer shows, keeping the end of the list in view if it was. */
  #show(a, change) {
    const stick = a.conv.nearBottom();
    change();
    if (stick) a.conv.list.scrollTop = a.conv.list.scrollHeight;
  }

  #end(id, a) {
    clearTimeout(a.timer);
    this.live.delete(id);
    a.item.classList.remove("streaming");
    a.item.querySelector(".typing")?.remove();
  }

  #idle(id, a) {
    clearTimeout(a.timer);
    a.timer = setTimeout(() => this.interrupt((x) => x === a), IDLE_MS);
  }
}
