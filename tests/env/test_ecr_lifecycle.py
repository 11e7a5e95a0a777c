"""python3 -m unittest tests/env/test_ecr_lifecycle.py (stdlib only)."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ecr_lifecycle import DAY, expired, selects  # noqa: E402

NOW = 1_700_000_000.0


def image(digest, tags, age_days):
    return {"digest": digest, "tags": tags, "pushed_at": NOW - age_days * DAY}


def rule(priority, count_type, number, status="any", **lists):
    selection = {"tagStatus": status, "countType": count_type, "countNumber": number, **lists}
    if count_type == "sinceImagePushed":
        selection["countUnit"] = "days"
    return {"rulePriority": priority, "selection": selection, "action": {"type": "expire"}}


def digests(result):
    return sorted(im["digest"] for im, _ in result)


class Selection(unittest.TestCase):
    def test_prefixes_must_all_match(self):
        sel = {"tagStatus": "tagged", "tagPrefixList": ["prod", "v1"]}
        self.assertTrue(selects(sel, ["prod-a", "v1.2"]))
        self.assertFalse(selects(sel, ["prod-a"]))
        self.assertFalse(selects(sel, []))

    def test_patterns_match_the_whole_tag(self):
        sel = {"tagStatus": "tagged", "tagPatternList": ["prod*1"]}
        self.assertTrue(selects(sel, ["prod-x-1"]))
        self.assertFalse(selects(sel, ["prod-x-12"]))
        self.assertFalse(selects({"tagStatus": "tagged", "tagPatternList": ["a.b"]}, ["axb"]))

    def test_untagged_and_any(self):
        self.assertTrue(selects({"tagStatus": "untagged"}, []))
        self.assertFalse(selects({"tagStatus": "untagged"}, ["x"]))
        self.assertTrue(selects({"tagStatus": "any"}, []))


class Expiry(unittest.TestCase):
    def test_count_keeps_the_newest(self):
        images = [image("a", ["l1"], 3), image("b", ["l2"], 2), image("c", ["l3"], 1), image("t", ["t1"], 9)]
        rules = [rule(1, "imageCountMoreThan", 2, "tagged", tagPrefixList=["l"])]
        self.assertEqual(digests(expired(rules, images, NOW)), ["a"])

    def test_since_pushed(self):
        images = [image("old", [], 10), image("new", [], 1), image("tagged", ["x"], 30)]
        rules = [rule(1, "sinceImagePushed", 5, "untagged")]
        self.assertEqual(digests(expired(rules, images, NOW)), ["old"])

    def test_an_image_belongs_to_the_highest_priority_rule_that_selects_it(self):
        # Rule 1 keeps every "prod" image (count high); rule 2 keeps only one image of all:
        # the prod images are not expired by rule 2.
        images = [image("p1", ["prod-1"], 5), image("p2", ["prod-2"], 4),
                  image("d1", ["dev-1"], 3), image("d2", ["dev-2"], 2), image("u", [], 1)]
        rules = [rule(2, "imageCountMoreThan", 1), rule(1, "imageCountMoreThan", 10, "tagged", tagPrefixList=["prod"])]
        self.assertEqual(digests(expired(rules, images, NOW)), ["d1", "d2"])

    def test_a_lower_rule_counts_what_a_higher_one_selected_but_never_expires_it(self):
        # Rule 2 keeps the two newest images of all: the prod ones fill its count, so the dev
        # image goes, while the prod ones stay (rule 1's).
        images = [image("d1", ["dev-1"], 3), image("p1", ["prod-1"], 2), image("p2", ["prod-2"], 1)]
        rules = [rule(1, "imageCountMoreThan", 10, "tagged", tagPrefixList=["prod"]), rule(2, "imageCountMoreThan", 2)]
        self.assertEqual(digests(expired(rules, images, NOW)), ["d1"])

    def test_expired_by_the_rule_that_governs(self):
        images = [image("a", ["rc-1"], 40), image("b", ["rc-2"], 1), image("c", [], 40)]
        rules = [rule(1, "sinceImagePushed", 30, "tagged", tagPatternList=["rc-*"]),
                 rule(5, "imageCountMoreThan", 0)]
        result = {im["digest"]: r["rulePriority"] for im, r in expired(rules, images, NOW)}
        self.assertEqual(result, {"a": 1, "c": 5})


if __name__ == "__main__":
    unittest.main()
