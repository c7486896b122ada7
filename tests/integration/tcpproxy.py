"""A TCP proxy the tests start on a port of their own, to cut a service away and back.

``TcpProxy(("127.0.0.1", 5432)).start()`` listens on a free local port and forwards every
connection to the target. ``cut()`` resets every open connection and refuses new ones
(as a network outage or a restarting server does); ``restore()`` lets them through again.
Workers pointed at ``proxy.port`` instead of the service see a real outage; the test
process keeps talking to the service directly.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import struct
import threading


class TcpProxy(threading.Thread):
    """Forwards ``127.0.0.1:<port>`` to ``target`` until :meth:`close`."""

    def __init__(self, target: tuple[str, int]) -> None:
        super().__init__(name=f"tcpproxy-{target[1]}", daemon=True)
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.setblocking(False)
        self.port: int = self.listener.getsockname()[1]
        self.cuts = 0
        self._open = True
        self._down = False
        self._pairs: dict[socket.socket, socket.socket] = {}
        self._lock = threading.Lock()
        self._selector = selectors.DefaultSelector()
        self._closing = False

    def url_for(self, url: str, original_port: int) -> str:
        """``url`` with ``:<original_port>`` replaced by this proxy's port."""
        return url.replace(f":{original_port}", f":{self.port}", 1)

    def cut(self) -> None:
        """Reset every connection through the proxy and refuse new ones."""
        with self._lock:
            self._down = True
            self.cuts += 1
            for sock in list(self._pairs):
                self._drop(sock)

    def restore(self) -> None:
        """Let connections through again."""
        with self._lock:
            self._down = False

    def close(self) -> None:
        self._closing = True
        self.join(timeout=5)
        with self._lock:
            for sock in list(self._pairs):
                self._drop(sock)
        self.listener.close()

    def run(self) -> None:
        self._selector.register(self.listener, selectors.EVENT_READ)
        while not self._closing:
            for key, _ in self._selector.select(timeout=0.05):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                with self._lock:
                    if sock is self.listener:
                        self._accept()
                    elif sock in self._pairs:
                        self._forward(sock)

    def _accept(self) -> None:
        try:
            client, _ = self.listener.accept()
        except BlockingIOError:
            return
        if self._down:
            _reset(client)
            return
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            _reset(client)
            return
        for sock in (client, upstream):
            sock.setblocking(False)
            self._selector.register(sock, selectors.EVENT_READ)
        self._pairs[client] = upstream
        self._pairs[upstream] = client

    def _forward(self, sock: socket.socket) -> None:
        peer = self._pairs[sock]
        try:
            data = sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._drop(sock)
            return
        try:
            peer.setblocking(True)
            peer.sendall(data)
            peer.setblocking(False)
        except OSError:
            self._drop(sock)

    def _drop(self, sock: socket.socket) -> None:
        peer = self._pairs.pop(sock, None)
        for one in (sock, peer):
            if one is None:
                continue
            self._pairs.pop(one, None)
            with contextlib.suppress(Exception):
                self._selector.unregister(one)
            _reset(one)


def _reset(sock: socket.socket) -> None:
    # SO_LINGER 0: close with a RST, as a dropped connection looks to the peer.
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()
