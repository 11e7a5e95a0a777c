"""Tests for the EC2 builder emulation (builder.py, and its wiring in layer.py).

Run: /var/cache/aws-app/moto-venv-98eede085503/bin/python -m unittest discover -s tests/env/strict -p 'test_builder.py' -v

- UserDataTests, XmlTests, AdmitsTests, TrustTests: pure functions, with moto's own XML (moto
  in-process, `mock_aws`) for the address rewrite;
- EndpointTests: the TLS endpoint in front of a small unix-socket HTTP server standing for the
  Docker engine: mutual TLS, streaming, half-closes, the security group's verdict, stop;
- LayerTests: a private moto server and strict layer on free ports (builder addresses in
  127.79/16, short delays), driven with boto3 as aws-app's builder drives AWS: profile lag,
  RunInstances, the address, the engine through TLS, the security group, AssumeRole's lag and
  trust, termination, the group's DependencyViolation, checkip.
"""
import base64
import datetime
import http.client
import json
import os
import shutil
import signal
import socket
import socketserver
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import builder  # noqa: E402
import layer  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER_NAME = "builder.aws-app.invalid"


# --- certificates (the shape rcgen gives them in src/builder.rs: P-256 keys, PKCS#8) -------------
def _pki():
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def pem_key(key):
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()).decode()

    def pem_cert(cert):
        return cert.public_bytes(serialization.Encoding.PEM).decode()

    def ca(name):
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(hours=6))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, content_commitment=False,
                                             key_encipherment=False, data_encipherment=False, key_agreement=False,
                                             crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                .sign(key, hashes.SHA256()))
        return key, cert

    def leaf(ca_key, ca_cert, name, usage):
        key = ec.generate_private_key(ec.SECP256R1())
        b = (x509.CertificateBuilder()
             .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name or "aws-app")]))
             .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(hours=6))
             .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
             .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False))
        if name:
            b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        return key, b.sign(ca_key, hashes.SHA256())

    ca_key, ca_cert = ca("aws-app builder CA (one run)")
    server_key, server_cert = leaf(ca_key, ca_cert, SERVER_NAME, ExtendedKeyUsageOID.SERVER_AUTH)
    client_key, client_cert = leaf(ca_key, ca_cert, None, ExtendedKeyUsageOID.CLIENT_AUTH)
    other_key, other_cert = ca("someone else's CA")
    stranger_key, stranger_cert = leaf(other_key, other_cert, None, ExtendedKeyUsageOID.CLIENT_AUTH)
    return {"ca.pem": pem_cert(ca_cert), "server.pem": pem_cert(server_cert), "server-key.pem": pem_key(server_key),
            "client.pem": pem_cert(client_cert), "client-key.pem": pem_key(client_key),
            "stranger.pem": pem_cert(stranger_cert), "stranger-key.pem": pem_key(stranger_key)}


PKI = None


def pki():
    global PKI
    if PKI is None:
        PKI = _pki()
    return PKI


def user_data_script(pems, minutes=60):
    """The script as src/builder.rs's user_data() writes it."""
    def file(name):
        return "cat > /etc/docker/aws-app/%s <<'AWS_APP_PEM'\n%s\nAWS_APP_PEM\n" % (name, pems[name].rstrip())
    return ("#!/bin/bash\n# aws-app builder of prefix alex\nset -euxo pipefail\n"
            "shutdown -h +%d\numask 077\nmkdir -p /etc/docker/aws-app\n%s%s%s"
            "dnf install -y docker\nsystemctl enable --now docker\n"
            % (minutes, file("ca.pem"), file("server.pem"), file("server-key.pem")))


class _Files:
    """The client's PEMs as files (ssl loads files only)."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="test-builder-")
        for name, text in pki().items():
            with open(os.path.join(self.dir, name), "w") as fh:
                fh.write(text)

    def path(self, name):
        return os.path.join(self.dir, name)


FILES = None


def files():
    global FILES
    if FILES is None:
        FILES = _Files()
    return FILES


def tearDownModule():
    if FILES is not None:
        shutil.rmtree(FILES.dir, ignore_errors=True)


def client_context(cert="client"):
    """What aws-app's client does: trusts this run's CA only, checks the fixed server name,
    presents its certificate (cert=None: none)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(files().path("ca.pem"))
    if cert:
        ctx.load_cert_chain(files().path(cert + ".pem"), files().path(cert + "-key.pem"))
    return ctx


class TlsClient:
    """A TLS client over memory BIOs, to half-close (close_notify) and keep reading, like
    rustls' and Go's CloseWrite."""

    def __init__(self, address, port, cert="client", timeout=5, early=b""):
        """`early`: bytes sent in the same segment as the handshake's last message."""
        self.sock = socket.create_connection((address, port), timeout=timeout)
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = client_context(cert).wrap_bio(self.inc, self.out, server_hostname=SERVER_NAME)
        while True:
            try:
                self.tls.do_handshake()
                if early:
                    self.tls.write(early)
                self._flush()
                break
            except ssl.SSLWantReadError:
                self._flush()
                data = self.sock.recv(65536)
                if not data:
                    raise ConnectionError("closed during the handshake")
                self.inc.write(data)

    def _flush(self):
        data = self.out.read()
        if data:
            self.sock.sendall(data)

    def send(self, data):
        self.tls.write(data)
        self._flush()

    def close_write(self):
        try:
            self.tls.unwrap()
        except ssl.SSLWantReadError:
            pass
        self._flush()

    def read_until(self, end):
        """What comes until it ends with `end` (socket.timeout if it does not)."""
        out = b""
        while not out.endswith(end):
            try:
                out += self.tls.read(65536)
                continue
            except ssl.SSLWantReadError:
                pass
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("closed after %r" % out)
            self.inc.write(data)
        return out

    def read_all(self):
        """Everything until the server's end of stream."""
        out = b""
        while True:
            try:
                chunk = self.tls.read(65536)
                if not chunk:
                    return out
                out += chunk
                continue
            except ssl.SSLWantReadError:
                pass
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                return out
            data = self.sock.recv(65536)
            if not data:
                self.inc.write_eof()
            else:
                self.inc.write(data)

    def close(self):
        self.sock.close()


# --- a stand-in for the Docker engine: HTTP on a unix socket -------------------------------------
class FakeEngine:
    """GET /_ping -> OK; GET /stream -> three chunks 0.2 s apart; POST /echo (hijacked, like
    attach/exec): answers 101, reads until the client's end of stream, sends back what it got
    upper-cased, closes. Counts connections."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="test-engine-")
        self.path = os.path.join(self.dir, "docker.sock")
        self.connections = 0
        engine = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                engine.connections += 1
                try:
                    self.serve()
                except (BrokenPipeError, ConnectionResetError):
                    pass                # the client (or the endpoint, stopped) went away

            def serve(self):
                while True:
                    line = self.rfile.readline()
                    if not line:
                        return
                    method, path, _ = line.decode().split(" ", 2)
                    headers = {}
                    while True:
                        h = self.rfile.readline().decode().strip()
                        if not h:
                            break
                        k, _, v = h.partition(":")
                        headers[k.strip().lower()] = v.strip()
                    body = self.rfile.read(int(headers.get("content-length", 0)))
                    if path == "/_ping":
                        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nApi-Version: 1.45\r\n"
                                         b"Content-Length: 2\r\n\r\nOK")
                    elif path == "/stream":
                        self.wfile.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                        for i in range(3):
                            piece = b'{"stream":"step %d\\n"}\n' % i
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                            self.wfile.flush()
                            time.sleep(0.2)
                        self.wfile.write(b"0\r\n\r\n")
                    elif path == "/echo":
                        self.wfile.write(b"HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
                        self.wfile.flush()
                        rest = body + self.rfile.read()          # until the client's half-close
                        self.wfile.write(rest.upper())
                        return
                    else:
                        self.wfile.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                    self.wfile.flush()

        class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
            daemon_threads = True

        self.server = Server(self.path, Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = "unix://" + self.path

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        shutil.rmtree(self.dir, ignore_errors=True)


def https_get(address, port, path, cert="client", timeout=5):
    conn = http.client.HTTPSConnection(SERVER_NAME, port, context=client_context(cert), timeout=timeout)
    conn.sock = client_context(cert).wrap_socket(socket.create_connection((address, port), timeout=timeout),
                                                 server_hostname=SERVER_NAME)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


# --- pure functions ------------------------------------------------------------------------------
class UserDataTests(unittest.TestCase):
    def test_parses_the_builders_files_and_switch(self):
        script = user_data_script(pki(), minutes=45)
        data = builder.parse_user_data(builder.decode_user_data(base64.b64encode(script.encode()).decode()))
        self.assertIsNotNone(data)
        self.assertEqual(data.shutdown_minutes, 45)
        for name in builder.PEM_FILES:
            self.assertEqual(data.pems[name].strip(), pki()[name].strip())
        self.assertTrue(data.pems["server-key.pem"].startswith("-----BEGIN PRIVATE KEY-----"))
        # what tls_context makes of them is a server context
        self.assertIsInstance(builder.tls_context(data.pems), ssl.SSLContext)

    def test_not_a_builder(self):
        self.assertIsNone(builder.parse_user_data("#!/bin/bash\necho hello\n"))
        self.assertIsNone(builder.parse_user_data(None))
        partial = user_data_script(pki()).replace("server-key.pem", "other.pem")
        self.assertIsNone(builder.parse_user_data(partial))
        self.assertIsNone(builder.decode_user_data("not base64!"))
        self.assertIsNone(builder.decode_user_data(None))
        no_switch = user_data_script(pki()).replace("shutdown -h +60\n", "")
        self.assertIsNone(builder.parse_user_data(no_switch).shutdown_minutes)

    def test_addresses(self):
        a = builder.Addresses("127.77")
        got = [a.allocate() for _ in range(256)]
        self.assertEqual(got[:2], ["127.77.0.1", "127.77.0.2"])
        self.assertEqual(got[253:256], ["127.77.0.254", "127.77.1.1", "127.77.1.2"])
        self.assertEqual(len(set(got)), 256)


def _moto_xml():
    """moto's own RunInstances/DescribeInstances XML: a builder-like launch (network interface
    with a public address), and a plain one."""
    import boto3
    from moto import mock_aws
    raw = {}

    def keep(http_response, model, **_):
        raw.setdefault(model.name, []).append(http_response.content.decode())

    with mock_aws():
        ec2 = boto3.client("ec2", region_name="eu-west-1", aws_access_key_id="testing", aws_secret_access_key="testing")
        ec2.meta.events.register("after-call", keep)
        subnet = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"][0]
        group = ec2.create_security_group(GroupName="p-aws-app-builder", Description="b", VpcId=subnet["VpcId"])["GroupId"]
        ami = ec2.describe_images()["Images"][0]["ImageId"]
        a = ec2.run_instances(ImageId=ami, InstanceType="t3.medium", MinCount=1, MaxCount=1, NetworkInterfaces=[
            {"DeviceIndex": 0, "SubnetId": subnet["SubnetId"], "Groups": [group], "AssociatePublicIpAddress": True,
             "DeleteOnTermination": True}])["Instances"][0]
        b = ec2.run_instances(ImageId=ami, InstanceType="t3.micro", MinCount=1, MaxCount=1,
                              SubnetId=subnet["SubnetId"])["Instances"][0]
        ec2.describe_instances(InstanceIds=[a["InstanceId"], b["InstanceId"]])
    return raw, a, b, group


class XmlTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.raw, cls.a, cls.b, cls.group = _moto_xml()

    def parse(self, op, xml):
        import botocore.parsers
        import botocore.session
        model = botocore.session.get_session().get_service_model("ec2").operation_model(op)
        return botocore.parsers.create_parser("ec2").parse(
            {"status_code": 200, "headers": {}, "body": xml.encode()}, model.output_shape)

    def test_spans_and_fields(self):
        run = self.raw["RunInstances"][0]
        spans = builder.instance_spans(run)
        self.assertEqual(len(spans), 1)
        item = run[spans[0][0]:spans[0][1]]
        self.assertTrue(item.startswith("<item>") and item.endswith("</item>"))
        self.assertEqual(builder.instance_field(item, "instanceId"), self.a["InstanceId"])
        self.assertEqual(builder.instance_field(item, "ipAddress"), self.a["PublicIpAddress"])
        self.assertEqual(builder.group_ids(item), {self.group})
        describe = self.raw["DescribeInstances"][0]
        ids = [builder.instance_field(describe[s:e], "instanceId") for s, e in builder.instance_spans(describe)]
        self.assertEqual(sorted(ids), sorted([self.a["InstanceId"], self.b["InstanceId"]]))
        # TerminateInstances-like sets, and other <item>s, are not instance items of a reservation
        self.assertEqual(builder.instance_spans("<x><groupSet><item><groupId>sg-1</groupId></item></groupSet></x>"), [])

    def test_rewrite_gives_the_builder_its_loopback_address(self):
        address = "127.77.0.9"

        def view(instance_id, item):
            if instance_id != self.a["InstanceId"]:
                return None
            return builder.set_state(builder.set_public_address(item, address), "pending")

        describe = self.raw["DescribeInstances"][0]
        out = self.parse("DescribeInstances", builder.rewrite_instances(describe, view))
        instances = {i["InstanceId"]: i for r in out["Reservations"] for i in r["Instances"]}
        a, b = instances[self.a["InstanceId"]], instances[self.b["InstanceId"]]
        self.assertEqual(a["PublicIpAddress"], address)
        self.assertEqual(a["NetworkInterfaces"][0]["Association"]["PublicIp"], address)
        self.assertEqual(a["NetworkInterfaces"][0]["PrivateIpAddresses"][0]["Association"]["PublicIp"], address)
        self.assertIn("127-77-0-9", a["PublicDnsName"])
        self.assertEqual(a["State"], {"Code": 0, "Name": "pending"})
        self.assertNotIn(self.a["PublicIpAddress"], json.dumps(a, default=str))
        # the other instance is as moto gave it
        self.assertEqual(b["PublicIpAddress"], self.b["PublicIpAddress"])
        self.assertEqual(b["State"]["Name"], "running")
        run = self.raw["RunInstances"][0]
        out = self.parse("RunInstances", builder.rewrite_instances(run, view))
        self.assertEqual(out["Instances"][0]["PublicIpAddress"], address)
        # nothing to rewrite: the same text
        self.assertEqual(builder.rewrite_instances(describe, lambda i, item: None), describe)


class AdmitsTests(unittest.TestCase):
    def rule(self, proto="tcp", low=2376, high=2376, cidrs=("203.0.113.10/32",), **extra):
        p = {"IpProtocol": proto, "IpRanges": [{"CidrIp": c} for c in cidrs], "Ipv6Ranges": [],
             "UserIdGroupPairs": [], "PrefixListIds": []}
        if low is not None:
            p.update(FromPort=low, ToPort=high)
        p.update(extra)
        return p

    def test_cases(self):
        yes = [
            [self.rule()],
            [self.rule(cidrs=("203.0.113.0/24",))],
            [self.rule(cidrs=("0.0.0.0/0",))],
            [self.rule(low=2000, high=3000)],
            [self.rule(proto="6")],
            [self.rule(proto="-1", low=None)],
            [self.rule(low=80, high=80, cidrs=("0.0.0.0/0",)), self.rule()],
        ]
        no = [
            [],
            None,
            [self.rule(cidrs=("198.51.100.7/32",))],
            [self.rule(low=2375, high=2375)],
            [self.rule(proto="udp")],
            [self.rule(cidrs=())],
            [dict(self.rule(cidrs=()), UserIdGroupPairs=[{"GroupId": "sg-1"}])],
            [self.rule(cidrs=("not a cidr",))],
        ]
        for perms in yes:
            with self.subTest(perms=perms):
                self.assertTrue(builder.admits(perms))
        for perms in no:
            with self.subTest(perms=perms):
                self.assertFalse(builder.admits(perms))
        self.assertEqual(builder.OPERATOR_IP, "203.0.113.10")


class TrustTests(unittest.TestCase):
    def test_trust_policies(self):
        doc = lambda principal, action="sts:AssumeRole", effect="Allow": {
            "Version": "2012-10-17", "Statement": [{"Effect": effect, "Principal": principal, "Action": action}]}
        account = "123456789012"
        self.assertTrue(layer.trusts_account(doc({"AWS": "arn:aws:iam::%s:root" % account}), account))
        self.assertTrue(layer.trusts_account(doc({"AWS": [account]}), account))
        self.assertTrue(layer.trusts_account(doc("*"), account))
        self.assertTrue(layer.trusts_account(json.dumps(doc({"AWS": "arn:aws:iam::%s:root" % account})), account))
        self.assertFalse(layer.trusts_account(doc({"Service": "ec2.amazonaws.com"}), account))
        self.assertFalse(layer.trusts_account(doc({"AWS": "arn:aws:iam::999999999999:root"}), account))
        self.assertFalse(layer.trusts_account(doc({"AWS": "arn:aws:iam::%s:root" % account}, effect="Deny"), account))
        self.assertFalse(layer.trusts_account(doc({"AWS": "arn:aws:iam::%s:root" % account}, action="s3:*"), account))
        both = doc({"Service": "ec2.amazonaws.com"})
        both["Statement"].append({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::%s:root" % account},
                                  "Action": "sts:AssumeRole"})
        self.assertTrue(layer.trusts_account(both, account))


# --- the endpoint --------------------------------------------------------------------------------
class EndpointTests(unittest.TestCase):
    ADDRESS = "127.79.250.1"

    @classmethod
    def setUpClass(cls):
        cls.engine = FakeEngine()

    @classmethod
    def tearDownClass(cls):
        cls.engine.stop()

    def endpoint(self, admitted=lambda: True):
        ep = builder.Endpoint("i-test", self.ADDRESS, {n: pki()[n] for n in builder.PEM_FILES},
                              admitted=admitted, port=0, engine=self.engine.url)
        ep.start()
        self.addCleanup(ep.stop)
        return ep

    def test_the_right_client_reaches_the_engine(self):
        ep = self.endpoint()
        self.assertEqual(https_get(self.ADDRESS, ep.port, "/_ping"), (200, b"OK"))
        status, body = https_get(self.ADDRESS, ep.port, "/stream")
        self.assertEqual(status, 200)
        self.assertEqual(body.count(b'"stream"'), 3)
        # keep-alive: two requests on one connection
        conn = http.client.HTTPSConnection(SERVER_NAME, ep.port, context=client_context())
        conn.sock = client_context().wrap_socket(socket.create_connection((self.ADDRESS, ep.port)),
                                                 server_hostname=SERVER_NAME)
        for _ in range(2):
            conn.request("GET", "/_ping")
            r = conn.getresponse()
            self.assertEqual((r.status, r.read()), (200, b"OK"))
        conn.close()

    def test_a_request_that_comes_with_the_handshakes_end(self):
        """A TLS 1.3 client's first request often shares a segment with its Finished: it is
        answered (not left in the TLS buffer while the endpoint waits for more)."""
        ep = self.endpoint()
        for _ in range(5):
            c = TlsClient(self.ADDRESS, ep.port, early=b"GET /_ping HTTP/1.1\r\nHost: docker\r\n"
                                                       b"Connection: close\r\n\r\n")
            c.sock.settimeout(3)
            out = c.read_until(b"\r\n\r\nOK")      # no half-close to wake a waiting endpoint
            c.close()
            self.assertTrue(out.startswith(b"HTTP/1.1 200 OK"), out)

    def test_half_close_after_a_hijack(self):
        """The client's close_notify reaches the engine as its end of stream; the engine's
        answer still comes back, then its end of stream."""
        ep = self.endpoint()
        c = TlsClient(self.ADDRESS, ep.port)
        c.send(b"POST /echo HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n")
        c.send(b"some stdin ")
        big = b"x" * (3 << 20)
        for i in range(0, len(big), 1 << 16):
            c.send(big[i:i + (1 << 16)])
        c.send(b"and more")
        c.close_write()
        out = c.read_all()
        c.close()
        self.assertTrue(out.startswith(b"HTTP/1.1 101"), out[:200])
        self.assertTrue(out.endswith(b"SOME STDIN " + b"X" * (3 << 20) + b"AND MORE"), out[-200:])

    def test_half_close_by_tcp(self):
        """A client that only shuts its TCP side (no close_notify) half-closes too."""
        ep = self.endpoint()
        c = TlsClient(self.ADDRESS, ep.port)
        c.send(b"POST /echo HTTP/1.1\r\nHost: docker\r\nContent-Length: 0\r\n\r\nabc")
        time.sleep(0.2)
        c.sock.shutdown(socket.SHUT_WR)
        out = c.read_all()
        c.close()
        self.assertTrue(out.endswith(b"ABC"), out)

    def refused(self, cert):
        ep = self.endpoint()
        before = self.engine.connections
        with self.assertRaises((ssl.SSLError, ConnectionError, OSError)):
            https_get(self.ADDRESS, ep.port, "/_ping", cert=cert)
        time.sleep(0.2)
        self.assertEqual(self.engine.connections, before)

    def test_a_certificate_of_another_ca_is_refused(self):
        self.refused("stranger")

    def test_no_client_certificate_is_refused(self):
        self.refused(None)

    def test_a_connection_the_security_group_does_not_admit_is_dropped(self):
        asked = []
        verdict = [False]

        def admitted():
            asked.append(time.time())
            return verdict[0]

        ep = self.endpoint(admitted)
        before = self.engine.connections
        with self.assertRaises((ssl.SSLError, ConnectionError, OSError)):
            https_get(self.ADDRESS, ep.port, "/_ping")
        self.assertEqual(len(asked), 1)
        self.assertEqual(self.engine.connections, before)
        verdict[0] = True
        self.assertEqual(https_get(self.ADDRESS, ep.port, "/_ping"), (200, b"OK"))
        # a check that fails is a no
        ep2 = self.endpoint(lambda: 1 / 0)
        with self.assertRaises((ssl.SSLError, ConnectionError, OSError)):
            https_get(self.ADDRESS, ep2.port, "/_ping")

    def test_stop_closes_the_listener_and_open_connections(self):
        ep = self.endpoint()
        c = TlsClient(self.ADDRESS, ep.port)
        c.send(b"POST /echo HTTP/1.1\r\nHost: docker\r\nContent-Length: 0\r\n\r\n")
        time.sleep(0.2)
        ep.stop()
        started = time.time()
        c.read_all()            # returns: the connection is gone
        c.close()
        self.assertLess(time.time() - started, 3)
        with self.assertRaises(OSError):
            socket.create_connection((self.ADDRESS, ep.port), timeout=2).close()

    def test_no_engine(self):
        ep = builder.Endpoint("i-test", self.ADDRESS, {n: pki()[n] for n in builder.PEM_FILES},
                              port=0, engine="unix:///nonexistent/docker.sock")
        ep.start()
        self.addCleanup(ep.stop)
        with self.assertRaises((ssl.SSLError, ConnectionError, OSError, http.client.HTTPException)):
            https_get(self.ADDRESS, ep.port, "/_ping")


# --- the layer, end to end -----------------------------------------------------------------------
def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _wait(url, seconds=20):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return True
        except OSError:
            time.sleep(0.2)
    return False


class LayerTests(unittest.TestCase):
    """A private moto and strict layer (free ports, builder addresses 127.79.x.y), as
    tests/env/aws-env.sh starts them, with short delays."""

    @classmethod
    def setUpClass(cls):
        moto_server = os.path.join(os.path.dirname(sys.executable), "moto_server")
        if not os.path.exists(moto_server):
            raise unittest.SkipTest("no moto_server beside %s" % sys.executable)
        cls.engine = FakeEngine()
        cls.logs = tempfile.mkdtemp(prefix="test-layer-")
        cls.procs = []
        moto_port, cls.port = _free_port(), _free_port()
        env = dict(os.environ, MOTO_IAM_LOAD_MANAGED_POLICIES="false")
        with open(os.path.join(cls.logs, "moto.log"), "w") as log:
            cls.procs.append(subprocess.Popen([moto_server, "-H", "127.0.0.1", "-p", str(moto_port)], env=env,
                                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        if not _wait("http://127.0.0.1:%d/moto-api/" % moto_port):
            cls.tearDownClass()
            raise AssertionError("moto did not start")
        env.update(STRICT_BUILDER_BOOT_SECS="3", STRICT_INSTANCE_PENDING_SECS="2", STRICT_INSTANCE_SHUTDOWN_SECS="2",
                   STRICT_PROFILE_LAG_SECS="2", STRICT_IAM_LAG_SECS="1", STRICT_ENI_LINGER_SECS="3",
                   STRICT_BUILDER_ADDRESSES="127.79", STRICT_BUILDER_DOCKER_HOST=cls.engine.url)
        env.pop("AWS_APP_TEST_ECR_PASSWORD", None)
        with open(os.path.join(cls.logs, "layer.log"), "w") as log:
            cls.procs.append(subprocess.Popen([sys.executable, os.path.join(HERE, "layer.py"), "--aws-port",
                                               str(cls.port), "--moto", "http://127.0.0.1:%d" % moto_port], env=env,
                                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        if not _wait("http://127.0.0.1:%d/-/ready" % cls.port):
            cls.tearDownClass()
            raise AssertionError("the layer did not start")

    @classmethod
    def tearDownClass(cls):
        for p in getattr(cls, "procs", []):
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        cls.engine.stop()
        shutil.rmtree(cls.logs, ignore_errors=True)

    def client(self, service):
        import boto3
        from botocore.config import Config
        return boto3.client(service, region_name="eu-west-1", endpoint_url="http://127.0.0.1:%d" % self.port,
                            aws_access_key_id="testing", aws_secret_access_key="testing",
                            config=Config(retries={"max_attempts": 1}))

    def layer_log(self):
        with open(os.path.join(self.logs, "layer.log")) as fh:
            return fh.read()

    def code(self, call, *args, **kwargs):
        try:
            call(*args, **kwargs)
        except Exception as e:
            return e.response["Error"]["Code"], e.response["Error"]["Message"]
        return None

    def test_checkip(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/-/checkip" % self.port) as r:
            self.assertEqual(r.read(), b"203.0.113.10\n")
            self.assertTrue(r.headers["Content-Type"].startswith("text/plain"))

    def test_a_builders_life(self):
        ec2, iam, sts, ssm = self.client("ec2"), self.client("iam"), self.client("sts"), self.client("ssm")
        name = "alex-aws-app-builder"
        subnets = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
        # zone a offers no t3.medium here (as use1-az3): the launch goes to another zone
        subnet = next(n for n in subnets if not n["AvailabilityZone"].endswith("a"))
        zone_a = next(n for n in subnets if n["AvailabilityZone"].endswith("a"))
        group = ec2.create_security_group(GroupName=name, Description="aws-app: the build instance",
                                          VpcId=subnet["VpcId"])["GroupId"]
        ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[{
            "IpProtocol": "tcp", "FromPort": 2376, "ToPort": 2376, "IpRanges": [{"CidrIp": "203.0.113.10/32"}]}])
        ami = ssm.get_parameter(Name="/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64")[
            "Parameter"]["Value"]
        trust = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"},
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "sts:AssumeRole"}]}
        role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        # IAM's lag: a new role is not there for the attaches, nor assumable, for a moment
        self.assertEqual(self.code(iam.put_role_policy, RoleName=name, PolicyName="push",
                                   PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}))[0],
                         "NoSuchEntity")
        self.assertEqual(self.code(sts.assume_role, RoleArn=role, RoleSessionName="aws-app-build")[0], "AccessDenied")
        iam.create_instance_profile(InstanceProfileName=name)
        time.sleep(1.1)
        iam.put_role_policy(RoleName=name, PolicyName="push", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ecr:GetAuthorizationToken",
                                                      "Resource": "*"}]}))
        self.assertIsNone(self.code(sts.assume_role, RoleArn=role, RoleSessionName="aws-app-build",
                                    DurationSeconds=3600))
        self.assertEqual(self.code(sts.assume_role, RoleArn=role, RoleSessionName="aws-app-build",
                                   DurationSeconds=7200),
                         ("ValidationError", "The requested DurationSeconds exceeds the MaxSessionDuration set for "
                                             "this role."))
        iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)

        def launch(**extra):
            return ec2.run_instances(
                ImageId=ami, InstanceType="t3.medium", MinCount=1, MaxCount=1,
                NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": subnet["SubnetId"], "Groups": [group],
                                    "AssociatePublicIpAddress": True, "DeleteOnTermination": True}],
                IamInstanceProfile={"Name": name},
                MetadataOptions={"HttpTokens": "required", "HttpEndpoint": "enabled", "HttpPutResponseHopLimit": 1},
                InstanceInitiatedShutdownBehavior="terminate", UserData=user_data_script(pki()),
                TagSpecifications=[{"ResourceType": t, "Tags": [{"Key": "Name", "Value": name}]}
                                   for t in ("instance", "volume")], **extra)["Instances"][0]

        # zone a does not offer t3.medium
        refused = self.code(ec2.run_instances, ImageId=ami, InstanceType="t3.medium", MinCount=1, MaxCount=1,
                            SubnetId=zone_a["SubnetId"])
        self.assertEqual(refused[0], "Unsupported")
        self.assertIn("Your requested instance type (t3.medium) is not supported", refused[1])
        # the instance profile was given its role a moment ago
        self.assertEqual(self.code(launch), ("InvalidParameterValue", "Value (%s) for parameter iamInstanceProfile."
                                             "name is invalid. Invalid IAM Instance Profile name" % name))
        self.assertEqual(self.code(ec2.run_instances, ImageId=ami, MinCount=1, MaxCount=1,
                                   IamInstanceProfile={"Name": "nope"})[0], "InvalidParameterValue")
        time.sleep(2.1)
        instance = launch()
        iid, address = instance["InstanceId"], instance["PublicIpAddress"]
        self.assertTrue(address.startswith("127.79."), address)
        describe = lambda: ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
        self.assertEqual(describe()["State"]["Name"], "pending")
        self.assertEqual(describe()["PublicIpAddress"], address)
        # booting: nothing listens yet
        with self.assertRaises(OSError):
            socket.create_connection((address, 2376), timeout=1).close()
        deadline = time.time() + 10
        while describe()["State"]["Name"] != "running":
            self.assertLess(time.time(), deadline)
            time.sleep(0.3)
        while True:
            try:
                self.assertEqual(https_get(address, 2376, "/_ping"), (200, b"OK"))
                break
            except OSError:
                self.assertLess(time.time(), deadline)
                time.sleep(0.3)
        # while the instance uses the group, the group stays
        self.assertEqual(self.code(ec2.delete_security_group, GroupId=group)[0], "DependencyViolation")
        # without the rule, the engine cannot be reached (after the layer's 1 s cache)
        ec2.revoke_security_group_ingress(GroupId=group, IpPermissions=[{
            "IpProtocol": "tcp", "FromPort": 2376, "ToPort": 2376, "IpRanges": [{"CidrIp": "203.0.113.10/32"}]}])
        time.sleep(1.1)
        with self.assertRaises(OSError):
            https_get(address, 2376, "/_ping")
        self.assertIn("no ingress rule", self.layer_log())
        ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[{
            "IpProtocol": "tcp", "FromPort": 2300, "ToPort": 2400, "IpRanges": [{"CidrIp": "203.0.113.0/24"}]}])
        time.sleep(1.1)
        self.assertEqual(https_get(address, 2376, "/_ping"), (200, b"OK"))
        # a wrong client certificate is refused
        with self.assertRaises((ssl.SSLError, OSError)):
            https_get(address, 2376, "/_ping", cert="stranger")

        ec2.terminate_instances(InstanceIds=[iid])
        with self.assertRaises(OSError):
            socket.create_connection((address, 2376), timeout=1).close()
        self.assertEqual(describe()["State"]["Name"], "shutting-down")
        self.assertEqual(self.code(ec2.delete_security_group, GroupId=group)[0], "DependencyViolation")
        deadline = time.time() + 10
        while describe()["State"]["Name"] != "terminated":
            self.assertLess(time.time(), deadline)
            time.sleep(0.3)
        while self.code(ec2.delete_security_group, GroupId=group) is not None:   # the interface lingers
            self.assertLess(time.time(), deadline)
            time.sleep(0.3)
        with urllib.request.urlopen("http://127.0.0.1:%d/-/violations" % self.port) as r:
            self.assertEqual(json.loads(r.read()), [])

    def test_other_instances_are_left_alone(self):
        ec2 = self.client("ec2")
        ami = ec2.describe_images()["Images"][0]["ImageId"]
        i = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, UserData="#!/bin/bash\necho hi\n")["Instances"][0]
        self.assertFalse(i.get("PublicIpAddress", "").startswith("127."))
        d = ec2.describe_instances(InstanceIds=[i["InstanceId"]])["Reservations"][0]["Instances"][0]
        self.assertEqual(d["State"]["Name"], "running")
        self.assertEqual(d.get("PublicIpAddress"), i.get("PublicIpAddress"))
        ec2.terminate_instances(InstanceIds=[i["InstanceId"]])

    def test_documented_user_data_limit(self):
        ec2 = self.client("ec2")
        ec2.meta.events.register("before-sign", lambda request, **_: request.headers.__setitem__(
            "x-aws-app-test-expect-violation", "1"))
        big = "#" * 16385
        self.assertEqual(self.code(ec2.run_instances, ImageId="ami-1", MinCount=1, MaxCount=1, UserData=big),
                         ("InvalidParameterValue", "User data is limited to 16384 bytes"))
        self.assertEqual(self.code(ec2.run_instances, ImageId="ami-1", MinCount=1, MaxCount=1,
                                   TagSpecifications=[{"ResourceType": "security-group", "Tags": [{"Key": "a", "Value": "b"}]}]),
                         ("InvalidParameterValue", "'security-group' is not a valid taggable resource type for this "
                                                   "operation."))

    def test_a_managed_policy_of_another_partition_is_refused(self):
        import boto3
        from botocore.config import Config
        iam = boto3.client("iam", region_name="cn-north-1", endpoint_url="http://127.0.0.1:%d" % self.port,
                           aws_access_key_id="testing", aws_secret_access_key="testing",
                           config=Config(retries={"max_attempts": 1}))
        iam.meta.events.register("before-sign", lambda request, **_: request.headers.__setitem__(
            "x-aws-app-test-expect-violation", "1"))
        iam.create_role(RoleName="cn-role", AssumeRolePolicyDocument="{}")
        time.sleep(1.2)  # the role's lag
        policy = ":iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
        self.assertEqual(self.code(iam.attach_role_policy, RoleName="cn-role", PolicyArn="arn:aws" + policy),
                         ("NoSuchEntity", "Policy arn:aws%s does not exist or is not attachable." % policy))
        self.assertIn("refused iam AttachRolePolicy", self.layer_log())
        # The partition's own ARN passes the layer (moto here has no managed policies loaded).
        before = self.layer_log().count("refused iam AttachRolePolicy")
        self.code(iam.attach_role_policy, RoleName="cn-role", PolicyArn="arn:aws-cn" + policy)
        self.assertEqual(self.layer_log().count("refused iam AttachRolePolicy"), before)
        self.assertEqual(layer.partition("cn-northwest-1"), "aws-cn")
        self.assertEqual(layer.partition("us-gov-west-1"), "aws-us-gov")
        self.assertEqual(layer.partition("eu-west-1"), "aws")

    def test_a_signed_call_it_cannot_read_is_a_violation(self):
        # Unchecked calls would pass the suite's final check: an operation of no model is kept.
        auth = ("AWS4-HMAC-SHA256 Credential=testing/20261205/eu-west-1/ecs/aws4_request, "
                "SignedHeaders=host, Signature=00")
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        conn.request("POST", "/", body=b"{}", headers={
            "Authorization": auth, "X-Amz-Target": "AmazonEC2ContainerServiceV20141113.NoSuchOperation",
            "Content-Type": "application/x-amz-json-1.1"})
        conn.getresponse().read()
        with urllib.request.urlopen("http://127.0.0.1:%d/-/violations" % self.port, timeout=10) as r:
            kept = json.load(r)
        unread = [v for v in kept if v["operation"] == "unreadable"]
        self.assertEqual(len(unread), 1, kept)
        self.assertIn("NoSuchOperation", unread[0]["violations"][0])


if __name__ == "__main__":
    unittest.main()
