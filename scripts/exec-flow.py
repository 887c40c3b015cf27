#!/usr/bin/env python3
"""Times the five requests the stock docker CLI makes for `docker exec CT true`
(HEAD /_ping, container inspect, exec create, exec start hijacked to the end,
exec inspect) straight on an engine's socket, and prints each median in ms:
the engine's own share of an exec, without the CLI's start-up.

usage: exec-flow.py SOCKET CONTAINER [RUNS] [API-VERSION]
e.g.   exec-flow.py /run/berth/berth.sock web 200
"""
import json
import socket
import statistics
import sys
import time


def connect(path):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    return s


def request(s, method, path, body=None, upgrade=False):
    """One HTTP/1.1 exchange; a hijacked one is read until the engine closes."""
    data = json.dumps(body).encode() if body is not None else b""
    head = f"{method} {path} HTTP/1.1\r\nHost: engine\r\n"
    if body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
    if upgrade:
        head += "Connection: Upgrade\r\nUpgrade: tcp\r\n"
    s.sendall(head.encode() + b"\r\n" + data)
    got = b""
    while b"\r\n\r\n" not in got:
        got += s.recv(65536)
    head, rest = got.split(b"\r\n\r\n", 1)
    if upgrade:
        while s.recv(65536):
            pass
        return b""
    if method == "HEAD":
        return b""
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        rest += s.recv(65536)
    return rest


def one_exec(sock, container, version):
    """Durations (s) of the five steps of one exec."""
    marks = [time.perf_counter()]
    s = connect(sock)
    request(s, "HEAD", "/_ping")
    marks.append(time.perf_counter())
    request(s, "GET", f"/{version}/containers/{container}/json")
    marks.append(time.perf_counter())
    body = {"AttachStdout": True, "AttachStderr": True, "Cmd": ["true"]}
    exec_id = json.loads(request(s, "POST", f"/{version}/containers/{container}/exec", body))["Id"]
    marks.append(time.perf_counter())
    hijacked = connect(sock)
    request(hijacked, "POST", f"/{version}/exec/{exec_id}/start", {"Detach": False, "Tty": False}, upgrade=True)
    hijacked.close()
    marks.append(time.perf_counter())
    request(s, "GET", f"/{version}/exec/{exec_id}/json")
    marks.append(time.perf_counter())
    s.close()
    return [b - a for a, b in zip(marks, marks[1:])] + [marks[-1] - marks[0]]


def main():
    sock, container = sys.argv[1], sys.argv[2]
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 50
    version = sys.argv[4] if len(sys.argv) > 4 else "v1.41"
    names = ["ping", "inspect", "create", "start", "einspect", "total"]
    for _ in range(3):
        one_exec(sock, container, version)
    samples = [one_exec(sock, container, version) for _ in range(runs)]
    medians = [statistics.median(col) * 1000 for col in zip(*samples)]
    print(sock, " ".join(f"{n}={m:.3f}" for n, m in zip(names, medians)))


if __name__ == "__main__":
    main()
