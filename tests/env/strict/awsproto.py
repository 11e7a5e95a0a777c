"""AWS wire-protocol engine for the strict test layer (test-only, loopback proxy in front of moto).

parse()        one HTTP request -> Request(service, region, operation, protocol, params, raw), or None
validate()     the violations AWS's request validation (and documented.py's rules) would report
check()        validate() turned into the error response AWS would send, or None
error() / throttle() / server_error() / json_response() / query_response() / xml_response()   wire responses

Protocols (what the aws-sdk-rust crates in Cargo.lock send, checked in their sources):
  awsJson1_1 (ecs, ecr, logs)   POST /, X-Amz-Target: <targetPrefix>.<Op>, JSON body keyed by model member names
  awsQuery   (iam, sts, elbv2)  form body Action=..&Version=..; lists Name.member.N, maps Name.entry.N.key/.value
  ec2Query   (ec2)              form body; lists Name.N, names = queryName | capitalised locationName | member name
  restXml    (route53)          the operation from method + path (the model's http.requestUri), URI labels and
                                querystring members by their locationName, the other members from the XML body
                                (root element: the input shape's name, lists <Name><member-name>..</member-name></Name>);
                                errors <ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/></ErrorResponse>
                                (Route 53's own, InvalidChangeBatch too since 2024: aws/aws-sdk-kotlin#1435; the
                                Rust SDK reads only that shape, aws-sdk-route53 src/rest_xml_wrapped_errors.rs)
  rpcv2Cbor  (none of ours yet) POST /service/<S>/operation/<Op>, smithy-protocol: rpc-v2-cbor; decoded here anyway

How AWS validates: services behind AWS's "Coral" front end check the model's constraints (required, length,
range, enum, pattern) before any service logic and answer with ALL violations at once:
  "2 validation errors detected: Value 'x' at 'roleName' failed to satisfy constraint: Member must ...; Value ..."
Paths use the member names with the first letter lower-cased, list elements as 'tags.1.member.key'.
The error code is per service (see _VALIDATION_CODE). EC2 does not do this: it answers with the first problem
only, as MissingParameter / InvalidParameterValue, naming the wire parameter (e.g. GroupDescription).
"""
from __future__ import annotations

import base64
import functools
import importlib.util
import json
import os
import re
import struct
import unicodedata
import urllib.parse
import uuid
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import botocore.session

# --------------------------------------------------------------------------------------------- models

# SigV4 signing name -> botocore model name. "elasticloadbalancing" is shared by ELBv2 and classic ELB;
# the form's Version tells them apart (2015-12-01 vs 2012-06-01).
_SIGNING_TO_MODEL = {"elasticloadbalancing": "elbv2", "monitoring": "cloudwatch", "email": "ses",
                     "execute-api": "apigateway"}

_session = None


@functools.lru_cache(maxsize=None)
def load_model(service: str):
    """botocore ServiceModel for a botocore model name ("ecs", "elbv2", ...) or a SigV4 signing name."""
    global _session
    if _session is None:
        _session = botocore.session.get_session()
    return _session.get_service_model(_SIGNING_TO_MODEL.get(service, service))


def _model_name(req_or_service, form=None) -> str:
    service = getattr(req_or_service, "service", req_or_service)
    if service == "elasticloadbalancing" and form is not None and form.get("Version") == "2012-06-01":
        return "elb"
    if hasattr(req_or_service, "model_name"):
        return req_or_service.model_name
    return _SIGNING_TO_MODEL.get(service, service)


def operation_model(req: "Request"):
    return load_model(req.model_name).operation_model(req.operation)


# -------------------------------------------------------------------------------------------- request


@dataclass
class Request:
    service: str                  # SigV4 signing name from the credential scope
    region: str
    operation: str
    protocol: str                 # "json" | "query" | "ec2" | "cbor" | "rest-xml"
    params: dict
    raw: dict                     # JSON/CBOR: decoded body; query/ec2: flat form dict;
                                  # rest-xml: {"labels": {..}, "query": {name: [values]}, "body": text}
    model_name: str = ""          # botocore model name ("elbv2" for signing name "elasticloadbalancing")
    unknown: list = field(default_factory=list)   # query/ec2 form keys (rest-xml: query keys) no model member
                                                  # consumed (ignored, like AWS)


def _header(headers, name: str):
    if headers is None:
        return None
    v = headers.get(name)
    if v is None:
        lname = name.lower()
        for k, val in getattr(headers, "items", lambda: [])():
            if k.lower() == lname:
                return val
    return v


_CRED = re.compile(r"Credential=[^/,\s]+/\d{8}/([^/,\s]+)/([^/,\s]+)/aws4_request")


def parse(method: str, path: str, headers, body: bytes) -> Request | None:
    """Decode an AWS API call. None when it is not one (no SigV4 Authorization, unknown service/operation)."""
    m = _CRED.search(_header(headers, "Authorization") or "")
    if not m:
        return None
    region, service = m.group(1), m.group(2)
    body = body or b""
    if isinstance(body, str):
        body = body.encode()
    ctype = (_header(headers, "Content-Type") or "").lower()
    target = _header(headers, "X-Amz-Target")
    url = urllib.parse.urlsplit(path)
    try:
        if "cbor" in (_header(headers, "smithy-protocol") or "") or "application/cbor" in ctype:
            parts = url.path.strip("/").split("/")       # service/<S>/operation/<Op>
            if len(parts) < 4 or parts[-2] != "operation":
                return None
            model_name = _model_name(service)
            op = load_model(model_name).operation_model(parts[-1])
            raw = cbor_decode(body) if body else {}
            return Request(service, region, op.name, "cbor", raw if isinstance(raw, dict) else {}, raw, model_name)
        if target or "x-amz-json" in ctype:
            model_name = _model_name(service)
            model = load_model(model_name)
            prefix, _, op_name = (target or "").rpartition(".")
            if prefix != model.metadata.get("targetPrefix", prefix):
                return None
            op = model.operation_model(op_name)
            raw = json.loads(body) if body.strip() else {}
            return Request(service, region, op.name, "json", raw if isinstance(raw, dict) else {}, raw, model_name)
        if load_model(_model_name(service)).metadata.get("protocol") == "rest-xml":
            return _parse_rest_xml(service, region, method, url, headers, body)
        form = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query, keep_blank_values=True).items()}
        if body:
            form.update({k: v[-1] for k, v in urllib.parse.parse_qs(body.decode("utf-8"), keep_blank_values=True).items()})
        if "Action" not in form:
            return None
        model_name = _model_name(service, form)
        model = load_model(model_name)
        op = model.operation_model(form["Action"])
    except Exception:   # unknown service / operation / undecodable body: not ours to judge
        return None
    ec2 = model.metadata["protocol"] == "ec2"
    used: set = set()
    params = _from_form(form, op.input_shape, "", ec2, used) if op.input_shape is not None else {}
    unknown = sorted(set(form) - used - {"Action", "Version"})
    return Request(service, region, op.name, "ec2" if ec2 else "query", params or {}, form, model_name, unknown)


_MISSING = object()


def _wire_name(shape, default: str, ec2: bool) -> str:
    """Serialized name of a member, as botocore's Query/EC2 serializers compute it."""
    if ec2:
        if "queryName" in shape.serialization:
            return shape.serialization["queryName"]
        if "name" in shape.serialization:
            n = shape.serialization["name"]
            return n[0].upper() + n[1:]
        return default
    return shape.serialization.get("name", default)


def _indices(form, prefix: str) -> list[int]:
    """The N of every '<prefix>.N...' key, sorted."""
    p, out = prefix + ".", set()
    for k in form:
        if k.startswith(p):
            head = k[len(p):].split(".", 1)[0]
            if head.isdigit():
                out.add(int(head))
    return sorted(out)


def _from_form(form: dict, shape, prefix: str, ec2: bool, used: set):
    t = shape.type_name
    if t == "structure":
        out = {}
        for name, member in shape.members.items():
            key = _wire_name(member, name, ec2)
            v = _from_form(form, member, f"{prefix}.{key}" if prefix else key, ec2, used)
            if v is not _MISSING:
                out[name] = v
        return out if out or not prefix else _MISSING
    if t == "list":
        if ec2:
            lp = prefix
        elif shape.serialization.get("flattened"):
            lp = prefix
            if shape.member.serialization.get("name"):
                lp = ".".join(prefix.split(".")[:-1] + [_wire_name(shape.member, "", ec2)])
        else:
            lp = f"{prefix}.{shape.member.serialization.get('name', 'member')}"
        idx = _indices(form, lp)
        if not idx:
            if form.get(prefix) == "":          # an empty list goes on the wire as "Name="
                used.add(prefix)
                return []
            return _MISSING
        items = [_from_form(form, shape.member, f"{lp}.{i}", ec2, used) for i in idx]
        return [None if v is _MISSING else v for v in items]
    if t == "map":
        mp = prefix if shape.serialization.get("flattened") else f"{prefix}.entry"
        kname, vname = _wire_name(shape.key, "key", ec2), _wire_name(shape.value, "value", ec2)
        idx = _indices(form, mp)
        if not idx:
            return _MISSING
        out = {}
        for i in idx:
            k = _from_form(form, shape.key, f"{mp}.{i}.{kname}", ec2, used)
            v = _from_form(form, shape.value, f"{mp}.{i}.{vname}", ec2, used)
            if k is not _MISSING:
                out[k] = None if v is _MISSING else v
        return out
    if prefix not in form:
        return _MISSING
    used.add(prefix)
    v = form[prefix]
    try:
        if t in ("integer", "long"):
            return int(v)
        if t in ("float", "double"):
            return float(v)
        if t == "boolean":
            return {"true": True, "false": False}.get(v.lower(), v)
        if t == "blob":
            return base64.b64decode(v, validate=True)
    except ValueError:
        pass                                   # left as the string it was; timestamps stay ISO-8601 strings
    return v


# -------------------------------------------------------------------------------------------- rest-xml


def _local(tag: str) -> str:
    """An XML tag without its {namespace}."""
    return tag.rsplit("}", 1)[-1]


@functools.lru_cache(maxsize=None)
def _uri_pattern(template: str):
    """(regex, [label names], literal length, [required query keys]) of a requestUri template such as
    '/2013-04-01/hostedzone/{Id}/rrset/' or '/{Bucket}/{Key+}?uploads'. The trailing '/' is optional,
    as services route both (the Rust SDK sends ChangeResourceRecordSets to .../rrset, botocore to .../rrset/)."""
    path, _, query = template.partition("?")
    path = path.rstrip("/") or "/"
    out, labels, literal, pos = [], [], 0, 0
    for m in re.finditer(r"\{([^}]+)\}", path):
        out.append(re.escape(path[pos:m.start()]))
        literal += m.start() - pos
        name = m.group(1)
        greedy = name.endswith("+")
        labels.append(name.rstrip("+"))
        out.append("(.+)" if greedy else "([^/]+)")
        pos = m.end()
    out.append(re.escape(path[pos:]))
    literal += len(path) - pos
    required = [q for q in query.split("&") if q]
    return re.compile("".join(out) + "/?"), labels, literal, required


def _rest_operation(model, method: str, path: str, query: dict):
    """The operation whose http method and requestUri match, and its URI labels; the most literal
    template wins (GetHostedZone /hostedzone/{Id} vs ListResourceRecordSets /hostedzone/{Id}/rrset)."""
    best = None
    for name in model.operation_names:
        op = model.operation_model(name)
        if op.http.get("method", "POST").upper() != method.upper():
            continue
        rx, labels, literal, required = _uri_pattern(op.http.get("requestUri", "/"))
        m = rx.fullmatch(path or "/")
        if not m:
            continue
        ok = True
        for q in required:
            k, eq, v = q.partition("=")
            if k not in query or (eq and v not in query[k]):
                ok = False
        if not ok:
            continue
        score = (literal, len(required))
        if best is None or score > best[0]:
            values = {label: urllib.parse.unquote(v) for label, v in zip(labels, m.groups())}
            best = (score, op, values)
    return (best[1], best[2]) if best else (None, None)


def _rest_scalar(text: str, shape):
    """A URI label, query or header value (or XML text) as botocore's member type holds it."""
    t = shape.type_name
    try:
        if t in ("integer", "long"):
            return int(text)
        if t in ("float", "double"):
            return float(text)
        if t == "boolean":
            return {"true": True, "false": False}.get(text.strip().lower(), text)
        if t == "blob":
            return base64.b64decode(text, validate=True)
    except ValueError:
        pass                                   # left as the string it was; timestamps stay strings
    return text


def _from_xml(elem, shape):
    """The value of one XML element for shape (the mirror of botocore's RestXMLSerializer)."""
    t = shape.type_name
    if t == "structure":
        out = {}
        children = list(elem)
        for name, member in shape.members.items():
            if member.serialization.get("location"):
                continue
            key = member.serialization.get("name", name)
            if member.serialization.get("xmlAttribute"):
                for attr, value in elem.attrib.items():
                    if attr == key or _local(attr) == key.split(":")[-1]:
                        out[name] = _rest_scalar(value, member)
                continue
            if member.type_name in ("list", "map") and member.serialization.get("flattened"):
                items = [c for c in children if _local(c.tag) == key]
                if items:
                    out[name] = (_flat_map(items, member) if member.type_name == "map"
                                 else [_from_xml(c, member.member) for c in items])
                continue
            child = next((c for c in children if _local(c.tag) == key), None)
            if child is not None:
                out[name] = _from_xml(child, member)
        return out
    if t == "list":
        item = shape.member.serialization.get("name", "member")
        return [_from_xml(c, shape.member) for c in elem if _local(c.tag) == item]
    if t == "map":
        return _flat_map([c for c in elem if _local(c.tag) == "entry"], shape)
    return _rest_scalar(elem.text or "", shape)


def _flat_map(entries, shape):
    kname = shape.key.serialization.get("name", "key")
    vname = shape.value.serialization.get("name", "value")
    out = {}
    for e in entries:
        k = next((c for c in e if _local(c.tag) == kname), None)
        v = next((c for c in e if _local(c.tag) == vname), None)
        if k is not None:
            out[_from_xml(k, shape.key)] = None if v is None else _from_xml(v, shape.value)
    return out


def _parse_rest_xml(service, region, method, url, headers, body: bytes) -> Request | None:
    """restXml: the operation from the method and path; URI labels (http.requestUri), querystring and
    header members by their locationName; the rest from the XML body, whose root element is the input
    shape (or its payload member)."""
    import xml.etree.ElementTree as ElementTree

    model_name = _model_name(service)
    model = load_model(model_name)
    query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
    op, labels = _rest_operation(model, method, url.path, query)
    if op is None:
        return None
    raw = {"labels": labels, "query": query, "body": body.decode("utf-8", errors="replace")}
    shape, params, used = op.input_shape, {}, set()
    if shape is None:
        return Request(service, region, op.name, "rest-xml", {}, raw, model_name, sorted(query))
    for name, member in shape.members.items():
        loc, key = member.serialization.get("location"), member.serialization.get("name", name)
        if loc == "uri" and key in labels:
            params[name] = _rest_scalar(labels[key], member)
        elif loc == "querystring" and member.type_name == "map":
            claimed = {m.serialization.get("name", n) for n, m in shape.members.items()
                       if m.serialization.get("location") == "querystring" and m.type_name != "map"}
            rest = {k: v for k, v in query.items() if k not in claimed}
            if rest:
                used |= set(rest)
                params[name] = {k: (v if member.value.type_name == "list" else v[-1]) for k, v in rest.items()}
        elif loc == "querystring" and key in query:
            used.add(key)
            values = query[key]
            params[name] = ([_rest_scalar(v, member.member) for v in values] if member.type_name == "list"
                            else _rest_scalar(values[-1], member))
        elif loc == "header":
            value = _header(headers, key)
            if value is None:
                continue
            if member.type_name == "list":
                params[name] = [_rest_scalar(v.strip(), member.member) for v in value.split(",")]
            elif member.type_name == "string" and member.serialization.get("jsonvalue"):
                params[name] = json.loads(base64.b64decode(value))
            else:
                params[name] = _rest_scalar(value, member)
        elif loc == "headers":
            prefix = key.lower()
            found = {k[len(prefix):]: v for k, v in getattr(headers, "items", lambda: [])()
                     if k.lower().startswith(prefix)}
            if found:
                params[name] = found
    payload = shape.serialization.get("payload")
    if payload is not None and shape.members[payload].type_name in ("blob", "string"):
        if body:
            params[payload] = body if shape.members[payload].type_name == "blob" else body.decode("utf-8")
    elif body.strip():
        root = ElementTree.fromstring(body)
        if payload is not None:
            params[payload] = _from_xml(root, shape.members[payload])
        else:
            params.update(_from_xml(root, shape))
    return Request(service, region, op.name, "rest-xml", params, raw, model_name, sorted(set(query) - used))


# ------------------------------------------------------------------------------------------------ CBOR


def cbor_decode(data: bytes):
    """Minimal RFC 8949 decoder: ints, byte/text strings (incl. indefinite), arrays, maps, tags, simple, floats."""
    value, _ = _cbor_item(memoryview(bytes(data)), 0)
    return value


_BREAK = object()


def _cbor_item(d, i):
    ib = d[i]
    i += 1
    major, info = ib >> 5, ib & 31
    if major == 7:
        if info == 20: return False, i
        if info == 21: return True, i
        if info in (22, 23): return None, i
        if info == 25: return struct.unpack(">e", d[i:i + 2])[0], i + 2
        if info == 26: return struct.unpack(">f", d[i:i + 4])[0], i + 4
        if info == 27: return struct.unpack(">d", d[i:i + 8])[0], i + 8
        if info == 31: return _BREAK, i
        if info == 24: return d[i], i + 1
        return info, i
    if info < 24:
        arg = info
    elif info in (24, 25, 26, 27):
        n = 1 << (info - 24)
        arg, i = int.from_bytes(d[i:i + n], "big"), i + n
    elif info == 31:
        arg = None                                      # indefinite length
    else:
        raise ValueError("bad CBOR additional info")
    if major == 0: return arg, i
    if major == 1: return -1 - arg, i
    if major in (2, 3):
        if arg is None:
            chunks = []
            while True:
                c, i = _cbor_item(d, i)
                if c is _BREAK:
                    break
                chunks.append(c)
            return (b"" if major == 2 else "").join(chunks), i
        raw = bytes(d[i:i + arg])
        return (raw if major == 2 else raw.decode("utf-8")), i + arg
    if major == 4:
        out = []
        while arg is None or len(out) < arg:
            v, i = _cbor_item(d, i)
            if v is _BREAK:
                break
            out.append(v)
        return out, i
    if major == 5:
        out = {}
        while arg is None or len(out) < arg:
            k, i = _cbor_item(d, i)
            if k is _BREAK:
                break
            out[k], i = _cbor_item(d, i)
        return out, i
    v, i = _cbor_item(d, i)                            # major 6: tag (1 = epoch timestamp) -> the tagged value
    return v, i


def cbor_encode(obj) -> bytes:
    """Minimal encoder for error/response bodies: dict, list, str, bytes, int, float, bool, None."""
    def head(major, n):
        if n < 24: return bytes([major << 5 | n])
        for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
            if n < 1 << (8 * size):
                return bytes([major << 5 | info]) + n.to_bytes(size, "big")
        raise ValueError("int too large")
    if obj is None: return b"\xf6"
    if obj is True: return b"\xf5"
    if obj is False: return b"\xf4"
    if isinstance(obj, int): return head(0, obj) if obj >= 0 else head(1, -1 - obj)
    if isinstance(obj, float): return b"\xfb" + struct.pack(">d", obj)
    if isinstance(obj, bytes): return head(2, len(obj)) + obj
    if isinstance(obj, str):
        b = obj.encode()
        return head(3, len(b)) + b
    if isinstance(obj, (list, tuple)): return head(4, len(obj)) + b"".join(cbor_encode(x) for x in obj)
    if isinstance(obj, dict):
        return head(5, len(obj)) + b"".join(cbor_encode(k) + cbor_encode(v) for k, v in obj.items())
    raise TypeError(type(obj))


# ---------------------------------------------------------------------------------- Java regex -> re

_UNICODE_CLASSES: dict = {}


def _unicode_class(cat: str) -> str:
    """Character-class body (no brackets) for the Unicode general category \\p{cat}, e.g. L, N, Z, Lu."""
    if not _UNICODE_CLASSES:
        ranges: dict = {}
        for cp in range(0x110000):
            c = unicodedata.category(chr(cp))
            if c == "Cs":
                continue
            for key in (c[0], c):
                r = ranges.setdefault(key, [])
                if r and r[-1][1] == cp - 1:
                    r[-1][1] = cp
                else:
                    r.append([cp, cp])
        esc = lambda cp: f"\\U{cp:08x}"
        for key, r in ranges.items():
            _UNICODE_CLASSES[key] = "".join(esc(a) if a == b else f"{esc(a)}-{esc(b)}" for a, b in r)
    if cat not in _UNICODE_CLASSES:
        raise ValueError(f"unsupported \\p{{{cat}}}")
    return _UNICODE_CLASSES[cat]


@functools.lru_cache(maxsize=None)
def java_regex(pattern: str):
    """Compile a model (Java) pattern with Python re: \\p{L}/\\p{N}/\\p{Z}/... become explicit ranges,
    '[\\w-_]' keeps its literal '-'. None when it cannot be translated (then it is not enforced)."""
    out, i, in_class = [], 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            m = re.match(r"[pP]\{(?:Is)?([A-Za-z]+)\}", pattern[i + 1:])
            if m:
                try:
                    body = _unicode_class(m.group(1))
                except ValueError:
                    return None
                if nxt == "P":
                    if in_class:
                        return None
                    out.append(f"[^{body}]")
                else:
                    out.append(body if in_class else f"[{body}]")
                i += 1 + m.end()
                continue
            out.append(pattern[i:i + 2])
            i += 2
            if in_class and nxt in "wdsWDS" and pattern[i:i + 1] == "-":
                out.append("\\-")
                i += 1
            continue
        if c == "[" and not in_class:
            in_class = True
            out.append(c)
            if pattern[i + 1:i + 2] == "^":
                out.append("^")
                i += 1
            if pattern[i + 1:i + 2] == "]":
                out.append("\\]")
                i += 1
        elif c == "[" and in_class:
            return None                                 # Java class union/intersection: not supported
        elif c == "]" and in_class:
            in_class = False
            out.append(c)
        else:
            out.append(c)
        i += 1
    try:
        return re.compile("".join(out))
    except re.error:
        return None


# --------------------------------------------------------------------------------------------- rules

# ECS, ECR and CloudWatch Logs report model-constraint failures as InvalidParameterException (seen from real
# AWS: Logs "InvalidParameterException: 1 validation error detected: Value '[]' at 'logEvents' ...", ECR
# "InvalidParameterException: Invalid parameter at 'repositoryName' failed to satisfy constraint: ..."); the
# awsQuery services as ValidationError (IAM: "ValidationError ... at 'maxSessionDuration' ..."); JSON services
# without such a shape as ValidationException.
# Route 53 answers them as InvalidInput ("InvalidInput: 1 validation error detected: Value '..' at
# 'hostedZoneId' failed to satisfy constraint: Member must have length less than or equal to 32"; its
# API reference lists InvalidInput for every operation: "The input is not valid.").
_VALIDATION_CODE = {"ecs": "InvalidParameterException", "ecr": "InvalidParameterException",
                    "logs": "InvalidParameterException", "elbv2": "ValidationError", "elb": "ValidationError",
                    "iam": "ValidationError", "sts": "ValidationError", "route53": "InvalidInput"}

RULES = None          # None: load documented.py's RULES; tests may assign a list here


class Violation(NamedTuple):
    message: str      # AWS wording of this one violation
    code: str
    status: int = 400
    combine: bool = True    # folded into one "N validation errors detected: ..." answer (model-style)
    source: str = "model"   # "model" | "documented"


def validation_code(req: Request) -> str:
    return _VALIDATION_CODE.get(req.model_name) or (
        "ValidationError" if req.protocol == "query" else "InvalidParameterValue" if req.protocol == "ec2"
        else "ValidationException")


def _lower1(s: str) -> str:
    return s[:1].lower() + s[1:]


def _render(v) -> str:
    """A value as Coral prints it (Java toString)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_render(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_render(k)}={_render(x)}" for k, x in v.items()) + "}"
    return "null" if v is None else str(v)


def _constraint_failures(value, shape) -> list[str]:
    """Model constraints of a scalar/list/map shape that value fails, in Coral's wording."""
    md, out = shape.metadata, []
    sized = isinstance(value, (str, list, dict, bytes))
    if sized and "max" in md and len(value) > md["max"]:
        out.append(f"Member must have length less than or equal to {md['max']}")
    if sized and "min" in md and len(value) < md["min"]:
        out.append(f"Member must have length greater than or equal to {md['min']}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "max" in md and value > md["max"]:
            out.append(f"Member must have value less than or equal to {md['max']}")
        if "min" in md and value < md["min"]:
            out.append(f"Member must have value greater than or equal to {md['min']}")
    if isinstance(value, str) and getattr(shape, "enum", None) and value not in shape.enum:
        out.append(f"Member must satisfy enum value set: [{', '.join(shape.enum)}]")
    if isinstance(value, str) and "pattern" in md:
        rx = java_regex(md["pattern"])
        if rx is not None and not rx.fullmatch(value):
            out.append(f"Member must satisfy regular expression pattern: {md['pattern']}")
    return out


def _all_constraints(shape) -> list[str]:
    md, out = shape.metadata, []
    if "max" in md: out.append(f"Member must have length less than or equal to {md['max']}")
    if "min" in md: out.append(f"Member must have length greater than or equal to {md['min']}")
    if "pattern" in md: out.append(f"Member must satisfy regular expression pattern: {md['pattern']}")
    if getattr(shape, "enum", None): out.append(f"Member must satisfy enum value set: [{', '.join(shape.enum)}]")
    return out


def _model_violations(req: Request) -> list[Violation]:
    op = operation_model(req)
    if op.input_shape is None:
        return []
    ec2, code, out = req.protocol == "ec2", validation_code(req), []

    def value_text(value, shape):
        if shape.metadata.get("sensitive") or (req.model_name == "iam" and shape.type_name in ("integer", "long")):
            return "Value"                                     # AWS leaves such values out
        return "Value null" if value is None else f"Value '{_render(value)}'"

    def report(path, value, shape, constraint):
        if ec2:
            if constraint == "Member must not be null":
                out.append(Violation(f"The request must contain the parameter {path}", "MissingParameter", 400, False))
            else:
                out.append(Violation(f"Value ({_render(value)}) for parameter {path} is invalid. "
                                     f"{constraint.replace('Member', 'It', 1)}", "InvalidParameterValue", 400, False))
        elif req.model_name == "ecr" and constraint != "Member must not be null":
            c = constraint.replace("Member ", "", 1)           # ECR's own wording, one violation at a time
            if c.startswith("must satisfy regular expression pattern: "):
                c = "must satisfy regular expression '" + c.split(": ", 1)[1].replace("\\/", "/") + "'"
            out.append(Violation(f"Invalid parameter at '{path}' failed to satisfy constraint: '{c}'", code, 400, False))
        else:
            out.append(Violation(f"{value_text(value, shape)} at '{path}' failed to satisfy constraint: {constraint}", code))

    def walk(value, shape, path):
        for c in _constraint_failures(value, shape):
            report(path, value, shape, c)
        t = shape.type_name
        if t == "structure" and isinstance(value, dict):
            for name, member in shape.members.items():
                seg = _wire_name(member, name, True) if ec2 else _lower1(name)
                p = f"{path}.{seg}" if path else seg
                v = value.get(name)
                if v is None:
                    if name in shape.required_members:
                        report(p, None, member, "Member must not be null")
                else:
                    walk(v, member, p)
        elif t == "list" and isinstance(value, list):
            for i, v in enumerate(value, 1):
                if v is not None:
                    walk(v, shape.member, f"{path}.{i}" if ec2 else f"{path}.{i}.member")
        elif t == "map" and isinstance(value, dict):
            if any(_constraint_failures(k, shape.key) for k in value):
                report(path, value, shape, f"Map keys must satisfy constraint: [{', '.join(_all_constraints(shape.key))}]")
            if shape.value.type_name in ("structure", "list", "map"):
                for k, v in value.items():
                    if v is not None:
                        walk(v, shape.value, f"{path}.{k}")
            elif any(v is not None and _constraint_failures(v, shape.value) for v in value.values()):
                report(path, value, shape, f"Map value must satisfy constraint: [{', '.join(_all_constraints(shape.value))}]")

    walk(req.params, op.input_shape, "")
    return out


_documented = None


def _rules() -> list:
    global _documented
    if RULES is not None:
        return RULES
    if _documented is None:
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "documented.py")
        _documented = []
        if os.path.exists(path):
            spec = importlib.util.spec_from_file_location("strict_documented", path)
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)               # a broken documented.py should fail loudly
            _documented = list(getattr(mod, "RULES", []))
    return _documented


class _Fmt(dict):
    def __missing__(self, key):
        return "{" + key + "}"


def _resolve(params, shape, member_path: str, ec2: bool):
    """Yield (value, aws_path, member_name, shape) for every value member_path ('A[].B{}.C') reaches."""
    cur = [(params, "", shape)]
    name = ""
    for seg in member_path.split("."):
        m = re.fullmatch(r"([^\[\]{}]+)((?:\[\]|\{\})*)", seg)
        if not m:
            raise ValueError(f"bad member_path {member_path!r}")
        name, ops = m.group(1), re.findall(r"\[\]|\{\}", m.group(2))
        nxt = []
        for val, path, sh in cur:
            if not isinstance(val, dict) or sh is None or sh.type_name != "structure" or name not in sh.members:
                continue
            member = sh.members[name]
            seg_name = _wire_name(member, name, True) if ec2 else _lower1(name)
            items = [(val.get(name), f"{path}.{seg_name}" if path else seg_name, member)]
            for op in ops:
                expanded = []
                for v, p, s in items:
                    if op == "[]" and isinstance(v, list) and s.type_name == "list":
                        expanded += [(x, f"{p}.{i}" if ec2 else f"{p}.{i}.member", s.member) for i, x in enumerate(v, 1)]
                    elif op == "{}" and isinstance(v, dict) and s.type_name == "map":
                        expanded += [(x, f"{p}.{k}", s.value) for k, x in v.items()]
                items = expanded
            nxt += [(v, p, s) for v, p, s in items if v is not None]
        cur = nxt
    for v, p, s in cur:
        yield v, p, name, s


def _documented_violations(req: Request) -> list[Violation]:
    out = []
    op = operation_model(req)
    for service, operation, member_path, rule in _rules():
        if service not in (req.service, req.model_name) or operation not in ("*", req.operation):
            continue
        for value, path, name, _shape in _resolve(req.params, op.input_shape, member_path, req.protocol == "ec2"):
            failed = []
            sized = isinstance(value, (str, list, dict))
            if sized and "max_len" in rule and len(value) > rule["max_len"]:
                failed.append(f"Member must have length less than or equal to {rule['max_len']}")
            if sized and "min_len" in rule and len(value) < rule["min_len"]:
                failed.append(f"Member must have length greater than or equal to {rule['min_len']}")
            s = value if isinstance(value, str) else None
            rx = (java_regex(rule["pattern"]) or re.compile(rule["pattern"])) if "pattern" in rule else None
            if s is not None and rx is not None and not rx.fullmatch(s):
                failed.append(f"Member must satisfy regular expression pattern: {rule['pattern']}")
            for p in rule.get("not_prefix", []):
                if s is not None and s.lower().startswith(p.lower()):
                    failed.append(f"Member must not start with '{p}'")
            for p in rule.get("not_suffix", []):
                if s is not None and s.lower().endswith(p.lower()):
                    failed.append(f"Member must not end with '{p}'")
            if "enum" in rule and value not in rule["enum"]:
                failed.append(f"Member must satisfy enum value set: [{', '.join(map(str, rule['enum']))}]")
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if number and "min_value" in rule and value < rule["min_value"]:
                failed.append(f"Member must have value greater than or equal to {rule['min_value']}")
            if number and "max_value" in rule and value > rule["max_value"]:
                failed.append(f"Member must have value less than or equal to {rule['max_value']}")
            if s is not None and ("base64" in rule or "max_decoded_len" in rule):
                try:                                   # text that goes base64-encoded on the wire
                    decoded = base64.b64decode(s, validate=True)
                except ValueError:
                    decoded = None
                if decoded is None and rule.get("base64"):
                    failed.append("Member must be base64-encoded")
                if decoded is not None and "max_decoded_len" in rule and len(decoded) > rule["max_decoded_len"]:
                    failed.append(f"Member must have length less than or equal to {rule['max_decoded_len']} "
                                  "before base64 encoding")
            if not failed:
                continue
            code, status = rule.get("code") or validation_code(req), rule.get("status", 400)
            if rule.get("message"):
                msg = rule["message"].format_map(_Fmt(rule, value=_render(value), name=name, path=path))
                out.append(Violation(msg, code, status, False, "documented"))
            else:
                out += [Violation(f"Value '{_render(value)}' at '{path}' failed to satisfy constraint: {f}",
                                  code, status, req.protocol != "ec2", "documented") for f in failed]
    return out


def violations(req: Request) -> list[Violation]:
    """Model violations first (AWS validates the model before any service logic), then documented ones."""
    return _model_violations(req) + _documented_violations(req)


def validate(req: Request) -> list[str]:
    return [v.message for v in violations(req)]


def check(req: Request) -> tuple[int, dict, bytes] | None:
    """The error AWS answers for req's violations, or None. Coral-style violations go out together as
    "N validation error(s) detected: a; b" under one code; EC2, ECR and custom-message rules: the first alone."""
    vs = violations(req)
    if not vs:
        return None
    first = vs[0]
    if not first.combine:
        return error(req, first.status, first.code, first.message)
    same = [v for v in vs if v.combine and v.code == first.code]
    head = f"{len(same)} validation error{'s' if len(same) > 1 else ''} detected: "
    return error(req, first.status, first.code, head + "; ".join(v.message for v in same))


# ------------------------------------------------------------------------------------------ responses


def _xml(s: str) -> str:
    return (str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&apos;"))


def _json_ctype(req: Request) -> str:
    return f"application/x-amz-json-{load_model(req.model_name).metadata.get('jsonVersion', '1.1')}"


def _finish(status: int, headers: dict, body: bytes):
    headers["Content-Length"] = str(len(body))
    return status, headers, body


@functools.lru_cache(maxsize=None)
def xml_namespace(model_name: str) -> str:
    """The service's XML namespace: the model's metadata (awsQuery), else the one its rest-xml input
    shapes carry (Route 53: https://route53.amazonaws.com/doc/2013-04-01/)."""
    model = load_model(model_name)
    ns = model.metadata.get("xmlNamespace")
    if ns:
        return ns if isinstance(ns, str) else ns.get("uri", "")
    for name in model.operation_names:
        shape = model.operation_model(name).input_shape
        found = shape.serialization.get("xmlNamespace") if shape is not None else None
        if found:
            return found if isinstance(found, str) else found.get("uri", "")
    return ""


def error(req: Request, status: int, code: str, message: str) -> tuple[int, dict, bytes]:
    """AWS's error envelope for req's protocol. Headers include Content-Length and the request id."""
    rid = str(uuid.uuid4())
    if req.protocol in ("json", "cbor"):
        headers = {"x-amzn-RequestId": rid, "x-amzn-ErrorType": code}
        if req.protocol == "cbor":
            headers.update({"Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor"})
            return _finish(status, headers, cbor_encode({"__type": code, "message": message}))
        headers["Content-Type"] = _json_ctype(req)
        return _finish(status, headers, json.dumps({"__type": code, "message": message}).encode())
    if req.protocol == "ec2":
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
                f"<Code>{_xml(code)}</Code><Message>{_xml(message)}</Message></Error></Errors>"
                f"<RequestID>{rid}</RequestID></Response>")
        return _finish(status, {"Content-Type": "text/xml;charset=UTF-8"}, body.encode())
    if req.protocol == "rest-xml":
        # Route 53: '<?xml version="1.0"?>\n<ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/">
        # <Error><Type>Sender</Type><Code>InvalidChangeBatch</Code><Message>[..]</Message></Error>
        # <RequestId>..</RequestId></ErrorResponse>' (aws/aws-sdk-kotlin#1435, aws/aws-cli#2071).
        body = (f'<?xml version="1.0"?>\n<ErrorResponse xmlns="{_xml(xml_namespace(req.model_name))}"><Error>'
                f'<Type>{"Receiver" if status >= 500 else "Sender"}</Type><Code>{_xml(code)}</Code>'
                f"<Message>{_xml(message)}</Message></Error><RequestId>{rid}</RequestId></ErrorResponse>")
        return _finish(status, {"Content-Type": "text/xml", "x-amzn-RequestId": rid}, body.encode())
    ns = load_model(req.model_name).metadata.get("xmlNamespace", "")
    body = (f'<ErrorResponse xmlns="{_xml(ns)}">\n  <Error>\n    <Type>{"Receiver" if status >= 500 else "Sender"}</Type>\n'
            f"    <Code>{_xml(code)}</Code>\n    <Message>{_xml(message)}</Message>\n  </Error>\n"
            f"  <RequestId>{rid}</RequestId>\n</ErrorResponse>\n")
    return _finish(status, {"Content-Type": "text/xml", "x-amzn-RequestId": rid}, body.encode())


def throttle(req: Request) -> tuple[int, dict, bytes]:
    """EC2: 503 RequestLimitExceeded "Request limit exceeded."; awsQuery services and Route 53 (rest-xml):
    400 Throttling (Sender) "Rate exceeded" (Route 53's API reference: "Throttling ... Rate exceeded");
    JSON services: 400 ThrottlingException. All are in the SDKs' throttling-code lists (retried with backoff)."""
    if req.protocol == "ec2":
        return error(req, 503, "RequestLimitExceeded", "Request limit exceeded.")
    if req.protocol in ("query", "rest-xml"):
        return error(req, 400, "Throttling", "Rate exceeded")
    return error(req, 400, "ThrottlingException", "Rate exceeded")


def server_error(req: Request, status: int = 500, code: str | None = None, message: str | None = None):
    """A retryable 5xx: 500 InternalFailure / 503 ServiceUnavailable (EC2: InternalError / Unavailable)."""
    if code is None:
        if req.protocol == "ec2":
            code = "Unavailable" if status == 503 else "InternalError"
        else:
            code = "ServiceUnavailable" if status == 503 else "InternalFailure"
    if message is None:
        message = {"InternalError": "An internal error has occurred", "Unavailable": "The server is overloaded and can't handle the request.",
                   "ServiceUnavailable": "Service Unavailable"}.get(code, "We encountered an internal error. Please try again.")
    return error(req, status, code, message)


def json_response(req: Request, obj, status: int = 200) -> tuple[int, dict, bytes]:
    headers = {"Content-Type": _json_ctype(req), "x-amzn-RequestId": str(uuid.uuid4())}
    return _finish(status, headers, json.dumps(obj, default=str).encode())


def query_response(req: Request, result_xml: str = "", status: int = 200) -> tuple[int, dict, bytes]:
    """Wrap already-serialized result members: awsQuery <OpResponse><OpResult>..</OpResult><ResponseMetadata>,
    EC2 <OpResponse><requestId/>..</OpResponse>."""
    rid, ns, op = str(uuid.uuid4()), load_model(req.model_name).metadata.get("xmlNamespace", ""), req.operation
    if req.protocol == "ec2":
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<{op}Response xmlns="{_xml(ns)}">'
                f"<requestId>{rid}</requestId>{result_xml}</{op}Response>")
        return _finish(status, {"Content-Type": "text/xml;charset=UTF-8"}, body.encode())
    body = (f'<{op}Response xmlns="{_xml(ns)}"><{op}Result>{result_xml}</{op}Result>'
            f"<ResponseMetadata><RequestId>{rid}</RequestId></ResponseMetadata></{op}Response>")
    return _finish(status, {"Content-Type": "text/xml", "x-amzn-RequestId": rid}, body.encode())


def xml_response(req: Request, result_xml: str = "", status: int = 200) -> tuple[int, dict, bytes]:
    """A rest-xml answer: already-serialized output members in the output shape's root element, e.g.
    <GetChangeResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><ChangeInfo>..</ChangeInfo>
    </GetChangeResponse> (the Rust SDK checks the root's name)."""
    rid, op = str(uuid.uuid4()), operation_model(req)
    shape = op.output_shape
    root = (shape.serialization.get("name") or shape.name) if shape is not None else f"{req.operation}Response"
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{_xml(xml_namespace(req.model_name))}">'
            f"{result_xml}</{root}>")
    return _finish(status, {"Content-Type": "text/xml", "x-amzn-RequestId": rid}, body.encode())
