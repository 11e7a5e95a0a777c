"""Tests for awsproto, with botocore's own serializers and parsers as the oracle.

Run: /var/cache/aws-app/moto-venv-98eede085503/bin/python -m unittest discover -s tests/env/strict -v
Nothing goes on the network: a before-send hook captures each signed request and aborts the call.
"""
import glob
import http.client
import io
import json
import os
import re
import sys
import unittest
import urllib.parse

import botocore.parsers
import botocore.serialize
import botocore.session
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.retries import standard

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import awsproto  # noqa: E402


class _Captured(Exception):
    def __init__(self, request):
        super().__init__("captured")
        self.request = request


def _capture(request, **_):
    raise _Captured(request)


_session = botocore.session.get_session()
_clients = {}


def _client(service, validate=True):
    key = (service, validate)
    if key not in _clients:
        c = _session.create_client(
            service, region_name="eu-west-1", endpoint_url="http://127.0.0.1:9",
            aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret",
            config=Config(parameter_validation=validate, retries={"max_attempts": 0}))
        c.meta.events.register("before-send", _capture)
        _clients[key] = c
    return _clients[key]


def wire(service, operation, params, validate=True):
    """(method, path, headers as http.server sees them, body) of botocore's real request."""
    try:
        _client(service, validate)._make_api_call(operation, params)
    except _Captured as c:
        r = c.request
    else:
        raise AssertionError("request was not captured")
    body = r.body or b""
    if hasattr(body, "read"):
        body = body.read()
    if isinstance(body, str):
        body = body.encode()
    url = urllib.parse.urlsplit(r.url)
    raw_headers = "".join(f"{k}: {v.decode() if isinstance(v, bytes) else v}\r\n" for k, v in r.headers.items())
    headers = http.client.parse_headers(io.BytesIO(raw_headers.encode() + b"\r\n"))
    return r.method, url.path + ("?" + url.query if url.query else ""), headers, body


def parsed(service, operation, params, validate=True):
    req = awsproto.parse(*wire(service, operation, params, validate))
    assert req is not None, (service, operation)
    return req


def botocore_error(req, response, operation=None):
    """botocore's reading of an (status, headers, body) answer for req."""
    status, headers, body = response
    op = awsproto.operation_model(req)
    protocol = {"cbor": "smithy-rpc-v2-cbor"}.get(req.protocol, req.protocol)
    p = botocore.parsers.create_parser(protocol)
    lower = {k.lower(): v for k, v in headers.items()}
    return p.parse({"status_code": status, "headers": lower, "body": body}, op.output_shape)


ECS_SERVICE = {
    "cluster": "app-cluster", "serviceName": "web", "taskDefinition": "web:3",
    "loadBalancers": [{"targetGroupArn": "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/abc",
                       "containerName": "web", "containerPort": 8080}],
    "desiredCount": 2, "clientToken": "tok-1", "launchType": "FARGATE", "platformVersion": "LATEST",
    "deploymentConfiguration": {"deploymentCircuitBreaker": {"enable": True, "rollback": False},
                                "maximumPercent": 200, "minimumHealthyPercent": 100},
    "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-1", "subnet-2"],
                                                     "securityGroups": ["sg-1"], "assignPublicIp": "ENABLED"}},
    "healthCheckGracePeriodSeconds": 60, "enableECSManagedTags": True, "propagateTags": "SERVICE",
    "enableExecuteCommand": False, "tags": [{"key": "app", "value": "web"}, {"key": "env", "value": "dev ü"}],
}

TASK_DEF = {
    "family": "web", "taskRoleArn": "arn:aws:iam::123456789012:role/task",
    "executionRoleArn": "arn:aws:iam::123456789012:role/exec", "networkMode": "awsvpc",
    "containerDefinitions": [{
        "name": "web", "image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/web:abc", "essential": True,
        "portMappings": [{"containerPort": 8080, "protocol": "tcp", "name": "http"}],
        "environment": [{"name": "PORT", "value": "8080"}],
        "logConfiguration": {"logDriver": "awslogs", "options": {
            "awslogs-group": "/ecs/web", "awslogs-region": "eu-west-1", "awslogs-stream-prefix": "web"}},
        "dockerLabels": {"com.example.app": "web", "empty": ""},
        "healthCheck": {"command": ["CMD-SHELL", "curl -f http://localhost:8080/ || exit 1"], "interval": 30},
    }],
    "requiresCompatibilities": ["FARGATE"], "cpu": "256", "memory": "512",
    "runtimePlatform": {"cpuArchitecture": "X86_64", "operatingSystemFamily": "LINUX"},
    "tags": [{"key": "app", "value": "web"}],
}

ACM_ARN = "arn:aws:acm:eu-west-1:123456789012:certificate/0f6a3c1e-9a0b-4c4e-8f5e-2b7a6d9c1e3f"
# ACM's validation record for app.example.com, UPSERTed into its public zone.
R53_VALIDATION_RECORD = {"HostedZoneId": "Z0123456789ABCDEFGHIJ", "ChangeBatch": {
    "Comment": "aws-app: ACM validation of app.example.com",
    "Changes": [{"Action": "UPSERT", "ResourceRecordSet": {
        "Name": "_3c1f0a9b8e7d6c5b4a3f2e1d0c9b8a7f.app.example.com.", "Type": "CNAME", "TTL": 300,
        "ResourceRecords": [{"Value": "_8f7e6d5c4b3a29180f1e2d3c4b5a6978.jkddzztszm.acm-validations.aws."}]}}]}}
# The alias records of app.example.com to the load balancer (A and AAAA, "dualstack." + its DNS name).
R53_ALIASES = {"HostedZoneId": "Z0123456789ABCDEFGHIJ", "ChangeBatch": {"Changes": [
    {"Action": "UPSERT", "ResourceRecordSet": {"Name": "app.example.com", "Type": t, "AliasTarget": {
        "HostedZoneId": "Z32O12XQLNTSW2", "DNSName": "dualstack.web-1234567890.eu-west-1.elb.amazonaws.com",
        "EvaluateTargetHealth": True}}} for t in ("A", "AAAA")]}}

ROUND_TRIPS = [
    ("ecs", "CreateService", ECS_SERVICE),
    ("ecs", "RegisterTaskDefinition", TASK_DEF),
    ("ecs", "DescribeServices", {"cluster": "c", "services": ["web"], "include": ["TAGS"]}),
    ("elbv2", "CreateLoadBalancer", {
        "Name": "web-alb", "Subnets": ["subnet-1", "subnet-2"], "SecurityGroups": ["sg-1"],
        "Scheme": "internet-facing", "Type": "application", "IpAddressType": "ipv4",
        "Tags": [{"Key": "app", "Value": "web"}, {"Key": "note", "Value": "a.b=c d+e/@:"}]}),
    ("elbv2", "CreateTargetGroup", {
        "Name": "web-tg", "Protocol": "HTTP", "Port": 8080, "VpcId": "vpc-1", "TargetType": "ip",
        "HealthCheckEnabled": True, "HealthCheckPath": "/healthz", "HealthCheckIntervalSeconds": 15,
        "HealthyThresholdCount": 2, "Matcher": {"HttpCode": "200-399"}}),
    ("elbv2", "ModifyTargetGroupAttributes", {
        "TargetGroupArn": "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web-tg/abc",
        "Attributes": [{"Key": "deregistration_delay.timeout_seconds", "Value": "30"},
                       {"Key": "stickiness.enabled", "Value": "false"}]}),
    ("elbv2", "DescribeLoadBalancers", {"Names": []}),                       # empty list: "Names="
    ("iam", "CreateRole", {
        "RoleName": "web-task", "Path": "/app/", "MaxSessionDuration": 3600, "Description": "task role",
        "AssumeRolePolicyDocument": json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}]}),
        "Tags": [{"Key": "app", "Value": "web"}]}),
    ("sts", "GetCallerIdentity", {}),
    ("sts", "AssumeRole", {"RoleArn": "arn:aws:iam::123456789012:role/r", "RoleSessionName": "sess",
                           "DurationSeconds": 900, "PolicyArns": [{"arn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}]}),
    ("sns", "CreateTopic", {"Name": "t", "Attributes": {"DisplayName": "x", "Policy": "{}"}}),   # awsQuery map
    ("ec2", "CreateSecurityGroup", {
        "GroupName": "web", "Description": "web sg", "VpcId": "vpc-1",
        "TagSpecifications": [{"ResourceType": "security-group",
                               "Tags": [{"Key": "Name", "Value": "web"}, {"Key": "app", "Value": "web"}]}]}),
    ("ec2", "AuthorizeSecurityGroupIngress", {
        "GroupId": "sg-1",
        "IpPermissions": [
            {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80,
             "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "http"}],
             "Ipv6Ranges": [{"CidrIpv6": "::/0"}]},
            {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080,
             "UserIdGroupPairs": [{"GroupId": "sg-2", "Description": "from alb"}]}],
        "TagSpecifications": [{"ResourceType": "security-group-rule", "Tags": [{"Key": "app", "Value": "web"}]}]}),
    ("ec2", "DescribeSubnets", {
        "Filters": [{"Name": "vpc-id", "Values": ["vpc-1"]}, {"Name": "tag:Name", "Values": ["a", "b"]}],
        "SubnetIds": ["subnet-1"], "DryRun": False}),
    ("ec2", "DescribeSecurityGroups", {"GroupIds": ["sg-1", "sg-2"], "GroupNames": ["web"], "MaxResults": 5}),
    ("logs", "CreateLogGroup", {"logGroupName": "/ecs/web", "tags": {"app": "web", "env": "dev"},
                                "logGroupClass": "STANDARD"}),
    ("logs", "PutRetentionPolicy", {"logGroupName": "/ecs/web", "retentionInDays": 7}),
    ("ecr", "CreateRepository", {
        "repositoryName": "app/web", "imageTagMutability": "IMMUTABLE",
        "imageScanningConfiguration": {"scanOnPush": True}, "encryptionConfiguration": {"encryptionType": "AES256"},
        "tags": [{"Key": "app", "Value": "web"}]}),
    ("ecr", "PutLifecyclePolicy", {
        "repositoryName": "app/web", "lifecyclePolicyText": json.dumps({"rules": [{
            "rulePriority": 1, "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed",
                                             "countUnit": "days", "countNumber": 14},
            "action": {"type": "expire"}}]})}),
    # The EC2 builder (src/builder.rs); RunInstances' UserData is in BUILDER_RUN below (botocore
    # base64-encodes it in place).
    ("ssm", "GetParameter", {"Name": "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"}),
    ("iam", "CreateInstanceProfile", {"InstanceProfileName": "alex-aws-app-builder",
                                      "Tags": [{"Key": "aws-app:prefix", "Value": "alex"}]}),
    ("iam", "AddRoleToInstanceProfile", {"InstanceProfileName": "alex-aws-app-builder", "RoleName": "alex-aws-app-builder"}),
    ("iam", "PutRolePolicy", {"RoleName": "alex-aws-app-builder", "PolicyName": "push-to-the-app-repository",
                              "PolicyDocument": json.dumps({"Version": "2012-10-17", "Statement": [
                                  {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"}]})}),
    ("ec2", "RunInstances", {
        "ImageId": "ami-1", "InstanceType": "t3.medium", "MinCount": 1, "MaxCount": 1, "ClientToken": "t-1",
        "NetworkInterfaces": [{"DeviceIndex": 0, "SubnetId": "subnet-1", "Groups": ["sg-1"],
                               "AssociatePublicIpAddress": True, "DeleteOnTermination": True}],
        "IamInstanceProfile": {"Name": "alex-aws-app-builder"},
        "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled", "HttpPutResponseHopLimit": 1},
        "InstanceInitiatedShutdownBehavior": "terminate",
        "TagSpecifications": [{"ResourceType": t, "Tags": [{"Key": "Name", "Value": "alex-aws-app-builder"},
                                                           {"Key": "aws-app:role", "Value": "builder"}]}
                              for t in ("instance", "volume")]}),
    ("ec2", "DescribeInstances", {"Filters": [{"Name": "tag:aws-app:prefix", "Values": ["alex"]},
                                              {"Name": "instance-state-name", "Values": ["pending", "running"]}]}),
    ("ec2", "TerminateInstances", {"InstanceIds": ["i-1", "i-2"]}),
    ("application-autoscaling", "RegisterScalableTarget", {
        "ServiceNamespace": "ecs", "ResourceId": "service/c/web", "ScalableDimension": "ecs:service:DesiredCount",
        "MinCapacity": 1, "MaxCapacity": 4, "Tags": {"aws-app:prefix": "web"}}),
    ("application-autoscaling", "PutScalingPolicy", {
        "PolicyName": "web-aws-app-requests", "ServiceNamespace": "ecs", "ResourceId": "service/c/web",
        "ScalableDimension": "ecs:service:DesiredCount", "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": {
            "TargetValue": 1000.0, "ScaleInCooldown": 300, "ScaleOutCooldown": 60, "DisableScaleIn": False,
            "PredefinedMetricSpecification": {
                "PredefinedMetricType": "ALBRequestCountPerTarget",
                "ResourceLabel": "app/web/50dc6c495c0c9188/targetgroup/web-tg/73e2d6bc24d8a067"}}}),
    # --domain (src/aws/alb.rs, acm, route53): the certificate, the HTTPS listener, the redirect.
    ("acm", "RequestCertificate", {
        "DomainName": "app.example.com", "ValidationMethod": "DNS", "IdempotencyToken": "a1b2c3d4e5f60718293a4b5c6d7e8f90",
        "KeyAlgorithm": "EC_prime256v1", "Tags": [{"Key": "aws-app:prefix", "Value": "alex"}]}),
    ("acm", "DescribeCertificate", {"CertificateArn": ACM_ARN}),
    ("acm", "ListCertificates", {"CertificateStatuses": ["PENDING_VALIDATION", "ISSUED"], "MaxItems": 100,
                                 "Includes": {"keyTypes": ["RSA_2048", "EC_prime256v1"]}}),
    ("acm", "ListTagsForCertificate", {"CertificateArn": ACM_ARN}),
    ("acm", "DeleteCertificate", {"CertificateArn": ACM_ARN}),
    ("elbv2", "CreateListener", {
        "LoadBalancerArn": "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/web/50dc6c495c0c9188",
        "Protocol": "HTTPS", "Port": 443, "SslPolicy": "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09",
        "Certificates": [{"CertificateArn": ACM_ARN}],
        "DefaultActions": [{"Type": "forward",
                            "TargetGroupArn": "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/abc"}],
        "Tags": [{"Key": "aws-app:prefix", "Value": "alex"}]}),
    ("elbv2", "ModifyListener", {
        "ListenerArn": "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2",
        "DefaultActions": [{"Type": "redirect", "RedirectConfig": {
            "Protocol": "HTTPS", "Port": "443", "Host": "#{host}", "Path": "/#{path}", "Query": "#{query}",
            "StatusCode": "HTTP_301"}}]}),
    ("elbv2", "DescribeListenerCertificates", {
        "ListenerArn": "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2"}),
    # Route 53 (rest-xml): botocore strips '/hostedzone/' and '/change/' from ids, as the Rust SDK does.
    ("route53", "ChangeResourceRecordSets", R53_VALIDATION_RECORD),
    ("route53", "ChangeResourceRecordSets", R53_ALIASES),
    ("route53", "ListHostedZonesByName", {"DNSName": "example.com.", "MaxItems": "10"}),
    ("route53", "GetChange", {"Id": "C2682N5HXP0BZ4"}),
    ("route53", "ListResourceRecordSets", {"HostedZoneId": "Z0123456789ABCDEFGHIJ", "StartRecordName": "app.example.com.",
                                           "StartRecordType": "A", "MaxItems": "1"}),
    ("route53", "GetHostedZone", {"Id": "Z0123456789ABCDEFGHIJ"}),
    ("route53", "CreateHostedZone", {"Name": "example.com", "CallerReference": "ref-1",
                                     "HostedZoneConfig": {"Comment": "test zone", "PrivateZone": False}}),
    ("application-autoscaling", "DescribeScalingActivities", {
        "ServiceNamespace": "ecs", "ResourceId": "service/c/web", "ScalableDimension": "ecs:service:DesiredCount",
        "MaxResults": 5}),
]


class ParseRoundTrip(unittest.TestCase):
    """parse() recovers exactly the params botocore serialized, for every protocol."""

    def test_round_trips(self):
        for service, op, params in ROUND_TRIPS:
            with self.subTest(op=f"{service}.{op}"):
                req = parsed(service, op, params)
                self.assertEqual(req.operation, op)
                self.assertEqual(req.region, "eu-west-1")
                self.assertEqual(req.params, params)
                self.assertEqual(req.unknown, [])

    def test_identity(self):
        cases = {("ecs", "CreateService"): ("ecs", "json", "ecs"), ("elbv2", "CreateTargetGroup"): ("elasticloadbalancing", "query", "elbv2"),
                 ("iam", "CreateRole"): ("iam", "query", "iam"), ("ec2", "DescribeSubnets"): ("ec2", "ec2", "ec2"),
                 ("logs", "CreateLogGroup"): ("logs", "json", "logs"), ("ecr", "CreateRepository"): ("ecr", "json", "ecr"),
                 ("sts", "GetCallerIdentity"): ("sts", "query", "sts")}
        cases[("route53", "ChangeResourceRecordSets")] = ("route53", "rest-xml", "route53")
        cases[("acm", "RequestCertificate")] = ("acm", "json", "acm")
        for (service, op), (signing, protocol, model) in cases.items():
            params = next(p for s, o, p in ROUND_TRIPS if (s, o) == (service, op))
            req = parsed(service, op, params)
            self.assertEqual((req.service, req.protocol, req.model_name), (signing, protocol, model))
            self.assertEqual(awsproto.operation_model(req).name, op)

    def test_raw(self):
        req = parsed("ecs", "CreateService", ECS_SERVICE)
        self.assertEqual(req.raw["serviceName"], "web")
        req = parsed("ec2", "CreateSecurityGroup", ROUND_TRIPS[11][2])
        self.assertEqual(req.raw["TagSpecification.1.Tag.2.Key"], "app")
        self.assertEqual(req.raw["GroupDescription"], "web sg")
        self.assertEqual(req.raw["Action"], "CreateSecurityGroup")

    def test_classic_elb_and_unknown(self):
        req = parsed("elb", "DescribeLoadBalancers", {"LoadBalancerNames": ["a"]})
        self.assertEqual((req.service, req.model_name), ("elasticloadbalancing", "elb"))
        method, path, headers, body = wire("ecs", "ListClusters", {})
        self.assertIsNone(awsproto.parse(method, path, {"Content-Type": "application/x-amz-json-1.1"}, body))
        headers.replace_header("X-Amz-Target", "AmazonEC2ContainerServiceV20141113.NoSuchOperation")
        self.assertIsNone(awsproto.parse(method, path, headers, body))
        method, path, headers, body = wire("iam", "ListRoles", {})
        self.assertIsNone(awsproto.parse(method, path, headers, body.replace(b"ListRoles", b"Nope")))
        self.assertIsNone(awsproto.parse("GET", "/health", {}, b""))
        # plain dicts with other casing work too
        method, path, headers, body = wire("ecs", "ListClusters", {})
        lowered = {k.lower(): v for k, v in headers.items()}
        self.assertEqual(awsproto.parse(method, path, lowered, body).operation, "ListClusters")

    def test_unknown_form_keys_are_noted(self):
        method, path, headers, body = wire("iam", "GetRole", {"RoleName": "r"})
        req = awsproto.parse(method, path, headers, body + b"&Bogus.member.1=x")
        self.assertEqual(req.params, {"RoleName": "r"})
        self.assertEqual(req.unknown, ["Bogus.member.1"])

    def test_cbor(self):
        """rpcv2Cbor (not used by this project's crates today): decode botocore's CBOR serialization."""
        op = awsproto.load_model("ecs").operation_model("CreateService")
        d = botocore.serialize.create_serializer("smithy-rpc-v2-cbor").serialize_to_request(ECS_SERVICE, op)
        headers = dict(d["headers"], Authorization="AWS4-HMAC-SHA256 Credential=AKID/20261128/us-east-1/ecs/aws4_request, "
                                                   "SignedHeaders=host, Signature=00")
        req = awsproto.parse("POST", d["url_path"], headers, d["body"])
        self.assertEqual((req.protocol, req.operation), ("cbor", "CreateService"))
        self.assertEqual(req.params, ECS_SERVICE)
        self.assertEqual(awsproto.cbor_decode(awsproto.cbor_encode({"a": [1, -2, 2.5, b"x", None, True, "ü" * 30]})),
                         {"a": [1, -2, 2.5, b"x", None, True, "ü" * 30]})
        resp = awsproto.error(req, 400, "InvalidParameterException", "bad")
        err = botocore_error(req, resp)["Error"]
        self.assertEqual((err["Code"], err["Message"]), ("InvalidParameterException", "bad"))


class RestXml(unittest.TestCase):
    """Route 53's rest-xml: the operation from the method and path, ids from the URI, the rest from the
    query string and the XML body; what the Rust SDK sends differs from botocore in small ways."""

    def test_rust_sdk_paths(self):
        # aws-sdk-route53 writes "/2013-04-01/hostedzone/{HostedZoneId}/rrset" (no trailing slash, unlike
        # botocore's requestUri) for both ChangeResourceRecordSets (POST) and ListResourceRecordSets (GET),
        # and MaxItems as an integer.
        method, path, headers, body = wire("route53", "ChangeResourceRecordSets", R53_ALIASES)
        self.assertEqual((method, path), ("POST", "/2013-04-01/hostedzone/Z0123456789ABCDEFGHIJ/rrset/"))
        req = awsproto.parse(method, path.rstrip("/"), headers, body)
        self.assertEqual((req.operation, req.params), ("ChangeResourceRecordSets", R53_ALIASES))
        req = awsproto.parse("GET", "/2013-04-01/hostedzone/Z1/rrset?name=app.example.com&type=A&maxitems=1", headers, b"")
        self.assertEqual((req.operation, req.params), ("ListResourceRecordSets", {
            "HostedZoneId": "Z1", "StartRecordName": "app.example.com", "StartRecordType": "A", "MaxItems": "1"}))
        req = awsproto.parse("GET", "/2013-04-01/hostedzone/Z1", headers, b"")
        self.assertEqual((req.operation, req.params), ("GetHostedZone", {"Id": "Z1"}))
        req = awsproto.parse("GET", "/2013-04-01/change/C1%2F2", headers, b"")
        self.assertEqual((req.operation, req.params, req.protocol), ("GetChange", {"Id": "C1/2"}, "rest-xml"))
        self.assertEqual(req.raw["labels"], {"Id": "C1/2"})

    def test_unknown_and_unreadable(self):
        method, path, headers, body = wire("route53", "ListHostedZonesByName", {"DNSName": "example.com"})
        req = awsproto.parse(method, path + "&bogus=1", headers, body)
        self.assertEqual((req.params, req.unknown), ({"DNSName": "example.com"}, ["bogus"]))
        self.assertIsNone(awsproto.parse("GET", "/2013-04-01/nosuchthing", headers, b""))
        self.assertIsNone(awsproto.parse("DELETE", "/2013-04-01/hostedzonesbyname", headers, b""))
        method, path, headers, body = wire("route53", "ChangeResourceRecordSets", R53_ALIASES)
        self.assertIsNone(awsproto.parse(method, path, headers, body[:-10]))       # not XML: unreadable

    def test_validation(self):
        awsproto.RULES = []
        self.addCleanup(setattr, awsproto, "RULES", None)
        bad = json.loads(json.dumps(R53_VALIDATION_RECORD))
        bad["ChangeBatch"]["Comment"] = "c" * 257
        bad["ChangeBatch"]["Changes"][0]["Action"] = "MOVE"
        req = _bad("route53", "ChangeResourceRecordSets", bad)
        resp = awsproto.check(req)
        err = botocore_error(req, resp)["Error"]
        self.assertEqual((resp[0], err["Code"], err["Type"]), (400, "InvalidInput", "Sender"))
        self.assertEqual(err["Message"], "2 validation errors detected: Value '" + "c" * 257 + "' at 'changeBatch.comment' "
                         "failed to satisfy constraint: Member must have length less than or equal to 256; Value 'MOVE' "
                         "at 'changeBatch.changes.1.member.action' failed to satisfy constraint: Member must satisfy enum "
                         "value set: [CREATE, DELETE, UPSERT]")
        req = _bad("route53", "ChangeResourceRecordSets", {"HostedZoneId": "Z" * 33, "ChangeBatch": {"Changes": []}})
        self.assertEqual(awsproto.validate(req), [
            "Value '" + "Z" * 33 + "' at 'hostedZoneId' failed to satisfy constraint: Member must have length less than "
            "or equal to 32",
            "Value '[]' at 'changeBatch.changes' failed to satisfy constraint: Member must have length greater than or "
            "equal to 1"])

    def test_error_as_the_rust_sdk_reads_it(self):
        """aws-sdk-route53's rest_xml_wrapped_errors.rs: the root must be ErrorResponse, the Error element a
        child of it, with Code and Message; botocore reads the same body."""
        import xml.etree.ElementTree as ElementTree
        req = parsed("route53", "ChangeResourceRecordSets", R53_ALIASES)
        message = "[Tried to create an alias that targets x., type A in zone Z1, but that target was not found]"
        status, headers, body = awsproto.error(req, 400, "InvalidChangeBatch", message)
        self.assertTrue(body.startswith(b'<?xml version="1.0"?>\n<ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/">'))
        root = ElementTree.fromstring(body)
        self.assertEqual(awsproto._local(root.tag), "ErrorResponse")
        error = next(c for c in root if awsproto._local(c.tag) == "Error")
        fields = {awsproto._local(c.tag): c.text for c in error}
        self.assertEqual((fields["Type"], fields["Code"], fields["Message"]), ("Sender", "InvalidChangeBatch", message))
        out = botocore_error(req, (status, headers, body))
        self.assertEqual((out["Error"]["Code"], out["Error"]["Message"]), ("InvalidChangeBatch", message))
        self.assertEqual(out["ResponseMetadata"]["RequestId"], headers["x-amzn-RequestId"])

    def test_xml_response(self):
        req = parsed("route53", "GetChange", {"Id": "C1"})
        status, headers, body = awsproto.xml_response(req, "<ChangeInfo><Id>/change/C1</Id><Status>PENDING</Status>"
                                                           "<SubmittedAt>2026-01-02T03:04:05.000Z</SubmittedAt></ChangeInfo>")
        self.assertIn(b"<GetChangeResponse xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\">", body)
        out = botocore.parsers.create_parser("rest-xml").parse(
            {"status_code": status, "headers": {k.lower(): v for k, v in headers.items()}, "body": body},
            awsproto.operation_model(req).output_shape)
        self.assertEqual((out["ChangeInfo"]["Id"], out["ChangeInfo"]["Status"]), ("/change/C1", "PENDING"))


def _bad(service, op, params):
    return parsed(service, op, params, validate=False)


class ModelValidation(unittest.TestCase):
    def setUp(self):
        awsproto.RULES = []          # model rules only; documented.py is tested separately

    def tearDown(self):
        awsproto.RULES = None

    def assertAnswer(self, req, status, code, message):
        resp = awsproto.check(req)
        self.assertIsNotNone(resp)
        self.assertEqual(resp[0], status)
        err = botocore_error(req, resp)["Error"]
        self.assertEqual(err["Code"], code)
        self.assertEqual(err["Message"], message)

    def test_valid_requests_pass(self):
        for service, op, params in ROUND_TRIPS:
            with self.subTest(op=f"{service}.{op}"):
                req = parsed(service, op, params)
                self.assertEqual(awsproto.validate(req), [])
                self.assertIsNone(awsproto.check(req))

    def test_ecs_missing_required(self):
        req = _bad("ecs", "CreateService", {"taskDefinition": "web:1"})
        self.assertEqual(awsproto.validate(req),
                         ["Value null at 'serviceName' failed to satisfy constraint: Member must not be null"])
        self.assertAnswer(req, 400, "InvalidParameterException",
                          "1 validation error detected: Value null at 'serviceName' failed to satisfy constraint: "
                          "Member must not be null")

    def test_ecs_enum_and_nested(self):
        params = dict(ECS_SERVICE, launchType="SPOT",
                      tags=[{"key": "ok", "value": "v"}, {"key": "bad#key", "value": "v"}],
                      deploymentController={})
        req = _bad("ecs", "CreateService", params)
        self.assertEqual(awsproto.validate(req), [
            "Value 'SPOT' at 'launchType' failed to satisfy constraint: Member must satisfy enum value set: "
            "[EC2, FARGATE, EXTERNAL, MANAGED_INSTANCES]",
            "Value null at 'deploymentController.type' failed to satisfy constraint: Member must not be null",
            "Value 'bad#key' at 'tags.2.member.key' failed to satisfy constraint: Member must satisfy regular "
            "expression pattern: ([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)",
        ])
        resp = awsproto.check(req)
        self.assertTrue(botocore_error(req, resp)["Error"]["Message"].startswith("3 validation errors detected: Value 'SPOT'"))

    def test_ecs_list_length(self):
        req = _bad("ecs", "CreateService", dict(ECS_SERVICE, tags=[{"key": f"k{i}", "value": "v"} for i in range(51)]))
        [msg] = awsproto.validate(req)
        self.assertTrue(msg.startswith("Value '[{key=k0, value=v}, "), msg)
        self.assertTrue(msg.endswith("' at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50"))

    def test_iam(self):
        req = _bad("iam", "CreateRole", {"RoleName": "r" * 65, "AssumeRolePolicyDocument": "{}", "MaxSessionDuration": 100000})
        self.assertAnswer(req, 400, "ValidationError",
                          "2 validation errors detected: Value '" + "r" * 65 + "' at 'roleName' failed to satisfy "
                          "constraint: Member must have length less than or equal to 64; Value at 'maxSessionDuration' "
                          "failed to satisfy constraint: Member must have value less than or equal to 43200")

    def test_elbv2(self):
        tg = next(p for s, o, p in ROUND_TRIPS if o == "CreateTargetGroup")
        req = _bad("elbv2", "CreateTargetGroup", dict(tg, Port=70000, Protocol="HTTP3"))
        enum = ", ".join(awsproto.load_model("elbv2").shape_for("ProtocolEnum").enum)
        self.assertAnswer(req, 400, "ValidationError",
                          "2 validation errors detected: Value 'HTTP3' at 'protocol' failed to satisfy constraint: "
                          f"Member must satisfy enum value set: [{enum}]; Value '70000' at 'port' failed to satisfy "
                          "constraint: Member must have value less than or equal to 65535")
        self.assertIn("Value '70000' at 'port'", awsproto.validate(req)[-1])
        req = _bad("elbv2", "ModifyTargetGroupAttributes", {"TargetGroupArn": "arn", "Attributes": [{"Value": "1"}]})
        self.assertEqual(awsproto.validate(req), [])       # Key is optional in the model

    def test_logs_map_and_pattern(self):
        req = _bad("logs", "CreateLogGroup", {"logGroupName": "bad name!", "tags": {"#bad": "v", "ok": "v"}})
        self.assertAnswer(req, 400, "InvalidParameterException",
                          "2 validation errors detected: Value 'bad name!' at 'logGroupName' failed to satisfy constraint: "
                          "Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+; "
                          "Value '{#bad=v, ok=v}' at 'tags' failed to satisfy constraint: Map keys must satisfy constraint: "
                          "[Member must have length less than or equal to 128, Member must have length greater than or "
                          "equal to 1, Member must satisfy regular expression pattern: ^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+)$]")
        req = _bad("logs", "CreateLogGroup", {"logGroupName": "/ok", "tags": {"Grüße 1": "ünïcødé ok"}})
        self.assertEqual(awsproto.validate(req), [])

    def test_ecr_wording(self):
        """The message AWS sent for CreateRepository(repositoryName='Bad_Name!'), as recorded by others."""
        req = _bad("ecr", "CreateRepository", {"repositoryName": "Bad_Name!"})
        self.assertAnswer(req, 400, "InvalidParameterException",
                          "Invalid parameter at 'repositoryName' failed to satisfy constraint: 'must satisfy regular "
                          "expression '[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*)*''")

    def test_ec2(self):
        req = _bad("ec2", "CreateSecurityGroup", {"GroupName": "web"})
        self.assertEqual(awsproto.validate(req), ["The request must contain the parameter GroupDescription"])
        self.assertAnswer(req, 400, "MissingParameter", "The request must contain the parameter GroupDescription")
        req = _bad("ec2", "DescribeSubnets", {"MaxResults": 1})
        self.assertAnswer(req, 400, "InvalidParameterValue",
                          "Value (1) for parameter MaxResults is invalid. It must have value greater than or equal to 5")

    def test_java_regex(self):
        rx = awsproto.java_regex("[\\w-_]*")
        self.assertTrue(rx.fullmatch("a-b_c") and not rx.fullmatch("a b"))
        rx = awsproto.java_regex("[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*")
        self.assertTrue(rx.fullmatch("Ünï cødé 9 ٣") and not rx.fullmatch("#"))
        self.assertIsNone(awsproto.java_regex("[a-z&&[^b]]"))


class DocumentedRules(unittest.TestCase):
    def tearDown(self):
        awsproto.RULES = None

    def test_rules(self):
        awsproto.RULES = [
            ("elasticloadbalancing", "CreateLoadBalancer", "Name",
             {"max_len": 32, "code": "ValidationError",
              "message": "The load balancer name '{value}' cannot be longer than '{max_len}' characters",
              "doc": "ELBv2 CreateLoadBalancer: Name max 32"}),
            ("ecs", "*", "serviceName", {"pattern": "[a-zA-Z0-9_-]+", "max_len": 255}),
            ("ec2", "*", "TagSpecifications[].Tags[].Key",
             {"not_prefix": ["aws:"], "code": "InvalidParameterValue",
              "message": "Value ( {value} ) for parameter key is invalid. Tag keys starting with 'aws:' are reserved for internal use"}),
            ("logs", "CreateLogGroup", "tags{}", {"max_len": 3}),
        ]
        lb = next(p for s, o, p in ROUND_TRIPS if o == "CreateLoadBalancer")
        req = parsed("elbv2", "CreateLoadBalancer", dict(lb, Name="n" * 33))
        msg = "The load balancer name '" + "n" * 33 + "' cannot be longer than '32' characters"
        self.assertEqual(awsproto.validate(req), [msg])
        err = botocore_error(req, awsproto.check(req))["Error"]
        self.assertEqual((err["Code"], err["Message"], err["Type"]), ("ValidationError", msg, "Sender"))
        self.assertIsNone(awsproto.check(parsed("elbv2", "CreateLoadBalancer", dict(lb, Name="n" * 32))))

        req = parsed("ecs", "CreateService", dict(ECS_SERVICE, serviceName="my service"))
        v = "Value 'my service' at 'serviceName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_-]+"
        self.assertEqual(awsproto.validate(req), [v])
        err = botocore_error(req, awsproto.check(req))["Error"]
        self.assertEqual((err["Code"], err["Message"]), ("InvalidParameterException", "1 validation error detected: " + v))
        # model violations and message-less documented ones go out together, model first
        req = _bad("ecs", "CreateService", dict(ECS_SERVICE, serviceName="my service", launchType="X"))
        self.assertTrue(botocore_error(req, awsproto.check(req))["Error"]["Message"].startswith(
            "2 validation errors detected: Value 'X' at 'launchType'"))

        sg = next(p for s, o, p in ROUND_TRIPS if o == "CreateSecurityGroup")
        bad = json.loads(json.dumps(sg))
        bad["TagSpecifications"][0]["Tags"][1]["Key"] = "AWS:thing"
        req = parsed("ec2", "CreateSecurityGroup", bad)
        err = botocore_error(req, awsproto.check(req))["Error"]
        self.assertEqual(err["Code"], "InvalidParameterValue")
        self.assertIn("( AWS:thing )", err["Message"])

        req = parsed("logs", "CreateLogGroup", {"logGroupName": "/x", "tags": {"a": "long"}})
        self.assertEqual(awsproto.validate(req),
                         ["Value 'long' at 'tags.a' failed to satisfy constraint: Member must have length less than or equal to 3"])

    def test_builder_rules(self):
        """documented.py's RunInstances rules: user data base64 and at most 16 KB before it."""
        awsproto.RULES = None
        run = json.loads(json.dumps(next(p for s, o, p in ROUND_TRIPS if o == "RunInstances")))

        def answer(raw_user_data=None, **params):
            req = parsed("ec2", "RunInstances", dict(run, **params), validate=False)
            if raw_user_data is not None:              # as sent, not base64-encoded by botocore
                req.params["UserData"] = raw_user_data
            resp = awsproto.check(req)
            return None if resp is None else (lambda e: (e["Code"], e["Message"]))(botocore_error(req, resp)["Error"])

        self.assertIsNone(answer(UserData="#" * 16384))     # botocore base64-encodes it
        self.assertEqual(answer(UserData="#" * 16385), ("InvalidParameterValue", "User data is limited to 16384 bytes"))
        self.assertEqual(answer(raw_user_data="#!/bin/bash"), ("InvalidParameterValue", "Invalid BASE64 encoding of user data"))
        self.assertEqual(answer(TagSpecifications=[{"ResourceType": "security-group", "Tags": []}])[1],
                         "'security-group' is not a valid taggable resource type for this operation.")
        self.assertEqual(answer(MetadataOptions={"HttpPutResponseHopLimit": 65})[0], "InvalidParameterValue")
        self.assertEqual(answer(MinCount=0)[0], "InvalidParameterValue")
        req = parsed("iam", "PutRolePolicy", {"RoleName": "r", "PolicyName": "p", "PolicyDocument": " " * 10241})
        err = botocore_error(req, awsproto.check(req))["Error"]
        self.assertEqual(err["Code"], "LimitExceeded")

    def test_acm_common_name(self):
        """documented.py: ACM's first domain name (the common name) is at most 64 octets; SANs 253."""
        awsproto.RULES = None
        request = next(p for s, o, p in ROUND_TRIPS if o == "RequestCertificate")
        long_name = "a" * 56 + ".example.com"                # 68 octets, within the model's 253
        req = parsed("acm", "RequestCertificate", dict(request, DomainName=long_name))
        err = botocore_error(req, awsproto.check(req))["Error"]
        self.assertEqual((err["Code"], err["Message"]), (
            "ValidationException", "1 validation error detected: Value '%s' at 'domainName' failed to satisfy "
            "constraint: Member must have length less than or equal to 64" % long_name))
        self.assertIsNone(awsproto.check(parsed("acm", "RequestCertificate", dict(
            request, DomainName="a" * 52 + ".example.com", SubjectAlternativeNames=[long_name]))))

    def test_documented_py_loads(self):
        if not os.path.exists(os.path.join(os.path.dirname(os.path.abspath(__file__)), "documented.py")):
            self.skipTest("documented.py not written yet")
        for service, op, path, rule in awsproto._rules():
            self.assertIsInstance(rule, dict)
        for service, op, params in ROUND_TRIPS:        # every rule must accept these valid requests
            with self.subTest(op=f"{service}.{op}"):
                self.assertEqual(awsproto.validate(parsed(service, op, params)), [])


class ErrorShapes(unittest.TestCase):
    SAMPLES = {s: next((svc, o, p) for svc, o, p in ROUND_TRIPS if svc == s)
               for s in ("ecs", "ecr", "logs", "elbv2", "iam", "sts", "ec2", "acm", "route53")}

    def req(self, service):
        return parsed(*self.SAMPLES[service])

    def test_error_envelopes(self):
        message = "Tricky <message> & \"quotes\" 'and' ü"
        for service in self.SAMPLES:
            with self.subTest(service=service):
                req = self.req(service)
                status, headers, body = awsproto.error(req, 400, "SomeError", message)
                self.assertEqual(headers["Content-Length"], str(len(body)))
                out = botocore_error(req, (status, headers, body))
                self.assertEqual(out["Error"]["Code"], "SomeError")
                self.assertEqual(out["Error"]["Message"], message)
                self.assertTrue(out["ResponseMetadata"]["RequestId"])
                if req.protocol == "query":
                    self.assertEqual(out["Error"]["Type"], "Sender")
                    self.assertIn(awsproto.load_model(req.model_name).metadata["xmlNamespace"].encode(), body)
                if req.protocol == "rest-xml":
                    self.assertEqual(out["Error"]["Type"], "Sender")
                    self.assertIn(b'xmlns="https://route53.amazonaws.com/doc/2013-04-01/"', body)
                if req.protocol == "json":
                    self.assertEqual(headers["Content-Type"], "application/x-amz-json-1.1")

    def _ctx(self, req, response):
        status, headers, body = response
        parsed_resp = botocore_error(req, response)
        http = AWSResponse("http://x", status, headers, None)
        return standard.RetryContext(attempt_number=1, operation_model=awsproto.operation_model(req),
                                     parsed_response=parsed_resp, http_response=http)

    def test_throttle(self):
        expected = {"ecs": (400, "ThrottlingException"), "ecr": (400, "ThrottlingException"),
                    "logs": (400, "ThrottlingException"), "elbv2": (400, "Throttling"), "iam": (400, "Throttling"),
                    "sts": (400, "Throttling"), "ec2": (503, "RequestLimitExceeded"), "acm": (400, "ThrottlingException"),
                    "route53": (400, "Throttling")}
        rust = _rust_throttling_codes()
        for service, (status, code) in expected.items():
            with self.subTest(service=service):
                req = self.req(service)
                resp = awsproto.throttle(req)
                self.assertEqual(resp[0], status)
                ctx = self._ctx(req, resp)
                self.assertEqual(ctx.get_error_code(), code)
                self.assertTrue(standard.ThrottledRetryableChecker().is_retryable(ctx))
                self.assertTrue(standard.StandardRetryConditions().is_retryable(ctx))
                if rust:
                    self.assertIn(code, rust)

    def test_server_error(self):
        for service in self.SAMPLES:
            for status in (500, 503):
                with self.subTest(service=service, status=status):
                    req = self.req(service)
                    resp = awsproto.server_error(req, status)
                    ctx = self._ctx(req, resp)
                    want = {("ec2", 500): "InternalError", ("ec2", 503): "Unavailable"}.get(
                        (service, status), "InternalFailure" if status == 500 else "ServiceUnavailable")
                    self.assertEqual(ctx.get_error_code(), want)
                    self.assertTrue(standard.TransientRetryableChecker().is_retryable(ctx))
                    if req.protocol in ("query", "rest-xml"):
                        self.assertEqual(ctx.parsed_response["Error"]["Type"], "Receiver")

    def test_success_helpers(self):
        req = self.req("ecs")
        status, headers, body = awsproto.json_response(req, {"service": {"serviceName": "web"}})
        out = botocore.parsers.create_parser("json").parse(
            {"status_code": status, "headers": headers, "body": body}, awsproto.operation_model(req).output_shape)
        self.assertEqual(out["service"]["serviceName"], "web")
        req = parsed("iam", "GetRole", {"RoleName": "r"})
        resp = awsproto.query_response(req, "<Role><RoleName>r</RoleName><Arn>arn:aws:iam::1:role/r</Arn></Role>")
        out = botocore.parsers.create_parser("query").parse(
            {"status_code": 200, "headers": resp[1], "body": resp[2]}, awsproto.operation_model(req).output_shape)
        self.assertEqual(out["Role"]["RoleName"], "r")
        req = parsed("ec2", "DescribeSubnets", {})
        resp = awsproto.query_response(req, "<subnetSet><item><subnetId>subnet-1</subnetId></item></subnetSet>")
        out = botocore.parsers.create_parser("ec2").parse(
            {"status_code": 200, "headers": resp[1], "body": resp[2]}, awsproto.operation_model(req).output_shape)
        self.assertEqual(out["Subnets"][0]["SubnetId"], "subnet-1")


# ------------------------------------------------------------------ the crates this project builds against

_CRATES = {"aws-sdk-ecs": "ecs", "aws-sdk-ecr": "ecr", "aws-sdk-cloudwatchlogs": "logs", "aws-sdk-ec2": "ec2",
           "aws-sdk-elasticloadbalancingv2": "elbv2", "aws-sdk-iam": "iam", "aws-sdk-sts": "sts",
           "aws-sdk-ssm": "ssm", "aws-sdk-secretsmanager": "secretsmanager", "aws-sdk-kms": "kms",
           "aws-sdk-applicationautoscaling": "application-autoscaling", "aws-sdk-acm": "acm",
           "aws-sdk-route53": "route53"}
_REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))


def _crate_dirs():
    lock = os.path.join(_REPO, "Cargo.lock")
    if not os.path.exists(lock):
        return {}
    with open(lock) as fh:
        text, out = fh.read(), {}
    for name in _CRATES:
        m = re.search(r'name = "%s"\nversion = "([^"]+)"' % re.escape(name), text)
        if m:
            hits = glob.glob(os.path.expanduser(f"~/.cargo/registry/src/*/{name}-{m.group(1)}"))
            if hits:
                out[name] = hits[0]
    return out


def _rust_throttling_codes():
    lock = os.path.join(_REPO, "Cargo.lock")
    if not os.path.exists(lock):
        return None
    with open(lock) as fh:
        m = re.search(r'name = "aws-runtime"\nversion = "([^"]+)"', fh.read())
    if not m:
        return None
    for path in glob.glob(os.path.expanduser(f"~/.cargo/registry/src/*/aws-runtime-{m.group(1)}/src/retries/classifiers.rs")):
        with open(path) as fh:
            block = re.search(r"THROTTLING_ERRORS: &\[&str\] = &\[(.*?)\];", fh.read(), re.S)
        if block:
            return set(re.findall(r'"([^"]+)"', block.group(1)))
    return None


class RustCrates(unittest.TestCase):
    """The aws-sdk-rust crates in Cargo.lock speak the protocols parse() reads (checked in their sources)."""

    def test_protocols(self):
        dirs = _crate_dirs()
        if not dirs:
            self.skipTest("aws-sdk crates not in ~/.cargo/registry")
        for crate, path in dirs.items():
            with self.subTest(crate=crate):
                src = ""
                for f in [os.path.join(path, "src", "config.rs")] + glob.glob(os.path.join(path, "src", "operation", "*.rs"))[:40]:
                    with open(f, encoding="utf-8") as fh:
                        src += fh.read()
                self.assertNotIn("application/cbor", src)
                protocol = awsproto.load_model(_CRATES[crate]).metadata["protocol"]
                if protocol == "json":
                    self.assertTrue("application/x-amz-json-1.1" in src or "aws_json_1_1()" in src)
                elif protocol == "rest-xml":
                    # XML bodies, errors read from <ErrorResponse><Error> only (what awsproto.error writes).
                    self.assertIn("application/xml", src)
                    with open(os.path.join(path, "src", "rest_xml_wrapped_errors.rs"), encoding="utf-8") as fh:
                        self.assertIn('matches("ErrorResponse")', fh.read())
                else:
                    self.assertIn("application/x-www-form-urlencoded", src)
        if "aws-sdk-ec2" in dirs:
            self.assertTrue(os.path.exists(os.path.join(dirs["aws-sdk-ec2"], "src", "ec2_query_errors.rs")))


if __name__ == "__main__":
    unittest.main()
