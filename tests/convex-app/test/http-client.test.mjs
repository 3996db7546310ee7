// Proves the test deployment speaks Convex's wire format: the official `ConvexHttpClient` (npm
// `convex`) talks to it exactly as it would to a real deployment.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ConvexHttpClient } from "convex/browser";
import { ConvexError } from "convex/values";
import { ADMIN_KEY, startServer } from "../lib/spawn.mjs";

let server;
before(async () => {
  server = await startServer();
});
after(async () => {
  await server?.stop();
});

const client = (configure) => {
  const c = new ConvexHttpClient(server.url);
  configure?.(c);
  return c;
};

test("a user JWT sees only the caller's rows through ctx.auth", async () => {
  const alice = client();
  alice.setAuth(await server.token({ sub: "alice", email: "a@example.com" }));
  const rows = await alice.query("customers:listMine", {});
  assert.equal(rows.length, 1);
  assert.equal(rows[0].ownerId, "alice");
  assert.equal(typeof rows[0].creditLimitCents, "bigint");
  assert.deepEqual(await alice.query("diagnostics:whoami", {}), {
    subject: "alice",
    issuer: "https://auditgate.test",
    email: "a@example.com",
  });
});

test("an admin key acting as a user gets that user's identity", async () => {
  const asBob = client((c) => c.setAdminAuth(ADMIN_KEY, { subject: "bob", issuer: "https://idp.test" }));
  const rows = await asBob.query("customers:listMine", {});
  assert.deepEqual(
    rows.map((r) => r.ownerId),
    ["bob"],
  );
  assert.equal(rows[0].creditLimitCents, 9007199254740993n);
});

test("int64 and bytes round-trip losslessly", async () => {
  const c = client();
  const value = { big: -9223372036854775808n, bytes: new Uint8Array([0, 1, 254, 255]).buffer, nan: NaN };
  const echoed = await c.query("diagnostics:echo", { value });
  assert.equal(echoed.big, -9223372036854775808n);
  assert.deepEqual([...new Uint8Array(echoed.bytes)], [0, 1, 254, 255]);
  assert.ok(Number.isNaN(echoed.nan));
});

test("mutation, action and ConvexError data", async () => {
  const seed = await server.seed();
  const admin = client((c) => c.setAdminAuth(ADMIN_KEY));
  const refund = await admin.mutation("invoices:refund", {
    invoiceId: seed.invoices.alice,
    amountCents: 2000n,
    reason: "goodwill",
  });
  assert.equal(refund.refundedCents, 2000n);
  await assert.rejects(
    admin.mutation("invoices:refund", { invoiceId: seed.invoices.alice, amountCents: 999999n, reason: "too much" }),
    (e) => {
      assert.ok(e instanceof ConvexError);
      assert.equal(e.data.code, "REFUND_EXCEEDS_BALANCE");
      assert.equal(e.data.remainingCents, 10000n);
      return true;
    },
  );
  const sent = await admin.action("billing:sendReminder", { invoiceId: seed.invoices.bob, channel: "email" });
  assert.deepEqual(sent, { sent: true, to: "ap@bob.example" });
});

test("internal functions are hidden from users and reachable with the admin key", async () => {
  const anon = client();
  await assert.rejects(anon.query("admin:stats", {}), /Could not find public function for 'admin:stats'/);
  const admin = client((c) => c.setAdminAuth(ADMIN_KEY));
  const stats = await admin.function("admin:stats", undefined, {});
  assert.equal(stats.customers, 2);
});

test("a plain Error is a function error without data; the server logs every call", async () => {
  await assert.rejects(client().query("diagnostics:crash", {}), (e) => {
    assert.ok(!(e instanceof ConvexError));
    assert.match(e.message, /Server Error\nUncaught Error: diagnostics crash requested/);
    return true;
  });
  const calls = await server.calls();
  assert.ok(calls.some((c) => c.path === "diagnostics:crash" && c.outcome === "error"));
});
