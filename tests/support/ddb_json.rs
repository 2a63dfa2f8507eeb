//! Plain JSON → DynamoDB JSON (`{"S": ..}`, `{"N": ..}`, `{"M": ..}`...), as a stream record
//! carries images. Written by hand, not with `serde_dynamo`: the publisher reads images with
//! `serde_dynamo`, so the tests feed it an encoding made independently of it.
//! Shared by the publisher's unit tests and the fault matrix (`#[path]`).

use serde_json::{json, Map, Value};

pub fn to_ddb(v: &Value) -> Value {
    match v {
        Value::Null => json!({"NULL": true}),
        Value::Bool(b) => json!({ "BOOL": b }),
        Value::Number(n) => json!({"N": n.to_string()}),
        Value::String(s) => json!({ "S": s }),
        Value::Array(a) => json!({"L": a.iter().map(to_ddb).collect::<Vec<_>>()}),
        Value::Object(o) => {
            json!({"M": o.iter().map(|(k, v)| (k.clone(), to_ddb(v))).collect::<Map<_, _>>()})
        }
    }
}
