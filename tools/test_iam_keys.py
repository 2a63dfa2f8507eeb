"""The IAM key check can fail: a widened role pattern and a function writing outside its area
are each caught (make style runs this)."""

import copy
import pathlib
import sys
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import iam_keys  # noqa: E402
import template_checks  # noqa: E402

TEMPLATE = template_checks.load(pathlib.Path(__file__).resolve().parent.parent / "template.yaml")


def note(function, action, keys, layout="off", index=None):
    return {"function": function, "layout": layout, "action": action, "index": index, "leadingKeys": keys}


# One allowed request of every function, so the "no request noted" rule is quiet.
BASELINE = [
    note("xpollens-callback", "dynamodb:PutItem", ["XP#E#1"]),
    note("xpollens-queue-drain", "dynamodb:PutItem", ["XP#E#2"]),
    note("trust-sign-archive", "dynamodb:PutItem", ["TS#E#s3:1"]),
    note("gopay-consent", "dynamodb:PutItem", ["GOPAY_STATE#sha256:00"]),
    note("gopay-sync", "dynamodb:Query", ["GOPAY_DUE#1"], index="GSI1"),
    note("kyc-read-api", "dynamodb:BatchGetItem", ["XP#C#a", "TS#C#a", "GP#C#a"]),
    note("state-publisher", "dynamodb:PutItem", ["C#a"]),
    note("lifecycle", "dynamodb:Query", ["DELETE#1"], index="GSI1"),
    note("evidence-seal", "dynamodb:Query", ["HOUR#2026-12-06T10#00"], index="GSI1"),
]


def widened(role, pattern):
    t = copy.deepcopy(TEMPLATE)
    for policy in t["Resources"][role]["Properties"]["Policies"]:
        for st in policy["PolicyDocument"]["Statement"]:
            if isinstance(st, dict) and st.get("Sid") == "KycTableReadWrite":
                st["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"].append(pattern)
    return t


class IamKeys(unittest.TestCase):
    def test_the_template_as_it_is_passes(self):
        self.assertEqual(iam_keys.area_breaches(TEMPLATE), [])
        self.assertEqual(iam_keys.note_breaches(TEMPLATE, BASELINE), [])

    def test_a_widened_role_pattern_is_caught(self):
        for role, pattern in [
            ("XpollensCallbackRole", "*"),
            ("XpollensCallbackRole", "GP#C#*"),
            ("XpollensCallbackRole", "C#*"),
            ("GoPaySyncRole", "TS#*"),
        ]:
            breaches = iam_keys.area_breaches(widened(role, pattern))
            self.assertTrue(any(role in b and pattern in b for b in breaches), (role, pattern, breaches))

    def test_a_function_writing_outside_its_area_is_caught(self):
        for bad in [
            # The forgeries of issue 20: another provider's state, the GoPay link, a decision.
            note("xpollens-callback", "dynamodb:UpdateItem", ["GP#C#victim"]),
            # The decision's role reads provider states, never writes them.
            note("state-publisher", "dynamodb:PutItem", ["XP#C#victim"]),
            note("state-publisher", "dynamodb:UpdateItem", ["GP#C#victim"]),
            note("xpollens-callback", "dynamodb:PutItem", ["GP#C#victim"]),
            note("trust-sign-archive", "dynamodb:UpdateItem", ["XP#C#victim"]),
            note("gopay-sync", "dynamodb:PutItem", ["C#victim"]),
            # The lifecycle deletes customers' data; it never writes a provider's state.
            note("lifecycle", "dynamodb:PutItem", ["XP#C#victim"]),
            # The layout before: never written, in any mode.
            note("xpollens-callback", "dynamodb:UpdateItem", ["CUSTOMER#victim"], layout="read"),
            # A read of an old key outside the migration window.
            note("xpollens-callback", "dynamodb:ConditionCheckItem", ["EVENT#xpollens#1"]),
            # A batch with one key out of the area is refused whole.
            note("kyc-read-api", "dynamodb:BatchGetItem", ["XP#C#a", "C#a"]),
            # A Scan names no key: ForAllValues would hold vacuously, never counted.
            note("kyc-read-api", "dynamodb:Scan", []),
            # An action the role does not have.
            note("kyc-read-api", "dynamodb:PutItem", ["XP#C#a"]),
        ]:
            breaches = iam_keys.note_breaches(TEMPLATE, BASELINE + [bad])
            self.assertEqual(len(breaches), 1, (bad, breaches))

    def test_the_migration_window_allows_reading_the_old_layout_only(self):
        read = [
            note("xpollens-callback", "dynamodb:ConditionCheckItem", ["EVENT#xpollens#1"], layout="read"),
            note("xpollens-callback", "dynamodb:BatchGetItem", ["XP#C#a", "CUSTOMER#a"], layout="read"),
            note("kyc-read-api", "dynamodb:Query", ["CUSTOMER#a"], layout="read"),
            note("gopay-consent", "dynamodb:GetItem", ["CUSTOMER#a"], layout="read"),
        ]
        self.assertEqual(iam_keys.note_breaches(TEMPLATE, BASELINE + read), [])

    def test_a_function_that_noted_nothing_is_a_breach(self):
        breaches = iam_keys.note_breaches(TEMPLATE, BASELINE[1:])
        self.assertEqual(len(breaches), 1)
        self.assertIn("xpollens-callback: no DynamoDB request noted", breaches[0])

    def test_string_like_is_iams(self):
        self.assertTrue(iam_keys.string_like("XP#*", "XP#C#a[1]"))
        self.assertTrue(iam_keys.string_like("A?C", "ABC"))
        self.assertFalse(iam_keys.string_like("XP#*", "XPX#C#a"))
        self.assertFalse(iam_keys.string_like("C#*", "CUSTOMER#a"))


if __name__ == "__main__":
    unittest.main()
