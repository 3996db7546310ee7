// Internal (admin-only) functions: never callable by users, hidden from agents unless configured.
import { v } from "convex/values";
import { internalMutation, internalQuery } from "./_generated/server";

export const stats = internalQuery({
  args: {},
  returns: v.object({ customers: v.number(), invoices: v.number(), refunds: v.number() }),
  handler: async (ctx) => ({
    customers: (await ctx.db.query("customers").collect()).length,
    invoices: (await ctx.db.query("invoices").collect()).length,
    refunds: (await ctx.db.query("refunds").collect()).length,
  }),
});

export const purgeCustomer = internalMutation({
  args: { customerId: v.id("customers") },
  handler: async (ctx, { customerId }) => {
    const invoices = await ctx.db
      .query("invoices")
      .withIndex("by_customer", (q) => q.eq("customerId", customerId))
      .collect();
    for (const invoice of invoices) await ctx.db.delete(invoice._id);
    await ctx.db.delete(customerId);
    return invoices.length;
  },
});
