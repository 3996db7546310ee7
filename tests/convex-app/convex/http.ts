// The deployment's HTTP routes (`http.ts`), as a real app has them: webhooks and a health check.
// They appear in the function spec as HTTP routes and are never tools.
import { httpRouter } from "convex/server";
import { httpAction } from "./_generated/server";

/** An HTTP action: exported, so the spec lists it as a function of kind `HttpAction`. */
export const paymentWebhook = httpAction(async (_ctx, request) => {
  const body = await request.text();
  return new Response(JSON.stringify({ received: body.length }), {
    status: 200,
    headers: { "content-type": "application/json" },
  });
});

const http = httpRouter();
http.route({ path: "/webhooks/payment", method: "POST", handler: paymentWebhook });
http.route({
  path: "/health",
  method: "GET",
  handler: httpAction(async () => new Response("ok")),
});
http.route({ pathPrefix: "/files/", method: "GET", handler: httpAction(async () => new Response(null, { status: 404 })) });
export default http;
