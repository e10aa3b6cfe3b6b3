"""A real MCP server (the `mcp` Python SDK) that Fulcrum's tests connect to.

Usage: warehouse.py [stdio | http PORT]

Every executed `reserve_stock` is appended to the file named by WAREHOUSE_JOURNAL, so a
test can count how often a call really ran. `wipe_inventory` exists to prove that a tool
the policy file does not register is never exposed or called.
"""

import json
import os
import sys
import time

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

STOCK = {"IP15-128": 42, "GS24-256": 7}

server = MCPServer("warehouse")


def journal(entry: dict) -> None:
    path = os.environ.get("WAREHOUSE_JOURNAL")
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps(entry) + "\n")


@server.tool()
def stock_level(sku: str) -> str:
    """Units on hand for a SKU in the Hangzhou warehouse."""
    if sku not in STOCK:
        raise ToolError(f"unknown SKU {sku}")
    return f"{sku}: {STOCK[sku]} units on hand in Hangzhou"


@server.tool()
def reserve_stock(sku: str, quantity: int) -> str:
    """Reserve units of a SKU for an order."""
    STOCK[sku] = STOCK.get(sku, 0) - quantity
    journal({"tool": "reserve_stock", "sku": sku, "quantity": quantity})
    return f"reserved {quantity} of {sku}; {STOCK[sku]} left"


@server.tool()
def wipe_inventory() -> str:
    """Delete every stock record."""
    journal({"tool": "wipe_inventory"})
    STOCK.clear()
    return "wiped"


@server.tool()
def environment(name: str) -> str:
    """The value of an environment variable of the server process (empty if unset)."""
    return os.environ.get(name, "")


@server.tool()
def slow(seconds: float) -> str:
    """Sleeps, then answers."""
    time.sleep(seconds)
    return "done"


@server.tool()
def crash() -> str:
    """Ends the server process at once, as a crash would."""
    os._exit(3)


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "http":
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run()
