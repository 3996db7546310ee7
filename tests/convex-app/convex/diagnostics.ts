// Functions that exist to exercise the wire format: value round trips, identity, plain errors.
import { v } from "convex/values";
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

/** Returns `rows` rows of `width` characters each: a result as large as a test needs (the
 * gateway's handling of results over the ledger's entry limit). */
export const bulk = query({
  args: { rows: v.number(), width: v.number() },
  handler: async (_ctx, { rows, width }) => {
    const text = "x".repeat(width);
    return Array.from({ length: rows }, (_, i) => ({ i, text }));
  },
});
