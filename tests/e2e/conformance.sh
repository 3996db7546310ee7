#!/usr/bin/env bash
# Runs the official MCP conformance suite (@modelcontextprotocol/conformance, server mode) against
# a running server, with tests/e2e/conformance-expected-failures.yml as the baseline, on Node 24.
#
# usage: tests/e2e/conformance.sh URL [--token-env VAR] [--scenario NAME] [--suite active|all]
#                                     [--output-dir DIR] [--verbose]
#   URL            the MCP endpoint, e.g. http://127.0.0.1:8080/mcp (must be localhost/127.0.0.1/[::1]
#                  for dns-rebinding-protection)
#   --token-env V  send `Authorization: Bearer $V` on every request to URL's origin (the suite has
#                  no credential option; conformance-auth.mjs adds the header underneath it)
#   --scenario N   one scenario only; --suite all adds the pending scenarios
#   --output-dir D where the per-scenario checks.json files go (default target/e2e-conformance/<time>)
#
# Exit status: the suite's own: 0 when every failing scenario is listed in the baseline and no
# listed scenario passed; 1 on an unexpected failure or a stale baseline entry; 2 for bad usage.
# The whole run is capped at 10 minutes.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
usage() { sed -n '5,12p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

[[ $# -ge 1 && $1 != -* ]] || usage
URL=$1
shift
TOKEN_ENV=
OUT=
EXTRA=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --token-env) [[ $# -ge 2 ]] || usage; TOKEN_ENV=$2; shift 2 ;;
    --scenario | --suite) [[ $# -ge 2 ]] || usage; EXTRA+=("$1" "$2"); shift 2 ;;
    --output-dir | -o) [[ $# -ge 2 ]] || usage; OUT=$2; shift 2 ;;
    --verbose) EXTRA+=(--verbose); shift ;;
    *) usage ;;
  esac
done

"$ROOT/scripts/e2e-setup" > /dev/null
# shellcheck disable=SC1091
source "$ROOT/target/e2e-env"

OUT=${OUT:-$ROOT/target/e2e-conformance/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"

PRELOAD=()
if [[ -n $TOKEN_ENV ]]; then
  token=${!TOKEN_ENV:-}
  [[ -n $token ]] || { echo "conformance.sh: environment variable $TOKEN_ENV is empty or unset" >&2; exit 2; }
  export CONFORMANCE_BEARER_TOKEN=$token
  CONFORMANCE_TARGET_ORIGIN=$("$NODE24" -e 'console.log(new URL(process.argv[1]).origin)' "$URL")
  export CONFORMANCE_TARGET_ORIGIN
  PRELOAD=(--import ./conformance-auth.mjs)
fi

cd "$HERE"  # the preload imports undici from tests/e2e/node_modules
echo "conformance.sh: $URL, baseline conformance-expected-failures.yml, results in $OUT" >&2
exec timeout 600 "$NODE24" "${PRELOAD[@]}" node_modules/@modelcontextprotocol/conformance/dist/index.js \
  server --url "$URL" --expected-failures "$HERE/conformance-expected-failures.yml" --output-dir "$OUT" "${EXTRA[@]}"
