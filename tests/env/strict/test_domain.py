"""Tests for the --domain emulation of layer.py: ACM's DNS validation, Route 53's checks and
propagation, HTTPS listeners, and the data plane's name resolution, :80 redirect and HTTPS (CONNECT,
TLS from the test CA).

Run: /var/cache/aws-app/moto-venv-98eede085503/bin/python -m unittest discover -s tests/env/strict -p 'test_domain.py' -v

- PureTests: names, certificates' coverage, redirect locations, validation records, Route 53's
  ChangeInfo rewrite, the test CA's certificates (what webpki wants of them);
- DomainLayerTests: a private moto (MOTO_ACM_VALIDATION_WAIT=0, as aws-env.sh starts it) and strict
  layer with its data plane on free ports (--no-tasks: a stand-in task behind POST /-/routes, no
  Docker), short delays, driven with boto3 the way aws-app's --domain drives AWS, then a client
  through the proxy as the tool's HTTPS check goes (CONNECT, TLS trusting the test CA, SNI).
"""
import datetime
import http.server
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import layer  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _wait(url, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return True
        except OSError:
            time.sleep(0.2)
    return False


class PureTests(unittest.TestCase):
    def test_dns_names_and_coverage(self):
        self.assertEqual(layer.dns_name("App.Example.COM."), "app.example.com")
        self.assertEqual(layer.dns_name("\\052.example.com."), "*.example.com")
        self.assertTrue(layer.covers(["example.com", "*.example.com"], "app.example.com"))
        self.assertTrue(layer.covers(["app.example.com"], "APP.example.com."))
        self.assertFalse(layer.covers(["*.example.com"], "a.b.example.com"))      # one label only
        self.assertFalse(layer.covers(["*.example.com"], "example.com"))
        self.assertFalse(layer.covers(["other.example.com"], "app.example.com"))

    def test_redirect_location(self):
        """ALB's Location: RedirectConfig's parts, #{...} filled in, the port always written."""
        config = {"Protocol": "HTTPS", "Port": "443", "Host": "#{host}", "Path": "/#{path}", "Query": "#{query}",
                  "StatusCode": "HTTP_301"}
        self.assertEqual(layer.redirect_location(config, "http", "app.example.com", 80, "/", ""),
                         "https://app.example.com:443/")
        self.assertEqual(layer.redirect_location(config, "http", "app.example.com", 80, "/a/b", "x=1&y=2"),
                         "https://app.example.com:443/a/b?x=1&y=2")
        self.assertEqual(layer.redirect_location({"StatusCode": "HTTP_302"}, "http", "h.example", 80, "/p", "q"),
                         "http://h.example:80/p?q")
        self.assertEqual(layer.redirect_location(dict(config, Query=""), "http", "h.example", 80, "/p", "q"),
                         "https://h.example:443/p")

    def test_validation_records(self):
        a, b = ("arn:aws:acm:us-east-1:123456789012:certificate/%s" % x for x in ("a", "b"))
        name, value = layer.validation_record(a, "app.example.com")
        self.assertRegex(name, r"^_[0-9a-f]{32}\.app\.example\.com\.$")
        self.assertRegex(value, r"^_[0-9a-f]{32}\.[a-z]{10}\.acm-validations\.aws\.$")
        self.assertEqual(layer.validation_record(a, "APP.example.com"), (name, value))    # stable
        self.assertNotEqual(layer.validation_record(b, "app.example.com"), (name, value))  # per certificate
        wildcard = layer.validation_record(a, "*.example.com")[0]                  # the record of example.com
        self.assertRegex(wildcard, r"^_[0-9a-f]{32}\.example\.com\.$")

    def test_own_change(self):
        body = (b'<?xml version="1.0" encoding="utf-8"?>\n<ChangeResourceRecordSetsResponse xmlns="https://route53.'
                b'amazonaws.com/doc/2013-04-01/"><ChangeInfo><Id>/change/C2682N5HXP0BZ4</Id><Status>INSYNC</Status>'
                b'<SubmittedAt>2026-12-07T02:35:57.783281Z</SubmittedAt></ChangeInfo></ChangeResourceRecordSetsResponse>')
        one, two = layer.own_change(body).decode(), layer.own_change(body).decode()
        self.assertIn("<Status>PENDING</Status>", one)
        ids = [x.split("<Id>/change/")[1].split("</Id>")[0] for x in (one, two)]
        self.assertNotEqual(ids[0], ids[1])
        self.assertRegex(ids[0], r"^C[A-Z0-9]{20}$")
        self.assertIn(ids[0], layer.STATE.changes)
        self.assertRegex(layer.r53_time(0), r"^1970-01-01T00:00:00\.000Z$")

    def test_test_ca(self):
        """The CA and leaves as webpki (rustls) accepts them: SAN DNS names, EKU serverAuth, a
        non-CA leaf; a CA with BasicConstraints ca=True and keyCertSign; the trust bundle ends with it."""
        from cryptography import x509
        from cryptography.x509.oid import ExtendedKeyUsageOID
        folder = tempfile.mkdtemp(prefix="test-alb-ca-")
        self.addCleanup(shutil.rmtree, folder, True)
        ca = layer.AlbCa(folder)
        with open(ca.ca_path, "rb") as f:
            root = x509.load_pem_x509_certificate(f.read())
        self.assertTrue(root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
        self.assertTrue(root.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign)
        with open(ca.trust_path, "rb") as f:
            bundle = f.read()
        self.assertTrue(bundle.endswith(root.public_bytes(layer_encoding()).rstrip(b"\n") + b"\n"))
        if os.path.exists(layer.AlbCa.SYSTEM_BUNDLE):
            self.assertGreater(bundle.count(b"BEGIN CERTIFICATE"), 1)
        with open(ca.leaf(["App.example.com", "www.example.com"]), "rb") as f:
            leaf = x509.load_pem_x509_certificate(f.read())
        sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
        self.assertEqual(sans, ["app.example.com", "www.example.com"])
        self.assertEqual(list(leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value),
                         [ExtendedKeyUsageOID.SERVER_AUTH])
        self.assertFalse(leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
        self.assertEqual(leaf.issuer, root.subject)
        leaf.verify_directly_issued_by(root)


def layer_encoding():
    from cryptography.hazmat.primitives import serialization
    return serialization.Encoding.PEM


class _Task(http.server.BaseHTTPRequestHandler):
    """A stand-in task: echoes what reached it."""

    def do_GET(self):
        body = json.dumps({"path": self.path, "host": self.headers["Host"],
                           "proto": self.headers["X-Forwarded-Proto"]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class DomainLayerTests(unittest.TestCase):
    """A private moto and strict layer with its data plane (--no-tasks), short delays."""

    DELAYS = {"STRICT_ACM_RECORD_LAG_SECS": "1", "STRICT_ACM_VALIDATION_SECS": "2", "STRICT_ACM_RELEASE_SECS": "2",
              "STRICT_R53_SYNC_SECS": "1", "STRICT_ALB_PROVISIONING_SECS": "1", "STRICT_BLACKHOLE_SECS": "2",
              "STRICT_IGW_LAG_SECS": "0"}

    @classmethod
    def setUpClass(cls):
        moto_server = os.path.join(os.path.dirname(sys.executable), "moto_server")
        if not os.path.exists(moto_server):
            raise unittest.SkipTest("no moto_server beside %s" % sys.executable)
        cls.dir = tempfile.mkdtemp(prefix="test-domain-")
        cls.procs = []
        moto_port, cls.port, cls.alb = _free_port(), _free_port(), _free_port()
        env = dict(os.environ, MOTO_IAM_LOAD_MANAGED_POLICIES="false", MOTO_ACM_VALIDATION_WAIT="0", **cls.DELAYS)
        env.pop("AWS_APP_TEST_ECR_PASSWORD", None)
        with open(os.path.join(cls.dir, "moto.log"), "w") as log:
            cls.procs.append(subprocess.Popen([moto_server, "-H", "127.0.0.1", "-p", str(moto_port)], env=env,
                                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        if not _wait("http://127.0.0.1:%d/moto-api/" % moto_port):
            cls.tearDownClass()
            raise AssertionError("moto did not start")
        with open(os.path.join(cls.dir, "layer.log"), "w") as log:
            cls.procs.append(subprocess.Popen(
                [sys.executable, os.path.join(HERE, "layer.py"), "--aws-port", str(cls.port), "--alb-port",
                 str(cls.alb), "--no-tasks", "--ca-dir", os.path.join(cls.dir, "ca"),
                 "--moto", "http://127.0.0.1:%d" % moto_port],
                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        if not (_wait("http://127.0.0.1:%d/-/ready" % cls.port) and _wait("http://127.0.0.1:%d/-/ready" % cls.alb)):
            cls.tearDownClass()
            raise AssertionError("the layer did not start")
        cls.ca = os.path.join(cls.dir, "ca", "alb-ca.pem")
        cls.task = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Task)
        threading.Thread(target=cls.task.serve_forever, daemon=True).start()

    @classmethod
    def tearDownClass(cls):
        for p in getattr(cls, "procs", []):
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        if getattr(cls, "task", None):
            cls.task.shutdown()
            cls.task.server_close()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def client(self, service, deliberate=False):
        """boto3 on the layer; `deliberate`: its calls carry x-aws-app-test-expect-violation (a
        refusal is then not a violation of the suite)."""
        import boto3
        from botocore.config import Config
        c = boto3.client(service, region_name="us-east-1", endpoint_url="http://127.0.0.1:%d" % self.port,
                         aws_access_key_id="testing", aws_secret_access_key="testing",
                         config=Config(retries={"max_attempts": 6, "mode": "standard"}))
        if deliberate:
            def mark(request, **_):
                request.headers["x-aws-app-test-expect-violation"] = "1"
            c.meta.events.register("before-sign.*.*", mark)
        return c

    def code(self, call, **kwargs):
        try:
            call(**kwargs)
        except Exception as e:
            return e.response["Error"]["Code"], e.response["Error"]["Message"]
        return None

    def get_json(self, path):
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.port, path)) as r:
            return json.loads(r.read())

    def until(self, what, seconds=15, step=0.1):
        deadline = time.time() + seconds
        while time.time() < deadline:
            value = what()
            if value:
                return value
            time.sleep(step)
        raise AssertionError("timed out")

    def proxy_get(self, url):
        """`GET url HTTP/1.0` through the data plane (as tests/support's AwsEnv::get): status, headers, body."""
        out = b""
        with socket.create_connection(("127.0.0.1", self.alb), timeout=10) as s:
            s.sendall(("GET %s HTTP/1.0\r\nHost: %s\r\n\r\n" % (url, url.split("/")[2])).encode())
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
        head, _, body = out.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        return int(lines[0].split()[1]), dict(l.split(": ", 1) for l in lines[1:]), body

    def https(self, host, timeout=10, cafile=None, max_version=None):
        """CONNECT host:443 through the data plane, TLS with SNI trusting the test CA, two requests on
        one connection: (CONNECT status line, TLS version, certificate SANs, the answers)."""
        s = socket.create_connection(("127.0.0.1", self.alb), timeout=timeout)
        s.sendall(("CONNECT %s:443 HTTP/1.1\r\nHost: %s:443\r\n\r\n" % (host, host)).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(1)
            if not chunk:
                break
            head += chunk
        status = head.split(b"\r\n")[0].decode()
        if " 200 " not in status:
            with s:
                return status, None, None, s.recv(65536)
        ctx = ssl.create_default_context(cafile=cafile or self.ca)
        if max_version:
            ctx.maximum_version = max_version
        try:
            t = ctx.wrap_socket(s, server_hostname=host)
        except ssl.SSLError:
            s.close()
            raise
        with t:
            version = t.version()
            sans = [v for k, v in t.getpeercert()["subjectAltName"] if k == "DNS"]
            answers = []
            for path, close in (("/hello?x=1", False), ("/again", True)):
                t.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n" % (path, host, "Connection: close\r\n" if close else "")).encode())
                f = t.makefile("rb")
                line = f.readline()
                headers = {}
                while True:
                    h = f.readline().strip()
                    if not h:
                        break
                    k, _, v = h.decode().partition(": ")
                    headers[k.lower()] = v
                answers.append((int(line.split()[1]), json.loads(f.read(int(headers["content-length"])))))
            return status, version, sans, answers

    def test_domain_end_to_end(self):
        r53, acm, ec2, elb = (self.client(s) for s in ("route53", "acm", "ec2", "elbv2"))
        r53_bad, elb_bad, acm_bad = (self.client(s, deliberate=True) for s in ("route53", "elbv2", "acm"))

        # A public zone (a private one of the same name does not answer on the internet).
        zone = r53.create_hosted_zone(Name="example.com", CallerReference="t-1")
        zone_id = zone["HostedZone"]["Id"].rsplit("/", 1)[-1]
        self.assertEqual(zone["ChangeInfo"]["Status"], "PENDING")
        change = zone["ChangeInfo"]["Id"]
        self.assertEqual(r53.get_change(Id=change)["ChangeInfo"]["Status"], "PENDING")
        self.until(lambda: r53.get_change(Id=change)["ChangeInfo"]["Status"] == "INSYNC")
        self.assertEqual([z["Name"] for z in r53.list_hosted_zones_by_name(DNSName="example.com", MaxItems="1")["HostedZones"]],
                         ["example.com."])

        # The network and a load balancer with a target group (the task is a stand-in).
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.%d.0/24" % i, AvailabilityZone="us-east-1" + z)[
                       "Subnet"]["SubnetId"] for i, z in ((1, "a"), (2, "b"))]
        group = ec2.create_security_group(GroupName="alb", Description="alb", VpcId=vpc)["GroupId"]
        ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": p, "ToPort": p, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]} for p in (80, 443)])
        lb = elb.create_load_balancer(Name="web", Subnets=subnets, SecurityGroups=[group])["LoadBalancers"][0]
        lb_arn, dns, hosted = lb["LoadBalancerArn"], lb["DNSName"], lb["CanonicalHostedZoneId"]
        tg = elb.create_target_group(Name="web", Protocol="HTTP", Port=8080, VpcId=vpc, TargetType="ip")[
            "TargetGroups"][0]["TargetGroupArn"]
        forward = [{"Type": "forward", "TargetGroupArn": tg}]
        urllib.request.urlopen(urllib.request.Request("http://127.0.0.1:%d/-/routes?dns=%s&port=%d" % (
            self.port, dns, self.task.server_address[1]), method="POST")).read()

        # The certificate: no record at first, then PENDING_VALIDATION with its own record.
        arn = acm.request_certificate(DomainName="app.example.com", ValidationMethod="DNS",
                                      KeyAlgorithm="EC_prime256v1")["CertificateArn"]
        cert = acm.describe_certificate(CertificateArn=arn)["Certificate"]
        self.assertEqual(cert["Status"], "PENDING_VALIDATION")
        self.assertNotIn("ResourceRecord", cert["DomainValidationOptions"][0])
        self.assertNotIn("IssuedAt", cert)
        self.assertEqual(cert["KeyAlgorithm"], "EC_prime256v1")
        record = self.until(lambda: acm.describe_certificate(CertificateArn=arn)["Certificate"][
            "DomainValidationOptions"][0].get("ResourceRecord"))
        self.assertEqual(record, dict(zip(("Name", "Value"), layer.validation_record(arn, "app.example.com")), Type="CNAME"))
        self.assertEqual(self.code(elb_bad.create_listener, LoadBalancerArn=lb_arn, Protocol="HTTPS", Port=443,
                                   Certificates=[{"CertificateArn": arn}], DefaultActions=forward),
                         ("UnsupportedCertificate", "The certificate '%s' must have a fully-qualified domain name, a "
                          "supported signature, and a supported key size." % arn))
        self.assertEqual(self.code(elb_bad.create_listener, LoadBalancerArn=lb_arn, Protocol="HTTPS", Port=443,
                                   DefaultActions=forward),
                         ("ValidationError", "A certificate must be specified for HTTPS listeners"))
        listed = lambda **kw: [(c["CertificateArn"], c["Status"]) for c in acm.list_certificates(**kw)["CertificateSummaryList"]]
        self.assertEqual(listed(), [])                                           # default: RSA_2048 only
        ec = {"Includes": {"keyTypes": ["EC_prime256v1"]}}
        self.assertEqual(listed(**ec), [(arn, "PENDING_VALIDATION")])
        self.assertEqual(listed(CertificateStatuses=["ISSUED"], **ec), [])

        # The validation record: ISSUED ACM_VALIDATION (2 s here) after it was written.
        written = r53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [{"Action": "UPSERT",
            "ResourceRecordSet": {"Name": record["Name"], "Type": "CNAME", "TTL": 300,
                                  "ResourceRecords": [{"Value": record["Value"]}]}}]})["ChangeInfo"]
        at = time.time()
        self.assertNotEqual(written["Id"], change)
        self.assertEqual(acm.describe_certificate(CertificateArn=arn)["Certificate"]["Status"], "PENDING_VALIDATION")
        issued = self.until(lambda: acm.describe_certificate(CertificateArn=arn)["Certificate"]["Status"] == "ISSUED")
        self.assertTrue(issued)
        self.assertGreaterEqual(time.time() - at, 1.8)
        cert = acm.describe_certificate(CertificateArn=arn)["Certificate"]
        self.assertEqual(cert["DomainValidationOptions"][0]["ValidationStatus"], "SUCCESS")
        self.assertIn("IssuedAt", cert)
        self.assertEqual(listed(CertificateStatuses=["ISSUED"], **ec), [(arn, "ISSUED")])

        # The listeners: HTTPS with it, :80 forwarding; the SslPolicy and the port are checked.
        self.assertEqual(self.code(elb_bad.create_listener, LoadBalancerArn=lb_arn, Protocol="HTTPS", Port=443,
                                   Certificates=[{"CertificateArn": arn}], SslPolicy="ELBSecurityPolicy-Nope",
                                   DefaultActions=forward)[0], "SSLPolicyNotFound")
        https = elb.create_listener(LoadBalancerArn=lb_arn, Protocol="HTTPS", Port=443, Certificates=[{"CertificateArn": arn}],
                                    SslPolicy="ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09", DefaultActions=forward)["Listeners"][0]
        plain = elb.create_listener(LoadBalancerArn=lb_arn, Protocol="HTTP", Port=80, DefaultActions=forward)["Listeners"][0]
        self.assertEqual(self.code(elb_bad.create_listener, LoadBalancerArn=lb_arn, Protocol="HTTP", Port=80,
                                   DefaultActions=forward)[0], "DuplicateListener")
        self.assertEqual(acm.describe_certificate(CertificateArn=arn)["Certificate"]["InUseBy"], [lb_arn])

        # The alias records, as Route 53 checks them.
        def alias(name, kind, target, zone):
            return {"Action": "UPSERT", "ResourceRecordSet": {"Name": name, "Type": kind, "AliasTarget": {
                "HostedZoneId": zone, "DNSName": target, "EvaluateTargetHealth": True}}}

        def refused(*changes):
            return self.code(r53_bad.change_resource_record_sets, HostedZoneId=zone_id, ChangeBatch={"Changes": list(changes)})

        cname = lambda name: {"Action": "UPSERT", "ResourceRecordSet": {"Name": name, "Type": "CNAME", "TTL": 60,
                                                                         "ResourceRecords": [{"Value": "elsewhere.example.org"}]}}
        self.assertEqual(refused(alias("app.example.com", "A", "dualstack." + dns, "Z35SXDOTRQ7X7K")), (
            "InvalidChangeBatch", "[Tried to create an alias that targets dualstack.%s., type A in zone Z35SXDOTRQ7X7K, "
            "but the alias target name does not lie within the target zone]" % dns))
        self.assertEqual(refused(alias("app.example.com", "AAAA", "dualstack.nope-1.us-east-1.elb.amazonaws.com", hosted)), (
            "InvalidChangeBatch", "[Tried to create an alias that targets dualstack.nope-1.us-east-1.elb.amazonaws.com., "
            "type AAAA in zone %s, but that target was not found]" % hosted))
        self.assertEqual(refused(alias("app.notexample.com", "A", dns, hosted), cname("example.com")), (
            "InvalidChangeBatch", "[RRSet with DNS name app.notexample.com. is not permitted in zone example.com., "
            "RRSet of type CNAME with DNS name example.com. is not permitted at apex in zone example.com.]"))
        self.assertIsNone(self.code(r53.change_resource_record_sets, HostedZoneId=zone_id, ChangeBatch={"Changes": [
            alias("app.example.com", "A", "dualstack." + dns, hosted),
            alias("app.example.com.", "AAAA", "DUALSTACK." + dns.upper() + ".", hosted)]}))
        gone = {"Action": "DELETE", "ResourceRecordSet": {"Name": "gone.example.com", "Type": "A", "TTL": 60,
                                                          "ResourceRecords": [{"Value": "192.0.2.1"}]}}
        self.assertEqual(refused(gone), ("InvalidChangeBatch", "[Tried to delete resource record set "
                                         "[name='gone.example.com.', type='A'] but it was not found]"))
        wrong = alias("app.example.com", "A", "dualstack." + dns, hosted)
        wrong.update(Action="DELETE")
        wrong["ResourceRecordSet"]["AliasTarget"]["EvaluateTargetHealth"] = False
        self.assertEqual(refused(wrong)[1], "[Tried to delete resource record set [name='app.example.com.', type='A'] "
                                            "but the values provided do not match the current values]")
        self.assertEqual(refused(dict(alias("app.example.com", "A", dns, hosted), Action="CREATE"))[1],
                         "[Tried to create resource record set [name='app.example.com.', type='A'] but it already exists]")
        self.assertEqual(refused(cname("app.example.com")), (
            "InvalidChangeBatch", "[RRSet of type CNAME with DNS name app.example.com. is not permitted as it conflicts "
            "with other records with the same DNS name in zone example.com.]"))

        # HTTPS through the proxy: the name verifies against the test CA; the task sees https.
        status, version, sans, answers = self.https("app.example.com")
        self.assertEqual(status, "HTTP/1.1 200 Connection established")
        self.assertIn(version, ("TLSv1.2", "TLSv1.3"))
        self.assertEqual(sans, ["app.example.com"])
        self.assertEqual(answers, [(200, {"path": "/hello?x=1", "host": "app.example.com", "proto": "https"}),
                                   (200, {"path": "/again", "host": "app.example.com", "proto": "https"})])
        with self.assertRaises(ssl.SSLCertVerificationError):                     # without the test CA
            self.https("app.example.com", cafile=_other_ca(self.dir))
        self.assertEqual(self.https("app.example.com", cafile=os.path.join(self.dir, "ca", "alb-trust.pem"))[2],
                         ["app.example.com"])
        with self.assertRaises(ssl.SSLCertVerificationError) as e:                # the listener's name is not the LB's
            self.https(dns)
        self.assertIn("Hostname mismatch", str(e.exception))
        self.assertEqual(self.https("nope.example.com")[0], "HTTP/1.0 502 Bad Gateway")
        self.assertIn(b"could not resolve host", self.https("nope.example.com")[3])

        # :80 forwards, then redirects as ALB does (the port in Location).
        status, _, body = self.proxy_get("http://app.example.com/a/b?c=1")
        self.assertEqual((status, json.loads(body)["proto"]), (200, "http"))
        elb.modify_listener(ListenerArn=plain["ListenerArn"], DefaultActions=[{"Type": "redirect", "RedirectConfig": {
            "Protocol": "HTTPS", "Port": "443", "Host": "#{host}", "Path": "/#{path}", "Query": "#{query}",
            "StatusCode": "HTTP_301"}}])
        status, headers, _ = self.proxy_get("http://app.example.com/a/b?c=1")
        self.assertEqual((status, headers["Location"]), (301, "https://app.example.com:443/a/b?c=1"))
        status, headers, _ = self.proxy_get("http://%s/" % dns)
        self.assertEqual((status, headers["Location"]), (301, "https://%s:443/" % dns))
        self.assertEqual(self.proxy_get("http://unknown.example.net/")[0], 502)

        # A certificate for another name on the listener: the client's name check fails.
        other = acm.request_certificate(DomainName="other.example.com", ValidationMethod="DNS")["CertificateArn"]
        other_record = self.until(lambda: acm.describe_certificate(CertificateArn=other)["Certificate"][
            "DomainValidationOptions"][0].get("ResourceRecord"))
        self.assertNotEqual(other_record["Name"], record["Name"])
        r53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [{"Action": "UPSERT",
            "ResourceRecordSet": {"Name": other_record["Name"], "Type": "CNAME", "TTL": 300,
                                  "ResourceRecords": [{"Value": other_record["Value"]}]}}]})
        self.until(lambda: acm.describe_certificate(CertificateArn=other)["Certificate"]["Status"] == "ISSUED")
        elb.modify_listener(ListenerArn=https["ListenerArn"], Certificates=[{"CertificateArn": other}])
        released = time.time()
        with self.assertRaises(ssl.SSLCertVerificationError) as e:
            self.https("app.example.com")
        self.assertIn("Hostname mismatch", str(e.exception))

        # The released certificate is in use for ACM_RELEASE (2 s) more; then it goes.
        self.assertEqual(self.code(acm_bad.delete_certificate, CertificateArn=arn), (
            "ResourceInUseException", "Certificate %s in account 123456789012 is in use." % arn))
        self.until(lambda: self.code(acm.delete_certificate, CertificateArn=arn) is None, step=0.3)
        self.assertGreaterEqual(time.time() - released, 1.8)

        # TLS13-1-3: a TLS 1.2 client cannot connect.
        elb.modify_listener(ListenerArn=https["ListenerArn"], SslPolicy="ELBSecurityPolicy-TLS13-1-3-2021-06")
        r53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [alias("other.example.com", "A", dns, hosted)]})
        self.assertEqual(self.https("other.example.com")[1], "TLSv1.3")
        with self.assertRaises(ssl.SSLError):
            self.https("other.example.com", max_version=ssl.TLSVersion.TLSv1_2)

        # Security groups without :443: the CONNECT hangs (BLACKHOLE, 2 s here), then closes unanswered.
        ec2.revoke_security_group_ingress(GroupId=group, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
        start = time.time()
        status = self.https("other.example.com")[0]
        self.assertEqual(status, "")
        self.assertGreaterEqual(time.time() - start, 1.5)

        # Without a listener on :80 (or :443): connection refused.
        elb.delete_listener(ListenerArn=plain["ListenerArn"])
        self.assertEqual(self.proxy_get("http://app.example.com/")[0], 502)
        self.assertEqual(self.code(acm_bad.delete_certificate, CertificateArn=other)[0], "ResourceInUseException")

        # Every refusal above was asked for: none is a violation of the suite.
        self.assertEqual(self.get_json("/-/violations"), [])
        self.assertIn(other, self.get_json("/-/acm"))

    def test_list_hosted_zones_by_name(self):
        """Route 53's order (labels reversed), from DNSName on, MaxItems a page, private zones too."""
        r53, ec2 = self.client("route53"), self.client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
        for i, name in enumerate(["b.example.net", "example.net", "a.example.net", "example.org"]):
            r53.create_hosted_zone(Name=name, CallerReference="byname-%d" % i)
        r53.create_hosted_zone(Name="example.net", CallerReference="byname-private", VPC={"VPCRegion": "us-east-1", "VPCId": vpc},
                               HostedZoneConfig={"Comment": "private", "PrivateZone": True})
        page = r53.list_hosted_zones_by_name(DNSName="example.net", MaxItems="3")
        self.assertEqual([z["Name"] for z in page["HostedZones"]], ["example.net.", "example.net.", "a.example.net."])
        self.assertEqual(sorted(z["Config"]["PrivateZone"] for z in page["HostedZones"][:2]), [False, True])
        self.assertEqual((page["IsTruncated"], page["NextDNSName"], page["MaxItems"]), (True, "b.example.net.", "3"))
        page = r53.list_hosted_zones_by_name(DNSName=page["NextDNSName"], HostedZoneId=page["NextHostedZoneId"])
        self.assertEqual([z["Name"] for z in page["HostedZones"]], ["b.example.net.", "example.org."])
        self.assertFalse(page["IsTruncated"])
        page = r53.list_hosted_zones_by_name(DNSName="c.example.net.", MaxItems="1")   # no zone of that name
        self.assertEqual([z["Name"] for z in page["HostedZones"]], ["example.org."])



def _other_ca(folder):
    """A CA file that is not the test CA (the system bundle when there is one)."""
    if os.path.exists(layer.AlbCa.SYSTEM_BUNDLE):
        return layer.AlbCa.SYSTEM_BUNDLE
    ca = layer.AlbCa(os.path.join(folder, "other-ca"))
    return ca.ca_path


if __name__ == "__main__":
    unittest.main()
