"""aws-app's dependency lock: the image's lock stage runs this with the pip aws-app installs.

It turns the app's requirements.txt into exact pins, resolved as of a cut-off that follows the
dependency declaration, never the code commit, so a commit that leaves requirements.txt alone
resolves to the same pins whenever it is built:

- requirements with exact pins (`name==version`): the day after the newest pinned release was
  first uploaded (the index's JSON simple API gives every file's upload time, PEP 691/700), or
  when requirements.txt last changed if that is earlier (never before the release itself).
  Nothing the author could not have had is picked, and every pinned release is there.
- a requirement without a pin that allows nothing uploaded by then (one added today next to old
  pins, say): the others are resolved at the pins' cut-off first, and that result constrains
  the resolution as of the day after the first release the new requirement allows, so the new
  project comes in without moving what was there (if the two cannot agree, the later cut-off
  alone decides, and the log says so). Editing requirements.txt today and keeping old pins
  keeps the old resolution.
- requirements without any pin: the time of the last commit that changed requirements.txt
  (build arg REQUIREMENTS_TIME, which aws-app reads from the branch's history).

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
import time
import urllib.error
import urllib.request

from pip._vendor.packaging.requirements import InvalidRequirement, Requirement
from pip._vendor.packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from pip._vendor.packaging.version import InvalidVersion, Version

PIP = [sys.executable, "-m", "pip"]
INDEX = "https://pypi.org/simple"
TIMEOUT = 30
# The pins' cut-off is this long after the newest pinned release's first upload: wheels of one
# release are often uploaded over hours after its first file.
PIN_GRACE = datetime.timedelta(days=1)
ONE_SECOND = datetime.timedelta(seconds=1)


def say(text):
    print("aws-app lock: " + text, flush=True)


def fail(text):
    sys.exit("aws-app lock: " + text)


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
    with open(path, encoding="utf-8-sig") as f:
        text = f.read()
    text = re.sub(r"\\\r?\n", " ", text)
    for line in text.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", line).strip()
        if not line or line.startswith("-"):
            continue
        # `name==1.0 --hash=sha256:…`: options after the specifier are not part of it.
        yield re.split(r"\s+-", line, maxsplit=1)[0].strip()


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


def get_json(url, accept="application/json", attempts=4):
    """GET a JSON document; a network failure or a 5xx is tried again (as pip does), with a
    short backoff; a 4xx is the answer."""
    request = urllib.request.Request(url, headers={"Accept": accept})
    for attempt in range(attempts):
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:
                return json.load(answer)
        except urllib.error.HTTPError as e:
            if e.code < 500 or attempt == attempts - 1:
                raise
        except (urllib.error.URLError, OSError):
            if attempt == attempts - 1:
                raise
        time.sleep(0.5 * 2 ** attempt)


def file_version(filename):
    try:
        if filename.endswith(".whl"):
            return parse_wheel_filename(filename)[1]
        return parse_sdist_filename(filename)[1]
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        return None


def release_times(name):
    """{version: (first upload time, all files yanked)} of a project on the index, from its JSON
    simple page (PEP 691, upload times PEP 700); {} when the index does not have it."""
    try:
        page = get_json("%s/%s/" % (INDEX, name), "application/vnd.pypi.simple.v1+json")
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return {}
        raise
    times = {}
    for f in page.get("files", []):
        version, uploaded = file_version(f.get("filename", "")), parse_time(f.get("upload-time"))
        if version is None or uploaded is None:
            continue
        yanked = bool(f.get("yanked"))
        first, all_yanked = times.get(version, (uploaded, True))
        times[version] = (min(first, uploaded), all_yanked and yanked)
    if page.get("files") and not times:
        fail("%s gives no upload times for %s (PEP 700): the cut-off cannot be found" % (INDEX, name))
    return times


def earliest_allowed(req, times):
    """When the first release the requirement allows was uploaded (the pinned one for a pin;
    yanked releases only when pinned, as pip does)."""
    pin = exact_pin(req)
    if pin is not None:
        try:
            return times.get(Version(pin), (None, False))[0]
        except InvalidVersion:
            return None
    for prereleases in (False, True):
        allowed = [
            t for v, (t, yanked) in times.items()
            if not yanked and req.specifier.contains(v, prereleases=prereleases)
        ]
        if allowed:
            return min(allowed)
    return None


def resolve(requirements, cutoff, constraints=None):
    """Exact pins of the requirements (plus gunicorn, which serves the app) as of `cutoff`."""
    report = "/tmp/aws-app-report.json"
    command = PIP + ["install", "--quiet", "--dry-run", "--ignore-installed", "--report", report]
    if cutoff:
        command += ["--uploaded-prior-to", iso(cutoff)]
    if constraints:
        command += ["-c", constraints]
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
            vulns = release.get("vulnerabilities") or []
            return pin, [v for v in vulns if isinstance(v, dict)], None
        except Exception as e:  # noqa: BLE001 - any failure only means "not checked"
            return pin, None, "%s: %s" % (type(e).__name__, e)

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
                summary = str(v.get("summary") or v.get("details") or "").strip().splitlines()
                found.append(
                    {
                        "package": name,
                        "version": version,
                        "id": str(v.get("id") or "unknown"),
                        "aliases": [str(a) for a in v.get("aliases") or []],
                        "fixed_in": [str(f) for f in v.get("fixed_in") or []],
                        "summary": summary[0][:200] if summary else "",
                        "link": v.get("link"),
                    }
                )
    found.sort(key=lambda v: (v["package"], v["id"]))
    return {
        "source": source,
        "checked": len(pins) - len(unknown),
        "unknown": unknown,
        "checked_at": iso(datetime.datetime.now(datetime.timezone.utc)),
        "vulnerabilities": found,
    }


def cutoff_of(requirements_time, earliest):
    """The rule, the cut-off and why, from {requirement: (first allowed upload, pinned)}."""
    pinned = {r: t for r, (t, p) in earliest.items() if p}
    if pinned:
        newest = max(pinned, key=pinned.get)
        cutoff = pinned[newest] + PIN_GRACE
        why = "a day after %s, the newest pin, was uploaded (%s)" % (newest, iso(pinned[newest]))
        if requirements_time and requirements_time < cutoff:
            cutoff = max(requirements_time, pinned[newest] + ONE_SECOND)
            why = "when requirements.txt last changed, right after %s was uploaded" % newest
        return "pins", cutoff, why
    if requirements_time:
        return "requirements-commit", requirements_time, "when requirements.txt last changed (no pins)"
    return "none", None, "no exact pins and no requirements.txt history"


def main():
    requirements, out = sys.argv[1], sys.argv[2]
    requirements_time = parse_time(os.environ.get("REQUIREMENTS_TIME", ""))
    source = os.environ.get("ADVISORY_URL") or "https://pypi.org/pypi"

    reqs = applicable_requirements(requirements)
    earliest = {}
    for req in reqs:
        try:
            when = earliest_allowed(req, release_times(canonicalize_name(req.name)))
        except Exception as e:  # noqa: BLE001 - the index unreachable or answering nonsense
            fail("cannot ask %s when %s was released: %s: %s" % (INDEX, req, type(e).__name__, e))
        if when is None:
            say("nothing %s allows is on %s: no upload time for it" % (req, INDEX))
        else:
            earliest[str(req)] = (when, exact_pin(req) is not None)

    rule, cutoff, why = cutoff_of(requirements_time, earliest)
    # Unpinned requirements that nothing existed for by the pins' cut-off.
    late = {r: t for r, (t, pinned) in earliest.items() if not pinned and cutoff and t >= cutoff}
    constraints = None
    if late:
        first = max(late, key=late.get)
        # The rest as of the pins' cut-off, to constrain the later resolution.
        rest = "/tmp/aws-app-rest.txt"
        with open(rest, "w", encoding="utf-8") as f:
            f.write("".join(str(r) + "\n" for r in reqs if str(r) not in late))
        say("resolving the rest as of %s (%s) to keep it" % (iso(cutoff), why))
        kept, _ = resolve(rest, cutoff)
        cutoff = late[first] + PIN_GRACE
        why = "a day after the first release %s allows was uploaded (%s)" % (first, iso(late[first]))
        if kept:
            constraints = "/tmp/aws-app-constraints.txt"
            with open(constraints, "w", encoding="utf-8") as f:
                f.write("".join(p + "\n" for p in kept))
            why += ", the rest kept as of the pins"
    say("resolving as of %s: %s" % (iso(cutoff) if cutoff else "now", why))

    resolved, output = resolve(requirements, cutoff, constraints)
    if resolved is None and constraints:
        say("the new requirements do not fit the pins' resolution; resolving all as of %s"
            % iso(cutoff))
        why = why.replace(", the rest kept as of the pins", "")
        resolved, output = resolve(requirements, cutoff)
    if resolved is None:
        sys.stdout.write(output)
        fail("pip cannot resolve requirements.txt as of %s (%s)"
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
