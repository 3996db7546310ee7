#!/usr/bin/env bash
# The harness's own check (NOT a test of auditgate): runs client.py and client.mjs against
# selftest_server.py over stdio and streamable HTTP, in every mode, and checks each transcript
# (selftest/check.py) and what the server actually received (--trace).
#
# The server runs with --legacy (it refuses server/discover with -32601, as auditgate does), so the
# auto-mode runs also check the fallback to initialize. It requires its credential from the
# environment (stdio: SELFTEST_TOKEN must reach the child; http: bearer token, 401 otherwise).
#
# Finally it runs conformance.sh against the same server (which answers empty resources/prompts
# lists, so it passes the suite's seven no-fixture scenarios).
#
# usage: tests/e2e/selftest.sh      (runs scripts/e2e-setup first; about 25 s)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
"$ROOT/scripts/e2e-setup" > /dev/null
# shellcheck disable=SC1091
source "$ROOT/target/e2e-env"

WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
  if [[ -n $SERVER_PID ]]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

export SELFTEST_TOKEN="selftest-$RANDOM$RANDOM"
SCRIPT=$HERE/selftest/script.json
passed=0
failed=0

# run NAME MODE TRACE -- DRIVER-COMMAND...
run() {
  local name=$1 mode=$2 trace=$3
  shift 4
  local out=$WORK/$name.json err=$WORK/$name.err
  if ! timeout 120 "$@" > "$out" 2> "$err"; then
    echo "FAIL $name: driver exited non-zero"; sed 's/^/  | /' "$err"; failed=$((failed + 1)); return
  fi
  if "$PYTHON" "$HERE/selftest/check.py" "$out" "$trace" "$mode"; then
    echo "ok   $name"; passed=$((passed + 1))
  else
    echo "FAIL $name ($out)"; failed=$((failed + 1))
  fi
}

# expect_fail NAME -- DRIVER-COMMAND...: the session must not be established (exit 1, reason on stderr)
expect_fail() {
  local name=$1
  shift 2
  local rc=0
  timeout 120 "$@" > "$WORK/$name.out" 2> "$WORK/$name.err" || rc=$?
  if [[ $rc == 1 && ! -s $WORK/$name.out && -s $WORK/$name.err ]]; then
    echo "ok   $name (exit 1: $(head -c 120 "$WORK/$name.err" | tr '\n' ' '))"; passed=$((passed + 1))
  else
    echo "FAIL $name: want exit 1, empty stdout, reason on stderr; got exit $rc"; failed=$((failed + 1))
  fi
}

PY_CLIENT=("$PYTHON" "$HERE/client.py")
TS_CLIENT=("$NODE" "$HERE/client.mjs")
SERVER=("$PYTHON" "$HERE/selftest_server.py" --legacy)

# --- stdio ---
for combo in "py legacy" "py auto" "ts-v1 legacy" "ts-v2 legacy" "ts-v2 auto"; do
  read -r drv mode <<< "$combo"
  trace=$WORK/stdio-$drv-$mode.trace
  : > "$trace"
  case $drv in
    py) cmd=("${PY_CLIENT[@]}" --transport stdio --mode "$mode") ;;
    ts-v1) cmd=("${TS_CLIENT[@]}" --transport stdio --sdk v1 --mode "$mode") ;;
    ts-v2) cmd=("${TS_CLIENT[@]}" --transport stdio --sdk v2 --mode "$mode") ;;
  esac
  run "stdio-$drv-$mode" "$mode" "$trace" -- "${cmd[@]}" --script "$SCRIPT" \
    -- "${SERVER[@]}" --require-env SELFTEST_TOKEN --trace "$trace"
done
# the child must get the environment: without SELFTEST_TOKEN the server exits at start
expect_fail stdio-py-no-env -- env -u SELFTEST_TOKEN "${PY_CLIENT[@]}" --transport stdio --script "$SCRIPT" \
  -- "${SERVER[@]}" --require-env SELFTEST_TOKEN
expect_fail stdio-ts-no-env -- env -u SELFTEST_TOKEN "${TS_CLIENT[@]}" --transport stdio --script "$SCRIPT" \
  -- "${SERVER[@]}" --require-env SELFTEST_TOKEN

# --- streamable HTTP ---
PORT=$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL=http://127.0.0.1:$PORT/mcp
TRACE=$WORK/http.trace
"${SERVER[@]}" --http "$PORT" --token-env SELFTEST_TOKEN --trace "$TRACE" 2> "$WORK/server.err" &
SERVER_PID=$!
for _ in $(seq 100); do
  if "$PYTHON" -c "import socket,sys; socket.create_connection(('127.0.0.1', $PORT), 0.2)" 2>/dev/null; then break; fi
  sleep 0.1
done
for combo in "py legacy" "py auto" "ts-v1 legacy" "ts-v2 legacy" "ts-v2 auto"; do
  read -r drv mode <<< "$combo"
  : > "$TRACE"
  case $drv in
    py) cmd=("${PY_CLIENT[@]}" --transport http --mode "$mode") ;;
    ts-v1) cmd=("${TS_CLIENT[@]}" --transport http --sdk v1 --mode "$mode") ;;
    ts-v2) cmd=("${TS_CLIENT[@]}" --transport http --sdk v2 --mode "$mode") ;;
  esac
  run "http-$drv-$mode" "$mode" "$TRACE" -- "${cmd[@]}" --script "$SCRIPT" --url "$URL" --token-env SELFTEST_TOKEN
done
# without the bearer token the server answers 401: no session
expect_fail http-py-no-token -- "${PY_CLIENT[@]}" --transport http --script "$SCRIPT" --url "$URL"
expect_fail http-ts-no-token -- "${TS_CLIENT[@]}" --transport http --script "$SCRIPT" --url "$URL"

# conformance.sh end to end: with the token the seven no-fixture scenarios pass and every other
# failure is in the baseline (exit 0); without it they fail on 401 (exit 1, unexpected failures)
if "$HERE/conformance.sh" "$URL" --token-env SELFTEST_TOKEN --output-dir "$WORK/conf-ok" > "$WORK/conf-ok.log" 2>&1; then
  echo "ok   conformance.sh --token-env (baseline check passed)"; passed=$((passed + 1))
else
  echo "FAIL conformance.sh --token-env:"; tail -20 "$WORK/conf-ok.log" | sed 's/^/  | /'; failed=$((failed + 1))
fi
rc=0
"$HERE/conformance.sh" "$URL" --output-dir "$WORK/conf-401" > "$WORK/conf-401.log" 2>&1 || rc=$?
if [[ $rc == 1 ]] && grep -q "Unexpected failures" "$WORK/conf-401.log"; then
  echo "ok   conformance.sh without a token reports unexpected failures"; passed=$((passed + 1))
else
  echo "FAIL conformance.sh without a token: exit $rc"; failed=$((failed + 1))
fi

echo "selftest: $passed passed, $failed failed"
[[ $failed == 0 ]]
