// Starts `server.mjs` as a child process on a free port for a test and stops it afterwards.
import { spawn } from "node:child_process";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const SERVER = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "server.mjs");
export const ADMIN_KEY = "test:auditgate-node|0123456789abcdef";
export const JWT_SECRET = "node-test-secret";

export async function startServer(extraEnv = {}) {
  const child = spawn(process.execPath, [SERVER, "--port", "0"], {
    env: { ...process.env, CONVEX_TEST_ADMIN_KEY: ADMIN_KEY, CONVEX_TEST_JWT_SECRET: JWT_SECRET, ...extraEnv },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const line = await new Promise((resolve, reject) => {
    const rl = createInterface({ input: child.stdout });
    rl.once("line", resolve);
    child.once("exit", (code) => reject(new Error(`server exited early with ${code}`)));
  });
  const { port } = JSON.parse(line);
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    async token(claims) {
      const res = await fetch(`${url}/_test/token`, { method: "POST", body: JSON.stringify(claims) });
      return (await res.json()).token;
    },
    async seed() {
      return await (await fetch(`${url}/_test/seed`)).json();
    },
    async calls() {
      return (await (await fetch(`${url}/_test/calls`)).json()).calls;
    },
    async stop() {
      child.kill("SIGTERM");
      await new Promise((resolve) => (child.exitCode !== null ? resolve() : child.once("exit", resolve)));
    },
  };
}
