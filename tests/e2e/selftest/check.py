"""Checks one driver transcript from selftest.sh (the harness's own check, not an auditgate test).

usage: check.py TRANSCRIPT.json TRACE MODE   (MODE: legacy|auto)
"""

import json
import sys


def main() -> int:
    transcript, trace, mode = sys.argv[1:4]
    doc = json.load(open(transcript, encoding="utf-8"))
    methods = [line.split()[0] for line in open(trace, encoding="utf-8") if line.strip()]
    problems: list[str] = []

    def expect(cond: bool, what: str) -> None:
        if not cond:
            problems.append(what)

    init = doc.get("initialize") or {}
    expect(init.get("protocolVersion") == "2025-11-25", f"protocolVersion {init.get('protocolVersion')!r}")
    expect((init.get("serverInfo") or {}).get("name") == "auditgate-e2e-selftest", "serverInfo.name")
    expect(init.get("era") == "initialize", f"era {init.get('era')!r}")
    expect("tools" in (init.get("capabilities") or {}), "capabilities.tools")

    steps = doc.get("steps") or []
    expect([s.get("op") for s in steps] == ["ping", "list", "call", "call", "call", "call"], "step ops")
    if len(steps) == 6:
        ping, lst, unknown, echo, add, bad = steps
        expect(ping.get("ok") is True, "ping ok")
        expect(lst.get("ok") is True and lst.get("pages") == 2, f"list ok over 2 pages: {lst.get('pages')}")
        tools = {t["name"]: t for t in lst.get("tools", [])}
        expect(list(tools) == ["echo", "add"], f"tool names {list(tools)}")
        if "echo" in tools:
            expect((tools["echo"].get("annotations") or {}).get("readOnlyHint") is True, "echo readOnlyHint")
            expect(tools["echo"].get("_meta") == {"selftest/kind": "query"}, "echo _meta")
        err = unknown.get("error") or {}
        expect(unknown.get("ok") is False and err.get("code") == -32602, f"unknown tool -> -32602: {unknown}")
        expect("Unknown tool" in str(err.get("message")), "unknown tool message")
        expect(echo.get("ok") is True and (echo.get("result") or {}).get("content") == [{"type": "text", "text": "hello"}],
               f"echo result {echo.get('result')}")
        expect(add.get("ok") is True and (add.get("result") or {}).get("structuredContent") == {"sum": 5},
               f"add result {add.get('result')}")
        expect(bad.get("ok") is True and (bad.get("result") or {}).get("isError") is True, f"add isError {bad.get('result')}")

    first = "server/discover" if mode == "auto" else "initialize"
    expect(methods[:1] == [first], f"first message {methods[:1]} (want {first})")
    if mode == "auto":
        expect(methods[1:2] == ["initialize"], f"fallback to initialize after refusal: {methods[:3]}")
    expect("server/discover" not in methods[1:], "server/discover sent more than once")

    if problems:
        print("  FAIL: " + "; ".join(problems))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
