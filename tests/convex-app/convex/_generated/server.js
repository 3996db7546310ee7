// Hand-written stand-in for the `_generated/server.js` that `npx convex codegen` writes: the real
// one re-exports the same generic builders with the app's data model as types only.
export {
  queryGeneric as query,
  mutationGeneric as mutation,
  actionGeneric as action,
  internalQueryGeneric as internalQuery,
  internalMutationGeneric as internalMutation,
  internalActionGeneric as internalAction,
  httpActionGeneric as httpAction,
} from "convex/server";
