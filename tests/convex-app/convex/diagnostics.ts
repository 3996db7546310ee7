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
