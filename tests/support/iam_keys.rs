//! Every DynamoDB key each function reads or writes in the test suite, for the IAM check
//! (`tools/iam_keys.py`, run by `make test` after the suite): moto does not enforce IAM, so
//! without this the first `AccessDenied` of a key outside a role's `dynamodb:LeadingKeys`
//! would happen in production.
//!
//! A function's SDK configuration in the tests ([`crate::Moto::sdk_config_for`]) carries an
//! HTTP client that notes, for every DynamoDB request, the function, the action IAM
//! authorises (one per transaction item) and the partition keys it names, then forwards the
//! request unchanged. Notes go to `target/iam-keys/<process>.jsonl`.

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::{
    RuntimeComponents, RuntimeComponentsBuilder,
};
use aws_smithy_types::config_bag::ConfigBag;
use kyc_core::legacy_keys::LegacyKeyLayout;
use serde_json::{json, Value};
use std::io::Write;
use std::sync::Mutex;

/// The functions of `template.yaml` that use the table, by their crate names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    XpollensCallback,
    XpollensQueueDrain,
    TrustSignArchive,
    GoPayConsent,
    GoPaySync,
    StatePublisher,
    KycReadApi,
    Lifecycle,
    EvidenceSeal,
}

impl Function {
    pub fn name(self) -> &'static str {
        match self {
            Function::XpollensCallback => "xpollens-callback",
            Function::XpollensQueueDrain => "xpollens-queue-drain",
            Function::TrustSignArchive => "trust-sign-archive",
            Function::GoPayConsent => "gopay-consent",
            Function::GoPaySync => "gopay-sync",
            Function::StatePublisher => "state-publisher",
            Function::KycReadApi => "kyc-read-api",
            Function::Lifecycle => "lifecycle",
            Function::EvidenceSeal => "evidence-seal",
        }
    }
}

/// `inner` with every DynamoDB request noted as `function`'s, under `layout` (the IAM
/// statements of `LegacyKeyLayout=read` differ).
pub fn recording(
    inner: SharedHttpClient,
    function: Function,
    layout: LegacyKeyLayout,
) -> SharedHttpClient {
    SharedHttpClient::new(Recording {
        inner,
        function,
        layout,
    })
}

#[derive(Debug, Clone)]
struct Recording {
    inner: SharedHttpClient,
    function: Function,
    layout: LegacyKeyLayout,
}

impl HttpClient for Recording {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(RecordingConnector {
            inner: self.inner.http_connector(settings, components),
            function: self.function,
            layout: self.layout,
        })
    }

    fn validate_base_client_config(
        &self,
        components: &RuntimeComponentsBuilder,
        cfg: &ConfigBag,
    ) -> Result<(), BoxError> {
        self.inner.validate_base_client_config(components, cfg)
    }

    fn validate_final_config(
        &self,
        components: &RuntimeComponents,
        cfg: &ConfigBag,
    ) -> Result<(), BoxError> {
        self.inner.validate_final_config(components, cfg)
    }
}

#[derive(Debug)]
struct RecordingConnector {
    inner: SharedHttpConnector,
    function: Function,
    layout: LegacyKeyLayout,
}

impl HttpConnector for RecordingConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        if let Some(operation) = request
            .headers()
            .get("x-amz-target")
            .and_then(|t| t.strip_prefix("DynamoDB_20120810."))
        {
            let body = request
                .body()
                .bytes()
                .and_then(|b| serde_json::from_slice::<Value>(b).ok())
                .unwrap_or(Value::Null);
            let layout = match self.layout {
                LegacyKeyLayout::Off => "off",
                LegacyKeyLayout::Read => "read",
            };
            for (action, index, keys) in requests(operation, &body) {
                note(json!({
                    "function": self.function.name(),
                    "layout": layout,
                    "action": format!("dynamodb:{action}"),
                    "index": index,
                    "leadingKeys": keys,
                }));
            }
        }
        self.inner.call(request)
    }
}

fn pk_of(item: &Value) -> Option<String> {
    item.get("PK")?.get("S")?.as_str().map(str::to_string)
}

/// The value a key condition binds to the partition key (`PK = :pk`, `GSI1PK = :p`).
fn query_partition(body: &Value) -> Option<String> {
    let condition = body.get("KeyConditionExpression")?.as_str()?;
    let key = if body.get("IndexName").is_some() {
        "GSI1PK"
    } else {
        "PK"
    };
    let placeholder = condition.split(" AND ").find_map(|part| {
        let (name, value) = part.split_once('=')?;
        (name.trim() == key).then(|| value.trim().to_string())
    })?;
    body.get("ExpressionAttributeValues")?
        .get(&placeholder)?
        .get("S")?
        .as_str()
        .map(str::to_string)
}

/// What IAM authorises in one DynamoDB request: (action, index, leading keys) — one entry per
/// item of a transaction (each is authorised as its own action), one for a batch (every key
/// of the request under one statement).
pub fn requests(operation: &str, body: &Value) -> Vec<(String, Option<String>, Vec<String>)> {
    let index = body
        .get("IndexName")
        .and_then(Value::as_str)
        .map(str::to_string);
    let one = |keys: Vec<String>| vec![(operation.to_string(), index.clone(), keys)];
    match operation {
        "GetItem" | "UpdateItem" | "DeleteItem" => {
            one(body.get("Key").and_then(pk_of).into_iter().collect())
        }
        "PutItem" => one(body.get("Item").and_then(pk_of).into_iter().collect()),
        "Query" => one(query_partition(body).into_iter().collect()),
        "Scan" => one(Vec::new()),
        "TransactWriteItems" | "TransactGetItems" => body
            .get("TransactItems")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|item| {
                let (kind, inner) = item.as_object()?.iter().next()?;
                let action = match kind.as_str() {
                    "Put" => "PutItem",
                    "Update" => "UpdateItem",
                    "Delete" => "DeleteItem",
                    "ConditionCheck" => "ConditionCheckItem",
                    "Get" => "GetItem",
                    _ => return None,
                };
                let pk = pk_of(inner.get("Key").or_else(|| inner.get("Item"))?)?;
                Some((action.to_string(), None, vec![pk]))
            })
            .collect(),
        "BatchGetItem" => one(body
            .get("RequestItems")
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(|tables| tables.values())
            .filter_map(|t| t.get("Keys")?.as_array())
            .flatten()
            .filter_map(pk_of)
            .collect()),
        "BatchWriteItem" => one(body
            .get("RequestItems")
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(|tables| tables.values())
            .filter_map(Value::as_array)
            .flatten()
            .filter_map(|w| {
                w.get("PutRequest")
                    .and_then(|p| p.get("Item"))
                    .or_else(|| w.get("DeleteRequest").and_then(|d| d.get("Key")))
            })
            .filter_map(pk_of)
            .collect()),
        // Table-level calls (DescribeTable, streams...) name no item.
        _ => Vec::new(),
    }
}

static FILE: Mutex<Option<std::fs::File>> = Mutex::new(None);

fn note(line: Value) {
    let mut file = FILE.lock().unwrap();
    let file = file.get_or_insert_with(|| {
        let dir = crate::project_root().join("target/iam-keys");
        std::fs::create_dir_all(&dir).expect("target/iam-keys");
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(format!("{}.jsonl", std::process::id())))
            .expect("iam-keys file")
    });
    writeln!(file, "{line}").expect("iam-keys note");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_of_a_transaction_is_its_own_action() {
        let body = json!({"TransactItems": [
            {"Put": {"Item": {"PK": {"S": "XP#E#1"}, "SK": {"S": "EVENT"}}}},
            {"ConditionCheck": {"Key": {"PK": {"S": "EVENT#xpollens#1"}, "SK": {"S": "EVENT"}}}},
            {"Update": {"Key": {"PK": {"S": "XP#C#a"}, "SK": {"S": "STATE"}}}}
        ]});
        let got: Vec<(String, Vec<String>)> = requests("TransactWriteItems", &body)
            .into_iter()
            .map(|(a, _, k)| (a, k))
            .collect();
        assert_eq!(
            got,
            vec![
                ("PutItem".into(), vec!["XP#E#1".into()]),
                ("ConditionCheckItem".into(), vec!["EVENT#xpollens#1".into()]),
                ("UpdateItem".into(), vec!["XP#C#a".into()]),
            ]
        );
    }

    #[test]
    fn queries_name_their_partition_and_batches_every_key() {
        let q = json!({"KeyConditionExpression": "PK = :pk AND begins_with(SK, :p)",
                       "ExpressionAttributeValues": {":pk": {"S": "TS#C#b"}, ":p": {"S": "HIST#"}}});
        assert_eq!(requests("Query", &q)[0].2, vec!["TS#C#b".to_string()]);
        let due = json!({"IndexName": "GSI1", "KeyConditionExpression": "GSI1PK = :pk AND GSI1SK <= :u",
                         "ExpressionAttributeValues": {":pk": {"S": "GOPAY_DUE#1"}, ":u": {"S": "x"}}});
        assert_eq!(
            requests("Query", &due)[0],
            (
                "Query".into(),
                Some("GSI1".into()),
                vec!["GOPAY_DUE#1".to_string()]
            )
        );
        let batch = json!({"RequestItems": {"t": {"Keys": [
            {"PK": {"S": "XP#C#a"}, "SK": {"S": "STATE"}}, {"PK": {"S": "GP#C#a"}, "SK": {"S": "STATE"}}]}}});
        assert_eq!(
            requests("BatchGetItem", &batch)[0].2,
            vec!["XP#C#a".to_string(), "GP#C#a".to_string()]
        );
    }
}
