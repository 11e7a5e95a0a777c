"""The EC2 builder's engine, for the strict layer (test-only, loopback; never part of the tool).

aws-app's EC2 builder (src/builder.rs) launches an instance whose user data starts Docker with
mutual TLS on 2376, then speaks the Docker Engine API to ``https://<PublicIpAddress>:2376``. moto
runs no instance, so the layer "boots" one here:

- ``parse_user_data``: the three PEM files of the user data (CA, server certificate, server key:
  heredocs ``cat > /etc/docker/aws-app/<file> <<'AWS_APP_PEM'``) and the dead-man switch
  (``shutdown -h +<minutes>``). User data without the three files is not a builder's: the layer
  leaves such instances alone.
- ``Addresses``: each builder instance gets its own loopback address, 127.77.x.y (all of 127/8
  is loopback on Linux), which the layer puts where moto put the instance's public address in
  RunInstances/DescribeInstances answers (``rewrite_instances``).
- ``Endpoint``: the engine's TLS port on that address, with the user data's server certificate
  and key, requiring a client certificate signed by the user data's CA (what ``dockerd
  --tlsverify`` does), forwarding the decrypted byte stream to the local Docker engine (the one
  the data plane uses): requests, streamed answers, hijacked attach/exec streams, half-closes.
  Before the handshake, each connection is checked against the instance's security groups
  (``admits``: some ingress rule must let TCP 2376 in from ``OPERATOR_IP``); a connection they do
  not admit is closed at once, as if AWS had dropped its packets.

The module has no state of the layer's: layer.py keeps the instances and calls in here.
"""
from __future__ import annotations

import base64
import binascii
import ipaddress
import os
import re
import shutil
import socket
import ssl
import sys
import tempfile
import threading
import urllib.parse
from dataclasses import dataclass

# The operator's public address as checkip.amazonaws.com would say it (GET /-/checkip on the
# layer's AWS port): a TEST-NET-3 address, documentation-only, never routed.
OPERATOR_IP = "203.0.113.10"
DOCKER_TLS_PORT = 2376
PEM_FILES = ("ca.pem", "server.pem", "server-key.pem")

_PEM = re.compile(r"cat > /etc/docker/aws-app/(\S+) <<'AWS_APP_PEM'\n(.*?)\nAWS_APP_PEM", re.S)
_SHUTDOWN = re.compile(r"^[ \t]*shutdown -h \+(\d+)[ \t]*$", re.M)


def log(message):
    print("builder: %s" % message, file=sys.stderr, flush=True)


# --- user data ----------------------------------------------------------------------------------
@dataclass
class UserData:
    pems: dict                      # file name -> PEM text, for the three PEM_FILES
    shutdown_minutes: int | None    # the dead-man switch, if the script has one


def decode_user_data(value) -> str | None:
    """RunInstances' UserData (base64 text, as on the wire) as text; None if it is not base64."""
    if not value:
        return None
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.decode("utf-8", errors="replace")


def parse_user_data(script: str | None) -> UserData | None:
    """The builder's files and dead-man switch in a user data script; None unless all three
    PEM files are there."""
    if not script:
        return None
    pems = {}
    for name, body in _PEM.findall(script):
        pems[name] = body + "\n"
    if not all(name in pems for name in PEM_FILES):
        return None
    m = _SHUTDOWN.search(script)
    return UserData({name: pems[name] for name in PEM_FILES}, int(m.group(1)) if m else None)


# --- addresses ----------------------------------------------------------------------------------
class Addresses:
    """127.77.0.1, 127.77.0.2, ... 127.77.0.254, 127.77.1.1, ...: one per instance, never reused
    while the layer runs."""

    def __init__(self, base="127.77"):
        self.base, self.n, self.lock = base, 0, threading.Lock()

    def allocate(self) -> str:
        with self.lock:
            n, self.n = self.n, self.n + 1
        return "%s.%d.%d" % (self.base, n // 254, n % 254 + 1)


# --- EC2 query XML: instance items --------------------------------------------------------------
_TAG = re.compile(r"<(/?)([A-Za-z_][\w:.\-]*)[^>]*?(/?)>")


def instance_spans(xml: str) -> list[tuple[int, int]]:
    """(start, end) of every <item> directly in an <instancesSet> (RunInstances,
    DescribeInstances: one instance each), in document order."""
    stack, spans = [], []
    for m in _TAG.finditer(xml):
        closing, name, empty = m.group(1), m.group(2), m.group(3)
        if empty:
            continue
        if not closing:
            stack.append((name, m.start()))
            continue
        start = None
        while stack:
            open_name, open_start = stack.pop()
            if open_name == name:
                start = open_start
                break
        if start is not None and name == "item" and stack and stack[-1][0] == "instancesSet":
            spans.append((start, m.end()))
    return spans


def instance_field(item: str, name: str) -> str | None:
    """The text of the first <name> in an instance item (instanceId, ipAddress, ...)."""
    m = re.search(r"<%s>([^<]*)</%s>" % (name, name), item)
    return m.group(1) if m else None


def group_ids(item: str) -> set[str]:
    """Every security group id an instance item names (the instance's and its interfaces')."""
    return set(re.findall(r"<groupId>([^<]+)</groupId>", item))


_STATES = {"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48, "stopping": 64, "stopped": 80}


def set_state(item: str, state: str) -> str:
    """The item with its instanceState set to `state` (name and code)."""
    return re.sub(r"<instanceState>\s*<code>\d+</code>\s*<name>[^<]*</name>\s*</instanceState>",
                  "<instanceState><code>%d</code><name>%s</name></instanceState>" % (_STATES[state], state),
                  item, count=1)


def set_public_address(item: str, address: str) -> str:
    """The item with moto's public address (<ipAddress>, the interfaces' <association><publicIp>,
    and the public DNS names made of it) replaced by `address`."""
    old = instance_field(item, "ipAddress")
    if not old:
        return item
    item = item.replace(">%s<" % old, ">%s<" % address)
    return item.replace(old.replace(".", "-"), address.replace(".", "-"))


def rewrite_instances(xml: str, rewrite) -> str:
    """`xml` with each instance item replaced by rewrite(instance_id, item) (None: unchanged)."""
    out, last = [], 0
    for start, end in instance_spans(xml):
        item = xml[start:end]
        new = rewrite(instance_field(item, "instanceId"), item)
        out += [xml[last:start], item if new is None else new]
        last = end
    out.append(xml[last:])
    return "".join(out)


# --- security groups ----------------------------------------------------------------------------
def admits(permissions, ip: str = OPERATOR_IP, port: int = DOCKER_TLS_PORT, protocol: str = "tcp") -> bool:
    """Whether ingress `permissions` (DescribeSecurityGroups' IpPermissions, botocore's shape)
    let `protocol` traffic to `port` in from `ip`. Only address ranges count: rules naming other
    security groups or prefix lists do not admit an outside address."""
    address = ipaddress.ip_address(ip)
    numbers = {"tcp": "6", "udp": "17", "icmp": "1"}
    for p in permissions or []:
        proto = str(p.get("IpProtocol", "")).lower()
        if proto not in ("-1", "all", protocol, numbers.get(protocol)):
            continue
        if proto not in ("-1", "all"):
            low, high = p.get("FromPort"), p.get("ToPort")
            if low is None or high is None or low == -1:
                continue
            if not int(low) <= port <= int(high):
                continue
        ranges = [r.get("CidrIp") for r in p.get("IpRanges") or []] if address.version == 4 else \
                 [r.get("CidrIpv6") for r in p.get("Ipv6Ranges") or []]
        for cidr in ranges:
            try:
                if cidr and address in ipaddress.ip_network(cidr, strict=False):
                    return True
            except ValueError:
                continue
    return False


# --- the engine ---------------------------------------------------------------------------------
def engine_host() -> str:
    """The local Docker engine the builder's engine forwards to: the data plane's (the layer's
    DOCKER_HOST, as its `docker` CLI calls use it), or STRICT_BUILDER_DOCKER_HOST."""
    return (os.environ.get("STRICT_BUILDER_DOCKER_HOST") or os.environ.get("DOCKER_HOST")
            or "unix:///var/run/docker.sock")


def connect_engine(host: str, timeout: float = 10) -> socket.socket:
    """A connected socket to a Docker host URL: unix:///path or tcp://host:port."""
    url = urllib.parse.urlsplit(host)
    if url.scheme == "unix":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        target = url.path
    elif url.scheme in ("tcp", "http"):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        target = (url.hostname, url.port or 2375)
    else:
        raise OSError("unsupported Docker host %r" % host)
    s.settimeout(timeout)
    try:
        s.connect(target)
    except OSError:
        s.close()
        raise
    s.settimeout(None)
    return s


BUFFER = 65536
HANDSHAKE_TIMEOUT = 10


def tls_context(pems: dict) -> ssl.SSLContext:
    """dockerd --tlsverify's: the server's certificate and key, client certificates signed by
    the CA required. The PEMs go through a private temp dir (ssl loads files only), removed as
    soon as they are loaded."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.verify_mode = ssl.CERT_REQUIRED
    # A client's TCP end of stream without close_notify is its end of stream, as Go's crypto/tls
    # (dockerd) reads it, not a fatal error that would stop the answer coming back.
    ctx.options |= getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)
    where = tempfile.mkdtemp(prefix="aws-app-builder-")
    try:
        paths = {}
        for name in PEM_FILES:
            paths[name] = os.path.join(where, name)
            fd = os.open(paths[name], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(pems[name])
        ctx.load_cert_chain(paths["server.pem"], paths["server-key.pem"])
        ctx.load_verify_locations(paths["ca.pem"])
    finally:
        shutil.rmtree(where, ignore_errors=True)
    return ctx


class Endpoint:
    """The builder's Docker API: TLS on (address, port), forwarding to the local engine.

    `admitted()` is asked on each new connection, before the handshake (the security group);
    `engine` is a Docker host URL (default: engine_host() at connection time)."""

    def __init__(self, name, address, pems, admitted=lambda: True, port=DOCKER_TLS_PORT, engine=None):
        self.name, self.address, self.port = name, address, port
        self.context = tls_context(pems)
        self.admitted, self.engine = admitted, engine
        self.listener = None
        self.connections = set()
        self.lock = threading.Lock()
        self.stopped = False

    def start(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((self.address, self.port))
            s.listen(64)
            self.port = s.getsockname()[1]
        except OSError:
            s.close()
            raise
        with self.lock:
            if self.stopped:
                s.close()
                return
            self.listener = s
        threading.Thread(target=self._accept, name="builder-accept-%s" % self.name, daemon=True).start()
        log("%s: engine listening on %s:%d" % (self.name, self.address, self.port))

    def _accept(self):
        listener = self.listener
        while True:
            try:
                sock, peer = listener.accept()
            except OSError:
                return          # stopped
            with self.lock:
                if self.stopped:
                    sock.close()
                    return
            conn = _Connection(self, sock, peer)
            threading.Thread(target=conn.run, name="builder-conn-%s" % self.name, daemon=True).start()

    def stop(self):
        """The instance stops: no new connections, and the open ones are cut."""
        with self.lock:
            if self.stopped:
                return
            self.stopped = True
            listener, conns = self.listener, list(self.connections)
        if listener is not None:
            for how in (lambda: listener.shutdown(socket.SHUT_RDWR), listener.close):
                try:
                    how()
                except OSError:
                    pass
        for conn in conns:
            conn.close()
        log("%s: engine on %s:%d stopped" % (self.name, self.address, self.port))


class _Connection:
    """One client connection: TLS (an SSLObject over memory BIOs, used under one lock, so the
    two directions can run in two threads) to a plain connection to the engine.

    client -> engine (the thread that accepted): decrypt what comes, send it on; the client's end
    of stream (close_notify or TCP FIN) half-closes the engine side (SHUT_WR), and the answer
    keeps flowing back. engine -> client (second thread): encrypt what comes; the engine's end of
    stream ends the connection (close_notify, then both sockets closed)."""

    def __init__(self, endpoint, sock, peer):
        self.endpoint, self.sock, self.peer = endpoint, sock, peer
        self.engine_sock = None
        self.lock = threading.Lock()       # the SSLObject, and writes to the client socket
        self.close_lock = threading.Lock()
        self.closed = False

    def run(self):
        ep = self.endpoint
        with ep.lock:
            if ep.stopped:
                self.sock.close()
                return
            ep.connections.add(self)
        try:
            try:
                allowed = ep.admitted()
            except Exception as e:  # cannot tell: AWS would not let it in either
                log("%s: security group check failed (%r): connection from %s:%d dropped"
                    % (ep.name, e, self.peer[0], self.peer[1]))
                allowed = False
            if not allowed:
                log("%s: no ingress rule of the instance's security groups admits tcp %d from %s: "
                    "connection dropped" % (ep.name, ep.port, OPERATOR_IP))
                return
            self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
            self.tls = ep.context.wrap_bio(self.incoming, self.outgoing, server_side=True)
            try:
                self.sock.settimeout(HANDSHAKE_TIMEOUT)
                self._handshake()
                self.sock.settimeout(None)
            except (ssl.SSLError, OSError, ConnectionError) as e:
                log("%s: TLS handshake with %s:%d failed: %s" % (ep.name, self.peer[0], self.peer[1], e))
                return
            try:
                self.engine_sock = connect_engine(ep.engine or engine_host())
            except OSError as e:
                log("%s: the local Docker engine does not answer (%s)" % (ep.name, e))
                return
            threading.Thread(target=self._engine_to_client, daemon=True).start()
            self._client_to_engine()
        except Exception as e:  # a bug here: say so, close the connection
            log("%s: connection error: %r" % (ep.name, e))
            self.close()
        finally:
            if self.engine_sock is None:
                self.close()

    def _flush(self):
        """Sends what the TLS object wrote (call with self.lock held)."""
        data = self.outgoing.read()
        if data:
            self.sock.sendall(data)

    def _handshake(self):
        while True:
            try:
                with self.lock:
                    self.tls.do_handshake()
                    self._flush()
                return
            except ssl.SSLWantReadError:
                with self.lock:
                    self._flush()
            except ssl.SSLError:
                with self.lock:
                    try:
                        self._flush()     # the alert, so the client learns why
                    except OSError:
                        pass
                raise
            data = self.sock.recv(BUFFER)
            if not data:
                raise ConnectionError("the client left during the handshake")
            self.incoming.write(data)

    def _client_to_engine(self):
        try:
            # What came with the end of the handshake (a TLS 1.3 client's first request often
            # does) is read before waiting for more.
            data = None
            while True:
                chunks, eof = [], False
                with self.lock:
                    if data:
                        self.incoming.write(data)
                    elif data is not None:
                        self.incoming.write_eof()
                    while True:
                        try:
                            chunk = self.tls.read(BUFFER)
                        except ssl.SSLWantReadError:
                            break
                        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                            eof = True
                            break
                        if not chunk:
                            eof = True
                            break
                        chunks.append(chunk)
                    self._flush()
                for chunk in chunks:
                    self.engine_sock.sendall(chunk)
                if eof:
                    # The client is done sending (e.g. a hijacked stream's stdin closed): so is
                    # the engine's side; its answer keeps coming back.
                    self.engine_sock.shutdown(socket.SHUT_WR)
                    return
                data = self.sock.recv(BUFFER)
        except (OSError, ssl.SSLError):
            self.close()

    def _engine_to_client(self):
        try:
            while True:
                data = self.engine_sock.recv(BUFFER)
                if not data:
                    break
                with self.lock:
                    self.tls.write(data)
                    self._flush()
            with self.lock:
                try:
                    self.tls.unwrap()
                except (ssl.SSLWantReadError, ssl.SSLError):
                    pass        # our close_notify is written; the client's may not have come
                self._flush()
        except (OSError, ssl.SSLError):
            pass
        finally:
            self.close()

    def close(self):
        with self.close_lock:
            if self.closed:
                return
            self.closed = True
        for s in (self.sock, self.engine_sock):
            if s is None:
                continue
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        with self.endpoint.lock:
            self.endpoint.connections.discard(self)
