"""ECR lifecycle policy evaluation, as a pure function (tests/env/ecr-events.py applies it).

What ECR documents (https://docs.aws.amazon.com/AmazonECR/latest/userguide/LifecyclePolicies.html):
  - rules are evaluated by rulePriority, lowest number first;
  - "An image that matches the tagging requirements of a rule cannot be expired by a rule with a
    lower priority", and "rules can never mark images that are marked by higher priority rules,
    but can still identify them as if they haven't been expired": a lower rule counts the images
    a higher one selected (they fill its count), it only never expires them;
  - tagStatus: "tagged" (with tagPrefixList or tagPatternList: every entry of the list must match
    some tag of the image), "untagged" (no tags), "any" (every image);
  - tagPatternList entries are whole-tag patterns where "*" matches any run of characters;
  - countType "imageCountMoreThan": keep the countNumber most recently pushed of the selected
    images, expire the rest; "sinceImagePushed": expire those pushed more than countNumber
    countUnit (days) ago.
"""
import re

DAY = 86400.0


def _pattern(p):
    return re.compile("".join(".*" if part == "*" else re.escape(part) for part in re.split(r"(\*)", p)))


def selects(selection, tags):
    """Whether a rule's selection matches an image with these tags."""
    status = selection.get("tagStatus", "any").lower()
    if status == "any":
        return True
    if status == "untagged":
        return not tags
    if status != "tagged" or not tags:
        return False
    for prefix in selection.get("tagPrefixList") or []:
        if not any(t.startswith(prefix) for t in tags):
            return False
    for pattern in selection.get("tagPatternList") or []:
        rx = _pattern(pattern)
        if not any(rx.fullmatch(t) for t in tags):
            return False
    return True


def expired(rules, images, now):
    """rules: the policy's "rules"; images: dicts with "digest", "tags" (list), "pushed_at"
    (epoch seconds); now: epoch seconds. Returns [(image, rule)] to expire, by rule priority."""
    claimed = set()
    out = []
    for rule in sorted(rules, key=lambda r: int(r["rulePriority"])):
        selection = rule["selection"]
        matched = [im for im in images if selects(selection, im["tags"])]
        higher = set(claimed)
        claimed.update(im["digest"] for im in matched)
        if rule.get("action", {}).get("type", "expire").lower() != "expire":
            continue
        count_type, number = selection["countType"], int(selection["countNumber"])
        if count_type == "imageCountMoreThan":
            newest_first = sorted(matched, key=lambda im: im["pushed_at"], reverse=True)
            victims = newest_first[number:]
        elif count_type == "sinceImagePushed":
            unit = selection.get("countUnit", "days").lower()
            if unit != "days":
                raise ValueError(f"countUnit {unit!r}: ECR knows only days")
            victims = [im for im in matched if now - im["pushed_at"] > number * DAY]
        else:
            raise ValueError(f"countType {count_type!r}")
        out += [(im, rule) for im in victims if im["digest"] not in higher]
    return out
