#!/usr/bin/env python3
"""The test suite's AWS, stricter than moto: test-only code, on loopback, never part of the tool.

Two roles in one process:

1. **The strict layer** (``--aws-port``): every AWS call of the tool goes through it
   (``AWS_ENDPOINT_URL``). It parses the request with botocore's models (``awsproto``), refuses
   what real AWS refuses — the models' constraints and the documented ones of
   ``documented.py`` / docs/aws-contract.md — with AWS's own error codes and shapes, throttles at
   AWS's rates, adds a real call's latency, and emulates what moto skips:

   - ``CreateService``/``UpdateService`` start deployments with their own ids, whose
     ``rolloutState`` follows the data plane: COMPLETED once the new revision's container passes
     the target group's health check; FAILED after 3 failed tasks (a container that exits or fails
     its health checks), then, with the circuit breaker's rollback, a new deployment of the last
     completed revision. Stopped tasks are answered by ListTasks/DescribeTasks, their output is
     in CloudWatch Logs like awslogs puts it;
   - a new load balancer is ``provisioning`` (and its DNS name does not answer) for a while;
   - a deleted service is DRAINING for a while, and CreateService with its name is refused;
   - IAM: a new role answers NoSuchEntity to reads and attaches for a few seconds;
   - security groups answer DependencyViolation while a deleted service's or load balancer's
     network interfaces linger; a target group in use by a listener or load balancer answers
     ResourceInUse; an internet-facing load balancer in a VPC whose internet gateway was attached
     a moment ago answers InvalidSubnet;
   - ECR login tokens are valid for 12 hours and accepted by the test ECR registry
     (tests/env/ecr-twin.sh), which also applies lifecycle policies on push;
   - EC2 builder instances (``builder.py``): an instance whose user data carries the builder's
     TLS files (aws-app's EC2 builder, src/builder.rs) boots: after a few seconds its Docker
     API answers with mutual TLS on its own loopback address (127.77.x.y, given as its public
     address), forwarding to the local Docker engine, and only while its security groups admit
     tcp 2376 from the operator's address (GET /-/checkip); terminating (or stopping) it stops
     that, and its security groups answer DependencyViolation while it lives and lingers;
   - IAM for moto's own users (``permissions.py``): a call signed with a key moto's IAM made is
     allowed only when that user's policies allow its action (AWS's AccessDenied shapes else);
   - Application Auto Scaling: registering a range brings the ECS service's desired count into
     it; deregistering deletes the target's policies; a missing target or policy answers
     ObjectNotFoundException; DescribeScalingActivities (which moto lacks) answers the layer's
     record of each count it set; POST /-/scale?region=&resource=&policy=&count= plays a
     policy's alarm (the suite's stand-in for load);
   - a new instance profile is refused by RunInstances (InvalidParameterValue) for a few
     seconds; a new role cannot be assumed (AccessDenied) for a few seconds, nor by principals
     its trust policy does not name;
   - ACM (moto issues at once whatever DNS holds: aws-env.sh starts it with
     MOTO_ACM_VALIDATION_WAIT=0 and the layer decides, acm_view): a requested certificate is
     PENDING_VALIDATION; DescribeCertificate gives no ResourceRecord for ACM_RECORD_LAG (3 s),
     then a record of its own per certificate and domain (`_<hex>.<domain>.` CNAME
     `_<hex>.<letters>.acm-validations.aws.`); it is ISSUED ACM_VALIDATION (5 s) after the
     layer first saw that record in the public hosted zone that answers for the name (written
     through the layer: from the write); ListCertificates filters on that status (and on the key
     algorithm asked for, RSA_2048 by default, as ACM); InUseBy lists the load balancers using it;
     DeleteCertificate answers ResourceInUseException while a listener uses it and for
     ACM_RELEASE (10 s) after the last one let go;
   - ELBv2 listeners: HTTPS without a certificate (ValidationError), with one not ISSUED
     (UnsupportedCertificate), an unknown SslPolicy (SSLPolicyNotFound), a second listener on a
     port (DuplicateListener) are refused, as moto does not;
   - Route 53 (rest-xml, read by awsproto): ChangeResourceRecordSets answers InvalidChangeBatch
     for an alias A/AAAA whose target is no load balancer (its CanonicalHostedZoneId, its DNS
     name without `dualstack.`), a name outside the zone, a CNAME at the apex or beside other
     records; each change has its own id, PENDING for R53_SYNC (2 s), then INSYNC (GetChange);
     ListHostedZonesByName answers in Route 53's order and pages (moto: exact names only).

2. **The data plane** (``--alb-port``): the local "Fargate" + ALB. It runs each deployment's task
   (the task definition's image, in Docker, port published on 127.0.0.1; ``--no-tasks``: none,
   stand-ins only), health-checks it like the target group, and is the tool's HTTP_PROXY and
   HTTPS_PROXY for the load balancers (AlbProxy). Names resolve like DNS: a load balancer's DNS
   name is itself; another name is looked up in moto's Route 53 (the public zone with the
   longest matching suffix, an A alias of exactly that name to a load balancer's DNS name, or a
   CNAME); else 502 "could not resolve host". A plain request goes to the load balancer's
   listener on its port (80): forward -> the healthy task of the service behind it, redirect ->
   301/302 with Location as ALB writes it (`https://app.example.com:443/path?query`), no
   listener -> 502 "connection refused". ``CONNECT host:443`` (other ports: 502) needs an active
   load balancer whose security groups admit tcp 443 from 0.0.0.0/0 (else the connection hangs
   for BLACKHOLE, 30 s, and closes unanswered, as a dropped SYN) and an HTTPS listener on 443
   (else 502 "connection refused"); then `HTTP/1.1 200 Connection established` and TLS (at least
   1.2; 1.3 for TLS13-1-3 policies) with a leaf from the test CA (--ca-dir: alb-ca.pem, and
   alb-trust.pem = the system bundle + it) for the SNI name when one of the listener's ISSUED
   certificates covers it (DomainName or SubjectAlternativeNames, `*.` one label), else for its
   default certificate's names (or the load balancer's DNS name), which a client's name check
   refuses; the requests inside go where the listener's default action says (X-Forwarded-Proto
   https). A container definition's ``secrets`` reach the container as ECS puts them: only
   when the task definition's execution role is allowed
   ``ssm:GetParameters`` / ``secretsmanager:GetSecretValue`` on the ARN (and ``kms:Decrypt`` on a
   customer managed key), by its inline and attached policies as moto's IAM evaluates them, the
   values read from moto (a secret's json-key extracted); otherwise the task stops with
   ``ResourceInitializationError: unable to pull secrets or registry auth``.

A second instance with ``--chaos SEED`` in front of the first injects throttles and 5xx at random
(seeded) into any call, before the call reaches AWS.

Test endpoints: GET /-/ready, GET /-/violations (every refused request, and every signed call
the layer could not read and so could not check, for the suite's final check; a request sent
with the header x-aws-app-test-expect-violation is refused the same but not recorded), GET
/-/checkip (the operator's public address, as checkip.amazonaws.com answers it), GET
/-/permissions?key=AKID (the actions that key was allowed and denied), GET /-/acm (the layer's
view of each ACM certificate: requested, domains, seen (when each validation record was first
seen), issued, released, and the validation records), POST /-/routes?dns=NAME&port=PORT (a
stand-in task: the listeners of the load balancer NAME forward to 127.0.0.1:PORT; DELETE
/-/routes?dns=NAME removes it), all on the AWS port; GET /-/ready and GET /-/routes (load
balancer DNS name -> task port, stand-ins included) on the ALB port.
"""
import argparse
import base64
import contextlib
import datetime
import hashlib
import http.client
import http.server
import json
import os
import random
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import awsproto  # noqa: E402
import builder as ec2builder  # noqa: E402
import permissions  # noqa: E402

ACCOUNT = "123456789012"


def env_seconds(name, default):
    return float(os.environ.get(name, default))


# How long AWS takes to settle, here (deterministic; real AWS: minutes, seconds, a minute).
ALB_PROVISIONING = env_seconds("STRICT_ALB_PROVISIONING_SECS", 35)
SERVICE_DRAINING = env_seconds("STRICT_SERVICE_DRAINING_SECS", 60)
IAM_LAG = env_seconds("STRICT_IAM_LAG_SECS", 3)
ENI_LINGER = env_seconds("STRICT_ENI_LINGER_SECS", 8)
TG_LINGER = env_seconds("STRICT_TG_LINGER_SECS", 3)
IGW_LAG = env_seconds("STRICT_IGW_LAG_SECS", 3)
# A new DynamoDB table is CREATING (its items unreachable) for a while (real: seconds).
TABLE_CREATING = env_seconds("STRICT_TABLE_CREATING_SECS", 3)
# EC2 builder instances: how long the instance is `pending`, how long until its Docker API
# answers (real: ~20 s, then Docker's install), how long it is `shutting-down` once terminated;
# how long RunInstances refuses a new instance profile.
INSTANCE_PENDING = env_seconds("STRICT_INSTANCE_PENDING_SECS", 2)
BUILDER_BOOT = env_seconds("STRICT_BUILDER_BOOT_SECS", 5)
INSTANCE_SHUTDOWN = env_seconds("STRICT_INSTANCE_SHUTDOWN_SECS", 2)
PROFILE_LAG = env_seconds("STRICT_PROFILE_LAG_SECS", 3)
# Instance types the zone `<region>a` does not offer here (as us-east-1's use1-az3 lacks t3,
# and zone names map to it in some accounts): a launch must try another zone.
UNSUPPORTED_TYPES = ("t3.medium",)
UNSUPPORTED_ZONE_SUFFIX = "a"
# The circuit breaker's threshold for a service of a few tasks (AWS: max(3, min(200, 50 %))).
FAILED_TASKS_THRESHOLD = 3
# A task that never answers its health check within this is failed (the service's grace period
# the tool sets, 30 s, plus the target group's unhealthy threshold).
HEALTH_DEADLINE = env_seconds("STRICT_HEALTH_DEADLINE_SECS", 40)
# --domain: ACM's DNS validation, Route 53's propagation, listeners letting go of certificates.
# DescribeCertificate gives a new certificate's validation record this long after RequestCertificate
# ("there is a delay of several seconds before you can retrieve information about the new
# certificate"; seen: a few polls 300 ms apart, dylburger/create-and-validate-acm-certificate#11).
ACM_RECORD_LAG = env_seconds("STRICT_ACM_RECORD_LAG_SECS", 3)
# ISSUED this long after the layer first saw the validation CNAME in DNS (real: seconds to minutes).
ACM_VALIDATION = env_seconds("STRICT_ACM_VALIDATION_SECS", 5)
# DeleteCertificate answers ResourceInUseException this long after the last listener let it go
# ("it can take around 10s for ACM to acknowledge that the certificate is no longer in use",
# aws/aws-cdk#4179).
ACM_RELEASE = env_seconds("STRICT_ACM_RELEASE_SECS", 10)
# GetChange answers PENDING this long after the change, then INSYNC (real: about a minute).
R53_SYNC = env_seconds("STRICT_R53_SYNC_SECS", 2)
# A CONNECT to a load balancer whose security groups drop :443 hangs this long, then closes (a
# dropped SYN: the client's connect timeout decides).
BLACKHOLE = env_seconds("STRICT_BLACKHOLE_SECS", 30)


def now():
    return time.time()


def iso(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).isoformat()


# --- throttling ---------------------------------------------------------------------------------
# Token buckets per (region, service, operation class): (refill per second, burst). EC2's are its
# documented request-token buckets; ECS's task definition calls "1 per second sustained, burst
# 20"; the rest are conservative readings of the services' published quotas.
RATES = {
    ("ecs", "RegisterTaskDefinition"): (1, 20),
    ("ecs", "DeregisterTaskDefinition"): (1, 20),
    ("ecs", "*write"): (10, 40),
    ("ecs", "*read"): (20, 100),
    ("ec2", "*write"): (5, 50),
    ("ec2", "*read"): (20, 100),
    ("elasticloadbalancing", "*write"): (5, 40),
    ("elasticloadbalancing", "*read"): (20, 100),
    ("iam", "*write"): (5, 20),
    ("iam", "*read"): (20, 100),
    ("logs", "*write"): (5, 50),
    ("logs", "*read"): (10, 50),
    ("ecr", "*write"): (10, 40),
    ("ecr", "*read"): (20, 100),
    ("sts", "*read"): (50, 200),
    ("sts", "*write"): (50, 200),
    # Route 53: "All requests - Five requests per second per AWS account" (Route 53 quotas), one
    # bucket for every operation. ACM: conservative readings of its API rate quotas (per second:
    # DescribeCertificate 10, ListCertificates 8, RequestCertificate 5, DeleteCertificate 10).
    ("route53", "*"): (5, 10),
    ("acm", "*read"): (8, 16),
    ("acm", "*write"): (5, 10),
}
READS = ("Describe", "Get", "List", "Filter")


class Buckets:
    def __init__(self):
        self.buckets = {}
        self.lock = threading.Lock()

    def take(self, req):
        kind = "*read" if req.operation.startswith(READS) else "*write"
        key = (req.service, req.operation)
        if key not in RATES:
            key = (req.service, "*") if (req.service, "*") in RATES else (req.service, kind)
        rate, burst = RATES.get(key, (20, 100))
        key = (req.region,) + key
        with self.lock:
            tokens, last = self.buckets.get(key, (burst, now()))
            tokens = min(burst, tokens + (now() - last) * rate)
            if tokens < 1:
                self.buckets[key] = (tokens, now())
                return False
            self.buckets[key] = (tokens - 1, now())
            return True


# --- the emulated state -------------------------------------------------------------------------
class Deployment:
    def __init__(self, task_definition, desired, reason="new"):
        self.id = "ecs-svc/%019d" % random.randrange(10**18, 10**19)
        self.task_definition = task_definition
        self.status = "PRIMARY"
        self.rollout = "IN_PROGRESS"
        self.reason = "ECS deployment %s in progress." % self.id
        self.created = self.updated = now()
        self.desired = desired
        self.running = 0
        self.failed_tasks = 0
        self.why = reason

    def json(self, service):
        return {
            "id": self.id,
            "status": self.status,
            "taskDefinition": self.task_definition,
            "desiredCount": self.desired,
            "pendingCount": 0 if self.running else (self.desired if self.rollout == "IN_PROGRESS" else 0),
            "runningCount": self.running,
            "failedTasks": self.failed_tasks,
            "createdAt": self.created,
            "updatedAt": self.updated,
            "launchType": "FARGATE",
            "platformVersion": "1.4.0",
            "platformFamily": "Linux",
            "networkConfiguration": service.network,
            "rolloutState": self.rollout,
            "rolloutStateReason": self.reason,
        }


class Service:
    def __init__(self, region, cluster_arn, name, params):
        self.region, self.cluster_arn, self.name = region, cluster_arn, name
        self.network = params.get("networkConfiguration") or {}
        self.load_balancers = params.get("loadBalancers") or []
        breaker = (params.get("deploymentConfiguration") or {}).get("deploymentCircuitBreaker") or {}
        self.rollback = bool(breaker.get("enable") and breaker.get("rollback"))
        self.deployments = []
        self.past_deployments = set()  # ids of deployments no longer listed
        self.events = []
        self.deleted_at = None
        self.completed_task_definition = None  # the last revision whose rollout completed

    @property
    def key(self):
        return (self.region, self.cluster_arn, self.name)

    def primary(self):
        return next((d for d in self.deployments if d.status == "PRIMARY"), None)

    def event(self, message):
        self.events.insert(0, {"id": str(uuid.uuid4()), "createdAt": now(),
                               "message": "(service %s) %s" % (self.name, message)})
        del self.events[50:]

    def start(self, task_definition, desired, why):
        self.past_deployments |= {d.id for d in self.deployments}
        for d in self.deployments:
            if d.status == "PRIMARY":
                d.status = "ACTIVE"
        d = Deployment(task_definition, desired, why)
        self.deployments.insert(0, d)
        return d


class State:
    def __init__(self):
        self.lock = threading.RLock()
        self.services = {}  # (region, cluster arn, name) -> Service
        self.tasks = {}  # task arn -> DescribeTasks task JSON (stopped tasks)
        self.roles = {}  # role name -> created at
        self.load_balancers = {}  # arn -> created at
        self.gateways = {}  # vpc id -> internet gateway attached at
        self.lingering_groups = {}  # security group id -> when what used it was deleted
        self.profiles = {}  # instance profile name -> when it was made (or given its role)
        self.builders = {}  # instance id -> BuilderInstance
        self.released_groups = {}  # target group arn -> when its listener or load balancer went
        self.violations = []
        self.throttled = {}  # "<service> <Operation>" -> count
        self.tables = {}  # DynamoDB table name -> created at
        self.lock_events = []  # every successful write of aws-app's lock table, in order
        self.scaling = {}  # (region, scalable target resource id) -> its scaling activities
        self.regions = set()  # regions of the calls seen (where load balancers may be)
        self.certificates = {}  # ACM certificate arn -> Certificate (the layer's view of it)
        self.released_certificates = {}  # ACM certificate arn -> when a listener last let it go
        self.changes = {}  # Route 53 change id -> when it was submitted


# DynamoDB's item writes are atomic (a condition and its write, one step). moto's server checks
# a condition and writes in two steps on threads of their own: the layer passes DynamoDB calls
# one at a time, as one item's writes are in DynamoDB.
DYNAMODB = threading.Lock()
LOCK_TABLE = "aws-app-locks"


def recent(table, key, window):
    """Whether `table` (event -> time) had `key` less than `window` seconds ago: the moment real
    AWS still answers as if it had not happened."""
    with STATE.lock:
        at = table.get(key)
    return at is not None and now() - at < window


STATE = State()


def cluster_arn(region, cluster):
    cluster = cluster or "default"
    return cluster if cluster.startswith("arn:") else "arn:aws:ecs:%s:%s:cluster/%s" % (region, ACCOUNT, cluster)


def service_name(ref):
    return ref.rsplit("/", 1)[-1]


# --- the AWS side -------------------------------------------------------------------------------
class Upstream:
    """Forwards a request unchanged to moto (or, for a chaos front, to the strict layer)."""

    def __init__(self, url):
        parsed = urllib.parse.urlsplit(url)
        self.host, self.port = parsed.hostname, parsed.port

    def send(self, method, path, headers, body):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
        try:
            hdrs = {k: v for k, v in headers.items() if k.lower() not in ("connection", "content-length")}
            hdrs["Content-Length"] = str(len(body))
            conn.request(method, path, body=body, headers=hdrs)
            r = conn.getresponse()
            out = r.read()
            return r.status, [(k, v) for k, v in r.getheaders() if k.lower() not in ("transfer-encoding", "connection", "content-length")], out
        finally:
            conn.close()


CLIENTS = {}
CLIENTS_LOCK = threading.Lock()


def moto_client(service, region):
    """A boto3 client on moto itself (the layer's own reads and the data plane's writes)."""
    import boto3
    with CLIENTS_LOCK:
        if (service, region) not in CLIENTS:
            CLIENTS[(service, region)] = boto3.client(service, region_name=region, endpoint_url=ARGS.moto,
                        aws_access_key_id="testing", aws_secret_access_key="testing")
        return CLIENTS[(service, region)]


class Behaviours:
    """What real AWS does that moto does not, per operation: `before` may answer instead of
    moto; `after` may change moto's answer (JSON services) and record state."""

    @staticmethod
    def hook(req):
        """The hook's service part: `elb`, `aas`, else the signing name."""
        names = {"elasticloadbalancing": "elb", "application-autoscaling": "aas"}
        return names.get(req.service, req.service)

    def before(self, req):
        op = getattr(self, "before_%s_%s" % (self.hook(req), req.operation), None)
        return op(req) if op else None

    def after(self, req, status, body):
        op = getattr(self, "after_%s_%s" % (self.hook(req), req.operation), None)
        if op and 200 <= status < 300:  # (Route 53's CreateHostedZone: 201)
            return op(req, body)
        return body

    # ECS ---------------------------------------------------------------------------------------
    def find(self, req, cluster, name):
        return STATE.services.get((req.region, cluster_arn(req.region, cluster), service_name(name)))

    def before_ecs_CreateService(self, req):
        refused = self.grace_needs_a_load_balancer(req)
        if refused is not None:
            return refused
        p = req.params
        with STATE.lock:
            svc = self.find(req, p.get("cluster"), p["serviceName"])
            if svc and svc.deleted_at and now() - svc.deleted_at < SERVICE_DRAINING:
                return awsproto.error(req, 400, "InvalidParameterException",
                                      "Unable to Start a service that is still Draining.")
        return None

    def after_ecs_CreateService(self, req, body):
        out = json.loads(body)
        s = out["service"]
        with STATE.lock:
            svc = Service(req.region, s["clusterArn"], s["serviceName"], req.params)
            STATE.services[svc.key] = svc
            svc.start(s["taskDefinition"], s.get("desiredCount", 1), "created")
            svc.event("has started a deployment.")
            out["service"] = self.describe(svc, s)
        return json.dumps(out).encode()

    def after_ecs_UpdateService(self, req, body):
        out = json.loads(body)
        s = out["service"]
        p = req.params
        with STATE.lock:
            svc = STATE.services.get((req.region, s["clusterArn"], s["serviceName"]))
            if svc is None:  # made before this layer started: adopt it
                svc = Service(req.region, s["clusterArn"], s["serviceName"], s)
                STATE.services[svc.key] = svc
                svc.start(s["taskDefinition"], s.get("desiredCount", 1), "adopted")
                svc.deployments[0].rollout = "COMPLETED"
            primary = svc.primary()
            new_network = p.get("networkConfiguration")
            changed = (
                p.get("forceNewDeployment")
                or ("taskDefinition" in p and s["taskDefinition"] != (primary and primary.task_definition))
                or (new_network is not None and new_network != svc.network)
            )
            if new_network is not None:
                svc.network = new_network
            if "deploymentConfiguration" in p:
                breaker = p["deploymentConfiguration"].get("deploymentCircuitBreaker") or {}
                svc.rollback = bool(breaker.get("enable") and breaker.get("rollback"))
            desired = s.get("desiredCount", 1)
            if changed:
                svc.start(s["taskDefinition"], desired, "updated")
                svc.event("has started a deployment.")
            for d in svc.deployments:
                d.desired = desired if d.status == "PRIMARY" else d.desired
                if d.status == "PRIMARY" and desired == 0:
                    d.running = 0
            out["service"] = self.describe(svc, s)
        return json.dumps(out).encode()

    def after_ecs_DeleteService(self, req, body):
        out = json.loads(body)
        s = out["service"]
        with STATE.lock:
            svc = STATE.services.get((req.region, s["clusterArn"], s["serviceName"]))
            if svc:
                svc.deleted_at = now()
                # The tasks' network interfaces outlive the service for a while.
                for group in (svc.network.get("awsvpcConfiguration") or {}).get("securityGroups", []):
                    STATE.lingering_groups[group] = now()
                out["service"] = self.describe(svc, s)
        return json.dumps(out).encode()

    def after_ecs_DescribeServices(self, req, body):
        out = json.loads(body)
        with STATE.lock:
            out["services"] = [self.describe(STATE.services.get((req.region, s["clusterArn"], s["serviceName"])), s)
                               for s in out.get("services", [])]
        return json.dumps(out).encode()

    def describe(self, svc, s):
        """moto's service JSON with what this layer knows: deployments, counts, DRAINING."""
        if svc is None:
            return s
        if svc.deleted_at:
            if s.get("status") != "ACTIVE":
                s["status"] = "DRAINING" if now() - svc.deleted_at < SERVICE_DRAINING else "INACTIVE"
            return s
        primary = svc.primary()
        s["deployments"] = [d.json(svc) for d in svc.deployments]
        if primary:
            s["taskDefinition"] = primary.task_definition
        s["runningCount"] = sum(d.running for d in svc.deployments)
        s["pendingCount"] = sum(d.json(svc)["pendingCount"] for d in svc.deployments)
        s["events"] = list(svc.events)
        return s

    def before_ecs_ListTasks(self, req):
        p = req.params
        others = [k for k in ("containerInstance", "family", "serviceName", "desiredStatus", "launchType") if k in p]
        if "startedBy" in p and others:
            # "When you specify startedBy as the filter, it must be the only filter that you use."
            return awsproto.error(req, 400, "InvalidParameterException",
                                  "startedBy must be the only filter; also given: %s" % ", ".join(others))
        if p.get("desiredStatus") != "STOPPED" or not p.get("serviceName"):
            return None
        with STATE.lock:
            svc = self.find(req, p.get("cluster"), p["serviceName"])
            ids = {d.id for d in svc.deployments} | set(svc.past_deployments) if svc else set()
            arns = [a for a, t in STATE.tasks.items() if t.get("startedBy") in ids]
        # Pages as ECS gives them (maxResults up to 100, default 100), oldest first.
        size = min(int(p.get("maxResults") or 100), 100)
        start = int(p.get("nextToken") or 0)
        page = {"taskArns": arns[start:start + size]}
        if start + size < len(arns):
            page["nextToken"] = str(start + size)
        return awsproto.json_response(req, page)

    def before_ecs_DescribeTasks(self, req):
        with STATE.lock:
            tasks = [STATE.tasks[a] for a in req.params.get("tasks", []) if a in STATE.tasks]
        if not tasks:
            return None
        return awsproto.json_response(req, {"tasks": tasks, "failures": []})

    # Cross-field rules of the contract (docs/aws-contract.md) the models cannot express -----
    def before_ecr_PutLifecyclePolicy(self, req):
        """ECR's lifecycle policy rules (Lifecycle policy properties): unique priorities, the
        `any` rule last, a tagged rule names its prefixes or patterns, counts of at least 1."""
        def refuse(why):
            return contract(req, awsproto.error(req, 400, "InvalidParameterException",
                                  "Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: "
                                  "'Lifecycle policy validation failure: %s'" % why))
        try:
            rules = json.loads(req.params.get("lifecyclePolicyText") or "")["rules"]
        except (ValueError, KeyError, TypeError):
            return refuse("the policy is not JSON with a rules list")
        priorities = [r.get("rulePriority") for r in rules]
        if len(set(priorities)) != len(priorities):
            return refuse("rulePriority values must be unique")
        top = max(priorities)
        for r in rules:
            sel = r.get("selection") or {}
            status = sel.get("tagStatus")
            if status == "any" and r.get("rulePriority") != top:
                return refuse("the rule with tagStatus any must have the highest rulePriority")
            if status == "tagged" and not (sel.get("tagPrefixList") or sel.get("tagPatternList")):
                return refuse("tagStatus tagged requires tagPrefixList or tagPatternList")
            if not isinstance(sel.get("countNumber"), int) or sel["countNumber"] < 1:
                return refuse("countNumber must be an integer of at least 1")
        if sum(1 for r in rules if (r.get("selection") or {}).get("tagStatus") in ("untagged",)) > 1:
            return refuse("only one rule may select untagged images")
        return None

    def health_check_times(self, req):
        """ELBv2: the health check timeout must be smaller than its interval."""
        p = req.params
        interval, timeout = p.get("HealthCheckIntervalSeconds"), p.get("HealthCheckTimeoutSeconds")
        if interval is not None and timeout is not None and timeout >= interval:
            return contract(req, awsproto.error(req, 400, "ValidationError",
                                  "Health check timeout '%d' must be smaller than the interval '%d'" % (timeout, interval)))
        return None

    before_elb_CreateTargetGroup = before_elb_ModifyTargetGroup = health_check_times

    def before_ecs_RegisterTaskDefinition(self, req):
        """Fargate's task sizes: CPU units and memory come in fixed combinations."""
        p = req.params
        if "FARGATE" not in (p.get("requiresCompatibilities") or []):
            return None
        sizes = {"256": (512, 1024, 2048), "512": tuple(range(1024, 4097, 1024)),
                 "1024": tuple(range(2048, 8193, 1024)), "2048": tuple(range(4096, 16385, 1024)),
                 "4096": tuple(range(8192, 30721, 1024))}
        cpu, memory = str(p.get("cpu", "")), str(p.get("memory", ""))
        if not memory.isdigit() or int(memory) not in sizes.get(cpu, ()):
            return contract(req, awsproto.error(req, 400, "ClientException",
                                  "No Fargate configuration exists for given values: %s CPU, %s memory. See the "
                                  "Amazon ECS documentation for the valid values." % (cpu, memory)))
        if p.get("networkMode") != "awsvpc":
            return contract(req, awsproto.error(req, 400, "ClientException", "Fargate only supports network mode 'awsvpc'."))
        return None

    def grace_needs_a_load_balancer(self, req):
        p = req.params
        if "healthCheckGracePeriodSeconds" in p and req.operation == "CreateService" and not p.get("loadBalancers"):
            return contract(req, awsproto.error(req, 400, "InvalidParameterException",
                                  "Health check grace period is only valid for services configured to use load balancers"))
        return None

    # ELBv2 -------------------------------------------------------------------------------------
    def before_elb_CreateLoadBalancer(self, req):
        zones = self.one_subnet_per_zone(req)
        if zones is not None:
            return zones
        return self.internet_gateway_known(req)

    def one_subnet_per_zone(self, req):
        """An ALB needs subnets in at least two Availability Zones, one subnet per zone."""
        subnets = req.params.get("Subnets") or []
        if not subnets or req.params.get("Type", "application") != "application":
            return None
        try:
            found = moto_client("ec2", req.region).describe_subnets(SubnetIds=subnets)["Subnets"]
        except Exception:
            return None
        zones = [s["AvailabilityZone"] for s in found]
        if len(set(zones)) != len(zones):
            return contract(req, awsproto.error(req, 400, "InvalidConfigurationRequest",
                                                "A load balancer cannot be attached to multiple subnets in the same "
                                                "Availability Zone"))
        if len(set(zones)) < 2:
            return contract(req, awsproto.error(req, 400, "ValidationError",
                                                "At least two subnets in two different Availability Zones must be "
                                                "specified"))
        return None

    def internet_gateway_known(self, req):
        if req.params.get("Scheme", "internet-facing") != "internet-facing":
            return None
        subnets = req.params.get("Subnets") or []
        if not subnets:
            return None
        try:
            vpcs = {s["VpcId"] for s in moto_client("ec2", req.region).describe_subnets(SubnetIds=subnets)["Subnets"]}
        except Exception:
            return None
        for vpc in vpcs:
            if recent(STATE.gateways, vpc, IGW_LAG):
                return awsproto.error(req, 400, "InvalidSubnet", "VPC %s has no internet gateway" % vpc)
        return None

    def after_elb_CreateLoadBalancer(self, req, body):
        for arn in re.findall(rb"<LoadBalancerArn>([^<]+)</LoadBalancerArn>", body):
            with STATE.lock:
                STATE.load_balancers.setdefault(arn.decode(), now())
        return self.after_elb_DescribeLoadBalancers(req, body)

    def after_elb_DescribeLoadBalancers(self, req, body):
        """`provisioning` until the load balancer is ALB_PROVISIONING old."""
        text = body.decode()
        parts = re.split(r"(?=<LoadBalancerArn>)", text)
        for i, part in enumerate(parts):
            m = re.match(r"<LoadBalancerArn>([^<]+)</LoadBalancerArn>", part)
            if m and provisioning(m.group(1)):
                parts[i] = re.sub(r"(<State>\s*<Code>)active(</Code>)", r"\1provisioning\2", part, count=1)
        return "".join(parts).encode()

    def before_elb_DeleteListener(self, req):
        try:
            listeners = moto_client("elbv2", req.region).describe_listeners(
                ListenerArns=[req.params["ListenerArn"]])["Listeners"]
            req.target_groups = [a["TargetGroupArn"] for l in listeners for a in l.get("DefaultActions", [])
                                 if a.get("TargetGroupArn")]
            req.certificates = [c for l in listeners for c in listener_certificates(req.region, l)]
        except Exception:
            req.target_groups = []
        return None

    def after_elb_DeleteListener(self, req, body):
        with STATE.lock:
            for arn in getattr(req, "target_groups", []):
                STATE.released_groups[arn] = now()
        release_certificates(getattr(req, "certificates", []))
        return body

    def after_elb_DeleteLoadBalancer(self, req, body):
        arn = req.params.get("LoadBalancerArn")
        groups = getattr(req, "lb_groups", [])
        with STATE.lock:
            for tg in getattr(req, "target_groups", []):
                STATE.released_groups[tg] = now()
            STATE.load_balancers.pop(arn, None)
            for group in groups:
                STATE.lingering_groups[group] = now()
        release_certificates(getattr(req, "certificates", []))
        return body

    def before_elb_DeleteLoadBalancer(self, req):
        # Remember the load balancer's security groups: its network interfaces linger.
        try:
            lbs = moto_client("elbv2", req.region).describe_load_balancers(
                LoadBalancerArns=[req.params["LoadBalancerArn"]])["LoadBalancers"]
            req.lb_groups = [g for lb in lbs for g in lb.get("SecurityGroups", [])]
            req.target_groups = [t["TargetGroupArn"] for t in moto_client("elbv2", req.region).describe_target_groups(
                LoadBalancerArn=req.params["LoadBalancerArn"])["TargetGroups"]]
        except Exception:
            req.lb_groups, req.target_groups = [], []
        try:  # its listeners go with it, and let go of their certificates
            req.certificates = [c for l in moto_client("elbv2", req.region).describe_listeners(
                LoadBalancerArn=req.params["LoadBalancerArn"])["Listeners"] for c in listener_certificates(req.region, l)]
        except Exception:
            req.certificates = []
        return None

    def before_elb_DeleteTargetGroup(self, req):
        arn = req.params.get("TargetGroupArn")
        elb = moto_client("elbv2", req.region)
        try:
            tg = elb.describe_target_groups(TargetGroupArns=[arn])["TargetGroups"][0]
        except Exception:
            return None
        # (moto may keep a deleted load balancer's ARN on the target group: only live ones count)
        lbs = elb.describe_load_balancers()["LoadBalancers"]
        live = {lb["LoadBalancerArn"] for lb in lbs}
        users = [a for a in tg.get("LoadBalancerArns", []) if a in live]
        for lb in lbs:
            for listener in elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]:
                if any(a.get("TargetGroupArn") == arn for a in listener.get("DefaultActions", [])):
                    users.append(listener["ListenerArn"])
        if recent(STATE.released_groups, arn, TG_LINGER):
            users.append("a listener deleted a moment ago")
        if users:
            return awsproto.error(req, 400, "ResourceInUse",
                                  "Target group '%s' is currently in use by a listener or a rule" % arn)
        return None

    # HTTPS listeners (--domain) ----------------------------------------------------------------
    # moto accepts an HTTPS listener without a certificate, with a certificate ACM has not issued,
    # with an SslPolicy that does not exist (on CreateListener), and a second listener on a port in
    # use (it compares the port with its listeners' ARNs). ELB refuses them all.
    def listener_rules(self, req):
        """CreateListener/ModifyListener as ELB checks them: HTTPS needs a certificate ("A certificate
        must be specified for HTTPS listeners", pulumi/pulumi#15712) that ACM has issued (before that:
        UnsupportedCertificate, "The certificate '...' must have a fully-qualified domain name, a
        supported signature, and a supported key size.", DataBiosphere/azul#8321), a known SslPolicy
        (SSLPolicyNotFound, moto's wording), one listener per port (DuplicateListener, moto's
        wording), a redirect action with its RedirectConfig (StatusCode is required by the model)."""
        p = req.params
        elb = moto_client("elbv2", req.region)
        existing = {}
        if req.operation == "ModifyListener":
            try:
                existing = elb.describe_listeners(ListenerArns=[p["ListenerArn"]])["Listeners"][0]
            except Exception:
                return None  # moto answers ListenerNotFound
        lb_arn = p.get("LoadBalancerArn") or existing.get("LoadBalancerArn")
        protocol = p.get("Protocol") or existing.get("Protocol")
        port = p.get("Port") or existing.get("Port")
        certificates = p["Certificates"] if "Certificates" in p else existing.get("Certificates") or []
        if protocol in ("HTTPS", "TLS") and not [c for c in certificates if c.get("CertificateArn")]:
            return contract(req, awsproto.error(req, 400, "ValidationError",
                                                "A certificate must be specified for %s listeners" % protocol))
        for c in p.get("Certificates") or []:
            refused = self.unissued(req, c.get("CertificateArn"))
            if refused is not None:
                return refused
        policy = p.get("SslPolicy")
        if policy is not None and policy not in ssl_policy_names():
            return contract(req, awsproto.error(req, 400, "SSLPolicyNotFound", "Policy %s not found" % policy))
        for action in p.get("DefaultActions") or []:
            if action.get("Type") == "redirect" and not action.get("RedirectConfig"):
                return contract(req, awsproto.error(req, 400, "ValidationError",
                                                    "A redirect configuration must be specified for a redirect action"))
        if port is not None and lb_arn:
            try:
                others = elb.describe_listeners(LoadBalancerArn=lb_arn)["Listeners"]
            except Exception:
                others = []
            if any(l["Port"] == port and l["ListenerArn"] != existing.get("ListenerArn") for l in others):
                return contract(req, awsproto.error(req, 400, "DuplicateListener",
                                                    "A listener with the specified port already exists."))
        if existing:
            # The certificates this listener lets go of (its new ones, or none once it is HTTP).
            kept = {c.get("CertificateArn") for c in certificates} if protocol in ("HTTPS", "TLS") else set()
            req.certificates = [c for c in listener_certificates(req.region, existing) if c not in kept]
        return None

    def unissued(self, req, arn):
        """UnsupportedCertificate for an ACM certificate that is not ISSUED (in the layer's view);
        None for one moto does not know (it answers CertificateNotFound) or an IAM one."""
        view = acm_describe(arn) if arn and ":acm:" in arn else None
        if view is None or view.get("Status") == "ISSUED":
            return None
        return contract(req, awsproto.error(
            req, 400, "UnsupportedCertificate", "The certificate '%s' must have a fully-qualified domain name, "
            "a supported signature, and a supported key size." % arn))

    before_elb_CreateListener = before_elb_ModifyListener = listener_rules

    def after_elb_ModifyListener(self, req, body):
        release_certificates(getattr(req, "certificates", []))
        return body

    def before_elb_AddListenerCertificates(self, req):
        for c in req.params.get("Certificates") or []:
            refused = self.unissued(req, c.get("CertificateArn"))
            if refused is not None:
                return refused
        return None

    def after_elb_RemoveListenerCertificates(self, req, body):
        release_certificates([c.get("CertificateArn") for c in req.params.get("Certificates") or []])
        return body

    # ACM ---------------------------------------------------------------------------------------
    # moto issues every certificate after MOTO_ACM_VALIDATION_WAIT (0 here, aws-env.sh), whatever
    # DNS holds, gives every certificate the same validation record at once, makes RSA_2048 keys
    # whatever is asked, lists listeners (never pruned) as InUseBy, and deletes certificates in use.
    # The layer answers as ACM: see acm_view().
    def after_acm_RequestCertificate(self, req, body):
        arn = json.loads(body).get("CertificateArn")
        p = req.params
        domains = [p.get("DomainName")] + [d for d in p.get("SubjectAlternativeNames") or [] if d != p.get("DomainName")]
        with STATE.lock:
            # (an IdempotencyToken given again within the hour answers the same certificate)
            STATE.certificates.setdefault(arn, Certificate(arn, now(), domains, p.get("KeyAlgorithm") or "RSA_2048"))
        return body

    def after_acm_DescribeCertificate(self, req, body):
        out = json.loads(body)
        if out.get("Certificate"):
            out["Certificate"] = acm_view(out["Certificate"])
        return json.dumps(out).encode()

    def before_acm_ListCertificates(self, req):
        """moto's certificates with the layer's status: CertificateStatuses applies to it, and
        Includes.keyTypes with ACM's default ("Default filtering returns only RSA_2048
        certificates"); summaries as ACM gives them (SubjectAlternativeNameSummaries: the first 100)."""
        p = req.params
        acm = moto_client("acm", req.region)
        arns, kw = [], {}
        while True:
            page = acm.list_certificates(**kw)
            arns += [c["CertificateArn"] for c in page.get("CertificateSummaryList", [])]
            if not page.get("NextToken"):
                break
            kw = {"NextToken": page["NextToken"]}
        statuses = p.get("CertificateStatuses") or None
        key_types = (p.get("Includes") or {}).get("keyTypes") or ["RSA_2048"]
        rows = []
        for arn in arns:
            view = acm_describe(arn)
            if view is None or (statuses and view.get("Status") not in statuses) or view.get("KeyAlgorithm") not in key_types:
                continue
            sans = view.get("SubjectAlternativeNames") or []
            row = {"CertificateArn": arn, "DomainName": view.get("DomainName"),
                   "SubjectAlternativeNameSummaries": sans[:100], "HasAdditionalSubjectAlternativeNames": len(sans) > 100,
                   "Status": view.get("Status"), "Type": view.get("Type"), "KeyAlgorithm": view.get("KeyAlgorithm"),
                   "InUse": bool(view.get("InUseBy")), "RenewalEligibility": view.get("RenewalEligibility"),
                   "ExtendedKeyUsages": [], "KeyUsages": []}
            for k in ("CreatedAt", "IssuedAt", "ImportedAt", "NotBefore", "NotAfter", "RevokedAt"):
                if view.get(k) is not None:
                    row[k] = view[k]
            rows.append({k: v for k, v in row.items() if v is not None})
        size = min(int(p.get("MaxItems") or 1000), 1000)
        start = int(p.get("NextToken") or 0) if str(p.get("NextToken") or "0").isdigit() else 0
        page = {"CertificateSummaryList": rows[start:start + size]}
        if start + size < len(rows):
            page["NextToken"] = str(start + size)
        return awsproto.json_response(req, page)

    def before_acm_DeleteCertificate(self, req):
        """"You cannot delete an ACM certificate that is being used by another AWS service": while a
        listener uses it, and for ACM_RELEASE after the last one let go (AlexsLemonade/refinebio#2914:
        "ResourceInUseException: Certificate arn:... in account ... is in use.")."""
        arn = req.params.get("CertificateArn") or ""
        region = arn.split(":")[3] if arn.count(":") >= 5 else req.region
        if certificate_users(region, arn) or recent(STATE.released_certificates, arn, ACM_RELEASE):
            return awsproto.error(req, 400, "ResourceInUseException",
                                  "Certificate %s in account %s is in use." % (arn, ACCOUNT))
        return None

    def after_acm_DeleteCertificate(self, req, body):
        with STATE.lock:
            STATE.certificates.pop(req.params.get("CertificateArn"), None)
        return body

    # Route 53 ----------------------------------------------------------------------------------
    # moto checks no alias target, lets a CNAME sit at the apex or beside other records, takes a
    # name outside the zone when its text ends like the zone's (app.notexample.com in example.com),
    # and answers every change INSYNC under one constant id.
    def before_route53_ChangeResourceRecordSets(self, req):
        """InvalidChangeBatch as Route 53 words it, all problems of the batch in one "[a, b]":
        "RRSet with DNS name x. is not permitted in zone z." (outside the zone at a label
        boundary), "RRSet of type CNAME with DNS name z. is not permitted at apex in zone z.", "RRSet
        of type CNAME with DNS name x. is not permitted as it conflicts with other records with the
        same DNS name in zone z.", "RRSet of type A with DNS name x. is not permitted because a
        conflicting RRSet of type CNAME with the same DNS name already exists in zone z."
        (aws/aws-sdk-java#1996, RJPearson94/terraform-aws-open-next#24); for an alias A/AAAA "Tried
        to create an alias that targets t., type A in zone Z, but the alias target name does not
        lie within the target zone" (Z is no load balancer's CanonicalHostedZoneId) or "... but that
        target was not found" (no load balancer has that DNS name, `dualstack.` and the dot aside;
        barnybug/cli53#213, aws/aws-cdk#19643); "Tried to create resource record set [name='x.',
        type='A'] but it already exists", "Tried to delete resource record set [name='x.',
        type='A'] but it was not found" / "... but the values provided do not match the current
        values" (a DELETE "must specify all the same values"; aws/aws-sdk-kotlin#1435; moto answers
        InvalidInput for the first). The batch is checked as one transaction, in order."""
        p = req.params
        zone_id = (p.get("HostedZoneId") or "").rsplit("/", 1)[-1]
        try:
            zone = dns_name(route53().get_hosted_zone(Id=zone_id)["HostedZone"]["Name"])
            records = zone_records(zone_id)
        except Exception:
            return None  # moto answers NoSuchHostedZone

        def key(rrs):
            return dns_name(rrs.get("Name")), rrs.get("Type"), rrs.get("SetIdentifier")

        def values(rrs):
            alias = rrs.get("AliasTarget")
            if alias:
                return ("alias", alias.get("HostedZoneId"), dns_name(alias.get("DNSName")), bool(alias.get("EvaluateTargetHealth")))
            return (int(rrs.get("TTL") or 0), sorted((r.get("Value") or "").rstrip(".").lower() for r in rrs.get("ResourceRecords") or []))

        current = {key(rr): rr for rr in records}
        lbs, problems = None, []
        for change in (p.get("ChangeBatch") or {}).get("Changes") or []:
            action, rrs = change.get("Action"), change.get("ResourceRecordSet") or {}
            name, kind = dns_name(rrs.get("Name")), rrs.get("Type")
            said = "resource record set [name='%s.', type='%s']" % (name, kind)
            if name != zone and not name.endswith("." + zone):
                problems.append("RRSet with DNS name %s. is not permitted in zone %s." % (name, zone))
                continue
            if action == "DELETE":
                if key(rrs) not in current:
                    problems.append("Tried to delete %s but it was not found" % said)
                elif values(current[key(rrs)]) != values(rrs):
                    problems.append("Tried to delete %s but the values provided do not match the current values" % said)
                else:
                    del current[key(rrs)]
                continue
            if action == "CREATE" and key(rrs) in current:
                problems.append("Tried to create %s but it already exists" % said)
                continue
            here = {k[1] for k in current if k[0] == name}
            if kind == "CNAME" and name == zone:
                problems.append("RRSet of type CNAME with DNS name %s. is not permitted at apex in zone %s." % (name, zone))
                continue
            if kind == "CNAME" and here - {"CNAME"}:
                problems.append("RRSet of type CNAME with DNS name %s. is not permitted as it conflicts with other "
                                "records with the same DNS name in zone %s." % (name, zone))
                continue
            if kind != "CNAME" and "CNAME" in here:
                problems.append("RRSet of type %s with DNS name %s. is not permitted because a conflicting RRSet of "
                                "type CNAME with the same DNS name already exists in zone %s." % (kind, name, zone))
                continue
            alias = rrs.get("AliasTarget")
            if alias and kind in ("A", "AAAA"):
                target, target_zone = dns_name(alias.get("DNSName")), alias.get("HostedZoneId")
                bare = target[len("dualstack."):] if target.startswith("dualstack.") else target
                said = "Tried to create an alias that targets %s., type %s in zone %s, but " % (target, kind, target_zone)
                if target_zone == zone_id:  # another record of this zone
                    if not any(k[0] == target for k in current):
                        problems.append(said + "that target was not found")
                else:
                    lbs = load_balancers() if lbs is None else lbs
                    if not any(lb.get("CanonicalHostedZoneId") == target_zone for lb in lbs):
                        problems.append(said + "the alias target name does not lie within the target zone")
                    elif not any(dns_name(lb.get("DNSName")) == bare and lb.get("CanonicalHostedZoneId") == target_zone
                                 for lb in lbs):
                        problems.append(said + "that target was not found")
            current[key(rrs)] = rrs
        if problems:
            return contract(req, awsproto.error(req, 400, "InvalidChangeBatch", "[%s]" % ", ".join(problems)))
        return None

    def after_route53_ChangeResourceRecordSets(self, req, body):
        # ACM's view: a validation record written through the layer counts from now.
        for change in (req.params.get("ChangeBatch") or {}).get("Changes") or []:
            rrs = change.get("ResourceRecordSet") or {}
            if rrs.get("Type") == "CNAME":
                values = [r.get("Value") for r in rrs.get("ResourceRecords") or []]
                validation_written(rrs.get("Name"), values, change.get("Action") != "DELETE")
        return own_change(body)

    def own_change_of(self, req, body):
        return own_change(body)

    after_route53_CreateHostedZone = after_route53_DeleteHostedZone = own_change_of

    def before_route53_ListHostedZonesByName(self, req):
        """As Route 53 answers it (moto gives only the zones named exactly DNSName and ignores
        MaxItems): "sorts hosted zones by name with the labels reversed" (com.example.www.), from
        DNSName (and HostedZoneId) on, private and public alike, up to MaxItems (at most 100), with
        IsTruncated, NextDNSName and NextHostedZoneId; HostedZoneId without DNSName is InvalidInput."""
        p = req.params
        if p.get("HostedZoneId") and not p.get("DNSName"):
            return contract(req, awsproto.error(req, 400, "InvalidInput",
                                                "The parameter dnsname must be specified when hostedzoneid is"))
        zones, kw = [], {}
        while True:
            page = route53().list_hosted_zones(**kw)
            zones += page.get("HostedZones", [])
            if not page.get("IsTruncated"):
                break
            kw = {"Marker": page["NextMarker"]}

        def key(name, zone_id=""):
            return tuple(reversed(dns_name(name).split("."))), zone_id

        zones.sort(key=lambda z: key(z["Name"], z["Id"].rsplit("/", 1)[-1]))
        if p.get("DNSName"):
            start = key(p["DNSName"], (p.get("HostedZoneId") or "").rsplit("/", 1)[-1])
            zones = [z for z in zones if key(z["Name"], z["Id"].rsplit("/", 1)[-1]) >= start]
        try:
            size = max(1, min(int(p.get("MaxItems") or 100), 100))
        except ValueError:
            return contract(req, awsproto.error(req, 400, "InvalidInput", "Invalid value for maxitems: %s" % p.get("MaxItems")))
        shown, rest = zones[:size], zones[size:]
        x = awsproto._xml
        items = []
        for z in shown:
            config = z.get("Config") or {}
            comment = "<Comment>%s</Comment>" % x(config["Comment"]) if config.get("Comment") is not None else ""
            items.append("<HostedZone><Id>%s</Id><Name>%s</Name><CallerReference>%s</CallerReference><Config>%s"
                         "<PrivateZone>%s</PrivateZone></Config><ResourceRecordSetCount>%d</ResourceRecordSetCount>"
                         "</HostedZone>" % (x(z["Id"]), x(z["Name"]), x(z.get("CallerReference", "")), comment,
                                            "true" if config.get("PrivateZone") else "false",
                                            z.get("ResourceRecordSetCount", 0)))
        out = "<HostedZones>%s</HostedZones>" % "".join(items)
        if p.get("DNSName"):
            out += "<DNSName>%s</DNSName>" % x(p["DNSName"])
        if p.get("HostedZoneId"):
            out += "<HostedZoneId>%s</HostedZoneId>" % x(p["HostedZoneId"])
        out += "<IsTruncated>%s</IsTruncated>" % ("true" if rest else "false")
        if rest:
            out += "<NextDNSName>%s</NextDNSName><NextHostedZoneId>%s</NextHostedZoneId>" % (
                x(rest[0]["Name"]), x(rest[0]["Id"].rsplit("/", 1)[-1]))
        return awsproto.xml_response(req, out + "<MaxItems>%d</MaxItems>" % size)

    def before_route53_GetChange(self, req):
        """"PENDING indicates that the changes in this request have not propagated to all Amazon Route
        53 DNS servers. This is the initial status of all change batch requests." INSYNC after
        R53_SYNC. Changes the layer did not see (moto's own id) are moto's."""
        change = (req.params.get("Id") or "").rsplit("/", 1)[-1]
        with STATE.lock:
            at = STATE.changes.get(change)
        if at is None:
            return None
        return awsproto.xml_response(req, "<ChangeInfo><Id>/change/%s</Id><Status>%s</Status><SubmittedAt>%s"
                                          "</SubmittedAt></ChangeInfo>" % (
                                              change, "PENDING" if now() - at < R53_SYNC else "INSYNC", r53_time(at)))

    # EC2 ---------------------------------------------------------------------------------------
    def after_ec2_AttachInternetGateway(self, req, body):
        with STATE.lock:
            STATE.gateways[req.params.get("VpcId")] = now()
        return body

    def before_ec2_DeleteSecurityGroup(self, req):
        group = req.params.get("GroupId")
        # (moto deletes a group its instances still use; AWS does not)
        with STATE.lock:
            in_use = any(group in b.groups and not b.terminated for b in STATE.builders.values())
        if in_use or recent(STATE.lingering_groups, group, ENI_LINGER):
            return awsproto.error(req, 400, "DependencyViolation", "resource %s has a dependent object" % group)
        return None

    def before_ec2_RunInstances(self, req):
        """An instance type a zone does not offer is refused (zone names map to other zones in
        each account; use1-az3 has no t3); an instance profile made (or given its role) a
        moment ago, or one that does not exist, is refused as EC2 refuses it (moto answers IAM's
        NoSuchEntity for the latter)."""
        kind = req.params.get("InstanceType")
        subnet = req.params.get("SubnetId")
        for nic in req.params.get("NetworkInterfaces") or []:
            subnet = subnet or (nic or {}).get("SubnetId")
        if kind in UNSUPPORTED_TYPES and subnet:
            try:
                zone = moto_client("ec2", req.region).describe_subnets(
                    SubnetIds=[subnet])["Subnets"][0]["AvailabilityZone"]
            except Exception:
                zone = None
            if zone and zone.endswith(UNSUPPORTED_ZONE_SUFFIX):
                return awsproto.error(
                    req, 400, "Unsupported",
                    "Your requested instance type (%s) is not supported in your requested "
                    "Availability Zone (%s). Please retry your request by not specifying an "
                    "Availability Zone or choosing %s." % (kind, zone, ", ".join(
                        req.region + z for z in "bcdf")))
        spec = req.params.get("IamInstanceProfile") or {}
        by, value = ("name", spec["Name"]) if spec.get("Name") else ("arn", spec.get("Arn"))
        if not value:
            return None
        name = value.rsplit("/", 1)[-1]
        refused = awsproto.error(req, 400, "InvalidParameterValue",
                                 "Value (%s) for parameter iamInstanceProfile.%s is invalid. Invalid IAM Instance "
                                 "Profile %s" % (value, by, "name" if by == "name" else "ARN"))
        if recent(STATE.profiles, name, PROFILE_LAG):
            return refused
        try:
            moto_client("iam", req.region).get_instance_profile(InstanceProfileName=name)
        except Exception as e:
            if error_code(e) == "NoSuchEntity":
                return refused
        return None

    def after_ec2_RunInstances(self, req, body):
        """A builder's instance (its user data carries the builder's TLS files) boots: see
        BuilderInstance."""
        data = ec2builder.parse_user_data(ec2builder.decode_user_data(req.params.get("UserData")))
        if data is None:
            return body
        text = body.decode()
        asked = set(req.params.get("SecurityGroupIds") or [])
        for nic in req.params.get("NetworkInterfaces") or []:
            asked |= set((nic or {}).get("Groups") or [])
        for start, end in ec2builder.instance_spans(text):
            item = text[start:end]
            b = BuilderInstance(ec2builder.instance_field(item, "instanceId"), req.region, ADDRESSES.allocate(), data,
                                ec2builder.group_ids(item) | asked,
                                req.params.get("InstanceInitiatedShutdownBehavior") or "stop")
            with STATE.lock:
                STATE.builders[b.id] = b
            b.boot()
        return ec2builder.rewrite_instances(text, builder_view).encode()

    def after_ec2_DescribeInstances(self, req, body):
        with STATE.lock:
            if not STATE.builders:
                return body
        return ec2builder.rewrite_instances(body.decode(), builder_view).encode()

    def after_ec2_TerminateInstances(self, req, body):
        for instance_id in req.params.get("InstanceIds") or []:
            b = STATE.builders.get(instance_id)
            if b is not None:
                b.end(terminated=True)
        return body

    def after_ec2_StopInstances(self, req, body):
        for instance_id in req.params.get("InstanceIds") or []:
            b = STATE.builders.get(instance_id)
            if b is not None:
                b.end(terminated=False)
        return body

    def after_ec2_StartInstances(self, req, body):
        for instance_id in req.params.get("InstanceIds") or []:
            b = STATE.builders.get(instance_id)
            if b is not None and b.ended and not b.terminated:
                with STATE.lock:
                    b.ended, b.launched = None, now()
                b.boot()
        return body

    # IAM ---------------------------------------------------------------------------------------
    # DynamoDB ---------------------------------------------------------------------------------
    def after_dynamodb_CreateTable(self, req, body):
        out = json.loads(body)
        with STATE.lock:
            STATE.tables[req.params.get("TableName")] = now()
        out.setdefault("TableDescription", {})["TableStatus"] = "CREATING"
        return json.dumps(out).encode()

    def after_dynamodb_DescribeTable(self, req, body):
        out = json.loads(body)
        if recent(STATE.tables, req.params.get("TableName"), TABLE_CREATING):
            out.setdefault("Table", {})["TableStatus"] = "CREATING"
        return json.dumps(out).encode()

    def table_creating(self, req):
        if recent(STATE.tables, req.params.get("TableName"), TABLE_CREATING):
            return awsproto.error(req, 400, "ResourceNotFoundException", "Requested resource not found")
        return None

    before_dynamodb_PutItem = before_dynamodb_GetItem = table_creating
    before_dynamodb_UpdateItem = before_dynamodb_DeleteItem = table_creating

    def lock_event(self, req, what):
        if req.params.get("TableName") != LOCK_TABLE:
            return
        p = req.params
        item = p.get("Item") or p.get("Key") or {}
        values = p.get("ExpressionAttributeValues") or {}
        holder = (item.get("holder") or values.get(":me") or {}).get("S")
        with STATE.lock:
            STATE.lock_events.append({"at": now(), "what": what, "prefix": (item.get("prefix") or {}).get("S"),
                                      "holder": holder})

    def after_dynamodb_PutItem(self, req, body):
        condition = req.params.get("ConditionExpression") or ""
        self.lock_event(req, "acquire" if "attribute_not_exists" in condition else "take over")
        return body

    def after_dynamodb_UpdateItem(self, req, body):
        self.lock_event(req, "renew")
        return body

    def after_dynamodb_DeleteItem(self, req, body):
        self.lock_event(req, "release")
        return body

    # Application Auto Scaling ------------------------------------------------------------------
    # moto keeps scalable targets and policies but scales nothing, answers ValidationException
    # where AWS answers ObjectNotFoundException, keeps a deregistered target's policies, and has
    # no DescribeScalingActivities. The layer does what AWS does: a target's range brings the
    # service's desired count into it when registered, POST /-/scale plays a policy's alarm
    # (the suite's load: the count moves within the range), and each is a scaling activity.
    def aas_target(self, req):
        p = req.params
        out = moto_client("application-autoscaling", req.region).describe_scalable_targets(
            ServiceNamespace=p["ServiceNamespace"], ResourceIds=[p["ResourceId"]],
            ScalableDimension=p.get("ScalableDimension", "ecs:service:DesiredCount"))
        return next(iter(out["ScalableTargets"]), None)

    def aas_policies(self, region, namespace, resource_id, dimension):
        out = moto_client("application-autoscaling", region).describe_scaling_policies(
            ServiceNamespace=namespace, ResourceId=resource_id, ScalableDimension=dimension)
        # moto matches the resource id as a substring.
        return [p for p in out["ScalingPolicies"] if p["ResourceId"] == resource_id]

    def aas_missing(self, req, what):
        return awsproto.error(req, 400, "ObjectNotFoundException", "No %s found for %s" % (what, req.params["ResourceId"]))

    def before_aas_PutScalingPolicy(self, req):
        # "You cannot create a scaling policy until you have registered the resource as a
        # scalable target."
        return None if self.aas_target(req) else self.aas_missing(req, "scalable target")

    def before_aas_DeleteScalingPolicy(self, req):
        p = req.params
        names = [x["PolicyName"] for x in self.aas_policies(req.region, p["ServiceNamespace"], p["ResourceId"], p["ScalableDimension"])]
        return None if p["PolicyName"] in names else self.aas_missing(req, "scaling policy %s" % p["PolicyName"])

    def before_aas_DeregisterScalableTarget(self, req):
        # "Deregistering a scalable target deletes the scaling policies ... associated with it."
        p = req.params
        if not self.aas_target(req):
            return self.aas_missing(req, "scalable target")
        client = moto_client("application-autoscaling", req.region)
        for policy in self.aas_policies(req.region, p["ServiceNamespace"], p["ResourceId"], p["ScalableDimension"]):
            client.delete_scaling_policy(PolicyName=policy["PolicyName"], ServiceNamespace=p["ServiceNamespace"],
                                         ResourceId=p["ResourceId"], ScalableDimension=p["ScalableDimension"])
        return None

    def after_aas_RegisterScalableTarget(self, req, body):
        # "it changes the resource's current capacity to a value that is inside of this range"
        target = self.aas_target(req)
        if target and target["ServiceNamespace"] == "ecs":
            self.aas_scale(req.region, target, None, "a scalable target's range: %d to %d" % (
                target["MinCapacity"], target["MaxCapacity"]))
        return body

    def aas_scale(self, region, target, wanted, cause):
        """Sets the service's desired count to `wanted` (None: the current) within the target's
        range, as Application Auto Scaling does, and records the activity. The new count."""
        _, cluster, name = target["ResourceId"].split("/", 2)
        ecs = moto_client("ecs", region)
        found = ecs.describe_services(cluster=cluster, services=[name])["services"]
        if not found:
            return None
        current = found[0]["desiredCount"]
        count = min(max(current if wanted is None else wanted, target["MinCapacity"]), target["MaxCapacity"])
        if count != current:
            ecs.update_service(cluster=cluster, service=name, desiredCount=count)
            with STATE.lock:
                svc = STATE.services.get((region, cluster_arn(region, cluster), name))
                for d in svc.deployments if svc else []:
                    if d.status == "PRIMARY":
                        d.desired = count
                if svc:
                    svc.event("has been scaled to %d tasks." % count)
            with STATE.lock:
                STATE.scaling.setdefault((region, target["ResourceId"]), []).append({
                    "ActivityId": str(uuid.uuid4()), "ServiceNamespace": "ecs", "ResourceId": target["ResourceId"],
                    "ScalableDimension": target["ScalableDimension"],
                    "Description": "Setting desired count to %d." % count,
                    "Cause": "%s changed the desired count from %d to %d" % (cause, current, count),
                    "StartTime": now(), "EndTime": now(), "StatusCode": "Successful",
                    "StatusMessage": "Successfully set desired count to %d. Change successfully fulfilled by ecs." % count,
                })
        return count

    def before_aas_DescribeScalingActivities(self, req):
        p = req.params
        with STATE.lock:
            rows = [a for (region, rid), acts in STATE.scaling.items() if region == req.region
                    and rid == p.get("ResourceId", rid) for a in acts]
        rows.sort(key=lambda a: a["StartTime"], reverse=True)
        return awsproto.json_response(req, {"ScalingActivities": rows[:p.get("MaxResults", 50)]})

    def after_iam_CreateRole(self, req, body):
        with STATE.lock:
            STATE.roles[req.params.get("RoleName")] = now()
        return body

    def iam_lag(self, req):
        name = req.params.get("RoleName")
        if recent(STATE.roles, name, IAM_LAG):
            return awsproto.error(req, 404, "NoSuchEntity", "The role with name %s cannot be found." % name)
        return None

    def after_iam_CreateServiceLinkedRole(self, req, body):
        if req.params.get("AWSServiceName") == "ecs.amazonaws.com":
            with STATE.lock:
                STATE.roles["AWSServiceRoleForECS"] = now()
        return body

    def before_ecs_CreateCluster(self, req):
        # In a new account, ECS cannot use its service-linked role for a moment after it is made.
        if recent(STATE.roles, "AWSServiceRoleForECS", IAM_LAG):
            return awsproto.error(req, 400, "InvalidParameterException",
                                  "Unable to assume the service linked role. Please verify that the ECS service "
                                  "linked role exists.")
        return None

    def before_iam_AttachRolePolicy(self, req):
        # An AWS managed policy lives in each partition under that partition's ARN: in China
        # arn:aws-cn:iam::aws:policy/..., so an arn:aws: one is refused there.
        arn = req.params.get("PolicyArn") or ""
        want = partition(req.region)
        if arn.startswith("arn:") and arn.split(":")[1] != want:
            return contract(req, awsproto.error(
                req, 404, "NoSuchEntity", "Policy %s does not exist or is not attachable." % arn))
        return self.iam_lag(req)

    before_iam_GetRole = iam_lag
    before_iam_ListAttachedRolePolicies = iam_lag
    before_iam_PutRolePolicy = iam_lag
    before_iam_AddRoleToInstanceProfile = iam_lag

    def instance_profile_changed(self, req, body):
        with STATE.lock:
            STATE.profiles[req.params.get("InstanceProfileName")] = now()
        return body

    after_iam_CreateInstanceProfile = after_iam_AddRoleToInstanceProfile = instance_profile_changed

    def after_iam_DeleteInstanceProfile(self, req, body):
        with STATE.lock:
            STATE.profiles.pop(req.params.get("InstanceProfileName"), None)
        return body

    # STS ---------------------------------------------------------------------------------------
    def before_sts_AssumeRole(self, req):
        """AccessDenied for a role made a moment ago, a role that is not there, or one whose
        trust policy does not let this account's principals in (moto checks none of it); the
        role's MaxSessionDuration bounds DurationSeconds."""
        arn = req.params.get("RoleArn") or ""
        name = arn.rsplit("/", 1)[-1]
        denied = awsproto.error(req, 403, "AccessDenied",
                                "User: arn:aws:iam::%s:user/moto is not authorized to perform: sts:AssumeRole on "
                                "resource: %s" % (ACCOUNT, arn))
        if recent(STATE.roles, name, IAM_LAG):
            return denied
        try:
            role = moto_client("iam", req.region).get_role(RoleName=name)["Role"]
        except Exception as e:
            return denied if error_code(e) == "NoSuchEntity" else None
        if not trusts_account(role.get("AssumeRolePolicyDocument"), ACCOUNT):
            return denied
        duration = req.params.get("DurationSeconds")
        if isinstance(duration, int) and duration > role.get("MaxSessionDuration", 3600):
            return awsproto.error(req, 400, "ValidationError",
                                  "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
        return None

    # ECR ---------------------------------------------------------------------------------------
    def registry_sync(self, req):
        """Real ECR lists an image as soon as its push returns; the test registry tells moto a
        moment later (its notifications). A read by digest or tag of an image the registry has
        waits until moto has it too."""
        repo = req.params.get("repositoryName")
        ids = req.params.get("imageIds") or ([req.params["imageId"]] if req.params.get("imageId") else [])
        if not os.environ.get("AWS_APP_TEST_ECR_PASSWORD") or not repo or not ids:
            return None
        ecr = moto_client("ecr", req.region)
        for image in ids:
            ref = image.get("imageDigest") or image.get("imageTag")
            if not ref or registry(req.region, "HEAD", "/v2/%s/manifests/%s" % (repo, ref)) != 200:
                continue  # not in the registry either
            deadline = now() + 10
            while now() < deadline:
                try:
                    ecr.describe_images(repositoryName=repo, imageIds=[image])
                    break
                except Exception:
                    time.sleep(0.1)
        return None

    def images_going(self, req):
        """The digests a delete removes, for the registry to forget them too."""
        repo = req.params.get("repositoryName")
        try:
            if req.operation == "DeleteRepository":
                details = moto_client("ecr", req.region).describe_images(repositoryName=repo)["imageDetails"]
                req.digests = [d["imageDigest"] for d in details]
            else:
                req.digests = [i["imageDigest"] for i in req.params.get("imageIds", []) if i.get("imageDigest")]
        except Exception:
            req.digests = []
        return None

    def images_gone(self, req, body):
        for digest in getattr(req, "digests", []):
            registry(req.region, "DELETE", "/v2/%s/manifests/%s" % (req.params.get("repositoryName"), digest))
        return body

    before_ecr_DeleteRepository = before_ecr_BatchDeleteImage = images_going
    after_ecr_DeleteRepository = after_ecr_BatchDeleteImage = images_gone

    before_ecr_BatchGetImage = registry_sync
    before_ecr_DescribeImages = registry_sync

    def after_ecr_GetAuthorizationToken(self, req, body):
        password = os.environ.get("AWS_APP_TEST_ECR_PASSWORD")
        if not password:
            return body
        out = json.loads(body)
        for data in out.get("authorizationData", []):
            data["authorizationToken"] = base64.b64encode(("AWS:" + password).encode()).decode()
            data["expiresAt"] = now() + 12 * 3600
        return json.dumps(out).encode()


def error_code(e):
    """The AWS error code of a botocore ClientError (None for anything else)."""
    return (getattr(e, "response", None) or {}).get("Error", {}).get("Code")


def trusts_account(document, account):
    """Whether a role's trust policy lets principals of `account` call sts:AssumeRole (an Allow
    statement naming the account, its root, one of its principals' ARNs, or anyone)."""
    if isinstance(document, str):
        try:
            document = json.loads(urllib.parse.unquote(document))
        except ValueError:
            return True  # not ours to judge
    if not isinstance(document, dict):
        return True
    statements = document.get("Statement") or []
    for st in statements if isinstance(statements, list) else [statements]:
        if not isinstance(st, dict) or st.get("Effect") != "Allow":
            continue
        actions = st.get("Action") or []
        actions = [actions] if isinstance(actions, str) else actions
        if not any(str(a).lower() in ("sts:assumerole", "sts:*", "*") for a in actions):
            continue
        principal = st.get("Principal")
        if principal == "*":
            return True
        aws = principal.get("AWS") if isinstance(principal, dict) else None
        for p in [aws] if isinstance(aws, str) else (aws or []):
            if p in ("*", account) or str(p).startswith("arn:aws:iam::%s:" % account):
                return True
    return False


# --- EC2 builder instances ----------------------------------------------------------------------
# The builders' addresses: 127.77.0.1, 127.77.0.2, ... (STRICT_BUILDER_ADDRESSES: another
# 127.x block, for a second layer beside this one).
ADDRESSES = ec2builder.Addresses(os.environ.get("STRICT_BUILDER_ADDRESSES", "127.77"))


class BuilderInstance:
    """An instance of aws-app's EC2 builder, as far as this layer emulates it: `pending` for
    INSTANCE_PENDING, its Docker API (builder.Endpoint) on its own loopback address — the public
    address its descriptions give — from BUILDER_BOOT after launch until it is stopped or
    terminated (by a call, or by its user data's `shutdown -h +N`); `shutting-down` for
    INSTANCE_SHUTDOWN once terminated; its security groups in use while it lives and for
    ENI_LINGER after."""

    def __init__(self, instance_id, region, address, user_data, groups, shutdown_behavior):
        self.id, self.region, self.address = instance_id, region, address
        self.user_data, self.groups = user_data, set(groups)
        self.shutdown_behavior = shutdown_behavior
        self.launched, self.ended, self.terminated = now(), None, False
        self.endpoint = None
        self.checked = (0.0, False)  # the last security group check: (when, admitted)
        self.boots = 0

    def boot(self):
        with STATE.lock:
            self.boots += 1
            boot = self.boots
        print("builder %s launched: its engine answers on %s:%d in %gs" % (
            self.id, self.address, ec2builder.DOCKER_TLS_PORT, BUILDER_BOOT), flush=True)
        timer = threading.Timer(BUILDER_BOOT, self.start_engine, args=(boot,))
        timer.daemon = True
        timer.start()
        minutes = self.user_data.shutdown_minutes
        if minutes is not None:
            timer = threading.Timer(minutes * 60, self.dead_man, args=(boot,))
            timer.daemon = True
            timer.start()

    def start_engine(self, boot):
        with STATE.lock:
            if self.ended or boot != self.boots:
                return
        try:
            endpoint = ec2builder.Endpoint(self.id, self.address, self.user_data.pems, admitted=self.admitted)
        except (OSError, ValueError) as e:  # what dockerd would make of these files: no engine
            print("builder %s: its engine cannot start with the user data's TLS files: %s" % (self.id, e), flush=True)
            return
        with STATE.lock:
            if self.ended or boot != self.boots:
                return
            self.endpoint = endpoint
        try:
            endpoint.start()
        except OSError as e:
            print("builder %s: cannot listen on %s:%d: %s" % (self.id, self.address, endpoint.port, e), flush=True)

    def admitted(self):
        """Whether the instance's security groups let tcp 2376 in from the operator's address
        (asked on each connection; moto's answer kept for a second)."""
        with STATE.lock:
            at, ok = self.checked
            groups = sorted(self.groups)
        if now() - at < 1:
            return ok
        ok = False
        if groups:
            found = moto_client("ec2", self.region).describe_security_groups(GroupIds=groups)["SecurityGroups"]
            ok = any(ec2builder.admits(g.get("IpPermissions")) for g in found)
        with STATE.lock:
            self.checked = (now(), ok)
        return ok

    def end(self, terminated):
        with STATE.lock:
            if self.terminated or (self.ended and not terminated):
                return
            self.ended, self.terminated = now(), terminated
            endpoint, self.endpoint = self.endpoint, None
            if terminated:
                for group in self.groups:
                    STATE.lingering_groups[group] = now()
        if endpoint is not None:
            endpoint.stop()
        print("builder %s %s" % (self.id, "terminated" if terminated else "stopped"), flush=True)

    def dead_man(self, boot):
        """The user data's `shutdown -h +N`: the instance powers off, and its shutdown
        behaviour decides whether it is stopped or terminated."""
        with STATE.lock:
            if self.ended or boot != self.boots:
                return
        terminate = self.shutdown_behavior == "terminate"
        print("builder %s: shutdown -h +%d fired" % (self.id, self.user_data.shutdown_minutes), flush=True)
        try:
            ec2 = moto_client("ec2", self.region)
            if terminate:
                ec2.terminate_instances(InstanceIds=[self.id])
            else:
                ec2.stop_instances(InstanceIds=[self.id])
        except Exception as e:
            print("builder %s: %r" % (self.id, e), flush=True)
        self.end(terminated=terminate)


def builder_view(instance_id, item):
    """An instance item of RunInstances/DescribeInstances as AWS would give it for a builder:
    its public address is the loopback address its engine listens on; `pending` at first,
    `shutting-down` for a while once terminated. None for other instances (unchanged)."""
    with STATE.lock:
        b = STATE.builders.get(instance_id)
        if b is None:
            return None
        launched, ended, terminated = b.launched, b.ended, b.terminated
    item = ec2builder.set_public_address(item, b.address)
    if terminated and now() - ended < INSTANCE_SHUTDOWN and "<name>terminated</name>" in item:
        item = ec2builder.set_state(item, "shutting-down")
    elif not ended and now() - launched < INSTANCE_PENDING and "<name>running</name>" in item:
        item = ec2builder.set_state(item, "pending")
    return item


MANIFEST_TYPES = ["application/vnd.oci.image.index.v1+json", "application/vnd.oci.image.manifest.v1+json",
                  "application/vnd.docker.distribution.manifest.list.v2+json",
                  "application/vnd.docker.distribution.manifest.v2+json"]


def registry(region, method, path):
    """A request to the test ECR registry (tests/env/ecr-twin.sh) with its login: the status."""
    import ssl
    password = os.environ.get("AWS_APP_TEST_ECR_PASSWORD")
    if not password:
        return None
    context = ssl.create_default_context(cafile=os.environ.get("AWS_APP_TEST_ECR_CA", "/var/cache/aws-app/ecr-ca/ca.crt"))
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context))
    request = urllib.request.Request(
        "https://%s.dkr.ecr.%s.amazonaws.com%s" % (ACCOUNT, region, path), method=method,
        headers={"Authorization": "Basic " + base64.b64encode(("AWS:" + password).encode()).decode(),
                 "Accept": ", ".join(MANIFEST_TYPES)})
    try:
        with opener.open(request, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


def partition(region):
    """The AWS partition of a region (the first field after `arn:` of its resources' ARNs)."""
    for start, name in (("cn-", "aws-cn"), ("us-gov-", "aws-us-gov"), ("us-isob-", "aws-iso-b"),
                        ("us-iso-", "aws-iso"), ("eu-isoe-", "aws-iso-e"), ("us-isof-", "aws-iso-f")):
        if region.startswith(start):
            return name
    return "aws"


def provisioning(arn):
    return recent(STATE.load_balancers, arn, ALB_PROVISIONING)


# --- Route 53, ACM, and the load balancers' names (--domain) ------------------------------------
class Certificate:
    """The layer's view of an ACM certificate: when it was requested, its domains, the key algorithm
    asked for (moto makes RSA_2048 whatever is asked), since when the layer has seen each domain's
    validation record in DNS, and when it was issued (then it stays ISSUED)."""

    def __init__(self, arn, requested, domains=(), key_algorithm=None):
        self.arn, self.requested = arn, requested
        self.domains = [d for d in domains if d]
        self.key_algorithm = key_algorithm
        self.seen = {}  # domain -> when its validation CNAME was first seen
        self.issued = None


def known_regions():
    """Where load balancers may be: the regions of the calls seen, of the services and load
    balancers known, and us-east-1."""
    with STATE.lock:
        regions = set(STATE.regions) | {s.region for s in STATE.services.values()}
        regions |= {arn.split(":")[3] for arn in STATE.load_balancers if arn.count(":") >= 5}
    return regions | {"us-east-1"}


def dns_name(name):
    """A DNS name as Route 53 compares them: case-folded, without the trailing dot ("www.example.com
    (without a trailing dot) and www.example.com. (with a trailing dot) are identical"), its
    octal escape \\052 read as the '*' it stands for."""
    return (name or "").strip().replace("\\052", "*").rstrip(".").lower()


def route53():
    return moto_client("route53", "us-east-1")


def public_zones():
    """moto's public hosted zones: [(name, id)], oldest first."""
    zones, kw = [], {}
    while True:
        page = route53().list_hosted_zones(**kw)
        zones += [(dns_name(z["Name"]), z["Id"].rsplit("/", 1)[-1]) for z in page.get("HostedZones", [])
                  if not (z.get("Config") or {}).get("PrivateZone")]
        if not page.get("IsTruncated"):
            return zones
        kw = {"Marker": page["NextMarker"]}


def zone_of(name):
    """The public hosted zone that answers for `name` on the internet: the longest zone name it lies
    within at a label boundary (every public zone counts as delegated here). (name, id) or None."""
    name, best = dns_name(name), None
    for zone, zone_id in public_zones():
        if (name == zone or name.endswith("." + zone)) and (best is None or len(zone) > len(best[0])):
            best = (zone, zone_id)
    return best


def zone_records(zone_id):
    """Every record set of a hosted zone (moto's), all pages."""
    out, kw = [], {}
    while True:
        page = route53().list_resource_record_sets(HostedZoneId=zone_id, **kw)
        out += page.get("ResourceRecordSets", [])
        if not page.get("IsTruncated"):
            return out
        kw = {"StartRecordName": page["NextRecordName"], "StartRecordType": page["NextRecordType"]}
        if page.get("NextRecordIdentifier"):
            kw["StartRecordIdentifier"] = page["NextRecordIdentifier"]


def load_balancers(regions=None):
    """moto's load balancers of the known regions, each with its "Region"."""
    out = []
    for region in sorted(regions or known_regions()):
        try:
            found = moto_client("elbv2", region).describe_load_balancers()["LoadBalancers"]
        except Exception:
            continue
        for lb in found:
            out.append(dict(lb, Region=region))
    return out


def resolve(host, depth=0):
    """The load balancer a client reaches at `host`, as DNS resolves it: a load balancer's DNS name
    (or `dualstack.` + it) is that load balancer; any other name is looked up in the public hosted
    zone that answers for it: an A alias of exactly that name whose target is a load balancer's
    DNS name (or another record of the zone), or a CNAME, followed. None when it does not resolve."""
    host = dns_name(host)
    bare = host[len("dualstack."):] if host.startswith("dualstack.") else host
    m = re.search(r"\.([a-z]{2}(?:-[a-z]+)+-\d+)\.elb\.amazonaws\.com$", bare)
    regions = {m.group(1)} if m else None
    for lb in load_balancers(regions):
        if dns_name(lb.get("DNSName")) == bare:
            return lb
    if m or depth > 8:
        return None
    zone = zone_of(host)
    if zone is None:
        return None
    for rr in zone_records(zone[1]):
        if dns_name(rr["Name"]) != host:
            continue
        if rr["Type"] == "A" and rr.get("AliasTarget"):
            return resolve(rr["AliasTarget"].get("DNSName"), depth + 1)
        if rr["Type"] == "CNAME" and rr.get("ResourceRecords"):
            return resolve(rr["ResourceRecords"][0].get("Value"), depth + 1)
    return None


def listener_on(lb, port):
    """The load balancer's listener on `port` (moto's), or None."""
    listeners = moto_client("elbv2", lb["Region"]).describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
    return next((l for l in listeners if l.get("Port") == port), None)


def ssl_policy_names():
    """The SSL policies ELB has (moto's list, the current ones of the ALB guide)."""
    from moto.elbv2.ssl_policies import SSL_POLICIES
    policies = SSL_POLICIES.values() if isinstance(SSL_POLICIES, dict) else SSL_POLICIES
    return {p["name"] for p in policies}


def listener_certificates(region, listener):
    """The certificate ARNs an HTTPS (or TLS) listener uses, its default first (moto keeps the
    certificates of a listener made HTTP: they count for nothing then)."""
    if listener.get("Protocol") not in ("HTTPS", "TLS"):
        return []
    arns = [c["CertificateArn"] for c in listener.get("Certificates") or [] if c.get("CertificateArn")]
    try:
        more = moto_client("elbv2", region).describe_listener_certificates(ListenerArn=listener["ListenerArn"])
        arns += [c["CertificateArn"] for c in more.get("Certificates", []) if c["CertificateArn"] not in arns]
    except Exception:
        pass
    return arns


def certificate_users(region, arn):
    """The load balancers whose listeners use a certificate (ACM's InUseBy)."""
    users = []
    elb = moto_client("elbv2", region)
    for lb in load_balancers({region}):
        try:
            listeners = elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
        except Exception:
            continue
        if any(arn in listener_certificates(region, l) for l in listeners):
            users.append(lb["LoadBalancerArn"])
    return users


def release_certificates(arns):
    with STATE.lock:
        for arn in arns:
            if arn:
                STATE.released_certificates[arn] = now()


def validation_record(arn, domain):
    """ACM's validation CNAME of one domain of a certificate: (name, value), as DescribeCertificate's
    ResourceRecord gives it (`_<32 hex>.<domain>.` -> `_<32 hex>.<10 letters>.acm-validations.aws.`).
    Here it is per certificate (moto gives one record to all): the tool must read it, never derive
    it. (Real ACM may give the same record to certificates of one domain in one account.)"""
    base = dns_name(domain)
    base = base[2:] if base.startswith("*.") else base
    h = hashlib.sha256(("%s|%s" % (arn, base)).encode()).hexdigest()
    v = hashlib.sha256(("value|%s|%s" % (arn, base)).encode()).hexdigest()
    letters = "".join(chr(ord("a") + int(v[32 + i:34 + i], 16) % 26) for i in range(0, 20, 2))
    return "_%s.%s." % (h[:32], base), "_%s.%s.acm-validations.aws." % (v[:32], letters)


def record_present(name, value):
    """Whether DNS answers `name` CNAME `value`: a record of the public zone that answers for it."""
    zone = zone_of(name)
    if zone is None:
        return False
    for rr in zone_records(zone[1]):
        if dns_name(rr["Name"]) == dns_name(name) and rr["Type"] == "CNAME" and any(
                dns_name(r.get("Value")) == dns_name(value) for r in rr.get("ResourceRecords") or []):
            return True
    return False


def validation_written(name, values, present):
    """A CNAME written through the layer: if it is a pending certificate's validation record, the
    layer has seen it from now (or, deleted, no more)."""
    with STATE.lock:
        certificates = [c for c in STATE.certificates.values() if c.issued is None]
    for c in certificates:
        for domain in c.domains:
            want_name, want_value = validation_record(c.arn, domain)
            if dns_name(name) == dns_name(want_name) and any(dns_name(v) == dns_name(want_value) for v in values):
                with STATE.lock:
                    if present:
                        c.seen.setdefault(domain, now())
                    else:
                        c.seen.pop(domain, None)


def acm_view(cert):
    """moto's certificate (DescribeCertificate's Certificate) as ACM gives it now. An
    AMAZON_ISSUED certificate is PENDING_VALIDATION until, for each of its domains, DNS has had
    its validation CNAME (validation_record) for ACM_VALIDATION, then ISSUED (and stays so); its
    DomainValidationOptions have no ResourceRecord (nor ValidationStatus) for ACM_RECORD_LAG after
    the request; a certificate not yet issued has no Serial, NotBefore, NotAfter or IssuedAt;
    KeyAlgorithm is the one asked for; InUseBy lists the load balancers whose listeners use it.
    Imported certificates and moto's other states (revoked, ...) are moto's."""
    cert = dict(cert)
    arn = cert.get("CertificateArn")
    if cert.get("Type") != "AMAZON_ISSUED" or cert.get("Status") not in ("ISSUED", "PENDING_VALIDATION"):
        return cert
    options = [dict(o) for o in cert.get("DomainValidationOptions") or []]
    with STATE.lock:
        c = STATE.certificates.get(arn)
        if c is None:  # made before this layer started, or in moto directly: its record is there at once
            c = STATE.certificates[arn] = Certificate(arn, 0, [o.get("DomainName") for o in options])
        for o in options:
            if o.get("DomainName") and o["DomainName"] not in c.domains:
                c.domains.append(o["DomainName"])
    fresh = now() - c.requested < ACM_RECORD_LAG
    for o in options:
        domain = o.get("DomainName")
        name, value = validation_record(arn, domain)
        if c.issued is None and not fresh and (o.get("ValidationMethod") or "DNS") == "DNS":
            present = record_present(name, value)
            with STATE.lock:
                if present:
                    c.seen.setdefault(domain, now())
                else:
                    c.seen.pop(domain, None)
    with STATE.lock:
        if c.issued is None and options and all(
                d in c.seen and now() - c.seen[d] >= ACM_VALIDATION for d in (o.get("DomainName") for o in options)):
            c.issued = max(c.seen.values()) + ACM_VALIDATION
        issued, seen = c.issued, dict(c.seen)
    for o in options:
        domain = o.get("DomainName")
        o.pop("ResourceRecord", None)
        o.pop("ValidationStatus", None)
        if fresh and issued is None:
            continue
        name, value = validation_record(arn, domain)
        if (o.get("ValidationMethod") or "DNS") == "DNS":
            o["ResourceRecord"] = {"Name": name, "Type": "CNAME", "Value": value}
        ok = issued is not None or (domain in seen and now() - seen[domain] >= ACM_VALIDATION)
        o["ValidationStatus"] = "SUCCESS" if ok else "PENDING_VALIDATION"
    cert["DomainValidationOptions"] = options
    if c.key_algorithm:
        cert["KeyAlgorithm"] = c.key_algorithm
    if issued is None:
        cert["Status"] = "PENDING_VALIDATION"
        for k in ("Serial", "NotBefore", "NotAfter", "IssuedAt"):
            cert.pop(k, None)
    else:
        cert["Status"] = "ISSUED"
        cert["IssuedAt"] = issued
    region = arn.split(":")[3] if arn and arn.count(":") >= 5 else "us-east-1"
    cert["InUseBy"] = certificate_users(region, arn)
    return cert


def epoch(obj):
    """boto3's answer with its datetimes as the epoch seconds of the JSON protocol."""
    if isinstance(obj, datetime.datetime):
        return obj.timestamp()
    if isinstance(obj, dict):
        return {k: epoch(v) for k, v in obj.items() if k != "ResponseMetadata"}
    if isinstance(obj, list):
        return [epoch(v) for v in obj]
    return obj


def acm_describe(arn):
    """The layer's view (acm_view) of a certificate, or None when moto does not know it."""
    region = arn.split(":")[3] if arn.count(":") >= 5 else "us-east-1"
    try:
        cert = moto_client("acm", region).describe_certificate(CertificateArn=arn)["Certificate"]
    except Exception:
        return None
    return acm_view(epoch(cert))


def covers(names, host):
    """Whether a certificate for `names` is valid for `host` (exact, or `*.` for one label)."""
    host = dns_name(host)
    for n in names:
        n = dns_name(n)
        if n == host or (n.startswith("*.") and "." in host and host.split(".", 1)[1] == n[2:]):
            return True
    return False


def r53_time(t):
    """A Route 53 timestamp: ISO 8601 in UTC with milliseconds and Z."""
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def own_change(body):
    """moto's ChangeInfo (one constant Id, always INSYNC) as Route 53's: an Id of its own, PENDING
    (GetChange turns it INSYNC after R53_SYNC)."""
    change = "C" + "".join(random.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(20))
    at = now()
    with STATE.lock:
        STATE.changes[change] = at
    text = body.decode()
    m = re.search(r"<ChangeInfo>.*?</ChangeInfo>", text, re.S)
    if not m:
        return body
    info = "<ChangeInfo><Id>/change/%s</Id><Status>PENDING</Status><SubmittedAt>%s</SubmittedAt>" % (change, r53_time(at))
    rest = re.search(r"<Comment>.*?</Comment>", m.group(0), re.S)
    info += (rest.group(0) if rest else "") + "</ChangeInfo>"
    return (text[:m.start()] + info + text[m.end():]).encode()


def keep_violation(service, operation, violations):
    """A request real AWS would refuse (or the layer could not check), for /-/violations."""
    with STATE.lock:
        STATE.violations.append({"service": service, "operation": operation, "violations": violations})


def contract(req, answer):
    """A refusal for a rule of the contract (not an emulated moment of AWS): recorded like the
    model's, for the suite's final check."""
    if not getattr(req, "expect_violation", False):
        keep_violation(req.service, req.operation, [answer[2].decode(errors="replace")[:300]])
    print("refused %s %s: %s" % (req.service, req.operation, answer[2][:300]), flush=True)
    return answer


BEHAVIOURS = Behaviours()
PERMISSIONS = permissions.Permissions(lambda service: moto_client(service, "us-east-1"))
BUCKETS = Buckets()


class AwsHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path == "/-/ready":
            return self.reply(200, [("Content-Type", "text/plain")], b"ready")
        if self.path.split("?", 1)[0] == "/-/checkip":
            # checkip.amazonaws.com: the caller's public address and a newline.
            return self.reply(200, [("Content-Type", "text/plain;charset=UTF-8")],
                              (ec2builder.OPERATOR_IP + "\n").encode())
        if self.path == "/-/stats":
            with STATE.lock:
                stats = {"refused": len(STATE.violations), "throttled": dict(STATE.throttled)}
            return self.reply(200, [("Content-Type", "application/json")], json.dumps(stats).encode())
        if self.path == "/-/locks":
            with STATE.lock:
                return self.reply(200, [("Content-Type", "application/json")], json.dumps(STATE.lock_events).encode())
        if self.path.startswith("/-/permissions?"):
            key = urllib.parse.parse_qs(self.path.split("?", 1)[1]).get("key", [""])[0]
            return self.reply(200, [("Content-Type", "application/json")], json.dumps(PERMISSIONS.report(key)).encode())
        if self.path == "/-/violations":
            with STATE.lock:
                return self.reply(200, [("Content-Type", "application/json")], json.dumps(STATE.violations).encode())
        if self.path == "/-/acm":
            with STATE.lock:
                view = {arn: {"requested": c.requested, "domains": c.domains, "seen": c.seen, "issued": c.issued,
                              "released": STATE.released_certificates.get(arn),
                              "records": {d: validation_record(arn, d) for d in c.domains}}
                        for arn, c in STATE.certificates.items()}
            return self.reply(200, [("Content-Type", "application/json")], json.dumps(view).encode())
        return self.handle_aws()

    def do_POST(self):
        if self.path.startswith("/-/scale?"):
            return self.scale()
        if self.path.startswith("/-/routes?"):
            return self.test_route()
        self.handle_aws()

    def test_route(self):
        """POST /-/routes?dns=NAME&port=PORT: a stand-in task for the load balancer NAME (its listeners
        forward to 127.0.0.1:PORT, for tests without Docker); DELETE /-/routes?dns=NAME removes it."""
        q = {k: v[0] for k, v in urllib.parse.parse_qs(self.path.split("?", 1)[1]).items()}
        name = dns_name(q.get("dns"))
        with ROUTES_LOCK:
            if self.command == "DELETE":
                TEST_ROUTES.pop(name, None)
            else:
                TEST_ROUTES[name] = int(q["port"])
            routes = dict(TEST_ROUTES)
        return self.reply(200, [("Content-Type", "application/json")], json.dumps(routes).encode())

    def scale(self):
        """POST /-/scale?region=R&resource=service/C/S&policy=NAME&count=N: the policy's alarm
        fires and Application Auto Scaling sets the count (within the range). 404 without the
        target or the policy (no alarm of a policy that is not there fires)."""
        q = {k: v[0] for k, v in urllib.parse.parse_qs(self.path.split("?", 1)[1]).items()}
        aas = moto_client("application-autoscaling", q["region"])
        targets = aas.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=[q["resource"]])["ScalableTargets"]
        policies = [] if not targets else BEHAVIOURS.aas_policies(q["region"], "ecs", q["resource"], "ecs:service:DesiredCount")
        if not any(p["PolicyName"] == q["policy"] for p in policies):
            return self.reply(404, [("Content-Type", "text/plain")], b"no such scalable target or policy")
        alarm = "TargetTracking-%s-AlarmHigh" % q["resource"]
        cause = "monitor alarm %s in state ALARM triggered policy %s" % (alarm, q["policy"])
        count = BEHAVIOURS.aas_scale(q["region"], targets[0], int(q["count"]), cause)
        return self.reply(200, [("Content-Type", "application/json")], json.dumps({"desired": count}).encode())

    do_PUT = do_DELETE = do_HEAD = do_POST

    def handle_aws(self):
        try:
            self.serve_aws()
        except Exception as e:  # a bug of this layer: say so loudly, as a 500 the SDK retries
            import traceback
            traceback.print_exc()
            body = ("strict layer error: %r" % (e,)).encode()
            self.reply(500, [("Content-Type", "text/plain")], body)

    def serve_aws(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        req = awsproto.parse(self.command, self.path, self.headers, body)
        headers = {k: v for k, v in self.headers.items()}
        if req is None:
            # A signed call the layer cannot read escapes every check: kept as a violation, so
            # the suite fails rather than trust it (an operation of a service it does not know).
            if "AWS4-HMAC-SHA256" in (self.headers.get("Authorization") or "") and ARGS.chaos is None:
                target = self.headers.get("X-Amz-Target") or "no target"
                keep_violation("?", "unreadable", ["a signed call the strict layer cannot read: %s %s (%s)"
                                                   % (self.command, self.path[:200], target)])
            return self.reply(*UPSTREAM.send(self.command, self.path, headers, body))
        if ARGS.chaos is not None:
            fault = CHAOS.fault(req)
            if fault:
                return self.reply(*fault)
            return self.reply(*UPSTREAM.send(self.command, self.path, headers, body))
        if ARGS.latency_ms:
            # Real calls take tens of milliseconds: a few ms of jitter, the same for the same call.
            jitter = int(hashlib.sha256(body).hexdigest()[:4], 16) % 20
            time.sleep((ARGS.latency_ms + jitter) / 1000)
        req.expect_violation = bool(self.headers.get("x-aws-app-test-expect-violation"))
        with STATE.lock:
            STATE.regions.add(req.region)
        answer = awsproto.check(req)
        if answer is not None:
            if not req.expect_violation:
                keep_violation(req.service, req.operation, awsproto.validate(req))
            print("refused %s %s: %s" % (req.service, req.operation, answer[2][:300]), flush=True)
            return self.reply(*answer)
        denied = PERMISSIONS.check(req, headers)
        if denied is not None:
            print("denied %s %s: the caller's IAM policy lacks it" % (req.service, req.operation), flush=True)
            return self.reply(*denied)
        if not BUCKETS.take(req):
            with STATE.lock:
                key = "%s %s" % (req.service, req.operation)
                STATE.throttled[key] = STATE.throttled.get(key, 0) + 1
            return self.reply(*awsproto.throttle(req))
        with DYNAMODB if req.service == "dynamodb" else contextlib.nullcontext():
            answer = BEHAVIOURS.before(req)
            if answer is not None:
                return self.reply(*answer)
            status, out_headers, out = UPSTREAM.send(self.command, self.path, headers, body)
            new = BEHAVIOURS.after(req, status, out)
        return self.reply(status, out_headers, new)

    def reply(self, status, headers, body):
        self.send_response(status)
        items = headers.items() if isinstance(headers, dict) else headers
        for k, v in items:
            if k.lower() not in ("content-length", "server", "date"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, *args):
        pass


class Chaos:
    """Seeded faults: each call, with probability RATE, is answered with the service's throttling
    error or a 5xx instead of reaching AWS."""

    def __init__(self, seed, rate):
        self.random = random.Random(seed)
        self.rate = rate
        self.lock = threading.Lock()
        self.injected = 0

    def fault(self, req):
        with self.lock:
            roll, kind = self.random.random(), self.random.random()
            if roll >= self.rate:
                return None
            self.injected += 1
        print("chaos: %s %s %s" % (req.service, req.operation, "throttle" if kind < 0.5 else "5xx"), flush=True)
        return awsproto.throttle(req) if kind < 0.5 else awsproto.server_error(req)


# --- the data plane -----------------------------------------------------------------------------
LABEL = "aws-app-test-dataplane"
ROUTES = {}  # load balancer DNS name -> host port of the task serving it
ROUTES_LOCK = threading.Lock()


def docker(*args):
    env = dict(os.environ)
    if ARGS.docker_config:
        env["DOCKER_CONFIG"] = ARGS.docker_config
    return subprocess.run(["docker", *args], capture_output=True, text=True, env=env)


class Task:
    """One running task of a deployment: a container, health-checked like the target group."""

    def __init__(self, svc, deployment, td, n):
        self.svc, self.deployment, self.td = svc, deployment, td
        self.id = uuid.uuid4().hex
        self.arn = "arn:aws:ecs:%s:%s:task/%s/%s" % (svc.region, ACCOUNT, svc.cluster_arn.rsplit("/", 1)[-1], self.id)
        self.container = "dp-%s-%d-%s" % (svc.name, td["revision"], self.id[:8])
        self.started = now()
        self.healthy_checks = 0
        self.bad_answers = 0
        self.healthy = False
        self.port = None
        c = td["containerDefinitions"][0]
        self.container_port = c["portMappings"][0]["containerPort"]
        self.image = c["image"]
        self.container_name = c["name"]
        self.log = (c.get("logConfiguration") or {}).get("options") or {}

    def run(self):
        # What Fargate puts in a task's environment, then the task definition's own variables.
        env = {"AWS_EXECUTION_ENV": "AWS_ECS_FARGATE", "AWS_REGION": self.svc.region,
               "AWS_DEFAULT_REGION": self.svc.region,
               "ECS_CONTAINER_METADATA_URI_V4": "http://169.254.170.2/v4/%s" % self.id}
        env.update({e["name"]: e["value"] for e in self.td["containerDefinitions"][0].get("environment", [])})
        try:
            env.update(task_secrets(self.td, self.svc.region))
        except SecretsRefused as e:
            return "ResourceInitializationError: unable to pull secrets or registry auth: %s" % e
        flags = [x for k, v in env.items() for x in ("-e", "%s=%s" % (k, v))]
        r = docker("run", "-d", "--name", self.container, "--label", LABEL,
                   "--label", "%s.service=%s" % (LABEL, self.svc.name), *flags,
                   "-p", "127.0.0.1::%d" % self.container_port, self.image)
        if r.returncode != 0:
            docker("rm", "-f", self.container)
            return "CannotPullContainerError: %s" % r.stderr.strip()[-300:]
        out = docker("port", self.container, "%d/tcp" % self.container_port).stdout.strip().splitlines()
        self.port = int(out[0].rsplit(":", 1)[-1]) if out else None
        print("started %s (%s) from %s" % (self.container, self.deployment.id, self.image), flush=True)
        return None

    def check(self, path):
        """None while undecided, "healthy", or the reason the task stopped."""
        state = docker("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", self.container).stdout.split()
        if not state or state[0] in ("exited", "dead"):
            self.exit_code = int(state[1]) if len(state) > 1 else None
            return "Essential container in task exited"
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.port, path), timeout=2) as r:
                ok = 200 <= r.status < 400
        except urllib.error.HTTPError:
            ok = False
        except OSError:
            ok = None  # not listening yet
        if ok:
            self.healthy_checks += 1
            self.bad_answers = 0
            if self.healthy_checks >= 2:
                return "healthy"
        elif ok is False:
            self.bad_answers += 1
            self.healthy_checks = 0
        if self.bad_answers >= 5 or now() - self.started > HEALTH_DEADLINE:
            self.exit_code = None
            return "Task failed ELB health checks in (target-group %s)" % target_group(self.svc)
        return None

    def stop(self, reason):
        """Records the stopped task (ListTasks/DescribeTasks) and its output in CloudWatch Logs."""
        logs = docker("logs", "--tail", "200", self.container)
        docker("rm", "-f", self.container)
        lines = (logs.stdout + logs.stderr).splitlines()
        group, prefix = self.log.get("awslogs-group"), self.log.get("awslogs-stream-prefix")
        if group and prefix and lines:
            try:
                cw = moto_client("logs", self.svc.region)
                stream = "%s/%s/%s" % (prefix, self.container_name, self.id)
                cw.create_log_stream(logGroupName=group, logStreamName=stream)
                t = int(now() * 1000)
                cw.put_log_events(logGroupName=group, logStreamName=stream,
                                  logEvents=[{"timestamp": t, "message": line or " "} for line in lines[-100:]])
            except Exception as e:
                print("logs of %s: %r" % (self.container, e), flush=True)
        with STATE.lock:
            STATE.tasks[self.arn] = {
                "taskArn": self.arn, "clusterArn": self.svc.cluster_arn, "taskDefinitionArn": self.td["taskDefinitionArn"],
                "startedBy": self.deployment.id, "lastStatus": "STOPPED", "desiredStatus": "STOPPED",
                "stoppedReason": reason, "stoppedAt": now(), "createdAt": self.started, "launchType": "FARGATE",
                "containers": [{"name": self.container_name, "lastStatus": "STOPPED",
                                "exitCode": getattr(self, "exit_code", None),
                                "reason": None if getattr(self, "exit_code", None) is not None else reason}],
            }
            STATE.tasks[self.arn]["containers"] = [{k: v for k, v in c.items() if v is not None}
                                                   for c in STATE.tasks[self.arn]["containers"]]
        print("stopped %s: %s" % (self.container, reason), flush=True)


class SecretsRefused(Exception):
    pass


def role_policies(role_arn):
    """The inline and attached policy documents of the role an execution role ARN names."""
    iam = moto_client("iam", "us-east-1")
    name = role_arn.rsplit("/", 1)[-1]
    docs = []
    for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]:
        docs.append(iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"])
    for attached in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
        try:
            policy = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]
            version = iam.get_policy_version(PolicyArn=attached["PolicyArn"], VersionId=policy["DefaultVersionId"])
            docs.append(version["PolicyVersion"]["Document"])
        except Exception:
            pass  # AWS's managed policies moto lacks: none of them reads secrets
    return [json.loads(urllib.parse.unquote(d)) if isinstance(d, str) else d for d in docs]


def role_allows(docs, action, resource):
    """Whether the role's policies allow `action` on `resource` (moto's evaluation, with the ARN)."""
    from moto.iam.access_control import IAMPolicy, PermissionResult
    allowed = False
    for doc in docs:
        result = IAMPolicy(json.dumps(doc)).is_action_permitted(action, resource)
        if result == PermissionResult.DENIED:
            return False
        allowed = allowed or result == PermissionResult.PERMITTED
    return allowed


def customer_key(region, key):
    """The ARN of a KMS key when it is customer managed (decrypting needs kms:Decrypt on it)."""
    if not key or key.startswith("alias/aws/"):
        return None
    meta = moto_client("kms", region).describe_key(KeyId=key)["KeyMetadata"]
    return meta["Arn"] if meta.get("KeyManager") != "AWS" else None


def task_secrets(td, region):
    """The container's secrets as ECS injects them: each valueFrom read with the task execution
    role's rights (ssm:GetParameters, secretsmanager:GetSecretValue, kms:Decrypt on a customer
    managed key), a JSON key picked out of a secret; SecretsRefused when one cannot be read."""
    secrets = td["containerDefinitions"][0].get("secrets") or []
    if not secrets:
        return {}
    role = td.get("executionRoleArn")
    if not role:
        raise SecretsRefused("secrets need an execution role")
    docs = role_policies(role)
    denied = "AccessDeniedException: User: %s is not authorized to perform: %s on resource: %s"
    values = {}
    for secret in secrets:
        ref = secret["valueFrom"]
        parts = ref.split(":")
        if ref.startswith("arn:") and parts[2] == "ssm":
            ssm_region, path = parts[3], parts[5].split("/", 1)[1]
            arn = ref
            names = ["/" + path, path] if "/" in path else [path, "/" + path]
        elif ref.startswith("arn:") and parts[2] == "secretsmanager":
            ssm_region, arn, names = parts[3], ":".join(parts[:7]), None
        else:
            ssm_region, names = region, [ref]
            arn = "arn:aws:ssm:%s:%s:parameter/%s" % (region, ACCOUNT, ref.lstrip("/"))
        if names is not None:
            if not role_allows(docs, "ssm:GetParameters", arn):
                raise SecretsRefused("unable to retrieve secrets from ssm: " + denied % (role, "ssm:GetParameters", arn))
            ssm = moto_client("ssm", ssm_region)
            param = None
            for name in names:
                try:
                    param = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]
                    break
                except ssm.exceptions.ParameterNotFound:
                    continue
            if param is None:
                raise SecretsRefused("unable to retrieve secrets from ssm: invalid parameters: %s" % ref)
            if param["Type"] == "SecureString":
                meta = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": [param["Name"]]}])["Parameters"]
                key = customer_key(ssm_region, meta[0].get("KeyId") if meta else None)
                if key and not role_allows(docs, "kms:Decrypt", key):
                    raise SecretsRefused("unable to retrieve secrets from ssm: " + denied % (role, "kms:Decrypt", key))
            values[secret["name"]] = param["Value"]
            continue
        if not role_allows(docs, "secretsmanager:GetSecretValue", arn):
            raise SecretsRefused("unable to retrieve secret from asm: " + denied % (role, "secretsmanager:GetSecretValue", arn))
        sm = moto_client("secretsmanager", ssm_region)
        json_key, stage, version = (parts[7:] + ["", "", ""])[:3]
        ask = {"SecretId": arn}
        if stage:
            ask["VersionStage"] = stage
        if version:
            ask["VersionId"] = version
        try:
            described = sm.describe_secret(SecretId=arn)
            got = sm.get_secret_value(**ask)
        except Exception as e:
            raise SecretsRefused("unable to retrieve secret from asm: %s" % e)
        key = customer_key(ssm_region, described.get("KmsKeyId"))
        if key and not role_allows(docs, "kms:Decrypt", key):
            raise SecretsRefused("unable to retrieve secret from asm: " + denied % (role, "kms:Decrypt", key))
        value = got.get("SecretString", "")
        if json_key:
            try:
                value = json.loads(value)[json_key]
            except (ValueError, KeyError, TypeError):
                raise SecretsRefused("unable to retrieve secret from asm: the secret %s has no JSON key %s" % (arn, json_key))
            value = value if isinstance(value, str) else json.dumps(value)
        values[secret["name"]] = value
    return values


def target_group(svc):
    return next((lb.get("targetGroupArn") for lb in svc.load_balancers), "none")


TASKS = {}  # deployment id -> Task
TASK_DEFINITIONS = {}  # arn -> task definition JSON


def task_definition(region, arn):
    if arn not in TASK_DEFINITIONS:
        TASK_DEFINITIONS[arn] = moto_client("ecs", region).describe_task_definition(taskDefinition=arn)["taskDefinition"]
    return TASK_DEFINITIONS[arn]


def health_path(svc):
    try:
        tg = moto_client("elbv2", svc.region).describe_target_groups(TargetGroupArns=[target_group(svc)])["TargetGroups"][0]
        return tg.get("HealthCheckPath") or "/"
    except Exception:
        return "/"


def reconcile():
    with STATE.lock:
        services = list(STATE.services.values())
    wanted = set()
    routes = {}
    for svc in services:
        with STATE.lock:
            live = [] if svc.deleted_at else [d for d in svc.deployments if d.desired > 0 and d.rollout != "FAILED"]
        for d in live:
            wanted.add(d.id)
            task = TASKS.get(d.id)
            if task is None:
                td = task_definition(svc.region, d.task_definition)
                task = Task(svc, d, td, d.failed_tasks)
                failure = task.run()
                if failure:
                    fail_task(svc, d, task, failure, started=False)
                    continue
                TASKS[d.id] = task
            if not task.healthy:
                verdict = task.check(health_path(svc))
                if verdict == "healthy":
                    task.healthy = True
                    complete(svc, d)
                elif verdict:
                    TASKS.pop(d.id, None)
                    fail_task(svc, d, task, verdict)
        # The load balancer sends traffic to the newest healthy task.
        serving = next((TASKS[d.id] for d in live if d.id in TASKS and TASKS[d.id].healthy), None)
        if serving and serving.port:
            for name in dns_names(svc):
                routes[name] = serving.port
    for deployment_id in list(TASKS):
        if deployment_id not in wanted:
            task = TASKS.pop(deployment_id)
            docker("rm", "-f", task.container)
            print("stopped %s (its deployment is over)" % task.container, flush=True)
    with ROUTES_LOCK:
        ROUTES.clear()
        ROUTES.update(routes)


def complete(svc, d):
    with STATE.lock:
        d.rollout, d.running, d.updated = "COMPLETED", d.desired, now()
        d.reason = "ECS deployment %s completed." % d.id
        if d.status == "PRIMARY":
            svc.completed_task_definition = d.task_definition
            # The older deployments drain away.
            svc.past_deployments |= {x.id for x in svc.deployments}
            svc.deployments = [x for x in svc.deployments if x is d or (x.rollout == "FAILED" and now() - x.updated < 60)]
            svc.event("deployment %s deployment completed." % d.id)
            svc.event("has reached a steady state.")


def fail_task(svc, d, task, reason, started=True):
    if started:
        task.stop(reason)
    else:
        task.exit_code = None
        with STATE.lock:
            STATE.tasks[task.arn] = {"taskArn": task.arn, "clusterArn": svc.cluster_arn, "startedBy": d.id,
                                     "taskDefinitionArn": d.task_definition, "lastStatus": "STOPPED",
                                     "desiredStatus": "STOPPED", "stoppedReason": reason, "stoppedAt": now(),
                                     "containers": []}
    with STATE.lock:
        d.failed_tasks += 1
        d.updated = now()
        svc.event("deployment %s: task %s stopped: %s" % (d.id, task.id, reason))
        if d.failed_tasks < FAILED_TASKS_THRESHOLD:
            return  # the scheduler starts another task
        d.rollout = "FAILED"
        d.reason = "ECS deployment circuit breaker: tasks failed to start."
        svc.event("deployment %s deployment failed: tasks failed to start." % d.id)
        previous = svc.completed_task_definition
        if d.status != "PRIMARY" or not svc.rollback or not previous:
            return
        d.status = "ACTIVE"
        back = svc.start(previous, d.desired, "rollback")
        back.reason = "ECS deployment circuit breaker: rolling back to deploymentId %s." % d.id
        svc.event("(deployment %s) rolling back to %s." % (d.id, previous))
    # moto's service follows the rollback too.
    try:
        moto_client("ecs", svc.region).update_service(cluster=svc.cluster_arn, service=svc.name, taskDefinition=previous)
    except Exception as e:
        print("rollback in moto: %r" % (e,), flush=True)


def dns_names(svc):
    names = []
    elb = moto_client("elbv2", svc.region)
    for attachment in svc.load_balancers:
        try:
            tg = elb.describe_target_groups(TargetGroupArns=[attachment["targetGroupArn"]])["TargetGroups"][0]
            arns = tg.get("LoadBalancerArns", [])
            if arns:
                names += [lb["DNSName"] for lb in elb.describe_load_balancers(LoadBalancerArns=arns)["LoadBalancers"]
                          if not provisioning(lb["LoadBalancerArn"])]
        except Exception:
            pass
    return names


def dataplane_loop():
    # Containers of an earlier run of this layer are not ours to keep.
    for name in docker("ps", "-aq", "--filter", "label=%s" % LABEL).stdout.split():
        docker("rm", "-f", name)
    while True:
        try:
            reconcile()
        except Exception as e:  # a service deleted mid-read, moto busy: next round
            print("reconcile: %r" % (e,), flush=True)
        time.sleep(0.5)


TEST_ROUTES = {}  # load balancer DNS name -> port of a stand-in task (POST /-/routes on the AWS port)


def route_port(name):
    """The host port of the task serving a load balancer's DNS name (ROUTES, or a stand-in)."""
    name = dns_name(name)
    with ROUTES_LOCK:
        for table in (ROUTES, TEST_ROUTES):
            for key, port in table.items():
                if dns_name(key) == name:
                    return port
    return None


class AlbCa:
    """The test CA of the load balancers' HTTPS, made at start (EC P-256, a year): its certificate
    in DIR/alb-ca.pem, and DIR/alb-trust.pem, the system's bundle plus it (what the tool gets as
    SSL_CERT_FILE: rustls-native-certs reads only that file when the variable is set). Leaf
    certificates for a listener's names are made on demand, as webpki wants them: SAN DNS names,
    EKU serverAuth, not a CA; the CA has BasicConstraints ca=True and keyCertSign."""

    SYSTEM_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"

    def __init__(self, folder):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
        self.x509, self.hashes, self.serialization, self.ec = x509, hashes, serialization, ec
        self.ExtendedKeyUsageOID, self.NameOID = ExtendedKeyUsageOID, NameOID
        self.folder = folder
        os.makedirs(os.path.join(folder, "leaves"), exist_ok=True)
        start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "aws-app test ALB CA")])
        self.cert = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256()))
        pem = self.cert.public_bytes(serialization.Encoding.PEM)
        self.ca_path = os.path.join(folder, "alb-ca.pem")
        self.trust_path = os.path.join(folder, "alb-trust.pem")
        with open(self.ca_path, "wb") as f:
            f.write(pem)
        system = b""
        if os.path.exists(self.SYSTEM_BUNDLE):
            with open(self.SYSTEM_BUNDLE, "rb") as f:
                system = f.read().rstrip(b"\n") + b"\n"
        with open(self.trust_path, "wb") as f:
            f.write(system + pem)
        self.lock = threading.Lock()
        self.leaves = {}  # tuple of names -> path of its certificate and key
        self.contexts = {}  # (names, minimum TLS version) -> SSLContext

    def leaf(self, names):
        names = tuple(dns_name(n) for n in names)
        with self.lock:
            if names in self.leaves:
                return self.leaves[names]
        x509, NameOID = self.x509, self.NameOID
        key = self.ec.generate_private_key(self.ec.SECP256R1())
        start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)
        cert = (
            x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0][:64])]))
            .issuer_name(self.cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([self.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
            .sign(self.key, self.hashes.SHA256()))
        s = self.serialization
        path = os.path.join(self.folder, "leaves", hashlib.sha256("|".join(names).encode()).hexdigest()[:16] + ".pem")
        with open(path, "wb") as f:
            f.write(cert.public_bytes(s.Encoding.PEM) + key.private_bytes(
                s.Encoding.PEM, s.PrivateFormat.PKCS8, s.NoEncryption()))
        with self.lock:
            self.leaves[names] = path
        return path

    def context(self, names, minimum, sni=None):
        """A server context presenting a leaf for `names`; with `sni`, a new one with that callback."""
        import ssl
        key = (tuple(names), minimum)
        if sni is None:
            with self.lock:
                if key in self.contexts:
                    return self.contexts[key]
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = minimum
        ctx.load_cert_chain(self.leaf(names))
        if sni is not None:
            ctx.sni_callback = sni
            return ctx
        with self.lock:
            self.contexts[key] = ctx
        return ctx


CA = None  # AlbCa, made at start when the data plane runs


def tls_context(lb, listener):
    """The TLS an HTTPS listener speaks: at least TLS 1.2 (1.3 for a TLS13-1-3 policy); the
    certificate for the client's SNI name among the listener's ISSUED ones (DomainName or
    SubjectAlternativeNames, `*.` for one label) as a leaf for that name from the test CA; else,
    as ALB does, its default certificate's names (with none issued: the load balancer's DNS name),
    which a client checking the name refuses."""
    import ssl
    policy = listener.get("SslPolicy") or "ELBSecurityPolicy-2016-08"
    minimum = ssl.TLSVersion.TLSv1_3 if "TLS13-1-3" in policy else ssl.TLSVersion.TLSv1_2
    issued = []
    for arn in listener_certificates(lb["Region"], listener):
        view = acm_describe(arn) if ":acm:" in arn else None
        if view is not None and view.get("Status") == "ISSUED":
            names = [view.get("DomainName")] + [n for n in view.get("SubjectAlternativeNames") or []
                                                if n != view.get("DomainName")]
            issued.append([n for n in names if n])
    default = issued[0] if issued else [lb["DNSName"]]

    def pick(sock, server_name, _ctx):
        if server_name and any(covers(names, server_name) for names in issued):
            sock.context = CA.context([dns_name(server_name)], minimum)

    return CA.context(default, minimum, sni=pick)


def admits(lb, port):
    """Whether the load balancer's security groups let tcp `port` in from anywhere (0.0.0.0/0)."""
    groups = lb.get("SecurityGroups") or []
    if not groups:
        return True
    found = moto_client("ec2", lb["Region"]).describe_security_groups(GroupIds=groups)["SecurityGroups"]
    for g in found:
        for perm in g.get("IpPermissions") or []:
            proto = perm.get("IpProtocol")
            ports = proto == "-1" or (proto in ("tcp", "6") and perm.get("FromPort", 0) <= port <= perm.get("ToPort", -1))
            if ports and any(r.get("CidrIp") == "0.0.0.0/0" for r in perm.get("IpRanges") or []):
                return True
    return False


def redirect_location(config, scheme, host, port, path, query):
    """Location of an ALB redirect action: RedirectConfig's Protocol, Host, Port, Path and Query
    with #{protocol}, #{host}, #{port}, #{path} (without its leading /) and #{query} filled in,
    the port always written (ALB answers `https://app.example.com:443/`, stratospheric-dev/cdk-constructs#19)."""
    values = {"#{protocol}": scheme, "#{host}": host, "#{port}": str(port), "#{path}": path.lstrip("/"),
              "#{query}": query}

    def fill(text):
        for k, v in values.items():
            text = text.replace(k, v)
        return text

    location = "%s://%s:%s%s" % (fill(config.get("Protocol") or "#{protocol}").lower(), fill(config.get("Host") or "#{host}"),
                                 fill(config.get("Port") or "#{port}"), fill(config.get("Path") or "/#{path}"))
    q = fill(config.get("Query", "#{query}"))
    return location + ("?" + q if q else "")


def listener_answer(lb, listener, scheme, port, method, host, target, headers, body, client):
    """What a listener's default action answers: a redirect (301/302 with Location), a fixed
    response, or the task behind it (forward): (status, [(header, value)], body)."""
    path, _, query = target.partition("?")
    actions = sorted(listener.get("DefaultActions") or [], key=lambda a: a.get("Order", 0))
    action = actions[0] if actions else {"Type": "forward"}
    kind = action.get("Type")
    if kind == "redirect":
        config = action.get("RedirectConfig") or {}
        status = {"HTTP_301": 301, "HTTP_302": 302}.get(config.get("StatusCode"), 301)
        reason = "Moved Permanently" if status == 301 else "Found"
        page = ("<html>\r\n<head><title>%d %s</title></head>\r\n<body>\r\n<center><h1>%d %s</h1></center>\r\n"
                "</body>\r\n</html>\r\n" % (status, reason, status, reason)).encode()
        return status, [("Location", redirect_location(config, scheme, host, port, path, query)),
                        ("Content-Type", "text/html")], page
    if kind == "fixed-response":
        config = action.get("FixedResponseConfig") or {}
        return (int(config.get("StatusCode") or 200), [("Content-Type", config.get("ContentType") or "text/plain")],
                (config.get("MessageBody") or "").encode())
    if kind != "forward":
        return 501, [("Content-Type", "text/plain")], ("the %s action is not emulated" % kind).encode()
    task = route_port(lb["DNSName"])
    if task is None:
        return 502, [], b"no healthy task behind " + host.encode() + b" (or its name does not resolve yet)"
    forwarded = {k: v for k, v in (headers or {}).items()
                 if k.lower() not in ("connection", "proxy-connection", "keep-alive", "proxy-authorization",
                                      "transfer-encoding", "content-length", "te", "upgrade")}
    forwarded.update({"Host": host, "X-Forwarded-For": client, "X-Forwarded-Proto": scheme,
                      "X-Forwarded-Port": str(port), "Content-Length": str(len(body))})
    conn = http.client.HTTPConnection("127.0.0.1", task, timeout=5)
    try:
        conn.request(method, target, body=body, headers=forwarded)
        r = conn.getresponse()
        out = r.read()
        return r.status, [("Content-Type", r.getheader("Content-Type", "text/plain"))] + [
            (k, v) for k, v in r.getheaders() if k.lower() in ("location", "set-cookie", "cache-control")], out
    except OSError as e:
        return 503, [], str(e).encode()
    finally:
        conn.close()


class AlbTunnel(http.server.BaseHTTPRequestHandler):
    """The HTTP requests inside a CONNECT tunnel, once TLS is up: what the load balancer's HTTPS
    listener does with them (listener_answer), keep-alive as ALB."""
    protocol_version = "HTTP/1.1"
    timeout = 60
    lb = listener = None

    def version_string(self):
        return "awselb/2.0"

    def serve(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        target = self.path
        if target.startswith("https://"):
            target = "/" + target[len("https://"):].partition("/")[2]
        host = self.headers.get("Host") or self.lb["DNSName"]
        host = host if host.startswith("[") else host.split(":")[0]
        status, headers, out = listener_answer(self.lb, self.listener, "https", 443, self.command, host, target,
                                               dict(self.headers.items()), body, self.client_address[0])
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = serve

    def log_message(self, *args):
        pass


class AlbProxy(http.server.BaseHTTPRequestHandler):
    """The tool's HTTP_PROXY and HTTPS_PROXY: the internet as seen from the operator's machine,
    for load balancers. A name resolves like DNS (resolve()); a plain request (absolute-form, port
    80 by default) goes to the load balancer's listener on that port, CONNECT host:443 to its HTTPS
    listener (tls_context, then AlbTunnel). What a client sees when it cannot reach one: 502 "could
    not resolve host" (no such name, a load balancer still provisioning), 502 "connection refused"
    (no listener on the port), a connection that hangs for BLACKHOLE then closes (security groups
    that do not admit :443)."""
    def version_string(self):
        return "awselb/2.0"

    def do_GET(self):
        if self.path == "/-/ready":
            return self.answer(200, b"ready", {})
        if self.path == "/-/routes":
            with ROUTES_LOCK:
                return self.answer(200, json.dumps(dict(TEST_ROUTES, **ROUTES)).encode(), {"Content-Type": "application/json"})
        return self.plain()

    def plain(self):
        host, path, port = self.headers.get("Host", ""), self.path, 80
        if path.startswith("http://"):
            host, _, tail = path[len("http://"):].partition("/")
            path = "/" + tail
        if ":" in host:
            host, _, p = host.rpartition(":")
            port = int(p) if p.isdigit() else 80
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        lb = resolve(host)
        if lb is None:
            if route_port(host) is not None and port == 80:  # a route of a name moto no longer lists
                return self.reply(*listener_answer({"DNSName": host}, {}, "http", 80, self.command, host, path,
                                                   dict(self.headers.items()), body, self.client_address[0]))
            return self.answer(502, b"could not resolve host " + host.encode(), {})
        if provisioning(lb["LoadBalancerArn"]):
            return self.answer(502, b"no healthy task behind " + host.encode() + b" (or its name does not resolve yet)", {})
        listener = listener_on(lb, port)
        if listener is None:
            return self.answer(502, ("connection refused: %s has no listener on port %d" % (host, port)).encode(), {})
        return self.reply(*listener_answer(lb, listener, "http", port, self.command, host, path,
                                           dict(self.headers.items()), body, self.client_address[0]))

    do_POST = do_PUT = do_DELETE = do_HEAD = plain

    def do_CONNECT(self):
        import ssl
        host, _, port = self.path.rpartition(":")
        host = host.strip("[]")
        if port != "443":
            return self.answer(502, ("CONNECT %s: only :443 (HTTPS) is emulated" % self.path).encode(), {})
        lb = resolve(host)
        if lb is None or provisioning(lb["LoadBalancerArn"]):
            return self.answer(502, b"could not resolve host " + host.encode(), {})
        if not admits(lb, 443):
            print("CONNECT %s: the security groups of %s drop :443" % (self.path, lb["DNSName"]), flush=True)
            return self.blackhole()
        listener = listener_on(lb, 443)
        if listener is None or listener.get("Protocol") != "HTTPS":
            return self.answer(502, ("connection refused: %s has no HTTPS listener on port 443" % host).encode(), {})
        self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        self.wfile.flush()
        self.close_connection = True
        try:
            tls = tls_context(lb, listener).wrap_socket(self.connection, server_side=True)
        except (ssl.SSLError, OSError) as e:
            print("CONNECT %s: TLS handshake failed: %s" % (self.path, e), flush=True)
            return
        tunnel = type("AlbTunnelFor", (AlbTunnel,), {"lb": lb, "listener": listener})
        try:
            tunnel(tls, self.client_address, self.server)
        except (ssl.SSLError, OSError):
            pass
        finally:
            try:
                tls.close()
            except OSError:
                pass

    def blackhole(self):
        """No answer at all until the client gives up (or BLACKHOLE passes): a dropped SYN."""
        self.close_connection = True
        self.connection.settimeout(1)
        deadline = now() + BLACKHOLE
        while now() < deadline:
            try:
                if not self.connection.recv(4096):
                    return
            except TimeoutError:
                continue
            except OSError:
                return

    def reply(self, status, headers, body):
        return self.answer(status, body, headers)

    def answer(self, status, body, headers):
        self.send_response(status)
        for k, v in headers.items() if isinstance(headers, dict) else headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, *args):
        pass


def main():
    global ARGS, UPSTREAM, CHAOS, CA
    ap = argparse.ArgumentParser()
    ap.add_argument("--aws-port", type=int, required=True)
    ap.add_argument("--alb-port", type=int)
    ap.add_argument("--moto", help="moto's URL (the strict layer and data plane)")
    ap.add_argument("--upstream", help="the strict layer's URL (chaos front)")
    ap.add_argument("--chaos", type=int, help="seed: inject faults before forwarding to --upstream")
    ap.add_argument("--chaos-rate", type=float, default=0.1)
    ap.add_argument("--latency-ms", type=int, default=0)
    ap.add_argument("--docker-config", help="DOCKER_CONFIG for the data plane's pulls")
    ap.add_argument("--ca-dir", help="where the data plane writes its test CA (alb-ca.pem, alb-trust.pem)")
    ap.add_argument("--no-tasks", action="store_true",
                    help="the data plane without Docker: no task runs (stand-in tasks: POST /-/routes)")
    ARGS = ap.parse_args()
    UPSTREAM = Upstream(ARGS.upstream if ARGS.chaos is not None else ARGS.moto)
    CHAOS = Chaos(ARGS.chaos, ARGS.chaos_rate) if ARGS.chaos is not None else None
    if ARGS.alb_port:
        import tempfile
        CA = AlbCa(ARGS.ca_dir or tempfile.mkdtemp(prefix="aws-app-alb-ca-"))
        print("load balancers' test CA: %s (trust bundle %s)" % (CA.ca_path, CA.trust_path), flush=True)
        if not ARGS.no_tasks:
            threading.Thread(target=dataplane_loop, daemon=True).start()
        alb = http.server.ThreadingHTTPServer(("127.0.0.1", ARGS.alb_port), AlbProxy)
        threading.Thread(target=alb.serve_forever, daemon=True).start()

    def stop(*_):
        if ARGS.alb_port and not ARGS.no_tasks:
            for name in docker("ps", "-aq", "--filter", "label=%s" % LABEL).stdout.split():
                docker("rm", "-f", name)
        os._exit(0)

    import signal
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", ARGS.aws_port), AwsHandler)
    server.daemon_threads = True
    print("listening on %d (AWS)%s" % (ARGS.aws_port, " and %d (load balancers)" % ARGS.alb_port if ARGS.alb_port else ""), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
