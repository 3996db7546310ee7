// Functions that exist to exercise the wire format: value round trips, identity, plain errors.
import { ConvexError, v } from "convex/values";
import { query } from "./_generated/server";

/** Returns its argument unchanged: int64, bytes, special floats, nested values. */
export const echo = query({
  args: { value: v.any() },
  handler: async (_ctx, { value }) => value,
});

export const whoami = query({
  args: {},
  handler: async (ctx) => {
    const identity = await ctx.auth.getUserIdentity();
    return identity === null
      ? null
      : { subject: identity.subject, issuer: identity.issuer, email: identity.email ?? null };
  },
});

/** Throws an ordinary Error: a function error without errorData. */
export const crash = query({
  args: {},
  handler: async () => {
    console.error("about to fail");
    throw new Error("diagnostics crash requested");
  },
});

/** Returns `rows` rows of `width` characters each, or with `fail` throws them as a
 * `ConvexError`'s data: a result or an error as large as a test needs (the gateway's handling
 * of both over the ledger's entry limit). */
export const bulk = query({
  args: { rows: v.number(), width: v.number(), fail: v.optional(v.boolean()) },
  handler: async (_ctx, { rows, width, fail }) => {
    const text = "x".repeat(width);
    const data = Array.from({ length: rows }, (_, i) => ({ i, text }));
    if (fail) {
      throw new ConvexError({ code: "BULK_FAILURE", rows: data });
    }
    return data;
  },
});

/** Throws a `ConvexError` carrying `data`, after logging it: error data as an application sends
 * it (the gateway must redact it like a result, in the data, the message and the log lines). */
export const raise = query({
  args: { data: v.any() },
  handler: async (_ctx, { data }) => {
    console.log("raising", JSON.stringify(data));
    throw new ConvexError(data);
  },
});

/** Fails with a plain `Error` whose message and log line repeat the argument: a protected value
 * coming back in text, where no redaction path can reach it. */
export const lookup = query({
  args: { ssn: v.string() },
  handler: async (_ctx, { ssn }) => {
    console.log(`looking up ${ssn}`);
    throw new Error(`no person with ssn ${ssn}`);
  },
});

/** The module's default export: Convex names it by the module alone (`diagnostics`). */
export default query({
  args: {},
  handler: async () => "pong",
});
