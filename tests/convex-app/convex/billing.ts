// An action: reads through a query, "sends" an email (logged, not sent) and reports what it did.
import { ConvexError, v } from "convex/values";
import { api } from "./_generated/api";
import { action } from "./_generated/server";

export const sendReminder = action({
  args: { invoiceId: v.id("invoices"), channel: v.union(v.literal("email"), v.literal("sms")) },
  returns: v.object({ sent: v.boolean(), to: v.string() }),
  handler: async (ctx, { invoiceId, channel }) => {
    const invoice = await ctx.runQuery(api.invoices.get, { id: invoiceId });
    if (invoice === null) throw new ConvexError({ code: "NOT_FOUND", id: invoiceId });
    const customer = await ctx.runQuery(api.customers.get, { id: invoice.customerId });
    if (customer === null) throw new ConvexError({ code: "NOT_FOUND", id: invoice.customerId });
    console.log(`reminder via ${channel} for ${invoice.number}`);
    return { sent: true, to: channel === "email" ? customer.email : "sms:" + customer.name };
  },
});
