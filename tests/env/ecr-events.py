#!/usr/bin/env python3
"""The ECR twin's event receiver (tests/env/ecr-twin.sh starts it with the moto venv's python).

The twin registry posts its notification events here. For each tagged manifest push it reads the
exact manifest bytes back from the registry and records the image in moto with ECR's PutImage
(same digest, media type and tag, in the region named by the push's Host), so DescribeImages and
BatchGetImage answer what was pushed. Then it applies the repository's lifecycle policy
(tests/env/ecr_lifecycle.py): expired images leave moto (BatchDeleteImage) and the registry.
Repositories are never created: a push to one moto does not know is logged and left out.
Events are handled one at a time, in arrival order, after answering the registry.

usage: ecr-events.py PORT   (moto: AWS_ENDPOINT_URL; registry password: ECR_PASSWORD; CA: ECR_CA)
"""
import base64
import calendar
import hashlib
import http.server
import json
import os
import queue
import re
import ssl
import sys
import threading
import time
import urllib.error
import urllib.request

import boto3
from botocore.exceptions import ClientError

from ecr_lifecycle import expired

MANIFEST_TYPES = {
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
    "application/vnd.docker.distribution.manifest.v1+json",
}
HOST = re.compile(r"^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(:443)?$")
AUTH = "Basic " + base64.b64encode(("AWS:" + os.environ["ECR_PASSWORD"]).encode()).decode()
TLS = ssl.create_default_context(cafile=os.environ["ECR_CA"])
clients = {}
pushed = {}  # (region, repo, digest) -> push time: moto keeps whole seconds, too coarse for order
events = queue.Queue()


def log(msg):
    now = time.time()
    print("%s.%03d ecr-events: %s" % (time.strftime("%H:%M:%S", time.localtime(now)), now % 1 * 1000, msg), flush=True)


def ecr(region):
    if region not in clients:
        clients[region] = boto3.client("ecr", region_name=region)
    return clients[region]


def registry(method, host, repo, ref, accept=None):
    req = urllib.request.Request(f"https://{host}/v2/{repo}/manifests/{ref}", method=method)
    req.add_header("Authorization", AUTH)
    if accept:
        req.add_header("Accept", accept)
    with urllib.request.urlopen(req, context=TLS, timeout=30) as resp:
        return resp.read(), resp.headers


def lag(event):
    try:  # RFC 3339 with nanoseconds
        stamp = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?", event["timestamp"])
        at = calendar.timegm(time.strptime(stamp.group(1), "%Y-%m-%dT%H:%M:%S")) + float(stamp.group(2) or 0)
        return "%.3f s" % (time.time() - at)
    except (KeyError, AttributeError, ValueError):
        return "?"


def fresh(mine, moto):
    """Whether our push time of an image is moto's (whole seconds), made precise."""
    return mine is not None and 0 <= mine - moto < 2


def handle(event):
    target, request = event.get("target", {}), event.get("request", {})
    media_type, tag = target.get("mediaType"), target.get("tag")
    if event.get("action") != "push" or media_type not in MANIFEST_TYPES or not tag:
        return
    host = request.get("host", "")
    m = HOST.match(host)
    repo, digest = target["repository"], target["digest"]
    where = f"{host}/{repo}:{tag}"
    if not m:
        log(f"{where}: not an ECR host name, left out")
        return
    region, client = m.group(2), ecr(m.group(2))
    try:
        client.describe_repositories(repositoryNames=[repo])
    except client.exceptions.RepositoryNotFoundException:
        log(f"{where}: no repository {repo!r} in moto ({region}), left out")
        return
    body, headers = registry("GET", host.split(":")[0], repo, digest, media_type)
    got = "sha256:" + hashlib.sha256(body).hexdigest()
    if got != digest:
        log(f"{where}: the registry's bytes hash to {got}, not {digest}: left out")
        return
    media_type = headers.get("Content-Type", media_type)
    try:
        image = client.put_image(repositoryName=repo, imageManifest=body.decode(), imageTag=tag,
                                 imageManifestMediaType=media_type, imageDigest=digest)["image"]
        key, now = (region, repo, digest), time.time()
        at = client.describe_images(repositoryName=repo, imageIds=[{"imageDigest": digest}])
        if not fresh(pushed.get(key), at["imageDetails"][0]["imagePushedAt"].timestamp()):
            pushed[key] = now  # a new image (moto's push time: this second)
        seen = image["imageId"]["imageDigest"]
        log(f"{where}: in moto {region} as {seen} ({media_type}), {lag(event)} after the registry's event"
            + ("" if seen == digest else f" -- MISMATCH with the registry's {digest}"))
    except client.exceptions.ImageAlreadyExistsException:
        log(f"{where}: already in moto as {digest}")
    apply_lifecycle(client, region, host.split(":")[0], repo)


def apply_lifecycle(client, region, host, repo):
    try:
        policy = json.loads(client.get_lifecycle_policy(repositoryName=repo)["lifecyclePolicyText"])
    except client.exceptions.LifecyclePolicyNotFoundException:
        return
    images = []
    for page in client.get_paginator("describe_images").paginate(repositoryName=repo):
        for d in page["imageDetails"]:
            at, mine = d["imagePushedAt"].timestamp(), pushed.get((region, repo, d["imageDigest"]))
            at = mine if fresh(mine, at) else at
            images.append({"digest": d["imageDigest"], "tags": d.get("imageTags", []), "pushed_at": at})
    for image, rule in expired(policy.get("rules", []), images, time.time()):
        digest = image["digest"]
        client.batch_delete_image(repositoryName=repo, imageIds=[{"imageDigest": digest}])
        try:
            registry("DELETE", host, repo, digest)
            gone = "and the registry"
        except urllib.error.HTTPError as e:
            gone = f"(registry: HTTP {e.code})"
        pushed.pop((region, repo, digest), None)
        log(f"{host}/{repo}: expired {digest} {image['tags']} from moto {region} {gone}"
            f" (lifecycle rule {rule['rulePriority']}: {rule.get('description', rule['selection'])})")


def worker():
    while True:
        event = events.get()
        try:
            handle(event)
        except (ClientError, urllib.error.URLError, OSError, ValueError, KeyError) as e:
            log(f"event {event.get('id')} ({event.get('action')} {event.get('target', {}).get('repository')}): {e!r}")


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/-/ready" else 404)
        self.end_headers()

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            for event in json.loads(body).get("events", []):
                events.put(event)
        except ValueError as e:
            log(f"unreadable envelope: {e}")
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    threading.Thread(target=worker, daemon=True).start()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    log(f"listening on 127.0.0.1:{sys.argv[1]}, moto at {os.environ.get('AWS_ENDPOINT_URL')}")
    server.serve_forever()
