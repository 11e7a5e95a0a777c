"""IAM enforcement for moto's own users, per request: a call signed with an access key that
moto's IAM made (CreateAccessKey) is allowed only when that user's policies allow its action;
calls signed with the suite's shared `testing` key pass as before. moto can enforce IAM itself,
but only for the whole server at once, which the rest of the suite (and this layer's own
clients) cannot live with.

The evaluation is moto's (moto.iam.access_control.IAMPolicy, the code behind moto's own
enforcement), on the user's inline and attached policies. Like moto's, it is by action: a call
carries no resource ARN here, so each statement's Resource is read as "*" and its Condition as
met. Whether the policy's ARNs name the resources aws-app makes is the tests' separate check.

The answer to a denied call is the one AWS gives its protocol: JSON services 400
AccessDeniedException, awsQuery services (IAM, ELB, STS) 403 AccessDenied, EC2 403
UnauthorizedOperation; each "User: ARN is not authorized to perform: ACTION ...".
"""
import copy
import json
import re
import urllib.parse
import threading

import awsproto

_KEY = re.compile(r"Credential=([^/,\s]+)/")
# The shared key of the suite and of this layer's own clients.
SHARED_KEYS = {"testing", "test"}



def dependent_actions(req):
    """The actions a call needs beside its own, as the Service Authorization Reference lists
    them (dependent actions) and the Application Auto Scaling guide says ("end users must be
    granted permissions for Amazon CloudWatch"): its target tracking alarms are made and deleted
    with the caller's permissions, and tags given at registration need TagResource."""
    if req.service == "acm":
        # Tags given with a request are added with the caller's AddTagsToCertificate permission
        # (ACM's guide on tag-based access: tagging on request needs both actions).
        tagged = req.operation == "RequestCertificate" and req.params.get("Tags")
        return ["acm:AddTagsToCertificate"] if tagged else []
    if req.service != "application-autoscaling":
        return []
    needs = {
        "RegisterScalableTarget": ["application-autoscaling:TagResource"] if req.params.get("Tags") else [],
        "PutScalingPolicy": ["cloudwatch:DescribeAlarms", "cloudwatch:PutMetricAlarm"],
        "DeleteScalingPolicy": ["cloudwatch:DeleteAlarms"],
        "DeregisterScalableTarget": ["cloudwatch:DeleteAlarms"],
    }
    return needs.get(req.operation, [])

class Permissions:
    def __init__(self, client):
        self.client = client          # client("iam") -> a boto3 IAM client on moto
        self.lock = threading.Lock()
        self.calls = {}               # access key -> {"allowed": set(), "denied": set()}

    @staticmethod
    def access_key(headers):
        auth = headers.get("Authorization") or headers.get("authorization") or ""
        m = _KEY.search(auth)
        return m.group(1) if m else None

    def policies(self, user):
        iam = self.client("iam")
        found = []
        for name in iam.list_user_policies(UserName=user)["PolicyNames"]:
            found.append(iam.get_user_policy(UserName=user, PolicyName=name)["PolicyDocument"])
        for attached in iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]:
            policy = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]
            version = iam.get_policy_version(PolicyArn=attached["PolicyArn"],
                                             VersionId=policy["DefaultVersionId"])
            found.append(version["PolicyVersion"]["Document"])
        return found

    @staticmethod
    def by_action(document):
        """The document with every statement's Resource "*" and no Condition (see above)."""
        if isinstance(document, str):
            document = json.loads(urllib.parse.unquote(document))
        document = copy.deepcopy(document)
        statements = document.get("Statement", [])
        if isinstance(statements, dict):
            statements = [statements]
        for s in statements:
            s.pop("Condition", None)
            if "Resource" in s or "NotResource" in s:
                s.pop("NotResource", None)
                s["Resource"] = "*"
        document["Statement"] = statements
        return document

    def check(self, req, headers):
        """None when the call may go on, else AWS's refusal."""
        from moto.iam.access_control import IAMPolicy, PermissionResult

        key = self.access_key(headers)
        if key is None or key in SHARED_KEYS:
            return None
        iam = self.client("iam")
        try:
            user = iam.get_access_key_last_used(AccessKeyId=key)["UserName"]
        except Exception:
            return None       # not a key of moto's IAM: the suite's own, under another name
        arn = iam.get_user(UserName=user)["User"]["Arn"]
        documents = [json.dumps(self.by_action(d)) for d in self.policies(user)]

        def permitted(action):
            allowed = action == "sts:GetCallerIdentity"   # AWS needs no permission for it
            for document in documents:
                result = IAMPolicy(document).is_action_permitted(action, "*")
                if result == PermissionResult.DENIED:
                    return False
                if result == PermissionResult.PERMITTED:
                    allowed = True
            return allowed

        # The call's own action, then those AWS checks with the caller's permissions on its behalf.
        action = None
        for action in ["%s:%s" % (req.service, req.operation)] + dependent_actions(req):
            allowed = permitted(action)
            with self.lock:
                record = self.calls.setdefault(key, {"allowed": set(), "denied": set()})
                record["allowed" if allowed else "denied"].add(action)
            if not allowed:
                break
        if allowed:
            return None
        message = "User: %s is not authorized to perform: %s because no identity-based policy allows the %s action" % (
            arn, action, action)
        if req.protocol == "ec2":
            return awsproto.error(req, 403, "UnauthorizedOperation",
                                  "You are not authorized to perform this operation. " + message)
        if req.protocol == "query":
            return awsproto.error(req, 403, "AccessDenied", message)
        return awsproto.error(req, 400, "AccessDeniedException", message)

    def report(self, key):
        with self.lock:
            record = self.calls.get(key, {"allowed": set(), "denied": set()})
            return {k: sorted(v) for k, v in record.items()}
