"""The table schema, defined once (schemas/kyc-table.json), and its check against template.yaml.

    python tools/table_schema.py check     # exit 1, naming each difference, if the template's
                                           # KycTable and the schema file disagree

tools/provision.py creates the local table with `create_table_args`; the Rust tests read the
same file (tests/support).
"""

import json
import pathlib
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "schemas" / "kyc-table.json"
TEMPLATE = ROOT / "template.yaml"


def load_schema():
    return json.loads(SCHEMA.read_text())


def create_table_args(schema, table_name):
    """boto3 `create_table` keyword arguments (the TTL is a separate call)."""
    args = {k: v for k, v in schema.items() if not k.startswith("$") and k != "TimeToLiveAttribute"}
    return {"TableName": table_name, **args}


class _TemplateLoader(yaml.SafeLoader):
    """Reads CloudFormation short-form tags (!Ref, !Sub, !If...) as {"Fn": value}."""


def _tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {suffix: value}


_TemplateLoader.add_multi_constructor("!", _tag)


def template_table(template_text):
    return yaml.load(template_text, Loader=_TemplateLoader)["Resources"]["KycTable"]["Properties"]


def _keys(elements):
    return [(e["AttributeName"], e["KeyType"]) for e in elements]


def differences(schema, table):
    """What differs between the schema file and the template's table properties."""
    diffs = []

    def same(what, ours, theirs):
        if ours != theirs:
            diffs.append(f"{what}: schema {ours!r}, template {theirs!r}")

    same("BillingMode", schema["BillingMode"], table.get("BillingMode"))
    same(
        "AttributeDefinitions",
        sorted((a["AttributeName"], a["AttributeType"]) for a in schema["AttributeDefinitions"]),
        sorted((a["AttributeName"], a["AttributeType"]) for a in table.get("AttributeDefinitions", [])),
    )
    same("KeySchema", _keys(schema["KeySchema"]), _keys(table.get("KeySchema", [])))

    def indexes(gsis):
        return {
            g["IndexName"]: (
                _keys(g["KeySchema"]),
                g["Projection"].get("ProjectionType"),
                sorted(g["Projection"].get("NonKeyAttributes", [])),
            )
            for g in gsis
        }

    same(
        "GlobalSecondaryIndexes",
        indexes(schema.get("GlobalSecondaryIndexes", [])),
        indexes(table.get("GlobalSecondaryIndexes", [])),
    )
    stream = schema.get("StreamSpecification", {})
    same(
        "StreamViewType",
        stream.get("StreamViewType") if stream.get("StreamEnabled") else None,
        table.get("StreamSpecification", {}).get("StreamViewType"),
    )
    ttl = table.get("TimeToLiveSpecification", {})
    same(
        "TimeToLiveAttribute",
        schema.get("TimeToLiveAttribute"),
        ttl.get("AttributeName") if ttl.get("Enabled") else None,
    )
    return diffs


def main(argv):
    if argv[1:] != ["check"]:
        print(__doc__, file=sys.stderr)
        return 2
    diffs = differences(load_schema(), template_table(TEMPLATE.read_text()))
    for d in diffs:
        print(f"KycTable differs from {SCHEMA.relative_to(ROOT)}: {d}", file=sys.stderr)
    if not diffs:
        print(f"template.yaml KycTable matches {SCHEMA.relative_to(ROOT)}")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
