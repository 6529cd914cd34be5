#!/usr/bin/env python3
"""CPU of the Python shim's own work per chat call, with the socket replaced by an in-thread
echo: no daemon, no syscalls, no thread switches, so it stays steady on a busy machine where
bench/shims/run.sh does not. Reaches into the clients' private connection classes (present
before and after the sans-IO split), so it compares two trees of the shim:

    python bench/shims/inprocess.py clients/python/src sync|async [N=30000 in the environment]
"""
import asyncio
import json
import os
import sys
import time

sys.path.insert(0, sys.argv[1])
import sidegate
from sidegate import frame as fr
import sidegate.client as sc
mode = sys.argv[2]
ANSWER = {"body": {"id": "x", "object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}]}, "meta": {"provider": "mock", "attempts": 1}}
BODY = json.dumps(ANSWER).encode()
def reply_bytes(data):
    rid = int.from_bytes(data[8:16], "little")
    return fr.encode(fr.RESPONSE, rid, BODY)

def feed(conn, data):
    if hasattr(conn, "session"):
        conn.session.receive(data)
    elif hasattr(conn, "_decoder"):
        conn.data_received(data)
    else:
        dec = conn.__dict__.setdefault("_mdec", fr.Decoder())
        for f in dec.feed(data):
            conn._dispatch(f, dec)

class FakeSock:
    def __init__(self): self.conn = None
    def sendall(self, data):
        if len(data) > 24 and data[4] == fr.REQUEST:
            feed(self.conn, reply_bytes(data))
    def close(self): pass
    def shutdown(self, how): pass

N = int(os.environ.get("N", "30000"))
msgs = [{"role": "user", "content": "hello"}]
if mode == "sync":
    c = sidegate.Client("/tmp/none.sock")
    Conn = getattr(sc, "_Connection")
    sock = FakeSock()
    conn = Conn(sock, "/tmp/none.sock")
    sock.conn = conn
    c._conn = conn
    for _ in range(2000): c.chat(model="mock/bench", messages=msgs)
    t = time.process_time()
    for _ in range(N): c.chat(model="mock/bench", messages=msgs)
    print(f"{(time.process_time()-t)/N*1e6:.2f} us/call sync")
else:
    import sidegate.aio as sa
    class FakeTransport:
        def __init__(self): self.conn = None
        def write(self, data):
            if len(data) > 24 and data[4] == fr.REQUEST:
                feed(self.conn, reply_bytes(data))
        def is_closing(self): return False
        def close(self): pass
    async def main():
        a = sidegate.AsyncClient("/tmp/none.sock")
        loop = asyncio.get_running_loop()
        Conn = getattr(sa, "_AsyncConnection")
        conn = Conn("/tmp/none.sock", loop)
        tr = FakeTransport(); tr.conn = conn
        conn.connection_made(tr) if isinstance(tr, asyncio.Transport) else setattr(conn, "transport", tr)
        a._conn = conn
        a._conn_lock = asyncio.Lock(); a._lock_loop = loop
        for _ in range(2000): await a.chat(model="mock/bench", messages=msgs)
        t = time.process_time()
        for _ in range(N): await a.chat(model="mock/bench", messages=msgs)
        print(f"{(time.process_time()-t)/N*1e6:.2f} us/call async")
        conn.close()
    asyncio.run(main())
