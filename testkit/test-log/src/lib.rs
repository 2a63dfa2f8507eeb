//! Makes the product's logs visible in test runs, for the personal-data scan (`make test`).
//!
//! Tests do not install a tracing subscriber, so everything the code logs would vanish and a
//! scan of the test output would prove nothing. Each test binary's root invokes
//! [`install!`]: when `KYC_TEST_LOG` names a level (`make test` sets `debug`), a JSON
//! subscriber — the format the Lambda runtime writes — is installed before `main`, writing
//! through libtest's capture (shown with `--nocapture`). Unset, nothing is installed and
//! plain `cargo test` stays quiet.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

#[doc(hidden)]
pub use ctor;

/// The variable naming the level (`error`, `warn`, `info`, `debug`, `trace`).
pub const ENV: &str = "KYC_TEST_LOG";

/// Dependencies whose debug output is transport chatter, not the product's words: kept at
/// info so the log stays proportionate (their warnings and errors are still scanned).
const CHATTY_DEPENDENCIES: [&str; 8] = [
    "aws_smithy_runtime",
    "aws_smithy_http_client",
    "aws_config",
    "aws_runtime",
    "hyper_util",
    "rustls",
    "h2",
    "reqwest",
];

/// Dependencies that log personal data at debug (the S3 SDK: each request's endpoint
/// parameters, the object key included): capped at info here because production runs at INFO
/// (template.yaml pins `ApplicationLogLevel: INFO`, checked by tools/template_checks.py), so
/// the scan sees what production writes. The product's own debug lines stay scanned.
const CAPPED_AS_IN_PRODUCTION: [&str; 1] = ["aws_sdk_s3"];

/// Installs the subscriber if `KYC_TEST_LOG` names a level; does nothing otherwise, or when
/// a subscriber is already installed.
pub fn init_from_env() {
    let Ok(level) = std::env::var(ENV) else {
        return;
    };
    let Ok(level) = level.trim().parse::<LevelFilter>() else {
        return;
    };
    let targets = CHATTY_DEPENDENCIES
        .iter()
        .chain(&CAPPED_AS_IN_PRODUCTION)
        .fold(Targets::new().with_default(level), |t, name| {
            t.with_target(*name, level.min(LevelFilter::INFO))
        });
    let format = tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(true)
        .with_span_list(true)
        .with_test_writer();
    let _ = tracing_subscriber::registry()
        .with(format)
        .with(targets)
        .try_init();
}

/// Installs the test-log subscriber when the test binary starts (see the crate docs). Invoke
/// once at the root of a test binary: `kyc_test_log::install!();`
#[macro_export]
macro_rules! install {
    () => {
        $crate::ctor::declarative::ctor! {
            #[ctor(unsafe)]
            fn install_kyc_test_log() {
                $crate::init_from_env()
            }
        }
    };
}

/// Shows what a child process (the `kyc` CLI in its tests) printed, through libtest's capture:
/// hidden for passing tests as usual, seen by the personal-data scan under `--nocapture`.
pub fn shown(output: std::process::Output) -> std::process::Output {
    print!("{}", String::from_utf8_lossy(&output.stdout));
    eprint!("{}", String::from_utf8_lossy(&output.stderr));
    output
}
