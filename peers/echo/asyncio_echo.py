"""An echo server on Python's asyncio (or uvloop), the article's own example
of coroutines in a single-threaded runtime, as a peer of our echo task.

    /usr/bin/python3 peers/echo/asyncio_echo.py --loop asyncio|uvloop [--backlog N]

Listens on 127.0.0.1 on an ephemeral port, prints one JSON line
{"port": N, "loop": "...", "version": "..."} on stdout once it accepts
connections, then echoes every byte on every connection until SIGTERM or
SIGINT (exit 0). It uses asyncio's Protocol interface, the event loop's
fastest path (asyncio turns TCP_NODELAY on for every TCP connection).
Exit 77 when uvloop is asked for and not installed; 2 on bad arguments.
"""

import argparse
import asyncio
import json
import signal
import sys


class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)

    def connection_lost(self, exc):
        self.transport = None


async def serve(backlog, version):
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set_result, None)
    server = await loop.create_server(Echo, "127.0.0.1", 0, backlog=backlog)
    port = server.sockets[0].getsockname()[1]
    print(json.dumps({"port": port, "loop": type(loop).__module__, "version": version}),
          flush=True)
    await stop
    server.close()


def main():
    ap = argparse.ArgumentParser(description="asyncio/uvloop echo server (a peer)")
    ap.add_argument("--loop", choices=["asyncio", "uvloop"], required=True)
    ap.add_argument("--backlog", type=int, default=4096)
    args = ap.parse_args()
    version = "python " + sys.version.split()[0]
    if args.loop == "uvloop":
        try:
            import uvloop
        except ImportError:
            print("asyncio_echo: uvloop is not installed (Debian: python3-uvloop)",
                  file=sys.stderr)
            return 77
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        version += ", uvloop " + uvloop.__version__
    asyncio.run(serve(args.backlog, version))
    return 0


if __name__ == "__main__":
    sys.exit(main())
