// Invoices with int64 amounts, a union-of-literals status, nested line items, a record of tags and
// an optional bytes attachment. `refund` is the dangerous write agents should not run unchecked.
import { ConvexError, v } from "convex/values";
import { mutation, query } from "./_generated/server";
import { invoiceStatus, lineItem } from "./schema";

export const listMine = query({
  args: { status: v.optional(invoiceStatus) },
  handler: async (ctx, { status }) => {
    const identity = await ctx.auth.getUserIdentity();
    if (identity === null) return [];
    const rows = await ctx.db
      .query("invoices")
      .withIndex("by_owner", (q) => q.eq("ownerId", identity.subject))
      .collect();
    return rows
      .filter((r) => status === undefined || r.status === status)
      .map(({ attachment: _attachment, ...rest }) => rest);
  },
});

export const get = query({
  args: { id: v.id("invoices") },
  handler: async (ctx, { id }) => await ctx.db.get(id),
});

export const create = mutation({
  args: {
    customerId: v.id("customers"),
    number: v.string(),
    lineItems: v.array(lineItem),
    tags: v.optional(v.record(v.string(), v.string())),
  },
  returns: v.object({ id: v.id("invoices"), totalCents: v.int64() }),
  handler: async (ctx, args) => {
    const customer = await ctx.db.get(args.customerId);
    if (customer === null) {
      throw new ConvexError({ code: "NOT_FOUND", table: "customers", id: args.customerId });
    }
    let totalCents = 0n;
    for (const item of args.lineItems) {
      totalCents += item.unitPriceCents * BigInt(Math.round(item.quantity));
    }
    const id = await ctx.db.insert("invoices", {
      ...args,
      ownerId: customer.ownerId,
      status: "open",
      totalCents,
      refundedCents: 0n,
    });
    console.log(`created invoice ${args.number} total=${totalCents}`);
    return { id, totalCents };
  },
});

/** Refunds part of an invoice. Refunding more than was paid throws a ConvexError with errorData. */
export const refund = mutation({
  args: { invoiceId: v.id("invoices"), amountCents: v.int64(), reason: v.string() },
  returns: v.object({ refundId: v.id("refunds"), refundedCents: v.int64() }),
  handler: async (ctx, { invoiceId, amountCents, reason }) => {
    const invoice = await ctx.db.get(invoiceId);
    if (invoice === null) {
      throw new ConvexError({ code: "NOT_FOUND", table: "invoices", id: invoiceId });
    }
    const remaining = invoice.totalCents - invoice.refundedCents;
    if (amountCents <= 0n || amountCents > remaining) {
      throw new ConvexError({
        code: "REFUND_EXCEEDS_BALANCE",
        requestedCents: amountCents,
        remainingCents: remaining,
      });
    }
    const identity = await ctx.auth.getUserIdentity();
    const refundId = await ctx.db.insert("refunds", {
      invoiceId,
      amountCents,
      reason,
      requestedBy: identity?.subject ?? "admin",
    });
    const refundedCents = invoice.refundedCents + amountCents;
    await ctx.db.patch(invoiceId, {
      refundedCents,
      status: refundedCents === invoice.totalCents ? "refunded" : invoice.status,
    });
    console.log(`refund ${amountCents} on ${invoice.number}: ${reason}`);
    return { refundId, refundedCents };
  },
});

export const attach = mutation({
  args: { invoiceId: v.id("invoices"), attachment: v.bytes() },
  returns: v.number(),
  handler: async (ctx, { invoiceId, attachment }) => {
    await ctx.db.patch(invoiceId, { attachment });
    return attachment.byteLength;
  },
});

export const attachment = query({
  args: { invoiceId: v.id("invoices") },
  returns: v.union(v.bytes(), v.null()),
  handler: async (ctx, { invoiceId }) => (await ctx.db.get(invoiceId))?.attachment ?? null,
});
