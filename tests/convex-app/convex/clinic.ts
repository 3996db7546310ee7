// A small clinic data model for the gateway's privacy tests: patients carry identifiers an agent
// must never see or probe (ssn), appointments point at patients. No functions: the data tools
// (convex_query_documents & co.) reach these tables directly, which is what the tests exercise.
import { v } from "convex/values";

export const patientFields = {
  name: v.string(),
  ssn: v.string(),
  dob: v.string(),
  mrn: v.string(),
  emergencyContact: v.optional(
    v.object({
      name: v.string(),
      phone: v.string(),
      ssn: v.optional(v.string()),
    }),
  ),
};

export const appointmentFields = {
  patientId: v.id("patients"),
  slot: v.string(),
  clinician: v.string(),
  reason: v.string(),
};

/** Seeds two patients and one appointment each; returns their ids. */
export async function seedClinic(db: any) {
  const ada = await db.insert("patients", {
    name: "Ada Lovelace",
    ssn: "987-65-4321",
    dob: "1815-12-10",
    mrn: "MRN-0001",
    emergencyContact: { name: "Charles Babbage", phone: "+44 20 0000 0001", ssn: "111-22-3333" },
  });
  const ben = await db.insert("patients", {
    name: "Ben Franklin",
    ssn: "123-45-6789",
    dob: "1706-01-17",
    mrn: "MRN-0002",
  });
  const adaVisit = await db.insert("appointments", {
    patientId: ada,
    slot: "2026-02-01T09:00",
    clinician: "dr-grey",
    reason: "annual check-up",
  });
  const benVisit = await db.insert("appointments", {
    patientId: ben,
    slot: "2026-02-01T10:00",
    clinician: "dr-grey",
    reason: "follow-up",
  });
  return { patients: { ada, ben }, appointments: { ada: adaVisit, ben: benVisit } };
}
