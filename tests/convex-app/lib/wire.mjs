// The pieces of Convex's deployment HTTP API wire format that are not about running functions:
// value formats, function paths, auth headers (deploy/admin key, acting-as identity, user JWT),
// and the JSON Schema the streaming-export endpoint `/api/json_schemas` reports for a table.
import { createHmac, timingSafeEqual } from "node:crypto";
import { convexToJson } from "convex/values";

/** A request error: answered with `status` and `{code, message}`, never reaching a function. */
export class RequestError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Encodes a Convex value in the requested output format. */
export function encodeValue(value, format) {
  return format === "convex_encoded_json" ? convexToJson(value) : toCleanJson(value);
}

/** The lossy `json` export format: int64 → decimal string, bytes → base64, odd floats → strings. */
export function toCleanJson(value) {
  if (value === null || typeof value === "boolean" || typeof value === "string") return value;
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "number") {
    if (Number.isNaN(value)) return "NaN";
    if (value === Infinity) return "Infinity";
    if (value === -Infinity) return "-Infinity";
    return value;
  }
  if (value instanceof ArrayBuffer) return Buffer.from(value).toString("base64");
  if (Array.isArray(value)) return value.map(toCleanJson);
  if (typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => [k, toCleanJson(v)]),
    );
  }
  throw new Error(`cannot export value of type ${typeof value}`);
}

export function parseFormat(format) {
  if (format === undefined || format === null || format === "json") return "json";
  if (format === "convex_encoded_json") return format;
  throw new RequestError(400, "BadFormat", `Invalid format: ${JSON.stringify(format)}`);
}

const MODULE_PATH = /^[A-Za-z0-9_][A-Za-z0-9_\-/.]*$/;
const EXPORT_NAME = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** `dir/file:export`, `dir/file.js:export` and `dir/file` (→ `default`) name the same function. */
export function parseFunctionPath(raw) {
  if (typeof raw !== "string" || raw.length === 0) {
    throw new RequestError(400, "BadConvexFunctionIdentifier", `Invalid function path: ${JSON.stringify(raw)}`);
  }
  const parts = raw.split(":");
  if (parts.length > 2) {
    throw new RequestError(400, "BadConvexFunctionIdentifier", `Invalid function path: ${raw}`);
  }
  const modulePath = parts[0].replace(/\.js$/, "");
  const exportName = parts[1] ?? "default";
  if (!MODULE_PATH.test(modulePath) || modulePath.includes("..") || !EXPORT_NAME.test(exportName)) {
    throw new RequestError(400, "BadConvexFunctionIdentifier", `Invalid function path: ${raw}`);
  }
  return { modulePath, exportName, canonical: `${modulePath}:${exportName}` };
}

/**
 * Parses the Authorization header.
 * - none → anonymous;
 * - `Bearer <jwt>` → a user whose HS256 token verifies with `jwtSecret`;
 * - `Convex <adminKey>[:<base64 identity JSON>]` → admin, optionally acting as that identity.
 */
export function parseAuth(header, { adminKey, jwtSecret }) {
  if (header === undefined || header === "") return { admin: false, identity: null, label: "anonymous" };
  if (header.startsWith("Bearer ")) {
    const identity = verifyJwt(header.slice("Bearer ".length).trim(), jwtSecret);
    return { admin: false, identity, label: `user:${identity.subject}` };
  }
  if (header.startsWith("Convex ")) {
    const value = header.slice("Convex ".length).trim();
    if (!adminKey || !safeStartsWith(value, adminKey)) {
      throw new RequestError(403, "BadDeployKey", "The provided deploy key was invalid for this deployment.");
    }
    const rest = value.slice(adminKey.length);
    if (rest === "") return { admin: true, identity: null, label: "admin" };
    if (!rest.startsWith(":")) {
      throw new RequestError(403, "BadDeployKey", "The provided deploy key was invalid for this deployment.");
    }
    let attrs;
    try {
      attrs = JSON.parse(Buffer.from(rest.slice(1), "base64").toString("utf8"));
    } catch {
      throw new RequestError(401, "InvalidAuthHeader", "Acting-as identity is not base64 JSON.");
    }
    if (attrs === null || typeof attrs !== "object" || typeof attrs.subject !== "string") {
      throw new RequestError(401, "InvalidAuthHeader", "Acting-as identity needs a string `subject`.");
    }
    const identity = normalizeIdentity(attrs);
    return { admin: true, identity, label: `admin-as:${identity.subject}` };
  }
  throw new RequestError(401, "InvalidAuthHeader", "Authorization header must be `Bearer <token>` or `Convex <key>`.");
}

function safeStartsWith(value, prefix) {
  const a = Buffer.from(value.slice(0, prefix.length));
  const b = Buffer.from(prefix);
  return a.length === b.length && timingSafeEqual(a, b);
}

function normalizeIdentity(attrs) {
  const issuer = attrs.issuer ?? "https://auditgate.test";
  return { ...attrs, issuer, tokenIdentifier: attrs.tokenIdentifier ?? `${issuer}|${attrs.subject}` };
}

const b64url = (buf) => Buffer.from(buf).toString("base64url");

/** Test-only: mints an HS256 user token the way an identity provider would. */
export function signJwt(claims, secret) {
  const header = b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const payload = b64url(JSON.stringify(claims));
  const sig = createHmac("sha256", secret).update(`${header}.${payload}`).digest("base64url");
  return `${header}.${payload}.${sig}`;
}

function verifyJwt(token, secret) {
  const unauthenticated = (why) => new RequestError(401, "Unauthenticated", `Could not verify token: ${why}`);
  if (!secret) throw unauthenticated("this deployment has no auth provider configured");
  const parts = token.split(".");
  if (parts.length !== 3) throw unauthenticated("not a JWT");
  const expected = createHmac("sha256", secret).update(`${parts[0]}.${parts[1]}`).digest();
  const given = Buffer.from(parts[2], "base64url");
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw unauthenticated("bad signature");
  let header;
  let claims;
  try {
    header = JSON.parse(Buffer.from(parts[0], "base64url").toString("utf8"));
    claims = JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8"));
  } catch {
    throw unauthenticated("malformed JWT");
  }
  if (header.alg !== "HS256") throw unauthenticated("unsupported alg");
  if (typeof claims.sub !== "string") throw unauthenticated("missing sub");
  if (typeof claims.exp === "number" && claims.exp * 1000 < Date.now()) throw unauthenticated("token expired");
  return normalizeIdentity({
    subject: claims.sub,
    issuer: claims.iss,
    email: claims.email,
    name: claims.name,
  });
}

/** JSON Schema (2020-12) for a table's documents, from the schema's validator JSON. */
export function tableJsonSchema(tableName, documentType) {
  const base = documentType && documentType.type === "object" ? validatorSchema(documentType) : { type: "object" };
  base.properties = {
    _id: { type: "string", description: `Id of a document in table "${tableName}"` },
    _creationTime: { type: "number" },
    ...(base.properties ?? {}),
  };
  base.required = ["_id", "_creationTime", ...(base.required ?? [])];
  return { $schema: "https://json-schema.org/draft/2020-12/schema", title: tableName, ...base };
}

function validatorSchema(v) {
  switch (v.type) {
    case "string":
      return { type: "string" };
    case "number":
      return { type: "number" };
    case "bigint":
      return { type: "string", description: "int64 (decimal string in the json export format)" };
    case "boolean":
      return { type: "boolean" };
    case "null":
      return { type: "null" };
    case "bytes":
      return { type: "string", contentEncoding: "base64" };
    case "any":
      return {};
    case "literal":
      return { const: v.value };
    case "id":
      return { type: "string", description: `Id of a document in table "${v.tableName}"` };
    case "array":
      return { type: "array", items: validatorSchema(v.value) };
    case "record":
      return { type: "object", additionalProperties: validatorSchema(v.values.fieldType) };
    case "union":
      return { anyOf: v.value.map(validatorSchema) };
    case "object": {
      const properties = {};
      const required = [];
      for (const [k, f] of Object.entries(v.value)) {
        properties[k] = validatorSchema(f.fieldType);
        if (!f.optional) required.push(k);
      }
      return { type: "object", properties, required, additionalProperties: false };
    }
    default:
      return {};
  }
}
