#!/usr/bin/env python3
"""Test-only data plane for moto: what Fargate and the ALB would do, on this machine.

moto keeps the AWS control plane (services, task definitions, load balancers) but runs nothing.
This loop reads, every half second, each ECS service's current task definition from moto, runs
its image (from the test registry, by digest) in Docker with the app port published on
127.0.0.1, and stops the containers of revisions the service no longer runs. An HTTP proxy
(the tool gets it as HTTP_PROXY) answers requests for a load balancer's DNS name from the
newest container of the service behind it, so the tool's own URL check runs for real.

usage: dataplane.py PROXY_PORT      (moto via AWS_ENDPOINT_URL)
"""
import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import boto3

LABEL = "aws-app-test-dataplane"
# The regions the tests deploy to (the default VPC case, and one without a default VPC).
REGIONS = os.environ.get("DATAPLANE_REGIONS", "us-east-1,us-west-2").split(",")
clients = {r: (boto3.client("ecs", region_name=r), boto3.client("elbv2", region_name=r)) for r in REGIONS}
routes = {}  # load balancer DNS name -> host port of the container serving it
lock = threading.Lock()


def docker(*args):
    return subprocess.run(["docker", *args], capture_output=True, text=True)


def running():
    """container name -> host port, for our containers."""
    out = docker("ps", "--filter", f"label={LABEL}", "--format", "{{.Names}} {{.Ports}}").stdout
    found = {}
    for line in out.splitlines():
        name, _, ports = line.partition(" ")
        # 127.0.0.1:49153->8000/tcp
        port = ports.split("->")[0].rsplit(":", 1)[-1] if "->" in ports else ""
        found[name] = int(port) if port.isdigit() else None
    return found


def dns_names(elb, service):
    names = []
    for attachment in service.get("loadBalancers", []):
        tg = elb.describe_target_groups(TargetGroupArns=[attachment["targetGroupArn"]])["TargetGroups"][0]
        arns = tg.get("LoadBalancerArns", [])
        if arns:
            names += [lb["DNSName"] for lb in elb.describe_load_balancers(LoadBalancerArns=arns)["LoadBalancers"]]
    return names


def reconcile():
    wanted = {}  # container name -> (image, port, dns names)
    for ecs, elb in clients.values():
        collect(ecs, elb, wanted)
    start_and_route(wanted)


def collect(ecs, elb, wanted):
    for cluster in ecs.list_clusters()["clusterArns"]:
        arns = ecs.list_services(cluster=cluster)["serviceArns"]
        for i in range(0, len(arns), 10):
            for service in ecs.describe_services(cluster=cluster, services=arns[i:i + 10])["services"]:
                if service["status"] != "ACTIVE" or service["desiredCount"] < 1:
                    continue
                td = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
                container = td["containerDefinitions"][0]
                port = container["portMappings"][0]["containerPort"]
                name = "dp-%s-%s-%d" % (service["serviceName"], td["family"], td["revision"])
                wanted[name] = (container["image"], port, dns_names(elb, service), service["serviceName"])


def start_and_route(wanted):
    have = running()
    for name, (image, port, _, service) in wanted.items():
        if name not in have:
            result = docker("run", "-d", "--name", name, "--label", LABEL, "--label", f"{LABEL}.service={service}",
                            "-p", f"127.0.0.1::{port}", image)
            if result.returncode != 0:
                docker("rm", "-f", name)
                print("run %s: %s" % (name, result.stderr.strip()), flush=True)
                continue
            print("started %s from %s" % (name, image), flush=True)
    have = running()
    new_routes = {}
    for name, (_, _, dns, _) in wanted.items():
        if have.get(name):
            for d in dns:
                new_routes[d] = have[name]
    with lock:
        routes.clear()
        routes.update(new_routes)
    for name in have:
        if name not in wanted:
            docker("rm", "-f", name)
            print("stopped %s" % name, flush=True)


def loop():
    while True:
        try:
            reconcile()
        except Exception as e:  # moto restarting, a service deleted mid-read: try again
            print("reconcile: %r" % (e,), flush=True)
        time.sleep(0.5)


class Proxy(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/-/ready":
            return self.answer(200, b"ready", {})
        if self.path == "/-/routes":
            with lock:
                return self.answer(200, json.dumps(routes).encode(), {"Content-Type": "application/json"})
        host = self.headers.get("Host", "").split(":")[0]
        path = self.path
        if path.startswith("http://"):
            rest = path[len("http://"):]
            host, _, tail = rest.partition("/")
            host = host.split(":")[0]
            path = "/" + tail
        with lock:
            port = routes.get(host)
        if port is None:
            return self.answer(502, b"no running task behind " + host.encode(), {})
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=5) as r:
                return self.answer(r.status, r.read(), {"Content-Type": r.headers.get("Content-Type", "text/plain")})
        except urllib.error.HTTPError as e:
            return self.answer(e.code, e.read(), {})
        except OSError as e:
            return self.answer(503, str(e).encode(), {})

    def answer(self, status, body, headers):
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def stop(*_):
    for name in running():
        docker("rm", "-f", name)
    sys.exit(0)


signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
threading.Thread(target=loop, daemon=True).start()
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Proxy).serve_forever()
