// Test harness shared by the browser end-to-end tests and the screenshot
// scripts: builds routerd (and examples/chatbot when the directory exists),
// runs them as real processes on free ports (the bot with a stub language
// model when asked), and launches Debian's headless Chromium through
// playwright-core.

import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";
import { startStubLLM } from "./stubllm.mjs";

/** repo is the root of the routerd repository. */
export const repo = path.resolve(import.meta.dirname, "../..");

/** CHROMIUM_ARGS keep Chromium quiet and offline: no GPU, no sandbox (root), no background traffic. */
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** waitFor polls check (sync or async) until it returns a truthy value, and returns that value. */
export async function waitFor(what, check, { timeout = 20000, interval = 100 } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ""}`);
    await new Promise((r) => setTimeout(r, interval));
  }
}

/** say types a line into a page's composer and presses Enter. */
export async function say(page, text) {
  await page.locator("#text").fill(text);
  await page.locator("#text").press("Enter");
}

/** seen waits until the page has an element matching selector with that text. */
export function seen(page, selector, text, timeout = 20000) {
  return page.locator(selector, { hasText: text }).first().waitFor({ state: "attached", timeout });
}

/** freePort returns a TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Proc is a child process whose output goes to a log file. */
export class Proc {
  constructor(name, bin, args, logFile) {
    this.name = name;
    this.logFile = logFile;
    const log = fs.openSync(logFile, "a");
    this.child = spawn(bin, args, { cwd: repo, stdio: ["ignore", log, log] });
    fs.closeSync(log);
    this.exited = new Promise((resolve) => this.child.once("exit", (code, signal) => resolve({ code, signal })));
    this.running = true;
    this.exited.then(() => (this.running = false));
  }

  /** log returns the end of the process's output, for failure messages. */
  log() {
    return fs.readFileSync(this.logFile, "utf8").split("\n").slice(-30).join("\n");
  }

  /** stop sends SIGTERM and waits for the exit (SIGKILL after 10 s). */
  async stop() {
    if (!this.running) return;
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 10000);
    await this.exited;
    clearTimeout(timer);
  }
}

/**
 * Env is one test environment: a temporary directory with the binaries, the
 * config and the logs; routerd; the bot; the browser.
 */
export class Env {
  /**
   * start builds, starts routerd and the bot, and launches Chromium. With
   * args, routerd runs with those arguments (given the environment, for its
   * ports) instead of the chat config, and no bot is started. With llm (a
   * stub script, see stubllm.mjs), the bot answers as an assistant with a
   * stub model (env.llm) in rooms mentioning it and in #assistant.
   */
  static async start({ args, llm } = {}) {
    const env = new Env();
    try {
      return await env.#start(args, llm);
    } catch (err) {
      await env.close(); // no process outlives a failed start
      throw err;
    }
  }

  async #start(args, llm) {
    const env = this;
    env.dir = fs.mkdtempSync(path.join(os.tmpdir(), "routerd-e2e-"));
    env.httpPort = await freePort();
    env.natsPort = await freePort();
    env.url = `http://127.0.0.1:${env.httpPort}`;
    env.natsURL = `nats://127.0.0.1:${env.natsPort}`;
    env.build();
    if (args) {
      env.routerdArgs = args(env);
    } else {
      env.config = path.join(env.dir, "router.yaml");
      fs.writeFileSync(env.config, env.configText());
      env.routerdArgs = ["-c", env.config];
    }
    await env.startRouterd();
    if (env.chatbotBin && !args) {
      const botArgs = ["-nats", env.natsURL];
      if (llm) {
        env.llm = await startStubLLM(llm);
        botArgs.push("-llm-url", env.llm.url, "-llm-model", "stub-model", "-llm-rooms", "assistant");
      }
      env.bot = new Proc("chatbot", env.chatbotBin, botArgs, path.join(env.dir, "chatbot.log"));
      await waitFor("the chatbot ready", () => {
        if (!env.bot.running) throw new Error(`chatbot exited:\n${env.bot.log()}`);
        return fs.readFileSync(env.bot.logFile, "utf8").includes("chatbot ready");
      });
    }
    env.browser = await chromium.launch({
      executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
      args: CHROMIUM_ARGS, // playwright gives every launch a fresh temporary profile
    });
    return env;
  }

  /** build compiles routerd, and the chatbot example when it exists, into the temporary directory. */
  build() {
    const go = (out, pkg) => execFileSync("go", ["build", "-o", out, pkg], { cwd: repo, stdio: "inherit" });
    this.routerdBin = path.join(this.dir, "routerd");
    go(this.routerdBin, "./cmd/routerd");
    if (fs.existsSync(path.join(repo, "examples/chatbot"))) {
      this.chatbotBin = path.join(this.dir, "chatbot");
      go(this.chatbotBin, "./examples/chatbot");
    }
  }

  /** configText is router.yaml's chat namespace on this environment's ports. */
  configText() {
    return `node: {name: e2e}
log: {level: info, format: text}
http:
  listen: "127.0.0.1:${this.httpPort}"
  chat_page: true
nats:
  listen: "127.0.0.1:${this.natsPort}"
  jetstream: {enabled: true, store_dir: "${path.join(this.dir, "jetstream")}"}
namespaces:
  chat:
    client_publish: members
    direct: true
    presence_events: true
    history: {max_msgs: 100, max_age: 24h}
`;
  }

  /** startRouterd starts routerd and waits until /readyz answers 200. */
  async startRouterd() {
    const proc = new Proc("routerd", this.routerdBin, this.routerdArgs, path.join(this.dir, "routerd.log"));
    this.routerd = proc;
    await waitFor("routerd /readyz", async () => {
      if (!proc.running) throw new Error(`routerd exited:\n${proc.log()}`);
      const res = await fetch(`${this.url}/readyz`);
      return res.ok;
    });
  }

  /** restartRouterd stops routerd and starts it again on the same ports. */
  async restartRouterd() {
    await this.routerd.stop();
    await this.startRouterd();
  }

  /** page opens a new browser context (its own storage) on the chat page with the query. */
  async page(query, viewport = { width: 1200, height: 760 }) {
    const context = await this.browser.newContext({ viewport });
    const page = await context.newPage();
    page.on("pageerror", (err) => console.error(`page error (${query}):`, err));
    await page.goto(`${this.url}/${query}`);
    return page;
  }

  /** close stops everything and removes the temporary directory. */
  async close() {
    await this.browser?.close();
    await this.bot?.stop();
    await this.llm?.close();
    await this.routerd?.stop();
    if (this.dir) fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
