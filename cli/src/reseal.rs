//! `kyc reseal`: re-seals every stored value not yet `v2` under its provider's current key
//! (rules in `kyc_reseal`), so retired payload keys can be dropped from the keyrings.

use crate::failure::Failure;
use clap::ValueEnum;
use kyc_core::crypto::Keyring;
use kyc_core::intake::Provider;
use kyc_core::secrets::{SecretError, SecretSource};
use kyc_reseal::aws::DynamoSealedItems;
use kyc_reseal::{run, FileCheckpoint, ResealError, ResealOptions, ResealReport};
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Clone, Copy, ValueEnum)]
pub enum ProviderArg {
    Xpollens,
    TrustSign,
    Gopay,
}

impl ProviderArg {
    fn provider(self) -> Provider {
        match self {
            ProviderArg::Xpollens => Provider::Xpollens,
            ProviderArg::TrustSign => Provider::TrustSign,
            ProviderArg::Gopay => Provider::Gopay,
        }
    }
}

/// Where the three providers' payload keyrings are.
#[derive(clap::Args)]
pub struct KeyringSecrets {
    #[arg(
        long,
        env = "XPOLLENS_PAYLOAD_KEY_SECRET",
        default_value = "kyc-hooks/payload-key/xpollens"
    )]
    pub xpollens_key_secret: String,
    #[arg(
        long,
        env = "TRUST_SIGN_PAYLOAD_KEY_SECRET",
        default_value = "kyc-hooks/payload-key/trust-sign"
    )]
    pub trust_sign_key_secret: String,
    #[arg(
        long,
        env = "GOPAY_PAYLOAD_KEY_SECRET",
        default_value = "kyc-hooks/payload-key/gopay"
    )]
    pub gopay_key_secret: String,
}

impl KeyringSecrets {
    /// The keyring of each of `providers` (each secret read with both stages: AWSPREVIOUS
    /// counts only for the single-key form).
    pub async fn load(
        &self,
        config: &kyc_aws::aws_config::SdkConfig,
        providers: &[Provider],
    ) -> Result<BTreeMap<Provider, Keyring>, Failure> {
        let secrets = kyc_aws::SecretsManagerSource::new(config);
        let mut keyrings = BTreeMap::new();
        for p in providers {
            let name = match p {
                Provider::Xpollens => &self.xpollens_key_secret,
                Provider::TrustSign => &self.trust_sign_key_secret,
                Provider::Gopay => &self.gopay_key_secret,
            };
            let staged = secrets.staged(name).await.map_err(|e| {
                let why = format!("{} payload keyring: {e}", p.as_str());
                match e {
                    SecretError::Unavailable(_) => Failure::Transient(why),
                    SecretError::Invalid { .. } => Failure::BadInput(why),
                }
            })?;
            let ring = Keyring::from_staged(&staged)
                .map_err(|e| Failure::BadInput(format!("{} payload keyring: {e}", p.as_str())))?;
            keyrings.insert(*p, ring);
        }
        Ok(keyrings)
    }
}

/// The providers named (repeatable `--provider`), all three when none is.
pub fn providers(args: &[ProviderArg]) -> Vec<Provider> {
    if args.is_empty() {
        vec![Provider::Xpollens, Provider::TrustSign, Provider::Gopay]
    } else {
        args.iter().map(|p| p.provider()).collect()
    }
}

#[derive(clap::Args)]
pub struct Reseal {
    #[arg(long, env = "TABLE_NAME", default_value = "kyc-hooks")]
    pub table: String,
    /// Only this provider's values (repeatable); all three by default.
    #[arg(long, value_enum)]
    pub provider: Vec<ProviderArg>,
    /// Count what would be re-sealed; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub keyrings: KeyringSecrets,
    /// Where progress is kept between pages: an interrupted run continues from it; a complete
    /// run removes it.
    #[arg(long, default_value = "kyc-reseal.checkpoint.json")]
    pub checkpoint: std::path::PathBuf,
    /// Items per Scan page (one checkpoint per page).
    #[arg(long, default_value_t = 100)]
    pub page_size: usize,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

pub async fn reseal(args: Reseal) -> Result<Value, Failure> {
    let providers = providers(&args.provider);
    let config = kyc_aws::load_config().await;
    let keyrings = args.keyrings.load(&config, &providers).await?;
    let items = DynamoSealedItems::new(&config, &args.table);
    let bar = crate::progress::table_scan(args.quiet);
    let show = |r: &ResealReport| {
        bar.set_position(r.items_scanned);
        bar.set_message(format!(
            "re-sealed {}{}, already current {}, lost races {}, failed {}",
            if r.dry_run {
                r.would_reseal
            } else {
                r.resealed
            },
            if r.dry_run { " (dry run)" } else { "" },
            r.already_current,
            r.lost_races,
            r.failed
        ));
    };
    let report = run(
        &items,
        &FileCheckpoint(args.checkpoint.clone()),
        &keyrings,
        &ResealOptions {
            providers: providers.into_iter().collect(),
            dry_run: args.dry_run,
            page_size: args.page_size,
        },
        &show,
    )
    .await
    .map_err(|e| {
        let why = format!(
            "{e}; progress is kept in {}: run again to continue",
            args.checkpoint.display()
        );
        match e {
            // The table or bucket did not answer: the same command continues later.
            ResealError::Unavailable(_) => Failure::Transient(why),
            ResealError::Checkpoint(_) | ResealError::NoKeyring(_) => Failure::BadInput(why),
        }
    })?;
    bar.finish();
    Ok(serde_json::to_value(&report).expect("the report serialises"))
}
