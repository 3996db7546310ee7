// Loads the Convex app in `convex/` and runs its functions on `convex-test`.
//
// The TypeScript modules are bundled with esbuild (shipped with `convex`) into `.build/<pid>/`
// beside `node_modules`, with every npm package left external so the functions share the one
// `convex` instance that `convex-test` uses (ConvexError, validators, ids). A push
// (`loadApp({ extra })`, the test-only `POST /_test/push`) bundles a copy of `convex/` with extra
// modules added, into `.build/<pid>/push-<n>/`, the way `npx convex deploy` pushes new code.
import { cpSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";
import { convexTest } from "convex-test";

const APP_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const CONVEX_DIR = path.join(APP_DIR, "convex");

/** Module file names a push may add: `name.ts` beside the app's own modules. */
export const PUSHED_MODULE = /^[A-Za-z][A-Za-z0-9_]*\.ts$/;

/**
 * Bundles `convex/*.ts` and imports every module. Returns `{ schema, modules, cleanup }`.
 * With `extra` (file name → TypeScript source) and a fresh `push` number, bundles a copy of
 * `convex/` with those modules added (replacing any of the same name).
 */
export async function loadApp({ extra, push } = {}) {
  const root = path.join(APP_DIR, ".build", String(process.pid));
  let sourceDir = CONVEX_DIR;
  let outDir = root;
  if (extra === undefined) {
    removeStaleBuilds();
    rmSync(root, { recursive: true, force: true });
  } else {
    sourceDir = path.join(root, `push-${push}`, "src");
    outDir = path.join(root, `push-${push}`, "out");
    cpSync(CONVEX_DIR, sourceDir, { recursive: true });
    for (const [name, source] of Object.entries(extra)) {
      if (!PUSHED_MODULE.test(name)) throw new Error(`pushed module name ${JSON.stringify(name)}`);
      writeFileSync(path.join(sourceDir, name), source);
    }
  }
  mkdirSync(outDir, { recursive: true });
  const sources = readdirSync(sourceDir).filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"));
  const generated = readdirSync(path.join(sourceDir, "_generated")).filter((f) => f.endsWith(".js"));
  await build({
    entryPoints: [
      ...sources.map((f) => path.join(sourceDir, f)),
      ...generated.map((f) => path.join(sourceDir, "_generated", f)),
    ],
    outbase: sourceDir,
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
  const cleanup = () => rmSync(root, { recursive: true, force: true });
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
