"""Services that misbehave on loopback, for the tests of faults: a TCP proxy
that can be paused (a peer that stops answering) or cut (a peer killed), and a
server that accepts connections and never answers."""

import selectors
import socket
import threading
import time

from serving import free_port


def closed_port():
    """A loopback port nobody listens on: connections to it are refused."""
    return free_port()


class SilentServer:
    """Accepts every connection and never sends a byte: a service that hangs."""

    def __init__(self):
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.port = self._listener.getsockname()[1]
        self._accepted = []
        threading.Thread(target=self._accept, name="silent-server", daemon=True).start()

    def _accept(self):
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:  # closed
                return
            self._accepted.append(connection)

    def close(self):
        self._listener.close()
        for connection in self._accepted:
            connection.close()

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.close()


class TcpProxy:
    """Forwards loopback connections to ``host:port``. ``pause`` stops the
    forwarding and leaves every connection open (new ones are accepted, and
    wait): the peer hangs. ``resume`` goes on; ``cut`` closes the listener and
    every connection: the peer is killed."""

    def __init__(self, host, port):
        self.target = (host, port)
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.port = self._listener.getsockname()[1]
        self._forwarding = threading.Event()
        self._forwarding.set()
        self._closed = threading.Event()
        self._sockets = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, name="proxy-accept", daemon=True).start()

    def pause(self):
        self._forwarding.clear()

    def resume(self):
        self._forwarding.set()

    def cut(self):
        self._closed.set()
        self._forwarding.set()  # the pumps wake up, and end
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()

    close = cut

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.cut()

    def _accept(self):
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:  # cut
                return
            threading.Thread(target=self._serve, args=(client,), name="proxy-pump",
                             daemon=True).start()

    def _serve(self, client):
        with self._lock:
            self._sockets.append(client)
        self._forwarding.wait()  # paused: the connection is accepted, and nothing more
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            client.close()
            return
        with self._lock:
            self._sockets.append(upstream)
        self._pump(client, upstream)

    def _pump(self, client, upstream):
        peers = {client: upstream, upstream: client}
        with selectors.DefaultSelector() as selector:
            for sock in peers:
                selector.register(sock, selectors.EVENT_READ)
            while not self._closed.is_set():
                if not self._forwarding.is_set():
                    time.sleep(0.02)  # bytes wait unread in the kernel's buffers
                    continue
                try:
                    ready = selector.select(timeout=0.1)
                except (OSError, ValueError):  # cut meanwhile
                    return
                for key, _ in ready:
                    try:
                        data = key.fileobj.recv(65536)
                        if data:
                            peers[key.fileobj].sendall(data)
                    except OSError:
                        data = b""
                    if not data:
                        client.close()
                        upstream.close()
                        return
