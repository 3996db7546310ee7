#!/usr/bin/env node
// A test Convex deployment: the app in `convex/` running on `convex-test`, behind the deployment
// HTTP API (`/api/query`, `/api/mutation`, `/api/action`, `/api/function`, `/api/run/...`, the
// streaming-export reads, `/api/shapes2` and the admin system functions the gateway's data tools
// use). `CONVEX_TEST_PLAN=starter` (or `POST /_test/plan`) refuses streaming export like Convex
// Cloud's Starter plan.
//
//   CONVEX_TEST_ADMIN_KEY=... CONVEX_TEST_JWT_SECRET=... node server.mjs --port 0
//
// Prints `{"port":N}` as one JSON line on stdout once listening. Secrets come from the environment
// only. See README.md for every endpoint, the test-only `/_test/*` routes and the call log.
import { appendFileSync } from "node:fs";
import http from "node:http";
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { format as formatLog } from "node:util";
import { ConvexError, jsonToConvex } from "convex/values";
import { PUSHED_MODULE, apiSpec, describeFunctions, loadApp, newDeployment } from "./lib/app.mjs";
import { tableShape } from "./lib/shapes.mjs";
import {
  RequestError,
  encodeValue,
  parseAuth,
  parseFormat,
  parseFunctionPath,
  signJwt,
  tableJsonSchema,
} from "./lib/wire.mjs";

const MAX_BODY_BYTES = 8 * 1024 * 1024;
const KIND_BY_ENDPOINT = { query: "Query", mutation: "Mutation", action: "Action" };

function parseArgv(argv) {
  const opts = { port: 0, host: "127.0.0.1" };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--port") opts.port = Number(argv[++i]);
    else if (argv[i] === "--host") opts.host = argv[++i];
    else throw new Error(`unknown argument ${argv[i]} (secrets go in environment variables)`);
  }
  return opts;
}

const env = {
  adminKey: process.env.CONVEX_TEST_ADMIN_KEY ?? "",
  jwtSecret: process.env.CONVEX_TEST_JWT_SECRET ?? "",
  callLog: process.env.CONVEX_TEST_CALL_LOG,
  pageSize: Number(process.env.CONVEX_TEST_PAGE_SIZE ?? 100),
  /** Set, `CONVEX_TEST_PAGE_SIZE` is also tableData's rows-read limit (pages cut short). */
  rowsReadLimit: process.env.CONVEX_TEST_PAGE_SIZE === undefined ? undefined : Number(process.env.CONVEX_TEST_PAGE_SIZE),
  functionErrorStatus: Number(process.env.CONVEX_TEST_FUNCTION_ERROR_STATUS ?? 200),
};
const PLANS = ["pro", "starter"];
/** The subscription plan the deployment is on: `starter` refuses streaming export. */
let plan = parsePlan(process.env.CONVEX_TEST_PLAN ?? "pro");
/** Requests received per `/api/*` path (refused ones too): `GET /_test/endpoints`. */
let endpointHits = {};
/** Cursors are opaque like the backend's (it encrypts them): AES-256-GCM under a per-process key. */
const cursorKey = randomBytes(32);
// The dashboard's read limits (system-udfs `convex/_system/paginationLimits.ts`) and the
// backend's page size bound (`TRANSACTION_MAX_READ_SIZE_ROWS`).
const MAXIMUM_ROWS_READ = 10000;
const MAXIMUM_BYTES_READ = 5000000;
const MAX_PAGE_ITEMS = 32000;

function parsePlan(value) {
  if (!PLANS.includes(value)) throw new Error(`CONVEX_TEST_PLAN must be one of ${PLANS.join(", ")}, not ${value}`);
  return value;
}

// `let`: a test-only push (`/_test/push`) replaces the app's code while the server runs.
let app = await loadApp();
let functions = describeFunctions(app.loaded);
let functionByPath = new Map(functions.map((f) => [`${f.modulePath}:${f.exportName}`, f]));
let pushes = 0;
let t = newDeployment(app);
let seed = await reseed();
const calls = [];
let callSeq = 0;
let snapshotTs = Date.now();
/** Test-only fault injection: the next N `/api/*` requests answer with this status. */
let injectedFaults = [];

// Function executions are serialized: it keeps `console` capture per call exact and mirrors the
// deployment's serializable transactions.
let chain = Promise.resolve();
function serialized(fn) {
  const run = chain.then(fn, fn);
  chain = run.catch(() => {});
  return run;
}

async function reseed() {
  return await t.run(async (ctx) => {
    const alice = await ctx.db.insert("customers", {
      ownerId: "alice",
      name: "Alice Ltd",
      email: "billing@alice.example",
      taxId: "DE123456789",
      creditLimitCents: 500000n,
    });
    const bob = await ctx.db.insert("customers", {
      ownerId: "bob",
      name: "Bob GmbH",
      email: "ap@bob.example",
      taxId: "FR987654321",
      creditLimitCents: 9007199254740993n,
      notes: "credit limit above 2^53",
    });
    const item = (description, quantity, unitPriceCents) => ({ description, quantity, unitPriceCents });
    const aliceInvoice = await ctx.db.insert("invoices", {
      ownerId: "alice",
      customerId: alice,
      number: "INV-1001",
      status: "open",
      totalCents: 12000n,
      refundedCents: 0n,
      lineItems: [item("consulting", 2, 6000n)],
      tags: { region: "eu" },
    });
    const bobInvoice = await ctx.db.insert("invoices", {
      ownerId: "bob",
      customerId: bob,
      number: "INV-2001",
      status: "paid",
      totalCents: 4500n,
      refundedCents: 0n,
      lineItems: [item("license", 1, 4500n)],
    });
    const clinic = await app.loaded.clinic.seedClinic(ctx.db);
    return { customers: { alice, bob }, invoices: { alice: aliceInvoice, bob: bobInvoice }, ...clinic };
  });
}

function recordCall(entry) {
  const full = { seq: ++callSeq, ts: new Date().toISOString(), ...entry };
  calls.push(full);
  if (env.callLog) appendFileSync(env.callLog, JSON.stringify(full) + "\n");
}

/** Runs `fn` with `console.*` captured into Convex-style log lines (`[LOG] 'text'`). */
async function withLogLines(fn) {
  const lines = [];
  const saved = {};
  const levels = { log: "LOG", info: "INFO", warn: "WARN", error: "ERROR", debug: "DEBUG" };
  for (const [method, level] of Object.entries(levels)) {
    saved[method] = console[method];
    console[method] = (...args) => {
      const text = args.map((a) => (typeof a === "string" ? `'${a}'` : formatLog("%o", a))).join(" ");
      lines.push(`[${level}] ${text}`);
    };
  }
  try {
    return { outcome: await fn(), lines };
  } catch (error) {
    return { error, lines };
  } finally {
    Object.assign(console, saved);
  }
}

function functionError(message, requestId, error) {
  const body = { status: "error", errorMessage: `[Request ID: ${requestId}] Server Error\n${message}` };
  if (error !== undefined && isConvexError(error)) body.errorData = error.data;
  return body;
}

function isConvexError(e) {
  return e instanceof ConvexError || (e && e.name === "ConvexError" && "data" in e);
}

function describeError(e) {
  if (isConvexError(e)) return `Uncaught ConvexError: ${e.message}`;
  const message = String(e?.message ?? e);
  if (/^(Validator error|Object is missing|Object contains extra field|Value does not match)/.test(message)) {
    return `ArgumentValidationError: ${message}`;
  }
  return `Uncaught ${e?.name ?? "Error"}: ${message}`;
}

const SYSTEM_FUNCTIONS = {
  "_system/cli/modules:apiSpec": {
    kind: "Query",
    raw: true,
    run: async () => apiSpec(app.loaded, functions),
  },
  "_system/frontend/getSchemas:default": {
    kind: "Query",
    run: async () => ({ active: app.schema.export() }),
  },
  "_system/cli/tableData:default": {
    kind: "Query",
    run: tableData,
  },
  "_system/frontend/addDocument:default": {
    kind: "Mutation",
    run: async ({ table, documents }) =>
      await t.run(async (ctx) => {
        const ids = [];
        for (const doc of documents) ids.push(await ctx.db.insert(table, doc));
        return ids;
      }),
  },
  "_system/frontend/patchDocumentsFields:default": {
    kind: "Mutation",
    run: async ({ table, fields, ids }) =>
      await t.run(async (ctx) => {
        for (const id of ids) {
          const doc = await ctx.db.get(id);
          if (doc === null) throw new ConvexError({ code: "NOT_FOUND", table, id });
          await ctx.db.patch(id, fields);
        }
        return null;
      }),
  },
  "_system/frontend/deleteDocuments:default": {
    kind: "Mutation",
    run: async ({ toDelete }) =>
      await t.run(async (ctx) => {
        for (const { id } of toDelete) {
          if ((await ctx.db.get(id)) !== null) await ctx.db.delete(id);
        }
        return null;
      }),
  },
};

/**
 * `_system/cli/tableData` (system-udfs `convex/_system/cli/tableData.ts`): one page of a table in
 * `_creationTime` order through convex-test's own `paginate`, with the dashboard's read limits.
 * A table that does not exist reads as empty, as in the backend (a query over a missing index
 * yields nothing).
 */
async function tableData(args) {
  const { table, order, paginationOpts } = args;
  if (typeof table !== "string") throw new Error("Validator error: Missing required field `table`");
  if (order !== "asc" && order !== "desc") throw new Error("Validator error: `order` must be \"asc\" or \"desc\"");
  const { numItems, cursor } = paginationOpts ?? {};
  if (typeof numItems !== "number" || numItems < 0) {
    throw new Error(`\`options.numItems\` must be a positive number. Received \`${numItems}\`.`);
  }
  if (numItems === 0) throw new Error("Must request at least 1 document while paginating");
  if (numItems > MAX_PAGE_ITEMS) throw new Error(`Requested too many items: ${numItems}`);
  if (!tableNames().includes(table)) {
    return { page: [], isDone: true, continueCursor: sealCursor("_end_cursor"), splitCursor: null, pageStatus: null };
  }
  const result = await t.run(
    async (ctx) =>
      await ctx.db
        .query(table)
        .order(order)
        .paginate({
          numItems,
          cursor: cursor === null || cursor === undefined ? null : openCursor(cursor),
          maximumRowsRead: Math.min(MAXIMUM_ROWS_READ, env.rowsReadLimit ?? MAXIMUM_ROWS_READ),
          maximumBytesRead: MAXIMUM_BYTES_READ,
        }),
  );
  return {
    page: result.page,
    isDone: result.isDone,
    continueCursor: sealCursor(result.continueCursor),
    splitCursor: result.splitCursor ? sealCursor(result.splitCursor) : null,
    pageStatus: result.pageStatus ?? null,
  };
}

function sealCursor(text) {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", cursorKey, iv);
  const sealed = Buffer.concat([cipher.update(text, "utf8"), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), sealed]).toString("base64url");
}

function openCursor(text) {
  try {
    const bytes = Buffer.from(text, "base64url");
    const decipher = createDecipheriv("aes-256-gcm", cursorKey, bytes.subarray(0, 12));
    decipher.setAuthTag(bytes.subarray(12, 28));
    return Buffer.concat([decipher.update(bytes.subarray(28)), decipher.final()]).toString("utf8");
  } catch {
    throw new Error("Failed to decrypt cursor");
  }
}

/** `GET /api/shapes2`: every existing table's shape inferred from its documents. */
async function shapes2() {
  const out = {};
  for (const table of tableNames()) out[table] = tableShape(await allDocuments(table));
  return out;
}

/** What the backend answers a streaming-export route on a plan without it (403). */
function requireStreamingExport() {
  if (plan === "starter") {
    throw new RequestError(
      403,
      "StreamingExportNotEnabled",
      "Streaming export is not available on your current subscription. See https://www.convex.dev/plans to upgrade.",
    );
  }
}

async function allDocuments(table) {
  if (!tableNames().includes(table)) {
    throw new RequestError(404, "TableNotFound", `Table ${JSON.stringify(table)} does not exist`);
  }
  return await t.run(async (ctx) => await ctx.db.query(table).collect());
}

function tableNames() {
  return Object.keys(app.schema.tables).sort();
}

/** Runs a function call (any endpoint) and answers the HTTP response body and status. */
async function runFunction({ endpoint, rawPath, body, auth }) {
  const format = parseFormat(body.format);
  const { canonical } = parseFunctionPath(rawPath);
  // The official client wraps args in a one-element array; everything else sends an object.
  let rawArgs = body.args ?? {};
  if (Array.isArray(rawArgs)) rawArgs = rawArgs.length === 0 ? {} : rawArgs[0];
  if (rawArgs === null || typeof rawArgs !== "object" || Array.isArray(rawArgs)) {
    throw new RequestError(400, "BadJsonBody", "`args` must be an object");
  }
  let args;
  try {
    args = jsonToConvex(rawArgs);
  } catch (e) {
    throw new RequestError(400, "BadJsonBody", `Invalid convex-encoded args: ${e.message}`);
  }
  const requestId = randomBytes(8).toString("hex");
  const expectedKind = KIND_BY_ENDPOINT[endpoint];
  const system = SYSTEM_FUNCTIONS[canonical];
  const fn = functionByPath.get(canonical);
  const logBase = { endpoint, path: canonical, caller: auth.label, args: rawArgs, requestId };
  const notFound = () => {
    recordCall({ ...logBase, outcome: "error", error: "not found" });
    const display = rawPath.includes(":") ? rawPath : canonical;
    return {
      status: env.functionErrorStatus,
      body: functionError(
        `Could not find public function for '${display}'. Did you forget to run \`npx convex dev\` or \`npx convex deploy\`?`,
        requestId,
      ),
    };
  };

  let kind;
  let execute;
  let raw = false;
  if (system !== undefined) {
    if (!auth.admin) return notFound();
    kind = system.kind;
    raw = system.raw === true;
    execute = () => system.run(args);
  } else if (fn !== undefined) {
    if (!fn.isPublic && !auth.admin) return notFound();
    // HTTP actions run only behind http.ts routes, never through the function API.
    if (fn.kind === "HttpAction") return notFound();
    kind = fn.kind;
    const accessor = auth.identity ? t.withIdentity(auth.identity) : t;
    const fnPath = { udfPath: canonical, componentPath: "" };
    execute =
      kind === "Query"
        ? () => accessor.queryFromPath(fnPath, args)
        : kind === "Mutation"
          ? () => accessor.mutationFromPath(fnPath, args)
          : () => accessor.actionFromPath(fnPath, args);
  } else {
    return notFound();
  }
  if (expectedKind !== undefined && expectedKind !== kind) {
    recordCall({ ...logBase, kind, outcome: "error", error: "wrong kind" });
    return {
      status: env.functionErrorStatus,
      body: functionError(
        `Trying to execute ${canonical} as ${expectedKind}, but it is defined as ${kind}.`,
        requestId,
      ),
    };
  }

  const { outcome, error, lines } = await serialized(() => withLogLines(execute));
  if (error !== undefined) {
    recordCall({ ...logBase, kind, outcome: "error", error: describeError(error) });
    const errBody = functionError(describeError(error), requestId, error);
    if (errBody.errorData !== undefined) errBody.errorData = encodeValue(errBody.errorData, format);
    if (lines.length > 0) errBody.logLines = lines;
    return { status: env.functionErrorStatus, body: errBody };
  }
  recordCall({ ...logBase, kind, outcome: "success" });
  const value = outcome === undefined ? null : outcome;
  const okBody = { status: "success", value: raw ? value : encodeValue(value, format) };
  if (lines.length > 0) okBody.logLines = lines;
  return { status: 200, body: okBody };
}

async function listSnapshot(url) {
  const tableName = url.searchParams.get("tableName");
  if (!tableName) throw new RequestError(400, "MissingTableName", "tableName is required");
  const format = parseFormat(url.searchParams.get("format") ?? "json");
  const cursorParam = url.searchParams.get("cursor");
  let offset = 0;
  if (cursorParam) {
    try {
      offset = JSON.parse(Buffer.from(cursorParam, "base64url").toString("utf8")).offset;
    } catch {
      throw new RequestError(400, "InvalidCursor", "cursor is not one this deployment issued");
    }
    if (!Number.isInteger(offset) || offset < 0) {
      throw new RequestError(400, "InvalidCursor", "cursor is not one this deployment issued");
    }
  }
  const snapshotParam = url.searchParams.get("snapshot");
  const snapshot = snapshotParam ? Number(snapshotParam) : snapshotTs;
  const docs = await serialized(() => allDocuments(tableName));
  // Like the backend's streaming export: each document also carries its table, its write
  // timestamp (`_ts`, int64 nanoseconds) and its component path (`""` for the root app).
  const page = docs
    .slice(offset, offset + env.pageSize)
    .map((d) => ({ ...d, _table: tableName, _ts: BigInt(Math.round(d._creationTime * 1e6)), _component: "" }));
  const end = offset + page.length;
  return {
    values: page.map((d) => encodeValue(d, format)),
    snapshot,
    cursor: Buffer.from(JSON.stringify({ offset: end })).toString("base64url"),
    hasMore: end < docs.length,
  };
}

function jsonSchemas() {
  const exported = JSON.parse(app.schema.export());
  const out = {};
  for (const table of exported.tables) out[table.tableName] = tableJsonSchema(table.tableName, table.documentType);
  return out;
}

async function readBody(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new RequestError(413, "PayloadTooLarge", "request body too large");
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

async function readJson(req) {
  const text = await readBody(req);
  try {
    const parsed = JSON.parse(text === "" ? "{}" : text);
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("not an object");
    return parsed;
  } catch (e) {
    throw new RequestError(400, "BadJsonBody", `Failed to parse JSON body: ${e.message}`);
  }
}

function requireAdmin(auth) {
  if (!auth.admin) throw new RequestError(401, "BadAdminKey", "This endpoint requires an admin key.");
}

async function handle(req, res) {
  const url = new URL(req.url, "http://localhost");
  const send = (status, body) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { "content-type": "application/json" });
    res.end(text);
  };
  try {
    // Test-only control routes.
    if (url.pathname === "/_test/reset" && req.method === "POST") {
      await serialized(async () => {
        t = newDeployment(app);
        seed = await reseed();
      });
      calls.length = 0;
      injectedFaults = [];
      endpointHits = {};
      snapshotTs = Date.now();
      return send(200, encodeValue(seed, "json"));
    }
    if (url.pathname === "/_test/seed" && req.method === "GET") return send(200, encodeValue(seed, "json"));
    if (url.pathname === "/_test/calls" && req.method === "GET") return send(200, { calls });
    if (url.pathname === "/_test/endpoints" && req.method === "GET") return send(200, { hits: endpointHits });
    if (url.pathname === "/_test/plan" && req.method === "POST") {
      const body = await readJson(req);
      try {
        plan = parsePlan(body.plan);
      } catch (e) {
        throw new RequestError(400, "BadPlan", e.message);
      }
      return send(200, { plan });
    }
    if (url.pathname === "/_test/token" && req.method === "POST") {
      const claims = await readJson(req);
      return send(200, { token: signJwt({ iss: "https://auditgate.test", ...claims }, env.jwtSecret) });
    }
    if (url.pathname === "/_test/push" && req.method === "POST") {
      const { modules } = await readJson(req);
      const names = Object.keys(modules ?? {});
      const bad = names.find((n) => !PUSHED_MODULE.test(n) || typeof modules[n] !== "string");
      if (names.length === 0 || bad !== undefined) {
        throw new RequestError(400, "BadPush", "expected {modules: {\"<name>.ts\": \"<source>\"}}");
      }
      await serialized(async () => {
        const next = await loadApp({ extra: modules, push: ++pushes });
        app = next;
        functions = describeFunctions(app.loaded);
        functionByPath = new Map(functions.map((f) => [`${f.modulePath}:${f.exportName}`, f]));
        t = newDeployment(app);
        seed = await reseed();
      });
      return send(200, { functions: functions.map((f) => f.spec.identifier) });
    }
    if (url.pathname === "/_test/faults" && req.method === "POST") {
      const { status, code, count } = await readJson(req);
      for (let i = 0; i < (count ?? 1); i++) injectedFaults.push({ status, code: code ?? "Injected" });
      return send(200, { queued: injectedFaults.length });
    }

    if (url.pathname.startsWith("/api/")) endpointHits[url.pathname] = (endpointHits[url.pathname] ?? 0) + 1;
    if (url.pathname.startsWith("/api/") && injectedFaults.length > 0) {
      const fault = injectedFaults.shift();
      recordCall({ endpoint: url.pathname, outcome: "injected_fault", status: fault.status });
      return send(fault.status, { code: fault.code, message: `injected ${fault.status}` });
    }

    const auth = parseAuth(req.headers.authorization, env);
    const m = url.pathname.match(/^\/api\/(query|mutation|action|function)$/);
    if (m && req.method === "POST") {
      const body = await readJson(req);
      if (m[1] === "function") requireAdmin(auth);
      const result = await runFunction({ endpoint: m[1], rawPath: body.path, body, auth });
      return send(result.status, result.body);
    }
    if (url.pathname.startsWith("/api/run/") && req.method === "POST") {
      const segments = url.pathname.slice("/api/run/".length).split("/").filter(Boolean);
      if (segments.length < 2) {
        throw new RequestError(400, "BadConvexFunctionIdentifier", "expected /api/run/<module path>/<export>");
      }
      const exportName = segments.pop();
      const body = await readJson(req);
      const result = await runFunction({ endpoint: "run", rawPath: `${segments.join("/")}:${exportName}`, body, auth });
      return send(result.status, result.body);
    }
    if (url.pathname === "/api/shapes2" && req.method === "GET") {
      requireAdmin(auth);
      return send(200, await serialized(shapes2));
    }
    if (url.pathname === "/api/json_schemas" && req.method === "GET") {
      requireStreamingExport();
      requireAdmin(auth);
      parseFormat(url.searchParams.get("format") ?? "json");
      return send(200, jsonSchemas());
    }
    if (url.pathname === "/api/list_snapshot" && req.method === "GET") {
      requireStreamingExport();
      requireAdmin(auth);
      return send(200, await listSnapshot(url));
    }
    throw new RequestError(404, "NotFound", `No route for ${req.method} ${url.pathname}`);
  } catch (e) {
    if (e instanceof RequestError) return send(e.status, { code: e.code, message: e.message });
    process.stderr.write(`internal error: ${e?.stack ?? e}\n`);
    return send(500, { code: "InternalServerError", message: "Your request couldn't be completed. Try again later." });
  }
}

const opts = parseArgv(process.argv.slice(2));
const server = http.createServer((req, res) => {
  handle(req, res).catch((e) => {
    process.stderr.write(`unhandled: ${e?.stack ?? e}\n`);
    res.destroy();
  });
});
server.listen(opts.port, opts.host, () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + "\n");
});
const shutdown = () => {
  app.cleanup();
  server.close();
  process.exit(0);
};
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
process.on("exit", () => app.cleanup());
