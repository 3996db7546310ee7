// Hand-written stand-in for the generated `api.js`: `anyApi` builds function references from any
// property path, exactly what the generated file exports at run time.
import { anyApi } from "convex/server";
export const api = anyApi;
export const internal = anyApi;
