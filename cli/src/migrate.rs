//! `kyc migrate keys`: moves a table deployed before provider-scoped keys to the new layout
//! (rules in `kyc_migrate`; the steps around it in `docs/deploy.md`, upgrade note).

use crate::failure::Failure;
use kyc_migrate::aws::DynamoTableItems;
use kyc_migrate::{run, FileCheckpoint, MigrateError, MigrateOptions, MigrateReport};
use serde_json::Value;

#[derive(clap::Args)]
pub struct MigrateKeys {
    #[arg(long, env = "TABLE_NAME", default_value = "kyc-hooks")]
    pub table: String,
    /// Count what would move; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Where progress is kept between pages: an interrupted run continues from it; a complete
    /// run removes it.
    #[arg(long, default_value = "kyc-migrate-keys.checkpoint.json")]
    pub checkpoint: std::path::PathBuf,
    /// Items per Scan page (one checkpoint per page).
    #[arg(long, default_value_t = 100)]
    pub page_size: usize,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

pub async fn migrate_keys(args: MigrateKeys) -> Result<Value, Failure> {
    let config = kyc_aws::load_config().await;
    let table = DynamoTableItems::new(kyc_aws::aws_sdk_dynamodb::Client::new(&config), &args.table);
    let bar = crate::progress::table_scan(args.quiet);
    let show = |r: &MigrateReport| {
        bar.set_position(r.items_scanned);
        bar.set_message(format!(
            "moved {}{}, already there {}, lost races {}, failed {}",
            r.total_moved(),
            if r.dry_run { " (dry run)" } else { "" },
            r.already_there,
            r.lost_races,
            r.failed
        ));
    };
    let report = run(
        &table,
        &FileCheckpoint(args.checkpoint.clone()),
        &MigrateOptions {
            dry_run: args.dry_run,
            page_size: args.page_size,
        },
        kyc_core::chrono::Utc::now(),
        &show,
    )
    .await
    .map_err(|e| {
        let why = format!(
            "{e}; progress is kept in {}: run again to continue",
            args.checkpoint.display()
        );
        match e {
            MigrateError::Unavailable(_) => Failure::Transient(why),
            MigrateError::Checkpoint(_) => Failure::BadInput(why),
        }
    })?;
    bar.finish();
    Ok(serde_json::to_value(&report).expect("the report serialises"))
}
