// The official Socket.IO Admin UI (@socket.io/admin-ui, pinned in
// package.json) against a two-node routerd cluster, for adminui.test.mjs
// and adminui-screenshot.mjs: both nodes serve the package's ui/dist with
// http.static_dir and its /admin namespace with admin.socketio_ui; clients
// (socket.io-client from /socket.io/socket.io.js, and the native protocol)
// run in Chromium pages.

import fs from "node:fs";
import path from "node:path";
import bcrypt from "bcryptjs";
import { Env, Proc, freePort, waitFor } from "./harness.mjs";

/** USER and PASSWORD log in to the Admin UI (admin.users). */
export const USER = "admin";
export const PASSWORD = "e2e-admin-password";

/** uiDist is the Admin UI the package ships; mdiFont the icon font its page loads from a CDN. */
const uiDist = path.join(import.meta.dirname, "node_modules/@socket.io/admin-ui/ui/dist");
const mdiFont = path.join(import.meta.dirname, "node_modules/@mdi/font");

/** nodeConfig is the config of one node of the cluster: Socket.IO "/" is namespace chat, ops is another. */
function nodeConfig({ name, httpPort, natsPort, clusterPort, seedPort, hash }) {
  return `node: {name: ${name}}
log: {level: info, format: text}
http:
  listen: "127.0.0.1:${httpPort}"
  static_dir: "${uiDist}"
nats:
  listen: "127.0.0.1:${natsPort}"
  cluster:
    name: e2e-admin-ui
    listen: "127.0.0.1:${clusterPort}"
    routes: ["nats-route://127.0.0.1:${seedPort}"]
socketio:
  enabled: true
  namespaces: {"/": chat}
  events: {join: join}
admin:
  enabled: true
  socketio_ui: true
  users: [{name: ${USER}, password_hash: "${hash}"}]
namespaces:
  chat: {}
  ops: {}
`;
}

/**
 * Cluster is two routerd nodes, n1 (its Env: the build, Chromium) and n2,
 * each {name, url}.
 */
export class Cluster {
  static async start() {
    const c = new Cluster();
    try {
      const hash = bcrypt.hashSync(PASSWORD, 10);
      const seedPort = await freePort();
      c.env = await Env.start({
        args: (env) => {
          const file = path.join(env.dir, "n1.yaml");
          fs.writeFileSync(file, nodeConfig({ name: "n1", httpPort: env.httpPort, natsPort: env.natsPort, clusterPort: seedPort, seedPort, hash }));
          return ["-c", file];
        },
      });
      const [httpPort, natsPort, clusterPort] = [await freePort(), await freePort(), await freePort()];
      const file = path.join(c.env.dir, "n2.yaml");
      fs.writeFileSync(file, nodeConfig({ name: "n2", httpPort, natsPort, clusterPort, seedPort, hash }));
      c.n1 = { name: "n1", url: c.env.url };
      c.n2 = { name: "n2", url: `http://127.0.0.1:${httpPort}` };
      c.proc = new Proc("routerd n2", c.env.routerdBin, ["-c", file], path.join(c.env.dir, "n2.log"));
      // n2 is ready once it found n1 (its first discovery round).
      await waitFor("n2 /readyz", async () => {
        if (!c.proc.running) throw new Error(`n2 exited:\n${c.proc.log()}`);
        return (await fetch(`${c.n2.url}/readyz`)).ok;
      });
      return c;
    } catch (err) {
      await c.close();
      throw err;
    }
  }

  /** page opens a page of its own browser context on a blank document of node n's origin. */
  async page(n, viewport = { width: 1200, height: 760 }) {
    const context = await this.env.browser.newContext({ viewport });
    const page = await context.newPage();
    page.on("pageerror", (err) => console.error(`page error (${n.name}):`, err));
    await page.goto(`${n.url}/healthz`);
    return page;
  }

  /**
   * socketio connects socket.io-client (the bundle routerd serves) to node n with opts and
   * joins rooms; it returns {page, sid}. The page keeps the disconnect reasons in window.reasons.
   */
  async socketio(n, opts = {}, rooms = []) {
    const page = await this.page(n);
    await page.addScriptTag({ url: `${n.url}/socket.io/socket.io.js` });
    const sid = await page.evaluate(
      ([opts, rooms]) =>
        new Promise((resolve, reject) => {
          window.reasons = [];
          window.socket = io(location.origin, { reconnection: false, ...opts });
          socket.on("disconnect", (reason) => reasons.push(reason));
          socket.once("connect_error", reject);
          socket.once("connect", async () => {
            for (const room of rooms) await socket.emitWithAck("join", room);
            resolve(socket.id);
          });
        }),
      [opts, rooms],
    );
    return { page, sid };
  }

  /**
   * native connects a native-protocol WebSocket client to node n's namespace ns and joins
   * rooms; it returns {page, sid}. The page keeps every frame in window.got.
   */
  async native(n, ns, rooms = []) {
    const page = await this.page(n);
    const sid = await page.evaluate(
      ([ns, rooms]) =>
        new Promise((resolve, reject) => {
          window.got = [];
          const ws = new WebSocket(`${location.origin.replace(/^http/, "ws")}/ws`);
          let id = 1;
          ws.onerror = () => reject(new Error("WebSocket failed"));
          ws.onopen = () => ws.send(JSON.stringify({ type: "connect", ns, id: id++ }));
          ws.onmessage = (e) => {
            for (const line of e.data.split("\n")) {
              const f = JSON.parse(line);
              got.push(f);
              if (f.type === "connected") {
                for (const room of rooms) ws.send(JSON.stringify({ type: "join", ns, room, id: id++ }));
                resolve(f.sid);
              }
            }
          };
        }),
      [ns, rooms],
    );
    return { page, sid };
  }

  /**
   * adminUI opens the Admin UI served by node n (wide enough for its navigation drawer). The
   * page's CDN requests stay offline: the icon font is the pinned @mdi/font, the Roboto font
   * falls back to the system's.
   */
  async adminUI(n) {
    const context = await this.env.browser.newContext({ viewport: { width: 1400, height: 800 } });
    await context.route(/^https:\/\/fonts\.(googleapis|gstatic)\.com\//, (route) => route.abort());
    await context.route(/^https:\/\/cdn\.jsdelivr\.net\/npm\/@mdi\/font@latest\/([^?]+)/, (route) => {
      const file = new URL(route.request().url()).pathname.replace(/^\/npm\/@mdi\/font@latest\//, "");
      return route.fulfill({ path: path.join(mdiFont, file) });
    });
    const page = await context.newPage();
    page.on("pageerror", (err) => console.error("page error (admin ui):", err));
    await page.goto(`${n.url}/`);
    return page;
  }

  /**
   * login fills the Admin UI's connection modal with node n's URL and the credentials, and
   * submits it; with the right password it waits until the modal is gone.
   */
  async login(page, n, password = PASSWORD) {
    await page.getByLabel("Server URL").fill(n.url);
    await page.getByLabel("Username").fill(USER);
    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", { name: "Connect" }).click();
    if (password === PASSWORD) await page.locator(".v-dialog").waitFor({ state: "hidden", timeout: 20000 });
  }

  /** close stops n2 and the environment. */
  async close() {
    await this.proc?.stop();
    await this.env?.close();
  }
}
