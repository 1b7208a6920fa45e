#!/usr/bin/env python3
"""A TCP proxy on loopback that makes a git server slow: each connection's answer waits the
number of seconds in DELAY_FILE (read per connection, so a test can change it while running)
before the server's first bytes go through. Fetches become I/O-bound, as against a far host.
TARGET_PORTS may list several ports (comma-separated): connections go to them in turn, as a
round-robin load balancer sends them.

    slow_proxy.py LISTEN_PORT TARGET_PORTS DELAY_FILE PID_FILE
"""
import asyncio
import os
import sys


async def pipe(reader, writer, delay=0.0):
    try:
        first = True
        while True:
            data = await reader.read(65536)
            if not data:
                break
            if first and delay > 0:
                await asyncio.sleep(delay)
            first = False
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        try:
            writer.close()
        except Exception:
            pass


def read_delay(path):
    try:
        with open(path) as f:
            return float(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0.0


async def main():
    listen, delay_file, pid_file = int(sys.argv[1]), sys.argv[3], sys.argv[4]
    targets = [int(p) for p in sys.argv[2].split(",")]
    turn = [0]

    async def handle(client_r, client_w):
        try:
            target = targets[turn[0] % len(targets)]
            turn[0] += 1
            server_r, server_w = await asyncio.open_connection("127.0.0.1", target)
        except OSError:
            client_w.close()
            return
        delay = read_delay(delay_file)
        await asyncio.gather(pipe(client_r, server_w), pipe(server_r, client_w, delay))

    server = await asyncio.start_server(handle, "127.0.0.1", listen)
    with open(pid_file, "w") as f:
        f.write(str(os.getpid()))
    async with server:
        await server.serve_forever()


asyncio.run(main())
