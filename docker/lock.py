"""aws-app's dependency lock: the image's lock stage runs this with the pip aws-app installs.

It turns the app's requirements.txt into exact pins, resolved as of a cut-off that follows the
dependency declaration, never the code commit, so a commit that leaves requirements.txt alone
resolves to the same pins whenever it is built:

- requirements with exact pins (`name==version`): the day after the newest pinned release was
  first uploaded (PyPI's JSON API gives every file's upload time). Nothing the author could not
  have had at the time is picked, and every pinned release is there. A requirement without a
  pin moves the cut-off only when nothing it allows existed by then (one added today next to
  old pins, say): to the day after the first release it allows. So editing requirements.txt
  today and keeping the old pins keeps the old resolution; adding a new project moves it no
  further than that project needs.
- requirements without one: the time of the last commit that changed requirements.txt (build
  arg REQUIREMENTS_TIME, which aws-app reads from the branch's history).

Then it asks PyPI's per-release JSON API (ADVISORY_URL, `off` to skip) for the known
vulnerabilities of every resolved release. It writes /lock/pins.txt (sorted exact pins: all the
install stage reads, so the same pins reuse the same dependency layers) and /lock/lock.json (the
rule, the cut-off, the pins, the advisories), which aws-app reads from the built image.
It never changes a pin the app chose.
"""

import concurrent.futures
import datetime
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request

from pip._vendor.packaging.requirements import InvalidRequirement, Requirement
from pip._vendor.packaging.utils import canonicalize_name
from pip._vendor.packaging.version import InvalidVersion, Version

PIP = [sys.executable, "-m", "pip"]
INDEX_JSON = "https://pypi.org/pypi"
TIMEOUT = 30
# The pins' cut-off is this long after the newest pinned release's first upload: wheels of one
# release are often uploaded over hours after its first file.
PIN_GRACE = datetime.timedelta(days=1)


def say(text):
    print("aws-app lock: " + text, flush=True)


def parse_time(text):
    if not text:
        return None
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(
        datetime.timezone.utc
    )


def iso(moment):
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def requirement_lines(path):
    """The requirement specifiers of a requirements file, as pip reads them (continuations
    joined, comments and options dropped)."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    text = re.sub(r"\\\r?\n", " ", text)
    for line in text.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", line).strip()
        if not line or line.startswith("-"):
            continue
        # `name==1.0 --hash=sha256:…`: options after the specifier are not part of it.
        line = re.split(r"\s+-", line, maxsplit=1)[0].strip()
        yield line


def applicable_requirements(path):
    """The requirements of this environment that name a release on an index."""
    found = []
    for line in requirement_lines(path):
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue  # a URL or a path: not a release on an index
        if req.url or (req.marker is not None and not req.marker.evaluate()):
            continue
        found.append(req)
    return found


def exact_pin(req):
    """The version a requirement pins, or None."""
    specs = list(req.specifier)
    if len(specs) == 1 and specs[0].operator in ("==", "===") and "*" not in specs[0].version:
        return specs[0].version
    return None


def get_json(url):
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:
        return json.load(answer)


def release_times(name):
    """{version: first upload time} of a project's releases ({} when the index lacks it)."""
    try:
        project = get_json("%s/%s/json" % (INDEX_JSON, name))
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return {}
        raise
    times = {}
    for key, files in project.get("releases", {}).items():
        uploads = [parse_time(f.get("upload_time_iso_8601")) for f in files]
        uploads = [t for t in uploads if t]
        try:
            version = Version(key)
        except InvalidVersion:
            continue
        if uploads:
            times[version] = min(uploads)
    return times


def earliest_allowed(req, times):
    """When the first release the requirement allows was uploaded (the pinned one for a pin)."""
    pin = exact_pin(req)
    if pin is not None:
        try:
            return times.get(Version(pin))
        except InvalidVersion:
            return None
    allowed = [t for v, t in times.items() if req.specifier.contains(v, prereleases=False)]
    allowed = allowed or [t for v, t in times.items() if req.specifier.contains(v, prereleases=True)]
    return min(allowed) if allowed else None


def resolve(requirements, cutoff):
    """Exact pins of the requirements (plus gunicorn, which serves the app) as of `cutoff`."""
    report = "/tmp/aws-app-report.json"
    command = PIP + ["install", "--quiet", "--dry-run", "--ignore-installed", "--report", report]
    if cutoff:
        command += ["--uploaded-prior-to", iso(cutoff)]
    command += ["-r", requirements, "gunicorn"]
    done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if done.returncode != 0:
        return None, done.stdout
    with open(report, encoding="utf-8") as f:
        installs = json.load(f)["install"]
    pins = sorted(
        "%s==%s" % (canonicalize_name(i["metadata"]["name"]), i["metadata"]["version"])
        for i in installs
    )
    return pins, done.stdout


def advisories(pins, source):
    """Known vulnerabilities of each pinned release, from PyPI's per-release JSON API."""
    if source == "off":
        return {"source": "off", "checked": 0, "unknown": [], "vulnerabilities": []}

    def ask(pin):
        name, version = pin.split("==", 1)
        try:
            release = get_json("%s/%s/%s/json" % (source.rstrip("/"), name, version))
        except (OSError, ValueError) as e:
            return pin, None, str(e)
        return pin, release.get("vulnerabilities") or [], None

    found, unknown = [], []
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        for pin, vulns, error in pool.map(ask, pins):
            if vulns is None:
                unknown.append({"pin": pin, "error": error})
                continue
            name, version = pin.split("==", 1)
            for v in vulns:
                if v.get("withdrawn"):
                    continue
                summary = (v.get("summary") or v.get("details") or "").strip().splitlines()
                found.append(
                    {
                        "package": name,
                        "version": version,
                        "id": v.get("id"),
                        "aliases": v.get("aliases") or [],
                        "fixed_in": v.get("fixed_in") or [],
                        "summary": summary[0][:200] if summary else "",
                        "link": v.get("link"),
                    }
                )
    found.sort(key=lambda v: (v["package"], v["id"] or ""))
    return {
        "source": source,
        "checked": len(pins) - len(unknown),
        "unknown": unknown,
        "checked_at": iso(datetime.datetime.now(datetime.timezone.utc)),
        "vulnerabilities": found,
    }


def main():
    requirements, out = sys.argv[1], sys.argv[2]
    requirements_time = parse_time(os.environ.get("REQUIREMENTS_TIME", ""))
    source = os.environ.get("ADVISORY_URL") or INDEX_JSON

    reqs = applicable_requirements(requirements)
    earliest = {}
    for req in reqs:
        try:
            when = earliest_allowed(req, release_times(canonicalize_name(req.name)))
        except (OSError, ValueError) as e:
            sys.exit("aws-app lock: cannot ask %s when %s was released: %s" % (INDEX_JSON, req, e))
        if when is None:
            say("nothing %s allows is on %s: no upload time for it" % (req, INDEX_JSON))
        else:
            earliest[str(req)] = (when, exact_pin(req) is not None)

    if any(pinned for _, pinned in earliest.values()):
        newest = max(earliest, key=lambda r: earliest[r][0])
        when, pinned = earliest[newest]
        cutoff, rule = when + PIN_GRACE, "pins"
        why = "a day after %s%s was uploaded (%s)" % (
            "" if pinned else "the first release allowed by ", newest, iso(when))
    elif requirements_time:
        cutoff, rule = requirements_time, "requirements-commit"
        why = "when requirements.txt last changed (no exact pins)"
    else:
        cutoff, rule, why = None, "none", "no exact pins and no requirements.txt history"
    say("resolving as of %s: %s" % (iso(cutoff) if cutoff else "now", why))

    resolved, output = resolve(requirements, cutoff)
    if resolved is None:
        sys.stdout.write(output)
        sys.exit("aws-app lock: pip cannot resolve requirements.txt as of %s (%s)"
                 % (iso(cutoff) if cutoff else "now", why))

    report = advisories(resolved, source)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "pins.txt"), "w", encoding="utf-8") as f:
        f.write("".join(p + "\n" for p in resolved))
    lock = {
        "version": 1,
        "rule": rule,
        "cutoff": iso(cutoff) if cutoff else None,
        "why": why,
        "pins": resolved,
        "advisories": report,
    }
    with open(os.path.join(out, "lock.json"), "w", encoding="utf-8") as f:
        json.dump(lock, f, indent=1, sort_keys=True)
        f.write("\n")

    for pin in resolved:
        print(pin)
    vulns = report["vulnerabilities"]
    if vulns:
        say("%d known vulnerabilities in the resolved releases (see the deploy's warning)"
            % len(vulns))
    if report["unknown"]:
        say("advisories unknown for %d release(s): %s"
            % (len(report["unknown"]), report["unknown"][0]["error"]))


if __name__ == "__main__":
    main()
