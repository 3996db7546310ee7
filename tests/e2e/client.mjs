#!/usr/bin/env node
// Scripted MCP client on the TypeScript SDK: a real client for auditgate's e2e tests.
// Same CLI and output as client.py (see README.md). Runs on Node 20 (the system one) or later.
//
//   node client.mjs --transport stdio [--mode legacy|auto] [--sdk v1|v2] --script FILE --command PROG [-- ARG...]
//   node client.mjs --transport stdio [--mode legacy|auto] [--sdk v1|v2] --script FILE -- PROG [ARG...]
//   node client.mjs --transport http  [--mode legacy|auto] [--sdk v1|v2] --script FILE --url URL [--token-env VAR]
//
// --sdk v1 (default for --mode legacy): @modelcontextprotocol/sdk 1.x, the SDK today's hosts
//   ship; it always runs the initialize handshake (it has no server/discover probe).
// --sdk v2 (default for --mode auto): @modelcontextprotocol/client 2.x with
//   versionNegotiation {mode}. In auto mode over stdio it probes server/discover on a separate,
//   short-lived copy of the server process first (see README.md).
//
// Exit status: 0 when the session was established (step failures are data in the output),
// 1 when it could not be (reason on stderr), 2 for a bad command line or script.

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const USAGE = 'usage: client.mjs --transport stdio|http [--mode legacy|auto] [--sdk v1|v2] --script FILE ' +
  '(--command PROG [-- ARG...] | -- PROG [ARG...] | --url URL [--token-env VAR]) [--timeout SECONDS]';
const LIST_PAGE_CAP = 1000;

function usage(msg) {
  process.stderr.write(`client.mjs: ${msg}\n${USAGE}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const dd = argv.indexOf('--');
  const rest = dd >= 0 ? argv.slice(dd + 1) : [];
  const own = dd >= 0 ? argv.slice(0, dd) : argv;
  const o = { mode: 'legacy', timeout: 120 };
  const valued = new Set(['--transport', '--mode', '--sdk', '--script', '--command', '--url', '--token-env', '--timeout']);
  for (let i = 0; i < own.length; i++) {
    const a = own[i];
    if (a === '-h' || a === '--help') { process.stdout.write(USAGE + '\n'); process.exit(0); }
    if (!valued.has(a)) usage(`unknown argument ${a}`);
    if (i + 1 >= own.length) usage(`${a} needs a value`);
    o[a.slice(2).replace(/-(\w)/g, (_, c) => c.toUpperCase())] = own[++i];
  }
  if (!['stdio', 'http'].includes(o.transport)) usage('--transport must be stdio or http');
  if (!['legacy', 'auto'].includes(o.mode)) usage('--mode must be legacy or auto');
  o.sdk ??= o.mode === 'auto' ? 'v2' : 'v1';
  if (!['v1', 'v2'].includes(o.sdk)) usage('--sdk must be v1 or v2');
  if (o.sdk === 'v1' && o.mode === 'auto') usage('--mode auto needs --sdk v2 (SDK 1.x has no server/discover probe)');
  o.timeout = Number(o.timeout);
  if (!(o.timeout > 0)) usage('--timeout must be a positive number of seconds');
  if (!o.script) usage('--script is required');
  if (o.transport === 'stdio') {
    if (o.command === undefined) {
      if (rest.length === 0) usage('stdio needs --command PROG or a program after --');
      o.command = rest.shift();
    }
    o.argv = rest;
  } else {
    if (!o.url) usage('http needs --url');
    if (rest.length) usage('arguments after -- are for stdio only');
  }
  let steps;
  try {
    steps = JSON.parse(readFileSync(o.script, 'utf8'));
  } catch (e) {
    usage(`cannot read script ${o.script}: ${e.message}`);
  }
  if (!Array.isArray(steps)) usage('the script must be a JSON array of steps');
  steps.forEach((s, i) => {
    if (typeof s !== 'object' || s === null || !['list', 'call', 'ping'].includes(s.op)) usage(`step ${i}: op must be list, call or ping`);
    if (s.op === 'call' && (typeof s.name !== 'string' || (s.arguments !== undefined && (typeof s.arguments !== 'object' || s.arguments === null || Array.isArray(s.arguments))))) {
      usage(`step ${i}: call needs a string name and an object arguments`);
    }
  });
  return { o, steps };
}

// A package's version: its exports maps hide package.json, so walk up from the resolved entry point.
function packageVersion(name) {
  const entry = fileURLToPath(import.meta.resolve(name === '@modelcontextprotocol/sdk' ? `${name}/client/index.js` : name));
  for (let dir = dirname(entry); dir !== dirname(dir); dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8'));
      if (pkg.name === name) return pkg.version;
    }
  }
  throw new Error(`cannot find the version of ${name}`);
}

async function loadSdk(sdk) {
  if (sdk === 'v1') {
    const { Client } = await import('@modelcontextprotocol/sdk/client/index.js');
    const { StdioClientTransport } = await import('@modelcontextprotocol/sdk/client/stdio.js');
    const { StreamableHTTPClientTransport } = await import('@modelcontextprotocol/sdk/client/streamableHttp.js');
    const version = packageVersion('@modelcontextprotocol/sdk');
    return { Client, StdioClientTransport, StreamableHTTPClientTransport, name: 'typescript-sdk', version };
  }
  const { Client, StreamableHTTPClientTransport } = await import('@modelcontextprotocol/client');
  const { StdioClientTransport } = await import('@modelcontextprotocol/client/stdio');
  const version = packageVersion('@modelcontextprotocol/client');
  return { Client, StdioClientTransport, StreamableHTTPClientTransport, name: 'typescript-client', version };
}

// HTTP-level failures (SDK 1.x StreamableHTTPError, 2.x SdkHttpError) carry the HTTP status.
function httpStatusOf(e) {
  if (!e) return undefined;
  if (e.name === 'StreamableHTTPError' || e.constructor?.name === 'StreamableHTTPError') return e.code;
  const status = e.data?.status ?? e.status;
  return typeof status === 'number' && status >= 100 && status < 600 ? status : undefined;
}

// A step's `error`: JSON-RPC errors as {code, message, data?}; anything else with code null
// (plus httpStatus for an HTTP-level refusal, sdkCode for a 2.x SdkError).
function errorOf(e) {
  const httpStatus = httpStatusOf(e);
  if (httpStatus !== undefined) {
    const err = { code: null, message: String(e.message ?? ''), exception: e.name ?? 'Error', httpStatus };
    if (typeof e.code === 'string') err.sdkCode = e.code;
    return err;
  }
  if (e && typeof e.code === 'number') {
    // SDK 1.x prefixes "MCP error <code>: "; report the server's own message.
    const message = String(e.message ?? '').replace(/^MCP error -?\d+: /, '');
    const err = { code: e.code, message };
    if (e.data !== undefined) err.data = e.data;
    return err;
  }
  const err = { code: null, message: String(e?.message ?? e), exception: e?.name ?? typeof e };
  if (e && typeof e.code === 'string') err.sdkCode = e.code;
  return err;
}

function describe(e) {
  const httpStatus = httpStatusOf(e);
  if (httpStatus !== undefined) return `HTTP ${httpStatus}: ${e.message}`;
  if (e && typeof e.code === 'number') return `JSON-RPC error ${e.code}: ${errorOf(e).message}`;
  return `${e?.name ?? 'Error'}: ${e?.message ?? e}`;
}

function toolEntry(t) {
  return {
    name: t.name,
    title: t.title ?? null,
    description: t.description ?? null,
    inputSchema: t.inputSchema ?? null,
    outputSchema: t.outputSchema ?? null,
    annotations: t.annotations ?? null,
    _meta: t._meta ?? null,
  };
}

async function main() {
  const { o, steps } = parseArgs(process.argv.slice(2));
  const sdk = await loadSdk(o.sdk);
  const clientInfo = { name: `auditgate-e2e-${sdk.name}`, version: sdk.version };
  const options = { capabilities: {} };
  if (o.sdk === 'v2') {
    options.versionNegotiation = { mode: o.mode };
    options.listMaxPages = LIST_PAGE_CAP;
  }
  const client = new sdk.Client(clientInfo, options);

  let transport;
  if (o.transport === 'stdio') {
    transport = new sdk.StdioClientTransport({ command: o.command, args: o.argv, env: { ...process.env }, stderr: 'inherit' });
  } else {
    const headers = {};
    if (o.tokenEnv) {
      const token = process.env[o.tokenEnv];
      if (!token) usage(`environment variable ${o.tokenEnv} is empty or unset`);
      headers.Authorization = `Bearer ${token}`;
    }
    transport = new sdk.StreamableHTTPClientTransport(new URL(o.url), { requestInit: { headers } });
  }

  // Tap the transport: count outgoing tools/list requests (so a list step can report how many pages
  // it took) and keep the initialize result (SDK 1.x does not keep the negotiated version on stdio).
  let listRequests = 0;
  let initializeId;
  let initializeResult;
  const origSend = transport.send.bind(transport);
  transport.send = (message, opts) => {
    if (message && message.method === 'tools/list' && message.id !== undefined) listRequests++;
    if (message && message.method === 'initialize') initializeId = message.id;
    return origSend(message, opts);
  };
  let onmessage;
  Object.defineProperty(transport, 'onmessage', {
    configurable: true,
    get: () => onmessage,
    set: (fn) => {
      onmessage = typeof fn !== 'function' ? fn : (m, extra) => {
        if (initializeId !== undefined && m && m.id === initializeId && m.result) initializeResult = m.result;
        return fn(m, extra);
      };
    },
  });

  const reqOpts = { timeout: o.timeout * 1000 };
  try {
    await client.connect(transport, reqOpts);
  } catch (e) {
    process.stderr.write(`client.mjs: could not establish the MCP session: ${describe(e)}\n`);
    try { await client.close(); } catch { /* already broken */ }
    process.exit(1);
  }

  const era = o.sdk === 'v2' ? (client.getProtocolEra() === 'modern' ? 'discover' : 'initialize') : 'initialize';
  const doc = {
    client: { sdk: sdk.name, version: sdk.version, mode: o.mode, transport: o.transport },
    initialize: {
      protocolVersion: (o.sdk === 'v2' ? client.getNegotiatedProtocolVersion() : initializeResult?.protocolVersion) ?? null,
      serverInfo: client.getServerVersion() ?? null,
      capabilities: client.getServerCapabilities() ?? null,
      instructions: client.getInstructions() ?? null,
      era,
    },
    steps: [],
  };

  for (const step of steps) {
    const out = { op: step.op };
    if (step.op === 'call') out.name = step.name;
    out.ok = false;
    try {
      if (step.op === 'list') {
        const tools = [];
        const before = listRequests;
        try {
          if (o.sdk === 'v2') {
            // What a v2 host does: the no-cursor call walks every page itself.
            const r = await client.listTools(undefined, { ...reqOpts, cacheMode: 'refresh' });
            tools.push(...r.tools.map(toolEntry));
          } else {
            let cursor;
            for (let pages = 0; ; ) {
              const r = await client.listTools(cursor === undefined ? undefined : { cursor }, reqOpts);
              pages++;
              tools.push(...r.tools.map(toolEntry));
              cursor = r.nextCursor;
              if (cursor === undefined || cursor === null) break;
              if (pages >= LIST_PAGE_CAP) throw new Error(`tools/list: more than ${LIST_PAGE_CAP} pages`);
            }
          }
        } finally {
          out.pages = listRequests - before;
          out.tools = tools;
        }
      } else if (step.op === 'call') {
        const params = { name: step.name, arguments: step.arguments ?? {} };
        // SDK 1.x: callTool(params, resultSchema, options); 2.x: callTool(params, options).
        const r = o.sdk === 'v1' ? await client.callTool(params, undefined, reqOpts) : await client.callTool(params, reqOpts);
        out.result = { isError: Boolean(r.isError), content: r.content ?? [], structuredContent: r.structuredContent ?? null };
      } else {
        await client.ping(reqOpts);
      }
      out.ok = true;
    } catch (e) {
      out.error = errorOf(e);
    }
    doc.steps.push(out);
  }

  try {
    if (o.transport === 'http' && typeof transport.terminateSession === 'function' && transport.sessionId) {
      await transport.terminateSession(); // DELETE, as the Python client does on close
    }
    await client.close();
  } catch (e) {
    doc.close_error = describe(e);
  }
  process.stdout.write(JSON.stringify(doc, null, 2) + '\n');
  process.exit(0);
}

main().catch((e) => {
  process.stderr.write(`client.mjs: ${e?.stack ?? e}\n`);
  process.exit(1);
});
