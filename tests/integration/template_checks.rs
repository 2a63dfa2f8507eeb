//! The operational rules of template.yaml (issue 10), checked by `tools/template_checks.py`:
//! alarms per function and queue, on-failure destinations, LeadingKeys on every table grant,
//! alarm actions, the JWT authorizer on the callback routes; and issue 21's: parameter bounds,
//! the data key on buckets, secrets and table, the buckets' encryption denies.

use kyc_integration_tests::{project_python, project_root};
use std::process::Command;

fn check(template: &std::path::Path) -> (bool, String) {
    let out = Command::new(project_python())
        .arg("tools/template_checks.py")
        .arg(template)
        .current_dir(project_root())
        .output()
        .expect("run the venv's python (make test creates it)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_template_keeps_its_operational_rules() {
    let (ok, breaches) = check(&project_root().join("template.yaml"));
    assert!(ok, "{breaches}");
}

#[test]
fn a_template_breaking_them_is_refused_with_each_breach_named() {
    let template = std::fs::read_to_string(project_root().join("template.yaml")).unwrap();
    // gopay-sync without its on-failure destination; the read API's grant without LeadingKeys.
    let broken = template
        .replacen(
            "        DestinationConfig:\n          OnFailure:\n            Type: SQS\n            Destination: !GetAtt GoPaySyncDeadLetters.Arn\n",
            "",
            1,
        )
        .replacen(
            "                Resource: !GetAtt KycTable.Arn\n                Condition:\n                  ForAllValues:StringLike:\n                    dynamodb:LeadingKeys:\n                      - XP#C#*\n                      - TS#C#*\n                      - GP#C#*\n",
            "                Resource: !GetAtt KycTable.Arn\n",
            1,
        );
    assert_ne!(broken, template, "the test's edits no longer apply");
    let path = std::env::temp_dir().join(format!("kyc-template-{}.yaml", std::process::id()));
    std::fs::write(&path, broken).unwrap();
    let (ok, breaches) = check(&path);
    std::fs::remove_file(&path).ok();
    assert!(!ok);
    let lines: Vec<&str> = breaches.lines().collect();
    assert_eq!(lines.len(), 2, "{breaches}");
    assert!(lines[0].contains("GoPaySyncFunction: invoked asynchronously without an on-failure"));
    assert!(lines[1].contains("KycReadApiRole/KycTableRead: table access without"));
}

/// Issue 21: the keyrings' protection and the Trust & Sign failure records' redaction are
/// rules of the template too: undoing either is refused, naming the resource.
#[test]
fn keyring_protection_and_key_free_failure_records_are_enforced() {
    let template = std::fs::read_to_string(project_root().join("template.yaml")).unwrap();
    let cases = [
        (
            // The failure records straight to the queue: Lambda's record holds the key.
            template.replacen(
                "            Type: EventBridge\n            Destination: !GetAtt TrustSignArchiveFailureBus.Arn\n",
                "            Type: SQS\n            Destination: !GetAtt TrustSignArchiveFailures.Arn\n",
                1,
            ),
            "TrustSignArchiveFunction: S3 events' failure records go to SQS with the raw object key",
        ),
        (
            // The transformer keeping the key.
            template.replacen(
                "              size: $.detail.requestPayload.Records[0].s3.object.size\n",
                "              size: $.detail.requestPayload.Records[0].s3.object.size\n              key: $.detail.requestPayload.Records[0].s3.object.key\n",
                1,
            ),
            "TrustSignArchiveFunction: failure record target failure-record-without-key does not drop the object key",
        ),
        (
            // A keyring whose deletion protection is gone.
            template.replacen(
                "      SecretId: !Ref GoPayPayloadKeySecret\n",
                "      SecretId: !Ref GoPayClientSecret\n",
                1,
            ),
            "GoPayPayloadKeySecret: no resource policy refusing a deletion without recovery window",
        ),
    ];
    for (n, (broken, expected)) in cases.into_iter().enumerate() {
        assert_ne!(
            broken, template,
            "case {n}: the test's edit no longer applies"
        );
        let path =
            std::env::temp_dir().join(format!("kyc-template-21-{n}-{}.yaml", std::process::id()));
        std::fs::write(&path, broken).unwrap();
        let (ok, breaches) = check(&path);
        std::fs::remove_file(&path).ok();
        assert!(!ok, "case {n}");
        assert_eq!(
            breaches.trim(),
            format!("template check: {expected}"),
            "case {n}"
        );
    }
}

/// Issue 23: moto does not enforce bucket policies, so the uploader-only rule is proved on the
/// template: the check evaluates the archive bucket's policy for sample principals.
#[test]
fn only_the_configured_uploaders_may_put_archives_and_a_widened_policy_is_refused() {
    let template = std::fs::read_to_string(project_root().join("template.yaml")).unwrap();
    assert!(template.contains("DenyArchivePutExceptUploaders"));
    let write = |text: &str, name: &str| {
        let path =
            std::env::temp_dir().join(format!("kyc-template-{name}-{}.yaml", std::process::id()));
        std::fs::write(&path, text).unwrap();
        let out = check(&path);
        std::fs::remove_file(&path).ok();
        out
    };
    // Every role of the account let through: an application role and Namirial's other role
    // may now drop archives; a configured user is no longer exempt.
    let widened = template.replacen(
        "              ArnNotLike:\n                aws:PrincipalArn: !Split\n",
        "              ArnNotLike:\n                aws:PrincipalArn: arn:aws:iam::*:role/*\n                unused: !Split\n",
        1,
    );
    assert_ne!(widened, template, "the test's edit no longer applies");
    let (ok, breaches) = write(&widened, "widened");
    assert!(!ok);
    assert!(
        breaches.contains("role/some-app may PutObject under the archive prefix"),
        "{breaches}"
    );
    assert!(
        breaches.contains("user/namirial-drop (configured) is denied"),
        "{breaches}"
    );
    // The deny statement gone: every principal may.
    let start = template
        .find("          - Sid: DenyArchivePutExceptUploaders")
        .unwrap();
    let end = start + template[start..].find("\n\n").unwrap();
    let (ok, breaches) = write(
        &format!("{}{}", &template[..start], &template[end..]),
        "gone",
    );
    assert!(!ok);
    for who in ["role/some-app", "user/alice", ":root"] {
        assert!(
            breaches.contains(&format!("{who} may PutObject")),
            "{who}: {breaches}"
        );
    }
}

/// Issue 21's rules: the parameter bounds equal the function's, the data key encrypts every
/// secret, and a bucket deny that would refuse uploads relying on the default (a condition on
/// the header without requiring it present) is caught.
#[test]
fn a_template_breaking_the_security_rules_is_refused_with_each_breach_named() {
    let template = std::fs::read_to_string(project_root().join("template.yaml")).unwrap();
    let broken = template
        .replacen("    MaxValue: 168\n", "    MaxValue: 720\n", 1)
        .replacen(
            "      KmsKeyId: !If [HasDataKmsKey, !Ref DataKmsKeyArn, !Ref AWS::NoValue]\n",
            "",
            1,
        )
        .replacen(
            "                \"Null\":\n                  s3:x-amz-server-side-encryption: \"false\"\n",
            "",
            1,
        );
    assert_ne!(broken, template, "the test's edits no longer apply");
    let path = std::env::temp_dir().join(format!("kyc-template-21-{}.yaml", std::process::id()));
    std::fs::write(&path, broken).unwrap();
    let (ok, breaches) = check(&path);
    std::fs::remove_file(&path).ok();
    assert!(!ok);
    let lines: Vec<&str> = breaches.lines().collect();
    assert_eq!(lines.len(), 3, "{breaches}");
    assert!(
        lines[0].contains("PreviousCredentialGraceHours: bounds {'MinValue': 0, 'MaxValue': 720}")
    );
    assert!(lines[1].contains("XpollensCredentialsSecret: not encrypted with DataKmsKeyArn"));
    assert!(lines[2].contains(
        "XpollensBodyBucket: an upload with no encryption header is refused (DenyOtherEncryption)"
    ));
}

/// Issue 28: a function off the Architecture/Tracing parameters, or whose role cannot write to
/// X-Ray while tracing is active (explicit roles get no policy from SAM: the deployment fails),
/// is refused.
#[test]
fn a_function_off_the_tracing_and_architecture_parameters_is_refused() {
    let template = std::fs::read_to_string(project_root().join("template.yaml")).unwrap();
    let xray_policy = "      ManagedPolicyArns: !If\n        - TracingActive\n        - [!Sub \"arn:${AWS::Partition}:iam::aws:policy/AWSXrayWriteOnlyAccess\"]\n        - !Ref AWS::NoValue\n";
    let role_at = template.find("\n  KycReadApiRole:\n").unwrap();
    let policy_at = role_at + template[role_at..].find(xray_policy).unwrap();
    let mut broken = template.clone();
    broken.replace_range(policy_at..policy_at + xray_policy.len(), "");
    let broken = broken
        .replacen("      - !Ref Architecture\n", "      - arm64\n", 1)
        .replacen(
            "    Tracing: !Ref Tracing\n",
            "    Tracing: PassThrough\n",
            1,
        );
    let path = std::env::temp_dir().join(format!("kyc-template-28-{}.yaml", std::process::id()));
    std::fs::write(&path, broken).unwrap();
    let (ok, breaches) = check(&path);
    std::fs::remove_file(&path).ok();
    assert!(!ok);
    let functions = template
        .matches("    Type: AWS::Serverless::Function\n")
        .count();
    assert!(functions >= 7);
    assert_eq!(
        breaches
            .matches("Architectures is not the Architecture parameter")
            .count(),
        functions,
        "{breaches}"
    );
    assert_eq!(
        breaches
            .matches("Tracing is not the Tracing parameter")
            .count(),
        functions,
        "{breaches}"
    );
    assert!(breaches.contains(
        "KycReadApiFunction: its role KycReadApiRole cannot write to X-Ray when Tracing=Active"
    ));
    assert_eq!(breaches.lines().count(), 2 * functions + 1, "{breaches}");
}

/// Issue 28: an alarm nobody can look up is refused: each needs its runbook section and its
/// link in the README's alarm table.
#[test]
fn an_alarm_without_a_runbook_section_or_readme_link_is_refused() {
    let template = std::fs::read_to_string(project_root().join("template.yaml")).unwrap();
    let broken = template.replacen(
        "\n  KycReadApiThrottlesAlarm:\n",
        "\n  KycReadApiUnexplainedAlarm:\n",
        1,
    );
    assert_ne!(broken, template, "the test's edit no longer applies");
    let path = std::env::temp_dir().join(format!("kyc-template-28b-{}.yaml", std::process::id()));
    std::fs::write(&path, broken).unwrap();
    let (ok, breaches) = check(&path);
    std::fs::remove_file(&path).ok();
    assert!(!ok);
    assert_eq!(
        breaches.lines().collect::<Vec<_>>(),
        [
            "template check: KycReadApiUnexplainedAlarm: no section in docs/runbook.md",
            "template check: KycReadApiUnexplainedAlarm: not in the README's alarm table"
        ],
        "{breaches}"
    );
}
