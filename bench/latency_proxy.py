#!/usr/bin/env python3
"""A TCP proxy on loopback that delays every byte sent to the server by a fixed time.

Usage: latency_proxy.py UPSTREAM_PORT DELAY_MS PORT_FILE

Listens on 127.0.0.1 (a free port, written to PORT_FILE once listening) and forwards
each connection to 127.0.0.1:UPSTREAM_PORT. What the client sends goes through a delay
line: each piece is forwarded DELAY_MS after it arrived, in order, without slowing the
pieces behind it, so every request (and a connection's first bytes) reaches the server
DELAY_MS late while a long upload still flows at full speed. The answers come back at
once. One request therefore waits DELAY_MS longer, as on a link with that much more
round-trip time; bandwidth is not limited. Loopback only, for bench/run.sh --s3-latency.
"""
import asyncio
import os
import sys
import time


async def delayed_pipe(reader, writer, delay):
    """Copies reader to writer, each piece DELAY seconds after it arrived."""
    line = asyncio.Queue()

    async def feed():
        while True:
            data = await reader.read(1 << 20)
            await line.put((time.monotonic() + delay, data))
            if not data:
                return

    feeder = asyncio.ensure_future(feed())
    try:
        while True:
            due, data = await line.get()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    finally:
        feeder.cancel()
        try:
            writer.write_eof()
        except OSError:
            pass


async def pipe(reader, writer):
    try:
        while True:
            data = await reader.read(1 << 20)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    finally:
        try:
            writer.write_eof()
        except OSError:
            pass


async def serve(upstream_port, delay):
    async def handle(client_r, client_w):
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", upstream_port)
        except OSError:
            client_w.close()
            return
        try:
            await asyncio.gather(delayed_pipe(client_r, server_w, delay), pipe(server_r, client_w))
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            client_w.close()
            server_w.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0, backlog=512)


def main():
    upstream_port, delay_ms, port_file = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(serve(upstream_port, delay_ms / 1000.0))
    port = server.sockets[0].getsockname()[1]
    with open(port_file + ".tmp", "w") as f:
        f.write(f"{port}\n")
    os.replace(port_file + ".tmp", port_file)
    loop.run_forever()


if __name__ == "__main__":
    main()
