// Customer records (PII: email, tax id). `listMine` scopes rows to the caller via `ctx.auth`.
import { ConvexError, v } from "convex/values";
import { mutation, query } from "./_generated/server";

const customerDoc = v.object({
  _id: v.id("customers"),
  _creationTime: v.number(),
  ownerId: v.string(),
  name: v.string(),
  email: v.string(),
  taxId: v.string(),
  creditLimitCents: v.int64(),
  notes: v.optional(v.string()),
});

/** The caller's own customers; anonymous callers are refused with a ConvexError. */
export const listMine = query({
  args: {},
  returns: v.array(customerDoc),
  handler: async (ctx) => {
    const identity = await ctx.auth.getUserIdentity();
    if (identity === null) {
      throw new ConvexError({ code: "UNAUTHENTICATED", message: "sign in to list customers" });
    }
    return await ctx.db
      .query("customers")
      .withIndex("by_owner", (q) => q.eq("ownerId", identity.subject))
      .collect();
  },
});

export const get = query({
  args: { id: v.id("customers") },
  returns: v.union(customerDoc, v.null()),
  handler: async (ctx, { id }) => await ctx.db.get(id),
});

export const create = mutation({
  args: {
    name: v.string(),
    email: v.string(),
    taxId: v.string(),
    creditLimitCents: v.int64(),
    notes: v.optional(v.string()),
  },
  returns: v.id("customers"),
  handler: async (ctx, args) => {
    const identity = await ctx.auth.getUserIdentity();
    const ownerId = identity?.subject ?? "system";
    if (!args.email.includes("@")) {
      throw new ConvexError({ code: "INVALID_EMAIL", field: "email" });
    }
    return await ctx.db.insert("customers", { ...args, ownerId });
  },
});
