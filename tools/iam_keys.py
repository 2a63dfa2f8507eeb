"""The IAM key check (docs/table-design.md, "The rule: whoever writes an item owns its key
prefix"). moto does not enforce IAM, so this is where a key outside a role's
dynamodb:LeadingKeys is caught before production's first AccessDenied:

- every DynamoDB request each function made in the test suite (noted by
  tests/support/iam_keys.rs into target/iam-keys/*.jsonl) is allowed by one statement of the
  function's role in template.yaml, with the template's conditions evaluated for the
  LegacyKeyLayout the function ran with;
- every function that uses the table made at least one request (so the notes cannot be empty
  by mistake);
- no provider role has a statement whose LeadingKeys reach another provider's area, the
  customer level, aliases or tombstones.

    python tools/iam_keys.py check [TEMPLATE] [NOTES_DIR]   # exit 1, naming each breach
    python tools/iam_keys.py areas [TEMPLATE]               # the area rule only
"""

import json
import pathlib
import re
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import template_checks  # noqa: E402  (the CloudFormation-aware loader)

ROOT = pathlib.Path(__file__).resolve().parent.parent

# Crate name (as noted by the tests) -> function resource in template.yaml.
FUNCTIONS = {
    "xpollens-callback": "XpollensCallbackFunction",
    "xpollens-queue-drain": "XpollensQueueDrainFunction",
    "trust-sign-archive": "TrustSignArchiveFunction",
    "gopay-consent": "GoPayConsentFunction",
    "gopay-sync": "GoPaySyncFunction",
    "kyc-read-api": "KycReadApiFunction",
    "state-publisher": "StatePublisherFunction",
    "lifecycle": "LifecycleFunction",
    "evidence-seal": "EvidenceSealFunction",
}

# One key of every area of the table (new layout), and which provider roles own it.
AREAS = {
    "XP": ["XP#E#e", "XP#C#c", "XP#U#2026-01-01", "XP#R#2026-01-01"],
    "TS": ["TS#E#e", "TS#C#c", "TS#U#2026-01-01", "TS#R#2026-01-01"],
    "GP": ["GP#E#e", "GP#C#c", "GP#U#2026-01-01", "GP#R#2026-01-01", "GOPAY_PROFILE#1", "GOPAY_STATE#sha256:00"],
    "C": ["C#c"],
    "A": ["A#XP#c"],
    "T": ["T#00"],
    "D": ["D#2026-01-01"],
}
PROVIDER_ROLES = {
    "XpollensCallbackRole": "XP",
    "XpollensQueueDrainRole": "XP",
    "TrustSignArchiveRole": "TS",
    "GoPayConsentRole": "GP",
    "GoPaySyncRole": "GP",
}


def string_like(pattern, value):
    """IAM's StringLike: `*` any run of characters, `?` one character, nothing else special."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.DOTALL) is not None


def _condition(template, name, params):
    return _truth(template, template.get("Conditions", {})[name], params)


def _value(template, v, params):
    if isinstance(v, dict) and "Ref" in v:
        ref = v["Ref"]
        if ref in params:
            return params[ref]
        return template["Parameters"][ref].get("Default")
    return v


def _truth(template, expr, params):
    if isinstance(expr, dict):
        if "Equals" in expr:
            a, b = expr["Equals"]
            return _value(template, a, params) == _value(template, b, params)
        if "Not" in expr:
            return not _truth(template, expr["Not"][0], params)
        if "And" in expr:
            return all(_truth(template, e, params) for e in expr["And"])
        if "Or" in expr:
            return any(_truth(template, e, params) for e in expr["Or"])
        if "Condition" in expr:
            return _condition(template, expr["Condition"], params)
    raise ValueError(f"condition not understood: {expr!r}")


def _resolve(template, node, params):
    """`node` with every Fn::If decided and AWS::NoValue removed."""
    if isinstance(node, dict):
        if set(node) == {"If"}:
            name, yes, no = node["If"]
            return _resolve(template, yes if _condition(template, name, params) else no, params)
        return {k: _resolve(template, v, params) for k, v in node.items()}
    if isinstance(node, list):
        out = [_resolve(template, v, params) for v in node]
        return [v for v in out if v != {"Ref": "AWS::NoValue"}]
    return node


def role_statements(template, role, params):
    props = template["Resources"][role]["Properties"]
    out = []
    for policy in props.get("Policies", []):
        out.extend(_resolve(template, policy["PolicyDocument"]["Statement"], params))
    return out


def _listed(v):
    return v if isinstance(v, list) else [v]


def _on_table(resource, index):
    for r in _listed(resource):
        if index is None and r == {"GetAtt": "KycTable.Arn"}:
            return True
        if index is not None and isinstance(r, dict) and f"/index/{index}" in str(r.get("Sub", "")):
            return True
    return False


def allowing(statements, action, index, keys):
    """The Sid of a statement allowing `action` on the table (or `index`) for every key of
    the request, or None."""
    for st in statements:
        if st.get("Effect") != "Allow" or action not in _listed(st.get("Action", [])):
            continue
        if not _on_table(st.get("Resource"), index):
            continue
        condition = st.get("Condition")
        if condition is None:
            return st.get("Sid", "?")
        patterns = condition.get("ForAllValues:StringLike", {}).get("dynamodb:LeadingKeys")
        if set(condition) != {"ForAllValues:StringLike"} or not patterns:
            continue
        # ForAllValues holds vacuously for a request naming no key (a Scan): never count it.
        if keys and all(any(string_like(p, k) for p in patterns) for k in keys):
            return st.get("Sid", "?")
    return None


def role_of(template, function):
    return template["Resources"][FUNCTIONS[function]]["Properties"]["Role"]["GetAtt"].split(".")[0]


def area_breaches(template):
    out = []
    for layout in ("off", "read"):
        params = {"LegacyKeyLayout": layout}
        for role, own in PROVIDER_ROLES.items():
            for st in role_statements(template, role, params):
                patterns = (st.get("Condition") or {}).get("ForAllValues:StringLike", {}).get("dynamodb:LeadingKeys", [])
                if not _on_table(st.get("Resource"), None):
                    continue
                if not patterns:
                    out.append(f"{role}/{st.get('Sid')} ({layout}): table access without dynamodb:LeadingKeys")
                for area, keys in AREAS.items():
                    if area == own:
                        continue
                    for p in patterns:
                        reached = [k for k in keys if string_like(p, k)]
                        if reached:
                            out.append(f"{role}/{st.get('Sid')} ({layout}): {p} reaches area {area} ({reached[0]})")
    return out


def note_breaches(template, notes):
    out = []
    seen = set()
    cache = {}
    for n in notes:
        function, layout = n["function"], n["layout"]
        if function not in FUNCTIONS:
            continue  # a function without table access of its own
        seen.add(function)
        role = role_of(template, function)
        key = (role, layout)
        if key not in cache:
            cache[key] = role_statements(template, role, {"LegacyKeyLayout": layout})
        action, index, keys = n["action"], n.get("index"), n["leadingKeys"]
        if allowing(cache[key], action, index, keys) is None:
            where = f" on index {index}" if index else ""
            out.append(f"{function} ({role}, LegacyKeyLayout={layout}): {action}{where} of {keys} is not allowed")
    for function in FUNCTIONS:
        if function not in seen:
            out.append(f"{function}: no DynamoDB request noted (built without Moto::sdk_config_for?)")
    # One line per distinct breach, so a loop of calls does not flood the report.
    return sorted(set(out))


def read_notes(directory):
    notes = []
    for path in sorted(pathlib.Path(directory).glob("*.jsonl")):
        for line in path.read_text().splitlines():
            if line.strip():
                notes.append(json.loads(line))
    return notes


def main(argv):
    command = argv[1] if len(argv) > 1 else "check"
    template = template_checks.load(argv[2] if len(argv) > 2 else ROOT / "template.yaml")
    out = area_breaches(template)
    if command == "check":
        directory = argv[3] if len(argv) > 3 else ROOT / "target/iam-keys"
        notes = read_notes(directory)
        out += note_breaches(template, notes)
        summary = f"{len(notes)} DynamoDB requests of {len({n['function'] for n in notes})} functions"
    else:
        summary = "provider roles"
    for line in out:
        print(f"IAM keys: {line}")
    if out:
        return 1
    print(f"IAM keys: {summary} within their roles' LeadingKeys; no provider role reaches another area")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
