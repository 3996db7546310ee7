// Loads the Convex app in `convex/` and runs its functions on `convex-test`.
//
// The TypeScript modules are bundled with esbuild (shipped with `convex`) into `.build/<pid>/`
// beside `node_modules`, with every npm package left external so the functions share the one
// `convex` instance that `convex-test` uses (ConvexError, validators, ids).
import { mkdirSync, readdirSync, rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";
import { convexTest } from "convex-test";

const APP_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const CONVEX_DIR = path.join(APP_DIR, "convex");

/** Bundles `convex/*.ts` and imports every module. Returns `{ schema, modules, cleanup }`. */
export async function loadApp() {
  removeStaleBuilds();
  const outDir = path.join(APP_DIR, ".build", String(process.pid));
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const sources = readdirSync(CONVEX_DIR).filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"));
  const generated = readdirSync(path.join(CONVEX_DIR, "_generated")).filter((f) => f.endsWith(".js"));
  await build({
    entryPoints: [
      ...sources.map((f) => path.join(CONVEX_DIR, f)),
      ...generated.map((f) => path.join(CONVEX_DIR, "_generated", f)),
    ],
    outbase: CONVEX_DIR,
    outdir: outDir,
    bundle: true,
    packages: "external",
    format: "esm",
    platform: "node",
    target: "node20",
    outExtension: { ".js": ".mjs" },
    logLevel: "error",
  });
  const loaded = {};
  for (const file of [...sources, ...generated.map((g) => `_generated/${g}`)]) {
    const rel = file.replace(/\.(ts|js)$/, "");
    loaded[rel] = await import(pathToFileURL(path.join(outDir, `${rel}.mjs`)).href);
  }
  // The modules map convex-test resolves function paths against: keys must share the prefix
  // before `_generated`.
  const modules = Object.fromEntries(
    Object.entries(loaded).map(([rel, mod]) => [`/convex/${rel}.js`, async () => mod]),
  );
  const cleanup = () => rmSync(outDir, { recursive: true, force: true });
  return { schema: loaded.schema.default, loaded, modules, cleanup };
}

/** Servers killed with SIGKILL leave their bundle behind; drop those whose process is gone. */
function removeStaleBuilds() {
  const root = path.join(APP_DIR, ".build");
  let entries = [];
  try {
    entries = readdirSync(root);
  } catch {
    return;
  }
  for (const entry of entries) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      process.kill(pid, 0);
    } catch (e) {
      if (e.code === "ESRCH") rmSync(path.join(root, entry), { recursive: true, force: true });
    }
  }
}

/** A Convex function exported by the app, with the metadata the function spec reports. */
export function describeFunctions(loaded) {
  const functions = [];
  for (const [rel, mod] of Object.entries(loaded)) {
    if (rel === "schema" || rel.startsWith("_generated")) continue;
    for (const [name, fn] of Object.entries(mod)) {
      if (fn?.isHttp) {
        // An exported HTTP action: listed (kind `HttpAction`), never callable via /api/*.
        functions.push({
          modulePath: rel,
          exportName: name,
          kind: "HttpAction",
          isPublic: true,
          spec: {
            identifier: `${rel}.js:${name}`,
            functionType: "HttpAction",
            visibility: { kind: "public" },
            args: { type: "any" },
            returns: { type: "any" },
          },
        });
        continue;
      }
      const kind = fn?.isQuery ? "Query" : fn?.isMutation ? "Mutation" : fn?.isAction ? "Action" : null;
      if (kind === null) continue;
      functions.push({
        modulePath: rel,
        exportName: name,
        kind,
        isPublic: fn.isPublic === true,
        spec: {
          identifier: `${rel}.js:${name}`,
          functionType: kind,
          visibility: { kind: fn.isPublic === true ? "public" : "internal" },
          args: JSON.parse(fn.exportArgs()),
          returns: JSON.parse(fn.exportReturns()),
        },
      });
    }
  }
  functions.sort((a, b) => a.spec.identifier.localeCompare(b.spec.identifier));
  return functions;
}

/**
 * What `_system/cli/modules:apiSpec` answers: every function, then every route of the `http`
 * module's router as `{functionType: "HttpAction", method, path}` (no identifier), as
 * convex-backend's npm-packages/system-udfs/convex/_system/cli/modules.ts emits them. Prefix
 * routes are reported with a trailing `*`, as `HttpRouter.getRoutes` reports them.
 */
export function apiSpec(loaded, functions) {
  const specs = functions.map((f) => f.spec);
  const router = loaded.http?.default;
  if (router?.isRouter) {
    for (const [path, method] of router.getRoutes()) {
      specs.push({ functionType: "HttpAction", method, path });
    }
  }
  return specs;
}

/** A fresh in-memory deployment over the app's schema and modules. */
export function newDeployment(app) {
  return convexTest(app.schema, app.modules);
}
