//! The bounds of every function setting that a template parameter sets
//! (`schemas/settings-bounds.json`; `tools/template_checks.py` holds the template's parameters to
//! the same file), run against each function's own settings parser: a value the template lets
//! through never stops a cold start. Numbers and lists are exact (one step beyond is refused,
//! naming the variable); patterns are sampled (values generated from the pattern all start
//! the function) and their edges listed (`outside`: values the pattern keeps out, refused by
//! the parser).

use kyc_core::config::{Env, SettingsError};
use kyc_integration_tests::project_root;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use serde_json::Value;

/// Values drawn from each pattern.
const SAMPLES: usize = 200;

/// A complete, valid environment of each function (what the tests of each function use), with
/// every callback mode's companions so that each mode parses.
fn baseline(function: &str) -> Vec<(&'static str, &'static str)> {
    match function {
        "xpollens-callback" => vec![
            ("TABLE_NAME", "t"),
            ("XPOLLENS_CREDENTIALS_SECRET", "c"),
            ("PAYLOAD_KEY_SECRET", "k"),
            ("XPOLLENS_BODY_BUCKET", "b"),
            (
                "XPOLLENS_CALLBACK_OAUTH2_ISSUER",
                "https://cognito-idp.eu-west-3.amazonaws.com/eu-west-3_pool",
            ),
            ("XPOLLENS_CALLBACK_OAUTH2_CLIENT_ID", "xpollens-client"),
            ("XPOLLENS_CALLBACK_OAUTH2_SCOPE", "kyc-hooks/callbacks"),
            (
                "XPOLLENS_CALLBACK_MTLS_SUBJECT_DN",
                "CN=webhooks.xpollens.com",
            ),
        ],
        "trust-sign-archive" => vec![("TABLE_NAME", "t"), ("PAYLOAD_KEY_SECRET", "k")],
        "gopay-consent" => vec![
            ("TABLE_NAME", "t"),
            ("PAYLOAD_KEY_SECRET", "k"),
            ("GOPAY_CLIENT_SECRET", "c"),
            ("GOPAY_AUTH_BASE_URL", "https://gw.example"),
            ("GOPAY_CLIENT_BASE_URL", "https://client.example"),
            ("GOPAY_REDIRECT_URI", "https://api.example/gopay/callback"),
            (
                "GOPAY_FRONTEND_REDIRECT_URI",
                "https://bank.example/gopay/return",
            ),
            ("GOPAY_SUCCESS_URL", "https://bank.example/ok"),
            ("GOPAY_FAILURE_URL", "https://bank.example/ko"),
            ("GOPAY_BUCKET", "b"),
        ],
        "gopay-sync" => vec![
            ("TABLE_NAME", "t"),
            ("PAYLOAD_KEY_SECRET", "k"),
            ("GOPAY_CLIENT_SECRET", "c"),
            ("GOPAY_AUTH_BASE_URL", "https://gw.example"),
            ("GOPAY_CLIENT_BASE_URL", "https://client.example"),
            ("GOPAY_BUCKET", "b"),
        ],
        "xpollens-queue-drain" => vec![
            ("TABLE_NAME", "t"),
            ("PAYLOAD_KEY_SECRET", "k"),
            ("XPOLLENS_BODY_BUCKET", "b"),
            ("XPOLLENS_API_SECRET", "s"),
            ("XPOLLENS_API_BASE_URL", "https://sb-api.xpollens.com"),
            ("XPOLLENS_TOKEN_URL", "https://auth.example/connect/token"),
        ],
        "state-publisher" => vec![("EVENT_BUS_NAME", "kyc-state")],
        "kyc-read-api" => vec![("TABLE_NAME", "t")],
        "lifecycle" => vec![("TABLE_NAME", "t")],
        "evidence-seal" => vec![
            ("TABLE_NAME", "t"),
            ("EVIDENCE_BUCKET", "b"),
            ("EVIDENCE_LOCK_MODE", "GOVERNANCE"),
        ],
        other => panic!("{other}: give this test its environment and settings parser"),
    }
}

/// The function's settings parser, as its cold start runs it.
fn parse(function: &str, env: &Env) -> Result<(), SettingsError> {
    match function {
        "xpollens-callback" => xpollens_callback::Settings::from_env(env).map(drop),
        "trust-sign-archive" => kyc_trust_sign::processor::Settings::from_env(env).map(drop),
        "gopay-consent" => gopay_consent::Settings::from_env(env).map(drop),
        "gopay-sync" => gopay_sync::Settings::from_env(env).map(drop),
        "xpollens-queue-drain" => xpollens_queue_drain::Settings::from_env(env).map(drop),
        "state-publisher" => state_publisher::Settings::from_env(env).map(drop),
        "kyc-read-api" => kyc_read_api::Settings::from_env(env).map(drop),
        "lifecycle" => lifecycle::Settings::from_env(env).map(drop),
        "evidence-seal" => evidence_seal::Settings::from_env(env).map(drop),
        other => panic!("{other}: give this test its environment and settings parser"),
    }
}

/// The function's settings with `var` set to `value` (everything else valid).
fn with(function: &str, var: &str, value: &str) -> Result<(), SettingsError> {
    with_all(function, &[(var, value)])
}

/// The function's settings with each of `set` replaced (everything else valid).
fn with_all(function: &str, set: &[(&str, &str)]) -> Result<(), SettingsError> {
    let mut pairs: Vec<(&str, &str)> = baseline(function)
        .into_iter()
        .filter(|(k, _)| set.iter().all(|(var, _)| k != var))
        .collect();
    pairs.extend_from_slice(set);
    parse(function, &Env::from_pairs(&pairs))
}

/// Values of a CloudFormation `AllowedPattern` (a full match). A leading negative lookahead of
/// literal alternatives, `(?!a|b)`, which the generator cannot express, filters the values.
fn generated(pattern: &str) -> Vec<String> {
    let body = pattern
        .strip_prefix('^')
        .and_then(|p| p.strip_suffix('$'))
        .expect("template patterns are anchored");
    let (excluded, body): (Vec<&str>, &str) = match body.strip_prefix("(?!") {
        Some(rest) => {
            let (alternatives, body) = rest.split_once(')').expect("closed lookahead");
            (alternatives.split('|').collect(), body)
        }
        None => (vec![], body),
    };
    let strategy = proptest::string::string_regex(body)
        .unwrap_or_else(|e| panic!("{pattern}: cannot generate from it: {e}"));
    let mut runner = TestRunner::deterministic();
    let mut out = Vec::new();
    while out.len() < SAMPLES {
        let v = strategy.new_tree(&mut runner).unwrap().current();
        if !excluded.iter().any(|x| v.starts_with(x)) {
            out.push(v);
        }
    }
    out
}

#[test]
fn what_the_template_lets_through_starts_every_function_and_no_more_for_numbers_and_lists() {
    let path = project_root().join("schemas/settings-bounds.json");
    let file: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mut failures = Vec::new();
    let mut checked = 0;
    for (var, bound) in file["settings"].as_object().unwrap() {
        for function in bound["functions"].as_array().unwrap() {
            let function = function.as_str().unwrap();
            parse(function, &Env::from_pairs(&baseline(function)))
                .unwrap_or_else(|e| panic!("{function}: the baseline environment: {e}"));
            let mut accepted = |value: &str| {
                checked += 1;
                if let Err(e) = with(function, var, value) {
                    failures.push(format!("{function}: {var}={value:?} refused: {e}"));
                }
            };
            let mut outside = Vec::new();
            let mut empty_in_mode: Option<Vec<(String, String)>> = None;
            if let Some(n) = bound.get("number") {
                let (min, max) = (n["min"].as_i64().unwrap(), n["max"].as_i64().unwrap());
                accepted(&min.to_string());
                accepted(&max.to_string());
                outside = vec![(min - 1).to_string(), (max + 1).to_string()];
            } else if let Some(values) = bound.get("values") {
                for v in values.as_array().unwrap() {
                    accepted(v.as_str().unwrap());
                }
                outside = vec!["not-one-of-them".to_string()];
            } else if let Some(pattern) = bound.get("pattern") {
                // An empty value the template passes for a setting another mode uses: accepted
                // in that mode (`emptyWhen`).
                let empty_when: Vec<(String, String)> = bound
                    .get("emptyWhen")
                    .and_then(Value::as_object)
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                            .collect()
                    })
                    .unwrap_or_default();
                for v in generated(pattern.as_str().unwrap()) {
                    if v.is_empty() && !empty_when.is_empty() {
                        empty_in_mode = Some(empty_when.clone());
                    } else if !(v.is_empty() && bound.get("emptyMeans").is_some()) {
                        accepted(&v);
                    }
                }
                // The edges: values the pattern keeps out (checked by template_checks.py) are
                // the ones the parser refuses.
                outside = bound.get("outside").map_or(vec![], |o| {
                    o.as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.as_str().unwrap().to_string())
                        .collect()
                });
            } else {
                assert_eq!(
                    bound["text"], true,
                    "{var}: number, values, pattern or text"
                );
                accepted("CN=webhooks.xpollens.com,O=Xpollens,C=FR");
            }
            if let Some(mode) = empty_in_mode {
                checked += 1;
                let mut set: Vec<(&str, &str)> =
                    mode.iter().map(|(k, x)| (k.as_str(), x.as_str())).collect();
                set.push((var.as_str(), ""));
                if let Err(e) = with_all(function, &set) {
                    failures.push(format!("{function}: {var}=\"\" with {mode:?} refused: {e}"));
                }
            }
            for value in outside {
                checked += 1;
                // Refused, and the message names the variable (ARCHIVE_PREFIX overlapping
                // processed/ is reported on PROCESSED_PREFIX, "disjoint from ARCHIVE_PREFIX").
                match with(function, var, &value) {
                    Err(e) if e.to_string().contains(var.as_str()) => {}
                    other => failures.push(format!(
                        "{function}: {var}={value:?} beyond the bound: {other:?}, not refused naming {var}"
                    )),
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked > 1000, "{checked} values checked");
}
