// Browser end-to-end test of acks a backend asks of /client.js: a page's
// listener gets a reply function when a backend sends a NATS request to its
// socket, and what it answers is the backend's reply. The backend speaks
// the NATS text protocol over a plain TCP socket (no NATS package here).

import assert from "node:assert/strict";
import net from "node:net";
import path from "node:path";
import { after, before, test } from "node:test";
import { Env, waitFor } from "./harness.mjs";

let env;

before(async () => {
  env = await Env.start({
    args: (env) => [
      "-c", "router.yaml",
      "--http.listen", `127.0.0.1:${env.httpPort}`,
      "--nats.listen", `127.0.0.1:${env.natsPort}`,
      "--nats.jetstream.store_dir", path.join(env.dir, "jetstream"),
    ],
  });
});

after(async () => {
  await env?.close();
});

/**
 * RawNATS is the least of a NATS client: it subscribes to one inbox and
 * publishes requests whose replies (HMSG, with headers) it collects.
 */
class RawNATS {
  constructor(port) {
    this.inbox = "_INBOX.e2e";
    this.replies = [];
    this.buf = Buffer.alloc(0);
    this.sock = net.connect(port, "127.0.0.1");
    this.sock.on("data", (b) => this.#read(b));
    this.sock.write(`CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true}\r\nSUB ${this.inbox} 1\r\n`);
  }

  /** request publishes data on subject with the inbox as its reply subject. */
  request(subject, data) {
    const body = Buffer.from(data);
    this.sock.write(`PUB ${subject} ${this.inbox} ${body.length}\r\n`);
    this.sock.write(Buffer.concat([body, Buffer.from("\r\n")]));
  }

  /** publish publishes data on subject, no reply wanted. */
  publish(subject, data) {
    const body = Buffer.from(data);
    this.sock.write(`PUB ${subject} ${body.length}\r\n`);
    this.sock.write(Buffer.concat([body, Buffer.from("\r\n")]));
  }

  close() {
    this.sock.destroy();
  }

  #read(b) {
    this.buf = Buffer.concat([this.buf, b]);
    for (;;) {
      const eol = this.buf.indexOf("\r\n");
      if (eol < 0) return;
      const line = this.buf.subarray(0, eol).toString();
      if (line.startsWith("HMSG ")) {
        const parts = line.split(" "); // HMSG subject sid [reply] hdrlen totlen
        const [hdrLen, totLen] = parts.slice(-2).map(Number);
        if (this.buf.length < eol + 2 + totLen + 2) return; // the rest is still coming
        const msg = this.buf.subarray(eol + 2, eol + 2 + totLen);
        const headers = Object.fromEntries(
          msg.subarray(0, hdrLen).toString().split("\r\n").slice(1).filter(Boolean)
            .map((h) => [h.slice(0, h.indexOf(":")), h.slice(h.indexOf(":") + 1).trim()]),
        );
        this.replies.push({ headers, data: msg.subarray(hdrLen).toString() });
        this.buf = this.buf.subarray(eol + 2 + totLen + 2);
        continue;
      }
      if (line === "PING") this.sock.write("PONG\r\n");
      this.buf = this.buf.subarray(eol + 2);
    }
  }
}

test("a backend's request reaches a /client.js listener with a reply function", async () => {
  const page = await env.page("");
  const sid = await page.evaluate(async () => {
    const { RouterClient } = await import("/client.js");
    const r = new RouterClient();
    await r.connect();
    const ns = await r.namespace("chat");
    window.plainReply = "not yet";
    ns.on("confirm", (data, meta, reply) => reply({ got: data, event: meta.event }));
    ns.on("plain", (data, meta, reply) => (window.plainReply = typeof reply));
    return ns.sid;
  });
  const nats = new RawNATS(env.natsPort);
  try {
    nats.request(`router.chat.socket.${sid}.confirm`, `{"n":1}`);
    const reply = await waitFor("the page's answer", () => nats.replies[0]);
    assert.deepEqual(JSON.parse(reply.data), { got: { n: 1 }, event: "confirm" });
    assert.equal(reply.headers["Router-Sid"], sid);
    assert.equal(reply.headers["Router-Error"], undefined);

    nats.publish(`router.chat.socket.${sid}.plain`, `2`);
    await page.waitForFunction(() => window.plainReply === "undefined", null, { timeout: 20000 });
  } finally {
    nats.close();
  }
});
