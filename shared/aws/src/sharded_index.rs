//! Reading a sharded GSI1 prefix (`<PREFIX>#<shard>`, `docs/table-design.md#indexes`): every
//! shard queried for sort keys below a bound, never a scan. The decision's expiries, the
//! lifecycle's due customers and inactive applicants share it.

use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::AttributeValue as Av;
use aws_sdk_dynamodb::Client;
use kyc_core::intake::StoreError;
use std::collections::HashMap;

/// The `(GSI1SK, PK)` of every entry under `<prefix>#0..shards` whose `GSI1SK < upper`, sorted
/// by `GSI1SK`, at most `limit` (each shard stops paging once `limit` are found).
pub async fn below(
    client: &Client,
    table: &str,
    prefix: &str,
    shards: u8,
    upper: &str,
    limit: usize,
) -> Result<Vec<(String, String)>, StoreError> {
    let mut found: Vec<(String, String)> = Vec::new();
    for shard in 0..shards {
        let mut start: Option<HashMap<String, Av>> = None;
        loop {
            let out = client
                .query()
                .table_name(table)
                .index_name("GSI1")
                .key_condition_expression("GSI1PK = :pk AND GSI1SK < :upper")
                .expression_attribute_values(":pk", Av::S(format!("{prefix}#{shard}")))
                .expression_attribute_values(":upper", Av::S(upper.to_string()))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| StoreError::Unavailable(DisplayErrorContext(&e).to_string()))?;
            for item in out.items() {
                let text = |n: &str| item.get(n).and_then(|v| v.as_s().ok()).cloned();
                if let (Some(sk), Some(pk)) = (text("GSI1SK"), text("PK")) {
                    found.push((sk, pk));
                }
            }
            match out.last_evaluated_key() {
                Some(k) if !k.is_empty() && found.len() < limit => start = Some(k.clone()),
                _ => break,
            }
        }
    }
    found.sort();
    found.truncate(limit);
    Ok(found)
}
