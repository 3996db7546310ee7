"""Scripted MCP client on the Python `mcp` package (2.x): a real client for auditgate's e2e tests.

Usage:
  client.py --transport stdio [--mode legacy|auto] --script FILE --command PROG [-- ARG...]
  client.py --transport stdio [--mode legacy|auto] --script FILE -- PROG [ARG...]
  client.py --transport http  [--mode legacy|auto] --script FILE --url URL [--token-env VAR]

stdio: the child gets this process's whole environment (credentials travel in the environment,
never in argv); its stderr goes to ours. http: with --token-env VAR, every request carries
`Authorization: Bearer $VAR`.

--script FILE is a JSON array of steps:
  {"op": "list"}                                  tools/list, following nextCursor to the end
  {"op": "call", "name": N, "arguments": {...}}   tools/call
  {"op": "ping"}                                  ping
  {"op": "await_list_changed", "timeout": S}      waits (at most S seconds, default 30) for a
                                                  notifications/tools/list_changed not yet
                                                  awaited; says "awaiting list_changed" on stderr

Prints one JSON document on stdout (see README.md, "Output"). A JSON-RPC error (or any client-side
failure) in a step is recorded in that step's `error`; the exit status is 0 unless the session
could not be established (exit 1, reason on stderr) or the command line/script is wrong (exit 2).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from importlib.metadata import version as dist_version
from typing import Any

import anyio
import anyio.lowlevel
import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

# `ping` is deprecated from 2026-07-28 on; the harness still sends it on purpose.
warnings.simplefilter("ignore")

LIST_PAGE_CAP = 1000  # a server whose nextCursor never ends cannot hang the client


class ListChanged:
    """The `notifications/tools/list_changed` the server sent, counted as they arrive."""

    def __init__(self) -> None:
        self.count = 0
        self.awaited = 0
        self.arrived = anyio.Event()

    async def on_message(self, message: Any) -> None:
        method = getattr(message, "method", None) or getattr(getattr(message, "root", None), "method", None)
        if method == "notifications/tools/list_changed":
            self.count += 1
            self.arrived.set()
        await anyio.lowlevel.checkpoint()

    async def wait(self, timeout: float) -> int:
        print("client.py: awaiting list_changed", file=sys.stderr, flush=True)
        with anyio.fail_after(timeout):
            while self.count <= self.awaited:
                await self.arrived.wait()
                self.arrived = anyio.Event()
        self.awaited = self.count
        return self.count


NOTICES = ListChanged()


def dump(model: Any) -> Any:
    if model is None:
        return None
    return model.model_dump(by_alias=True, mode="json", exclude_none=True)


def error_of(exc: BaseException) -> dict[str, Any]:
    """A step's `error`: JSON-RPC errors as {code, message, data?}; anything else with code null."""
    if isinstance(exc, MCPError):
        err: dict[str, Any] = {"code": exc.error.code, "message": exc.error.message}
        if exc.error.data is not None:
            err["data"] = exc.error.data
        return err
    return {"code": None, "message": str(exc) or type(exc).__name__, "exception": type(exc).__name__}


def describe_connect_failure(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(describe_connect_failure(e) for e in exc.exceptions)
    if isinstance(exc, MCPError):
        return f"JSON-RPC error {exc.error.code}: {exc.error.message}"
    return f"{type(exc).__name__}: {exc}"


def tool_entry(tool: Any) -> dict[str, Any]:
    d = dump(tool)
    return {
        "name": d.get("name"),
        "title": d.get("title"),
        "description": d.get("description"),
        "inputSchema": d.get("inputSchema"),
        "outputSchema": d.get("outputSchema"),
        "annotations": d.get("annotations"),
        "_meta": d.get("_meta"),
    }


async def run_step(client: Client, step: dict[str, Any]) -> dict[str, Any]:
    op = step["op"]
    out: dict[str, Any] = {"op": op}
    if op == "call":
        out["name"] = step["name"]
    out["ok"] = False
    try:
        if op == "list":
            tools: list[dict[str, Any]] = []
            cursor: str | None = None
            pages = 0
            try:
                while True:
                    page = await client.list_tools(cursor=cursor, cache_mode="bypass")
                    pages += 1
                    tools.extend(tool_entry(t) for t in page.tools)
                    cursor = page.next_cursor
                    if cursor is None:
                        break
                    if pages >= LIST_PAGE_CAP:
                        raise RuntimeError(f"tools/list: more than {LIST_PAGE_CAP} pages")
            finally:
                out["pages"] = pages
                out["tools"] = tools
        elif op == "call":
            result = await client.call_tool(step["name"], step.get("arguments"))
            d = dump(result)
            out["result"] = {
                "isError": bool(d.get("isError", False)),
                "content": d.get("content", []),
                "structuredContent": d.get("structuredContent"),
            }
        elif op == "ping":
            await client.send_ping()
        elif op == "await_list_changed":
            out["notices"] = await NOTICES.wait(float(step.get("timeout", 30)))
        out["ok"] = True
    except Exception as exc:  # every step failure is data for the test, not a crash
        out["error"] = error_of(exc)
    return out


def handshake_of(client: Client) -> dict[str, Any]:
    session = client.session
    info = client.server_info
    hs: dict[str, Any] = {
        "protocolVersion": client.protocol_version,
        "serverInfo": dump(info),
        "capabilities": dump(client.server_capabilities),
        "instructions": client.instructions,
        "era": "discover" if session.discover_result is not None else "initialize",
    }
    return hs


async def run(args: argparse.Namespace, steps: list[dict[str, Any]]) -> int:
    if args.transport == "stdio":
        target: Any = StdioServerParameters(command=args.command, args=args.argv, env=dict(os.environ))
    else:
        headers = {}
        if args.token_env:
            token = os.environ.get(args.token_env)
            if not token:
                print(f"client.py: environment variable {args.token_env} is empty or unset", file=sys.stderr)
                return 2
            headers["Authorization"] = f"Bearer {token}"
        http_client = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0, read=300.0))
        target = streamable_http_client(args.url, http_client=http_client)

    client = Client(
        target, mode=args.mode, cache=None, read_timeout_seconds=args.timeout, message_handler=NOTICES.on_message
    )
    doc: dict[str, Any] = {
        "client": {"sdk": "python-mcp", "version": dist_version("mcp"), "mode": args.mode, "transport": args.transport}
    }
    try:
        await client.__aenter__()
    except BaseException as exc:  # noqa: BLE001 - report why the session failed, whatever it was
        if isinstance(exc, KeyboardInterrupt):
            raise
        print(f"client.py: could not establish the MCP session: {describe_connect_failure(exc)}", file=sys.stderr)
        return 1
    try:
        doc["initialize"] = handshake_of(client)
        doc["steps"] = [await run_step(client, s) for s in steps]
    finally:
        try:
            await client.__aexit__(None, None, None)
        except BaseException as exc:  # noqa: BLE001 - a messy close must not lose the transcript
            doc["close_error"] = describe_connect_failure(exc)
    json.dump(doc, sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")
    return 0


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[dict[str, Any]]]:
    rest: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, rest = argv[:i], argv[i + 1 :]
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--transport", choices=["stdio", "http"], required=True)
    p.add_argument("--mode", choices=["legacy", "auto"], default="legacy")
    p.add_argument("--script", required=True, help="JSON array of steps")
    p.add_argument("--command", help="stdio: program to run (its arguments follow --)")
    p.add_argument("--url", help="http: the MCP endpoint, e.g. http://127.0.0.1:8080/mcp")
    p.add_argument("--token-env", help="http: environment variable holding the bearer token")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for each response (default 120)")
    args = p.parse_args(argv)
    if args.transport == "stdio":
        if args.command is None:
            if not rest:
                p.error("stdio needs --command PROG or a program after --")
            args.command, rest = rest[0], rest[1:]
        args.argv = rest
    else:
        if not args.url:
            p.error("http needs --url")
        if rest:
            p.error("arguments after -- are for stdio only")
    try:
        with open(args.script, encoding="utf-8") as f:
            steps = json.load(f)
    except (OSError, ValueError) as exc:
        p.error(f"cannot read script {args.script}: {exc}")
    if not isinstance(steps, list):
        p.error("the script must be a JSON array of steps")
    for i, s in enumerate(steps):
        if not isinstance(s, dict) or s.get("op") not in ("list", "call", "ping", "await_list_changed"):
            p.error(f"step {i}: op must be list, call, ping or await_list_changed")
        if s["op"] == "call" and (not isinstance(s.get("name"), str) or not isinstance(s.get("arguments", {}), dict)):
            p.error(f"step {i}: call needs a string name and an object arguments")
    return args, steps


def main() -> int:
    args, steps = parse_args(sys.argv[1:])
    return anyio.run(run, args, steps)


if __name__ == "__main__":
    sys.exit(main())
