#!/usr/bin/env python3
"""RSS growth per idle keep-alive connection on a server (a scripts/bench.sh helper).

usage: idle_rss.py PORT HOST PATH COUNT PID [tls]

Sends one GET on a first connection (caches warm), reads the server's VmRSS, then opens COUNT
keep-alive connections one after another, each answered once (the whole response read), and
keeps them all open and idle. After a second of quiet it reads VmRSS again and prints the
growth in KiB and per connection. Loopback only.
"""
import re
import resource
import socket
import ssl
import sys
import time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def get(sock, host, path):
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("server closed the connection")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
    need = int(m.group(1)) if m else 0
    while len(body) < need:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("server closed the connection mid-body")
        body += chunk
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError("unexpected answer: " + head.split(b"\r\n")[0].decode())


def main():
    port, host, path, count, pid = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
    tls = len(sys.argv) > 6 and sys.argv[6] == "tls"
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE

    def connect():
        s = socket.create_connection(("127.0.0.1", int(port)))
        return ctx.wrap_socket(s, server_hostname=host) if tls else s

    warm = connect()
    get(warm, host, path)
    time.sleep(0.5)
    before = rss_kib(pid)
    conns = []
    for _ in range(count):
        s = connect()
        get(s, host, path)
        conns.append(s)
    time.sleep(1.0)
    after = rss_kib(pid)
    grown = after - before
    print(f"{count} idle {'TLS ' if tls else ''}connections: RSS {before} -> {after} KiB, +{grown} KiB, "
          f"{grown / count:.2f} KiB per connection")
    for s in conns + [warm]:
        s.close()


if __name__ == "__main__":
    main()
