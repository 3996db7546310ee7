// Preload for conformance.sh --token-env: the conformance suite (0.1.x) has no way to send
// credentials, so this adds `Authorization: Bearer $CONFORMANCE_BEARER_TOKEN` to every HTTP
// request it makes to the server under test (CONFORMANCE_TARGET_ORIGIN), unless the request
// already has an Authorization header. It installs an undici global dispatcher with an
// interceptor; Node's built-in fetch and the suite's own `undici.request` (used by
// dns-rebinding-protection) both go through the global dispatcher.
//
// Loaded with `node --import ./conformance-auth.mjs`, from tests/e2e (for the undici package).

import { Agent, setGlobalDispatcher } from 'undici';

const token = process.env.CONFORMANCE_BEARER_TOKEN;
const target = process.env.CONFORMANCE_TARGET_ORIGIN;
if (!token || !target) {
  throw new Error('conformance-auth.mjs needs CONFORMANCE_BEARER_TOKEN and CONFORMANCE_TARGET_ORIGIN');
}
const targetOrigin = new URL(target).origin;
const value = `Bearer ${token}`;

function hasAuthorization(headers) {
  if (!headers) return false;
  if (Array.isArray(headers)) {
    // undici accepts a flat [k, v, k, v] list or a list of [k, v] pairs
    if (headers.length && Array.isArray(headers[0])) return headers.some(([k]) => String(k).toLowerCase() === 'authorization');
    for (let i = 0; i < headers.length; i += 2) if (String(headers[i]).toLowerCase() === 'authorization') return true;
    return false;
  }
  if (typeof headers[Symbol.iterator] === 'function') {
    for (const [k] of headers) if (String(k).toLowerCase() === 'authorization') return true;
    return false;
  }
  return Object.keys(headers).some((k) => k.toLowerCase() === 'authorization');
}

function withAuthorization(headers) {
  if (!headers) return { authorization: value };
  if (Array.isArray(headers)) {
    if (headers.length && Array.isArray(headers[0])) return [...headers, ['authorization', value]];
    return [...headers, 'authorization', value];
  }
  if (typeof headers[Symbol.iterator] === 'function') return [...headers, ['authorization', value]];
  return { ...headers, authorization: value };
}

const injectBearer = (dispatch) => (opts, handler) => {
  let origin;
  try {
    origin = new URL(String(opts.origin)).origin;
  } catch {
    origin = undefined;
  }
  if (origin === targetOrigin && !hasAuthorization(opts.headers)) {
    opts = { ...opts, headers: withAuthorization(opts.headers) };
  }
  return dispatch(opts, handler);
};

setGlobalDispatcher(new Agent().compose(injectBearer));
