// routerd's admin console (admin.enabled, package admin) on a two-node
// cluster, for adminconsole.test.mjs and adminconsole-screenshot.mjs: n1
// (its Env: the build, Chromium) and n2, clustered, with the console on
// and the admin ann; clients speak the native protocol from Chromium pages
// on either node.

import fs from "node:fs";
import path from "node:path";
import { Env, Proc, freePort, waitFor } from "./harness.mjs";

/** USER and PASSWORD log in to the console; HASH is PASSWORD's bcrypt hash (cost 4: a test's). */
export const USER = "ann";
export const PASSWORD = "correct horse";
const HASH = "$2a$04$AeRFUxJ9edXuHXincou/jeLL9WE7GV9rnzpOF3swMfeDsoWIPhGUS";

/** nodeConfig is one node's config: namespace chat (with history), clustered with the seed's route port. */
function nodeConfig({ name, dir, httpPort, natsPort, clusterPort, seedPort }) {
  return `node: {name: ${name}}
log: {level: info, format: text}
http:
  listen: "127.0.0.1:${httpPort}"
nats:
  listen: "127.0.0.1:${natsPort}"
  cluster:
    name: e2e-admin-console
    listen: "127.0.0.1:${clusterPort}"
    routes: ["nats-route://127.0.0.1:${seedPort}"]
  jetstream: {enabled: true, store_dir: "${path.join(dir, `${name}-js`)}"}
namespaces:
  chat: {direct: true, presence_events: true, history: {max_msgs: 100, replicas: 2}}
  ops: {client_join: false}
admin:
  enabled: true
  users: [{name: ${USER}, password_hash: "${HASH}"}]
`;
}

/** Cluster is nodes n1 and n2, each {name, url}, and their Env (env.browser). */
export class Cluster {
  static async start() {
    const c = new Cluster();
    try {
      await c.#start();
      return c;
    } catch (err) {
      await c.close();
      throw err;
    }
  }

  async #start() {
    const seedPort = await freePort();
    this.env = await Env.start({
      args: (env) => {
        const file = path.join(env.dir, "n1.yaml");
        fs.writeFileSync(file, nodeConfig({ name: "n1", dir: env.dir, httpPort: env.httpPort, natsPort: env.natsPort, clusterPort: seedPort, seedPort }));
        return ["-c", file];
      },
    });
    const env = this.env;
    const n2 = { httpPort: await freePort(), natsPort: await freePort(), clusterPort: await freePort() };
    const file = path.join(env.dir, "n2.yaml");
    fs.writeFileSync(file, nodeConfig({ name: "n2", dir: env.dir, ...n2, seedPort }));
    this.n2proc = new Proc("n2", env.routerdBin, ["-c", file], path.join(env.dir, "n2.log"));
    this.nodes = [
      { name: "n1", url: env.url, proc: env.routerd },
      { name: "n2", url: `http://127.0.0.1:${n2.httpPort}`, proc: this.n2proc },
    ];
    for (const n of this.nodes) {
      await waitFor(`${n.name} ready with both nodes`, async () => {
        if (!n.proc.running) throw new Error(`${n.name} exited:\n${n.proc.log()}`);
        const ready = await fetch(`${n.url}/readyz`);
        const metrics = await (await fetch(`${n.url}/metrics`)).text();
        return ready.ok && /^routerd_nodes 2$/m.test(metrics);
      }, { timeout: 30000 });
    }
  }

  /** page opens a page in a browser context of its own. */
  async page(url, viewport = { width: 1280, height: 900 }) {
    const context = await this.env.browser.newContext({ viewport });
    const page = await context.newPage();
    page.on("pageerror", (err) => console.error(`page error (${url}):`, err));
    await page.goto(url);
    return page;
  }

  /**
   * client opens a native client on node n in a page of its own: it
   * connects namespace ns and joins rooms, and keeps every frame it gets
   * (frames). It resolves with {page, sid, frames(), send(frame), close()}.
   */
  async client(n, { ns = "chat", rooms = [] } = {}) {
    const page = await this.page(`${n.url}/healthz`);
    const sid = await page.evaluate(
      ({ url, ns, rooms }) =>
        new Promise((resolve, reject) => {
          const ws = new WebSocket(url);
          window.__frames = [];
          window.__ws = ws;
          let id = 0;
          const send = (f) => ws.send(JSON.stringify({ ...f, id: ++id }));
          ws.onerror = () => reject(new Error("websocket error"));
          ws.onmessage = (e) => {
            for (const line of e.data.split("\n")) {
              const f = JSON.parse(line);
              window.__frames.push(f);
              if (f.type === "connected") {
                for (const room of rooms) send({ type: "join", ns, room });
                send({ type: "presence", ns, room: rooms[0] ?? "x" }); // answered after the joins
              }
              if (f.type === "ack" && f.id === rooms.length + 2) resolve(window.__frames.find((x) => x.type === "connected").sid);
              if (f.type === "error") reject(new Error(`${f.code}: ${f.message}`));
            }
          };
          ws.onopen = () => send({ type: "connect", ns });
        }),
      { url: `${n.url.replace("http", "ws")}/ws`, ns, rooms },
    );
    return {
      page,
      sid,
      node: n.name,
      frames: () => page.evaluate(() => window.__frames),
      send: (frame) => page.evaluate((f) => window.__ws.send(JSON.stringify(f)), frame),
      close: () => page.evaluate(() => window.__ws.close()),
    };
  }

  /** close stops both nodes and everything of the Env. */
  async close() {
    await this.n2proc?.stop();
    await this.env?.close();
  }
}

/** login fills the console's login form and submits it. */
export async function login(page, user = USER, password = PASSWORD) {
  await page.locator("#login-name").fill(user);
  await page.locator("#login-password").fill(password);
  await page.locator("#login-submit").click();
}
