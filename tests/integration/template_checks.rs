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
