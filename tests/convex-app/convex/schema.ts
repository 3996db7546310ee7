// A small billing/ERP data model: customers carry PII (email, tax id), invoices carry int64 money
// amounts and an optional bytes attachment. `ownerId` is the `subject` of the user who owns a row.
import { defineSchema, defineTable } from "convex/server";
import { v } from "convex/values";
import { appointmentFields, patientFields } from "./clinic";

export const invoiceStatus = v.union(
  v.literal("draft"),
  v.literal("open"),
  v.literal("paid"),
  v.literal("refunded"),
);

export const lineItem = v.object({
  description: v.string(),
  quantity: v.number(),
  unitPriceCents: v.int64(),
});

export default defineSchema({
  customers: defineTable({
    ownerId: v.string(),
    name: v.string(),
    email: v.string(),
    taxId: v.string(),
    creditLimitCents: v.int64(),
    notes: v.optional(v.string()),
  }).index("by_owner", ["ownerId"]),
  invoices: defineTable({
    ownerId: v.string(),
    customerId: v.id("customers"),
    number: v.string(),
    status: invoiceStatus,
    totalCents: v.int64(),
    refundedCents: v.int64(),
    lineItems: v.array(lineItem),
    tags: v.optional(v.record(v.string(), v.string())),
    attachment: v.optional(v.bytes()),
  })
    .index("by_owner", ["ownerId"])
    .index("by_customer", ["customerId"]),
  refunds: defineTable({
    invoiceId: v.id("invoices"),
    amountCents: v.int64(),
    reason: v.string(),
    requestedBy: v.string(),
  }).index("by_invoice", ["invoiceId"]),
  // The clinic (see clinic.ts): identifiers the policy hides from agents.
  patients: defineTable(patientFields).index("by_mrn", ["mrn"]),
  appointments: defineTable(appointmentFields).index("by_patient", ["patientId"]),
});
