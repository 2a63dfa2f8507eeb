"""Operational rules template.yaml must keep (issue 10), checked in make lint and by
tests/integration/template_checks.rs:

- every function has an errors alarm and a throttles alarm;
- every queue has a depth alarm and an oldest-message alarm;
- every function invoked asynchronously (S3 event, EventBridge Scheduler target) has an
  on-failure destination;
- every IAM statement on the table itself is limited by dynamodb:LeadingKeys;
- every alarm notifies the alarm topic, on alarm and on recovery;
- every Xpollens callback route takes the JWT authorizer in the OAuth2 mode;
- every payload keyring secret is kept (Retain), replicable (KeyringReplicaRegion) and
  protected by a resource policy refusing a deletion without recovery window (issue 21);
- a function invoked by S3 sends its failures through an EventBridge rule whose input
  transformer drops the object key (keys often name the customer), never the raw event;
- every function logs at INFO or above (at DEBUG the S3 SDK logs object keys).
- only the configured uploaders and the stack's archive function may put an object under the
  Trust & Sign archive prefix (the bucket policy, evaluated here: moto does not enforce it).
- every parameter that reaches a function's environment has the bounds of
  schemas/settings-bounds.json (which the integration test settings_bounds runs each
  function's own settings parser against);
- with DataKmsKeyArn, the data key encrypts the stack's buckets, secrets and table, every role
  that uses them may use the key through that service, and the buckets deny uploads presenting
  another encryption (evaluated on sample uploads) but not those relying on the default;
- every checkov suppression gives its reason;
- every alarm has its runbook section (docs/runbook.md, the alarm's name as heading) and its
  link in the README's alarm table;
- every function takes the stack's Architecture and Tracing parameters, and with Tracing=Active
  every function's role may write to X-Ray (a role without it fails the deployment).

    python tools/template_checks.py [TEMPLATE]   # exit 1, naming each breach
"""

import fnmatch
import json
import pathlib
import re
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import table_schema  # noqa: E402  (the CloudFormation-aware YAML loader)
import yaml  # noqa: E402


def _ref(value):
    return value.get("Ref") if isinstance(value, dict) else None


def _alarms(resources):
    return {n: r["Properties"] for n, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}


def _dimension(alarm, name):
    for d in alarm.get("Dimensions", []):
        if d["Name"] == name:
            return d["Value"]
    return None


def breaches(template):
    resources = template["Resources"]
    alarms = _alarms(resources)
    out = []
    functions = [n for n, r in resources.items() if r["Type"] == "AWS::Serverless::Function"]
    for fn in functions:
        for metric in ("Errors", "Throttles"):
            if not any(
                a.get("Namespace") == "AWS/Lambda"
                and a.get("MetricName") == metric
                and _ref(_dimension(a, "FunctionName")) == fn
                for a in alarms.values()
            ):
                out.append(f"{fn}: no {metric} alarm")
    for q in (n for n, r in resources.items() if r["Type"] == "AWS::SQS::Queue"):
        for metric in ("ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage"):
            if not any(
                a.get("MetricName") == metric
                and _dimension(a, "QueueName") == {"GetAtt": f"{q}.QueueName"}
                for a in alarms.values()
            ):
                out.append(f"{q}: no {metric} alarm")
    scheduled = {
        r["Properties"]["Target"]["Arn"].get("GetAtt", "").split(".")[0]
        for r in resources.values()
        if r["Type"] == "AWS::Scheduler::Schedule"
    }
    for fn in functions:
        props = resources[fn]["Properties"]
        events = props.get("Events", {}).values()
        asynchronous = fn in scheduled or any(e["Type"] == "S3" for e in events)
        on_failure = props.get("EventInvokeConfig", {}).get("DestinationConfig", {}).get("OnFailure")
        if asynchronous and not on_failure:
            out.append(f"{fn}: invoked asynchronously without an on-failure destination")
    for name, r in resources.items():
        if r["Type"] != "AWS::IAM::Role":
            continue
        for policy in r["Properties"].get("Policies", []):
            for st in policy["PolicyDocument"]["Statement"]:
                if not isinstance(st, dict) or "Sid" not in st:
                    continue  # a conditional statement (Fn::If), never on the table
                if st.get("Resource") == {"GetAtt": "KycTable.Arn"}:
                    leading = (
                        st.get("Condition", {})
                        .get("ForAllValues:StringLike", {})
                        .get("dynamodb:LeadingKeys")
                    )
                    if not leading:
                        out.append(f"{name}/{st['Sid']}: table access without dynamodb:LeadingKeys")
    topic = {"If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}
    for name, a in alarms.items():
        for actions in ("AlarmActions", "OKActions"):
            if a.get(actions) != topic:
                out.append(f"{name}: {actions} is not the alarm topic")
    for name, r in resources.items():
        if r["Type"] == "AWS::ApiGatewayV2::Route" and r["Properties"]["RouteKey"].split(" ")[1].startswith(
            "/xpollens/callbacks"
        ):
            p = r["Properties"]
            if p.get("AuthorizationType") != {"If": ["UseOAuth2", "JWT", "NONE"]} or p.get(
                "AuthorizerId"
            ) != {"If": ["UseOAuth2", {"Ref": "XpollensCallbackJwtAuthorizer"}, {"Ref": "AWS::NoValue"}]}:
                out.append(f"{name}: the OAuth2 mode does not put the JWT authorizer on this route")
    logging = template.get("Globals", {}).get("Function", {}).get("LoggingConfig", {})
    if logging.get("ApplicationLogLevel") != "INFO":
        out.append("Globals: ApplicationLogLevel is not INFO (at DEBUG the S3 SDK logs object keys)")
    for fn in functions:
        level = resources[fn]["Properties"].get("LoggingConfig", {}).get("ApplicationLogLevel")
        if level not in (None, "INFO", "WARN", "ERROR", "FATAL"):
            out.append(f"{fn}: ApplicationLogLevel {level} (at DEBUG the S3 SDK logs object keys)")
    out += bound_breaches(template, json.loads(BOUNDS.read_text())["settings"])
    out += encryption_breaches(template)
    out += suppression_breaches(template)
    out += tracing_breaches(template)
    out += runbook_breaches(template)
    out += _keyring_breaches(resources)
    out += _s3_failure_record_breaches(resources, functions)
    return out


def _keyring_breaches(resources):
    out = []
    replica_key = {"If": ["HasKeyringReplicaKmsKey", {"Ref": "KeyringReplicaKmsKeyArn"}, {"Ref": "AWS::NoValue"}]}
    replica = {
        "If": [
            "HasKeyringReplica",
            [{"Region": {"Ref": "KeyringReplicaRegion"}, "KmsKeyId": replica_key}],
            {"Ref": "AWS::NoValue"},
        ]
    }
    protected = set()
    for r in resources.values():
        if r["Type"] != "AWS::SecretsManager::ResourcePolicy":
            continue
        for st in r["Properties"]["ResourcePolicy"]["Statement"]:
            force = st.get("Condition", {}).get("Bool", {}).get("secretsmanager:ForceDeleteWithoutRecovery")
            if st.get("Effect") == "Deny" and st.get("Action") == "secretsmanager:DeleteSecret" and force == "true":
                protected.add(_ref(r["Properties"]["SecretId"]))
    for name, r in resources.items():
        if r["Type"] != "AWS::SecretsManager::Secret" or not name.endswith("PayloadKeySecret"):
            continue
        if r.get("DeletionPolicy") != "Retain":
            out.append(f"{name}: a payload keyring must be retained (DeletionPolicy Retain)")
        if r["Properties"].get("ReplicaRegions") != replica:
            out.append(f"{name}: no ReplicaRegions on KeyringReplicaRegion (under KeyringReplicaKmsKeyArn)")
        if name not in protected:
            out.append(f"{name}: no resource policy refusing a deletion without recovery window")
    return out


def _s3_failure_record_breaches(resources, functions):
    out = []
    for fn in functions:
        props = resources[fn]["Properties"]
        if not any(e["Type"] == "S3" for e in props.get("Events", {}).values()):
            continue
        on_failure = props.get("EventInvokeConfig", {}).get("DestinationConfig", {}).get("OnFailure", {})
        bus = on_failure.get("Destination", {}).get("GetAtt", "").split(".")[0]
        if on_failure.get("Type") != "EventBridge":
            out.append(f"{fn}: S3 events' failure records go to {on_failure.get('Type')} with the raw object key")
            continue
        rules = [
            r["Properties"]
            for r in resources.values()
            if r["Type"] == "AWS::Events::Rule" and _ref(r["Properties"].get("EventBusName")) == bus
        ]
        targets = [t for rule in rules for t in rule.get("Targets", [])]
        if not targets:
            out.append(f"{fn}: no rule on {bus} delivers the failure records")
        for t in targets:
            paths = t.get("InputTransformer", {}).get("InputPathsMap")
            if not paths or any(".s3.object.key" in p or p.rstrip(".") in ("$", "$.detail") for p in paths.values()):
                out.append(f"{fn}: failure record target {t.get('Id')} does not drop the object key")
    return out


def runbook_breaches(template, runbook=None, readme=None):
    """An alarm someone is paged for must be found in a minute: README table → runbook section."""
    root = table_schema.ROOT
    runbook = runbook if runbook is not None else (root / "docs" / "runbook.md").read_text()
    readme = readme if readme is not None else (root / "README.md").read_text()
    headings = {line[3:].strip() for line in runbook.splitlines() if line.startswith("## ")}
    out = []
    for name in _alarms(template["Resources"]):
        if name not in headings:
            out.append(f"{name}: no section in docs/runbook.md")
        if f"(docs/runbook.md#{name.lower()})" not in readme:
            out.append(f"{name}: not in the README's alarm table")
    return out


XRAY_POLICY = {"Sub": "arn:${AWS::Partition}:iam::aws:policy/AWSXrayWriteOnlyAccess"}


def tracing_breaches(template):
    """Architecture and Tracing come from the parameters, for every function; an active trace
    needs the X-Ray write policy on the function's own role (explicit roles get nothing from SAM)."""
    out = []
    glob = template.get("Globals", {}).get("Function", {})
    resources = template["Resources"]
    for name, r in resources.items():
        if r["Type"] != "AWS::Serverless::Function":
            continue
        props = r["Properties"]
        arch = props.get("Architectures", glob.get("Architectures"))
        if arch != [{"Ref": "Architecture"}]:
            out.append(f"{name}: Architectures is not the Architecture parameter")
        if props.get("Tracing", glob.get("Tracing")) != {"Ref": "Tracing"}:
            out.append(f"{name}: Tracing is not the Tracing parameter")
        role = props.get("Role", {})
        role_name = role.get("GetAtt", "").split(".")[0] if isinstance(role, dict) else ""
        managed = resources.get(role_name, {}).get("Properties", {}).get("ManagedPolicyArns")
        if managed != {"If": ["TracingActive", [XRAY_POLICY], {"Ref": "AWS::NoValue"}]}:
            out.append(f"{name}: its role {role_name or '?'} cannot write to X-Ray when Tracing=Active")
    return out


BOUNDS = table_schema.ROOT / "schemas" / "settings-bounds.json"


def _parameters_in(value, parameters):
    """The template parameters a property value takes (Ref, Sub, inside any function)."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "Ref" and v in parameters:
                yield v
            elif k == "Sub" and isinstance(v, str):
                yield from (p for p in re.findall(r"\$\{([A-Za-z0-9]+)\}", v) if p in parameters)
            else:
                yield from _parameters_in(v, parameters)
    elif isinstance(value, list):
        for v in value:
            yield from _parameters_in(v, parameters)


def bound_breaches(template, bounds):
    """Every function setting a parameter reaches has its entry in the bounds file, and the
    parameter's constraints are exactly the entry's."""
    parameters = template["Parameters"]
    out = []
    reached = {}  # env var -> (parameter, {binary}, value as the template sets it)
    for name, r in template["Resources"].items():
        if r["Type"] != "AWS::Serverless::Function":
            continue
        binary = r.get("Metadata", {}).get("BuildProperties", {}).get("Binary", name)
        for var, value in r["Properties"].get("Environment", {}).get("Variables", {}).items():
            for param in set(_parameters_in(value, parameters)):
                entry = reached.setdefault(var, (param, set(), value))
                entry[1].add(binary)
                if entry[0] != param:
                    out.append(f"{var}: set from both {entry[0]} and {param}")
    for var, (param, binaries, value) in sorted(reached.items()):
        bound = bounds.get(var)
        if bound is None:
            out.append(f"{var} (parameter {param}): no entry in {BOUNDS.name}")
            continue
        if bound["parameter"] != param:
            out.append(f"{var}: {BOUNDS.name} says parameter {bound['parameter']}, the template sets {param}")
        if set(bound["functions"]) != binaries:
            out.append(f"{var}: {BOUNDS.name} names functions {sorted(bound['functions'])}, the template {sorted(binaries)}")
        if "emptyMeans" in bound and value == {"Ref": param}:
            out.append(f"{var}: {BOUNDS.name} says an empty {param} is replaced, the template passes it as is")
        p = parameters[param]
        constraints = {k: p[k] for k in ("MinValue", "MaxValue", "AllowedValues", "AllowedPattern") if k in p}
        if "number" in bound:
            expected = {"MinValue": bound["number"]["min"], "MaxValue": bound["number"]["max"]}
        elif "values" in bound:
            expected = {"AllowedValues": bound["values"]}
        elif "pattern" in bound:
            expected = {"AllowedPattern": bound["pattern"]}
        else:
            expected = {}  # text: any value
        if constraints != expected:
            out.append(f"{param}: bounds {constraints} in the template, the function's are {expected} ({var})")
        for value in bound.get("outside", []):
            if "pattern" in bound and re.fullmatch(bound["pattern"], value):
                out.append(f"{param}: its pattern admits {value!r}, which {var}'s parser refuses")
        default = p.get("Default")
        if "pattern" in bound and default is not None and not re.fullmatch(bound["pattern"], str(default)):
            out.append(f"{param}: its default does not match its pattern")
    for var in sorted(set(bounds) - set(reached)):
        out.append(f"{var}: in {BOUNDS.name} but no parameter reaches it")
    return out


def _resolve(value, key_set, sample_key):
    """A policy value with DataKmsKeyArn set to `sample_key` (HasDataKmsKey true when
    `key_set`); any other reference stays as it is."""
    if isinstance(value, dict):
        if list(value) == ["If"] and value["If"][0] == "HasDataKmsKey":
            return _resolve(value["If"][1 if key_set else 2], key_set, sample_key)
        if list(value) == ["If"]:
            # Any other condition (LegacyKeyLayoutRead...): its true branch, so whatever a role
            # may do under some setting counts as used.
            return _resolve(value["If"][1], key_set, sample_key)
        if value == {"Ref": "DataKmsKeyArn"}:
            return sample_key
        return {k: _resolve(v, key_set, sample_key) for k, v in value.items()}
    if isinstance(value, list):
        items = [_resolve(v, key_set, sample_key) for v in value]
        return [i for i in items if i != {"Ref": "AWS::NoValue"}]
    return value


def _condition_holds(condition, request):
    """IAM's documented semantics for the operators the bucket policies use, on a request
    context (condition key -> value; a missing key is absent): a non-negated operator on an
    absent key is false, a negated one true; Null is true when the key is absent."""
    for operator, tests in condition.items():
        for key, expected in tests.items():
            values = expected if isinstance(expected, list) else [expected]
            present = key in request
            if operator == "Null":
                holds = (not present) == (str(values[0]).lower() == "true")
            elif operator == "StringEquals":
                holds = present and request[key] in values
            elif operator == "StringNotEquals":
                holds = not present or request[key] not in values
            elif operator == "Bool":
                holds = present and request[key] == values[0]
            else:
                raise ValueError(f"operator {operator} not modelled")
            if not holds:
                return False
    return True


def _denied(statements, request):
    return [
        st.get("Sid", "?")
        for st in statements
        if st.get("Effect") == "Deny"
        and "s3:PutObject" in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])
        + (["s3:PutObject"] if st["Action"] == "s3:*" else [])
        and _condition_holds(st.get("Condition", {}), request)
    ]


_SAMPLE_KEY = "arn:aws:kms:eu-west-3:123456789012:key/sample"
_SSE = "s3:x-amz-server-side-encryption"
# (what the upload presents, over TLS) -> refused?
_SAMPLE_UPLOADS = [
    ({}, False),
    ({_SSE: "aws:kms"}, False),
    ({_SSE: "aws:kms", _SSE + "-aws-kms-key-id": _SAMPLE_KEY}, False),
    ({_SSE: "AES256"}, True),
    ({_SSE: "aws:kms", _SSE + "-aws-kms-key-id": "arn:aws:kms:eu-west-3:123456789012:key/other"}, True),
    ({_SSE: "aws:kms:dsse"}, True),
    ({_SSE + "-customer-algorithm": "AES256"}, True),
]


def encryption_breaches(template):
    resources = template["Resources"]
    out = []
    table = resources["KycTable"]["Properties"].get("SSESpecification", {})
    if _resolve(table, True, _SAMPLE_KEY).get("KMSMasterKeyId") != _SAMPLE_KEY:
        out.append("KycTable: not encrypted with DataKmsKeyArn when it is set")
    for name, r in resources.items():
        if r["Type"] == "AWS::SecretsManager::Secret":
            if _resolve(r["Properties"], True, _SAMPLE_KEY).get("KmsKeyId") != _SAMPLE_KEY:
                out.append(f"{name}: not encrypted with DataKmsKeyArn when it is set")
    keyed_buckets = set()
    for name, r in resources.items():
        if r["Type"] != "AWS::S3::Bucket":
            continue
        rules = _resolve(r["Properties"].get("BucketEncryption", {}), True, _SAMPLE_KEY)
        default = rules.get("ServerSideEncryptionConfiguration", [{}])[0].get("ServerSideEncryptionByDefault", {})
        if default.get("KMSMasterKeyID") == _SAMPLE_KEY:
            keyed_buckets.add(name)
    policies = {
        r["Properties"]["Bucket"].get("Ref"): r["Properties"]["PolicyDocument"]["Statement"]
        for r in resources.values()
        if r["Type"] == "AWS::S3::BucketPolicy"
    }
    for bucket in sorted(keyed_buckets):
        statements = _resolve(policies.get(bucket, []), True, _SAMPLE_KEY)
        for presented, refused in _SAMPLE_UPLOADS:
            try:
                denied = _denied(statements, {**presented, "aws:SecureTransport": "true"})
            except ValueError as e:
                out.append(f"{bucket}: its policy cannot be evaluated here ({e})")
                break
            if bool(denied) != refused:
                what = ", ".join(f"{k.split(':')[1]}={v}" for k, v in presented.items()) or "no encryption header"
                verdict = f"refused ({', '.join(denied)})" if denied else "accepted"
                out.append(f"{bucket}: an upload with {what} is {verdict} with DataKmsKeyArn set")
        without_key = _resolve(policies.get(bucket, []), False, _SAMPLE_KEY)
        for presented, _ in _SAMPLE_UPLOADS:
            try:
                refused = _denied(without_key, {**presented, "aws:SecureTransport": "true"})
            except ValueError:
                refused = True
            if refused:
                out.append(f"{bucket}: uploads are refused for their encryption without DataKmsKeyArn")
                break
    # Every role using an encrypted resource may use the key, through that service only.
    services = {
        "dynamodb": ("UseDataKeyThroughDynamoDb", lambda a, res: a.startswith("dynamodb:") and "KycTable" in json.dumps(res)),
        "secretsmanager": ("UseDataKeyThroughSecretsManager", lambda a, res: a.startswith("secretsmanager:")),
        # Listing and deleting object versions read no object content: no key needed.
        "s3": ("UseDataKeyThroughS3", lambda a, res: a.startswith("s3:") and not a.startswith(("s3:List", "s3:Delete"))
               and any(b in json.dumps(res) for b in keyed_buckets)),
    }
    for name, r in resources.items():
        if r["Type"] != "AWS::IAM::Role":
            continue
        statements = [
            st
            for policy in r["Properties"].get("Policies", [])
            for st in _resolve(policy["PolicyDocument"]["Statement"], True, _SAMPLE_KEY)
        ]
        for service, (sid, uses) in services.items():
            used = any(
                uses(a, st.get("Resource"))
                for st in statements
                for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])
            )
            grant = next((st for st in statements if st.get("Sid") == sid), None)
            if used and (
                grant is None
                or grant.get("Resource") != _SAMPLE_KEY
                or service not in json.dumps(grant.get("Condition", {}).get("StringEquals", {}).get("kms:ViaService"))
            ):
                out.append(f"{name}: uses {service} but has no {sid} (the data key through {service} only)")
    return out


def suppression_breaches(template):
    out = []
    for name, r in template["Resources"].items():
        for skip in r.get("Metadata", {}).get("checkov", {}).get("skip", []):
            if not str(skip.get("comment", "")).strip():
                out.append(f"{name}: checkov suppression {skip.get('id')} without a reason")
    return out

# --- Who may drop a Trust & Sign archive (issue 23) --------------------------------------
# moto does not enforce bucket policies, so the uploader-only rule is proved here, on the
# template itself: the archive bucket's policy is evaluated (Deny statements, with the
# CloudFormation functions they use resolved against sample parameter values) for sample
# principals putting an object under the archive prefix.

_SAMPLE = {
    "AWS::Partition": "aws",
    "AWS::AccountId": "111122223333",
    "AWS::Region": "eu-west-3",
    "AWS::StackName": "kyc-hooks",
    "ArchiveBucketName": "kyc-archives",
    "ArchivePrefix": "incoming/",
    "TrustSignArchiveUploaderArns": [
        "arn:aws:iam::444455556666:role/namirial-uploader",
        "arn:aws:iam::111122223333:user/namirial-drop",
    ],
}
_FUNCTION_ROLE = "arn:aws:iam::111122223333:role/kyc-hooks-TrustSignArchiveRole-ABC123"
_GETATT = {
    "TrustSignArchiveRole.Arn": _FUNCTION_ROLE,
    "TrustSignArchiveBucket.Arn": "arn:aws:s3:::kyc-archives",
}


def _resolve_sample(v):
    """A template value with Ref/Sub/GetAtt/Join/Split resolved on the sample values."""
    if isinstance(v, list):
        return [_resolve_sample(x) for x in v]
    if not isinstance(v, dict):
        return v
    if "Ref" in v:
        return _SAMPLE[v["Ref"]]
    if "GetAtt" in v:
        name = v["GetAtt"] if isinstance(v["GetAtt"], str) else ".".join(v["GetAtt"])
        return _GETATT[name]
    if "Join" in v:
        sep, items = v["Join"]
        items = _resolve_sample(items)
        return sep.join(x for item in items for x in (item if isinstance(item, list) else [item]))
    if "Split" in v:
        sep, text = v["Split"]
        return _resolve_sample(text).split(sep)
    if "Sub" in v:
        text, extra = (v["Sub"], {}) if isinstance(v["Sub"], str) else v["Sub"]
        extra = {k: _resolve_sample(x) for k, x in extra.items()}

        def one(m):
            name = m.group(1)
            if name in extra:
                return extra[name]
            if "." in name:
                return _GETATT[name]
            value = _SAMPLE[name]
            return ",".join(value) if isinstance(value, list) else value

        return re.sub(r"\$\{([^}]+)\}", one, text)
    return {k: _resolve_sample(x) for k, x in v.items()}


def _as_list(v):
    return v if isinstance(v, list) else [v]


def _uploader_matches(pattern, value):
    return fnmatch.fnmatchcase(value, pattern)


def _uploader_condition_holds(condition, context):
    """IAM condition operators the policy may use (each key must hold: AND)."""
    for op, keys in condition.items():
        for key, wanted in keys.items():
            wanted = _as_list(wanted)
            have = context.get(key)
            if op in ("ArnNotLike", "StringNotLike", "ArnNotEquals", "StringNotEquals"):
                like = op.endswith("Like")
                if have is not None and any(
                    (_uploader_matches(w, have) if like else w == have) for w in wanted
                ):
                    return False
            elif op in ("ArnLike", "StringLike", "ArnEquals", "StringEquals"):
                like = op.endswith("Like")
                if have is None or not any((_uploader_matches(w, have) if like else w == have) for w in wanted):
                    return False
            elif op == "Bool":
                if have is None or str(have).lower() not in [str(w).lower() for w in wanted]:
                    return False
            else:
                return None  # an operator this check does not know: fail closed
    return True


def _uploader_denied(statements, principal, action, resource):
    context = {"aws:PrincipalArn": principal, "aws:SecureTransport": "true"}
    for st in statements:
        if st.get("Effect") != "Deny" or st.get("Principal") not in ("*", {"AWS": "*"}):
            continue
        if not any(_uploader_matches(a, action) for a in _as_list(st["Action"])):
            continue
        if not any(_uploader_matches(r, resource) for r in _as_list(st["Resource"])):
            continue
        holds = _uploader_condition_holds(st.get("Condition", {}), context)
        if holds is None:
            return None
        if holds:
            return True
    return False


def archive_uploader_breaches(template):
    """Every principal but the configured uploaders and the stack's own function role is
    denied s3:PutObject under the archive prefix; the stack's other prefixes are not."""
    resources = template["Resources"]
    params = template.get("Parameters", {})
    out = []
    if params.get("TrustSignArchiveUploaderArns", {}).get("Type") != "CommaDelimitedList":
        out.append("TrustSignArchiveUploaderArns: no CommaDelimitedList parameter of uploader ARNs")
        return out
    policy = next(
        (
            r["Properties"]["PolicyDocument"]
            for r in resources.values()
            if r["Type"] == "AWS::S3::BucketPolicy"
            and r["Properties"].get("Bucket") == {"Ref": "TrustSignArchiveBucket"}
        ),
        None,
    )
    if policy is None:
        return ["TrustSignArchiveBucket: no bucket policy"]
    statements = _resolve_sample(policy["Statement"])
    bucket = _GETATT["TrustSignArchiveBucket.Arn"]
    archive = f"{bucket}/{_SAMPLE['ArchivePrefix']}2026/dossier 42.zip"
    allowed = _SAMPLE["TrustSignArchiveUploaderArns"] + [_FUNCTION_ROLE]
    others = [
        "arn:aws:iam::111122223333:role/some-app",
        "arn:aws:iam::111122223333:user/alice",
        "arn:aws:iam::111122223333:root",
        "arn:aws:iam::444455556666:role/namirial-other",
    ]
    for p in allowed:
        d = _uploader_denied(statements, p, "s3:PutObject", archive)
        if d is None:
            out.append("TrustSignArchiveBucketPolicy: a condition operator the check cannot evaluate")
            return out
        if d:
            out.append(f"TrustSignArchiveBucketPolicy: {p} (configured) is denied PutObject under the archive prefix")
    for p in others:
        if not _uploader_denied(statements, p, "s3:PutObject", archive):
            out.append(f"TrustSignArchiveBucketPolicy: {p} may PutObject under the archive prefix")
    for prefix in ("processed/x/report.json", "quarantine/x.zip"):
        if _uploader_denied(statements, _FUNCTION_ROLE, "s3:PutObject", f"{bucket}/{prefix}"):
            out.append(f"TrustSignArchiveBucketPolicy: the function role is denied PutObject on {prefix}")
    return out


def load(path):
    return yaml.load(pathlib.Path(path).read_text(), Loader=table_schema._TemplateLoader)


def main(argv):
    path = argv[1] if len(argv) > 1 else table_schema.TEMPLATE
    template = load(path)
    found = breaches(template) + archive_uploader_breaches(template)
    for b in found:
        print(f"template check: {b}", file=sys.stderr)
    if not found:
        print(
            "template.yaml: alarms, on-failure destinations, LeadingKeys, callback routes, keyrings,"
            " failure records, archive uploaders, parameter bounds, data-key encryption and checkov"
            " reasons as required"
        )
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
