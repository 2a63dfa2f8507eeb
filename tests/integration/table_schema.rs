//! One table definition (issue 12): `schemas/kyc-table.json` is what local provisioning and
//! the tests create, and `template.yaml`'s KycTable must say the same.

use kyc_aws::aws_sdk_dynamodb::types::{ProjectionType, StreamViewType, TimeToLiveStatus};
use kyc_integration_tests::{create_kyc_table, project_python, project_root, Moto};
use std::process::Command;

fn python(args: &[&str]) -> std::process::Output {
    Command::new(project_python())
        .args(args)
        .current_dir(project_root())
        .output()
        .expect("run the venv's python (make test creates it)")
}

#[test]
fn the_template_table_matches_the_schema_file() {
    let out = python(&["tools/table_schema.py", "check"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_check_names_a_table_that_drifted_from_the_schema() {
    // The template's table with GSI1 projecting everything again, and the TTL gone.
    let script = r#"
import sys
sys.path.insert(0, "tools")
import table_schema as t
table = t.template_table(t.TEMPLATE.read_text())
table["GlobalSecondaryIndexes"][0]["Projection"] = {"ProjectionType": "ALL"}
del table["TimeToLiveSpecification"]
for d in t.differences(t.load_schema(), table):
    print(d)
"#;
    let out = python(&["-c", script]);
    let found = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = found.lines().collect();
    assert_eq!(lines.len(), 2, "{found}");
    assert!(lines[0].starts_with("GlobalSecondaryIndexes") && lines[0].contains("KEYS_ONLY"));
    assert!(lines[1].starts_with("TimeToLiveAttribute"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tests_table_is_the_schema_table() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    create_kyc_table(&config, "schema-check").await;
    let ddb = kyc_aws::aws_sdk_dynamodb::Client::new(&config);
    let table = ddb
        .describe_table()
        .table_name("schema-check")
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    let gsi = &table.global_secondary_indexes()[0];
    assert_eq!(gsi.index_name(), Some("GSI1"));
    assert_eq!(
        gsi.projection().and_then(|p| p.projection_type()),
        Some(&ProjectionType::KeysOnly)
    );
    assert_eq!(
        table
            .stream_specification()
            .and_then(|s| s.stream_view_type()),
        Some(&StreamViewType::NewAndOldImages)
    );
    let ttl = ddb
        .describe_time_to_live()
        .table_name("schema-check")
        .send()
        .await
        .unwrap()
        .time_to_live_description
        .unwrap();
    assert_eq!(ttl.attribute_name(), Some("expiresAt"));
    assert_eq!(ttl.time_to_live_status(), Some(&TimeToLiveStatus::Enabled));
}
