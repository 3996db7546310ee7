"""A tiny MCP server for checking the e2e harness itself (NOT a test of auditgate).

It exists so `selftest.sh` can prove that `client.py` and `client.mjs` really speak MCP over
stdio and streamable HTTP, page through `tools/list`, and capture JSON-RPC errors and `isError`
results. Built on the Python `mcp` package's low-level `Server` (mcp 2.x).

Two tools, listed one per page (so "list all pages" is exercised):
- `echo` {text}: returns the text; `annotations.readOnlyHint`, `_meta` set;
- `add` {a, b}: returns structuredContent {sum} (with an outputSchema); a non-number
  argument gives an `isError: true` result.
Calling any other name gives JSON-RPC error -32602; a bad cursor gives -32602.
`resources/list` and `prompts/list` answer empty lists (as the conformance suite's resources-list
and prompts-list scenarios need), so this server also passes the suite's no-fixture scenarios
and `selftest.sh` can check `conformance.sh` end to end.

Usage:
  selftest_server.py [--legacy] [--require-env VAR]            # stdio
  selftest_server.py --http PORT [--legacy] [--token-env VAR]  # streamable HTTP at /mcp

--legacy         answer `server/discover` with JSON-RPC error -32601 before the SDK sees it (as
                 auditgate does), so auto-mode clients must fall back to `initialize`. Without it the
                 SDK answers discover and the connection runs the stateless 2026-07-28 protocol.
                 (Replacing the SDK's discover handler is not enough: its dual-era loop locks a
                 connection to 2026-07-28 as soon as the first request is server/discover.)
--require-env V  (stdio) exit 1 at start unless environment variable V is set (checks that the
                 driver passes the environment through to the child).
--token-env V    (http) every request must carry `Authorization: Bearer $V`, else 401.
--trace FILE     append one line per JSON-RPC message received: `<method or "response"> <era hint>`
                 (stdio: "-"; http: the MCP-Protocol-Version header or "-"), so selftest.sh can
                 check what each client actually sent (e.g. server/discover before initialize).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

import anyio
import mcp_types as types
from mcp.server.lowlevel.server import Server
from mcp.server.stdio import stdio_server
from mcp.shared.exceptions import MCPError

TOOLS = [
    types.Tool(
        name="echo",
        title="Echo",
        description="Returns its text argument.",
        input_schema={
            "type": "object",
            "properties": {"text": {"type": "string"}},
            "required": ["text"],
            "additionalProperties": False,
        },
        annotations=types.ToolAnnotations(read_only_hint=True, open_world_hint=False),
        _meta={"selftest/kind": "query"},
    ),
    types.Tool(
        name="add",
        title="Add",
        description="Adds two numbers; structured result {sum}.",
        input_schema={
            "type": "object",
            "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
            "required": ["a", "b"],
        },
        output_schema={
            "type": "object",
            "properties": {"sum": {"type": "number"}},
            "required": ["sum"],
        },
        annotations=types.ToolAnnotations(read_only_hint=True, idempotent_hint=True),
        _meta={"selftest/kind": "mutation"},
    ),
]


async def list_tools(ctx: Any, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
    cursor = params.cursor if params is not None else None
    if cursor is None:
        index = 0
    elif cursor.startswith("page-") and cursor[5:].isdigit() and int(cursor[5:]) < len(TOOLS):
        index = int(cursor[5:])
    else:
        raise MCPError(code=types.INVALID_PARAMS, message=f"Invalid cursor: {cursor!r}")
    next_cursor = f"page-{index + 1}" if index + 1 < len(TOOLS) else None
    return types.ListToolsResult(tools=[TOOLS[index]], next_cursor=next_cursor)


async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
    args = params.arguments or {}
    if params.name == "echo":
        return types.CallToolResult(content=[types.TextContent(type="text", text=str(args.get("text", "")))])
    if params.name == "add":
        a, b = args.get("a"), args.get("b")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b)):
            return types.CallToolResult(
                content=[types.TextContent(type="text", text="add: a and b must be numbers")], is_error=True
            )
        total = a + b
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=f'{{"sum": {total}}}')],
            structured_content={"sum": total},
        )
    raise MCPError(code=types.INVALID_PARAMS, message=f"Unknown tool: {params.name}")


class Filter:
    """What the stdio and HTTP wrappers do to each incoming message: trace it, maybe refuse discover."""

    def __init__(self, refuse_discover: bool, trace: str | None) -> None:
        self.refuse_discover, self.trace = refuse_discover, trace

    def __call__(self, body: bytes, version_header: str | None) -> bytes | None:
        """The -32601 answer if `body` is a server/discover request to refuse, else None."""
        try:
            msg = json.loads(body)
        except ValueError:
            msg = None
        if self.trace:
            method = msg.get("method", "response") if isinstance(msg, dict) else "unparsed"
            with open(self.trace, "a", encoding="utf-8") as f:
                f.write(f"{method} {version_header or '-'}\n")
        if self.refuse_discover:
            return discover_refusal(msg)
        return None


async def list_resources(ctx: Any, params: types.PaginatedRequestParams | None) -> types.ListResourcesResult:
    return types.ListResourcesResult(resources=[])


async def list_prompts(ctx: Any, params: types.PaginatedRequestParams | None) -> types.ListPromptsResult:
    return types.ListPromptsResult(prompts=[])


def discover_refusal(msg: Any) -> bytes | None:
    if isinstance(msg, dict) and msg.get("method") == "server/discover" and "id" in msg:
        error = {"code": types.METHOD_NOT_FOUND, "message": "Method not found: server/discover"}
        return json.dumps({"jsonrpc": "2.0", "id": msg["id"], "error": error}).encode()
    return None


class FilteredStdin:
    """stdin for `stdio_server`: runs each line through the Filter; a refused one is answered here."""

    def __init__(self, inner: Any, out: Any, check: Filter) -> None:
        self.inner, self.out, self.check = inner, out, check

    def __aiter__(self) -> Any:
        return self._lines()

    async def _lines(self) -> Any:
        async for line in self.inner:
            refusal = self.check(line.encode(), None)
            if refusal is None:
                yield line
                continue
            await self.out.write(refusal.decode() + "\n")
            await self.out.flush()


def filter_http(app: Any, check: Filter) -> Any:
    """ASGI middleware: a POSTed server/discover gets 200 + the -32601 error; the rest passes on."""

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await app(scope, receive, send)
            return
        chunks, more = [], True
        while more:
            event = await receive()
            if event["type"] != "http.request":
                await app(scope, receive, send)  # disconnect: let the app see it
                return
            chunks.append(event.get("body", b""))
            more = event.get("more_body", False)
        body = b"".join(chunks)
        version = dict(scope["headers"]).get(b"mcp-protocol-version")
        refusal = check(body, version.decode() if version else None)
        if refusal is not None:
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(refusal)).encode())]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": refusal})
            return
        replayed = False

        async def replay() -> Any:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await app(scope, replay, send)

    return wrapped


def build() -> Server[Any]:
    return Server(
        "auditgate-e2e-selftest",
        version="0.1.0",
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=list_resources,
        on_list_prompts=list_prompts,
    )


def bearer_guard(app: Any, token: str) -> Any:
    """ASGI middleware: 401 unless `Authorization: Bearer <token>` (lifespan passes through)."""
    expected = f"Bearer {token}".encode()

    async def guarded(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and dict(scope["headers"]).get(b"authorization") != expected:
            await send(
                {
                    "type": "http.response.start",
                    "status": 401,
                    "headers": [(b"content-type", b"text/plain"), (b"www-authenticate", b"Bearer")],
                }
            )
            await send({"type": "http.response.body", "body": b"missing or wrong bearer token\n"})
            return
        await app(scope, receive, send)

    return guarded


async def serve_stdio(server: Server[Any], check: Filter) -> None:
    if check.refuse_discover or check.trace:
        out = anyio.wrap_file(sys.stdout)
        stdin = FilteredStdin(anyio.wrap_file(sys.stdin), out, check)
        streams = stdio_server(stdin=stdin, stdout=out)  # type: ignore[arg-type]
    else:
        streams = stdio_server()
    async with streams as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--http", type=int, metavar="PORT")
    parser.add_argument("--legacy", action="store_true")
    parser.add_argument("--require-env", metavar="VAR")
    parser.add_argument("--token-env", metavar="VAR")
    parser.add_argument("--trace", metavar="FILE")
    args = parser.parse_args()
    server = build()
    check = Filter(args.legacy, args.trace)
    if args.http is None:
        if args.require_env and not os.environ.get(args.require_env):
            print(f"selftest_server: environment variable {args.require_env} is not set", file=sys.stderr)
            return 1
        anyio.run(serve_stdio, server, check)
        return 0
    import uvicorn

    app: Any = server.streamable_http_app(streamable_http_path="/mcp", host="127.0.0.1")
    if args.legacy or args.trace:
        app = filter_http(app, check)
    if args.token_env:
        token = os.environ.get(args.token_env)
        if not token:
            print(f"selftest_server: environment variable {args.token_env} is not set", file=sys.stderr)
            return 1
        app = bearer_guard(app, token)
    uvicorn.run(app, host="127.0.0.1", port=args.http, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
