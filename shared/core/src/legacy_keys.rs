//! The key layout of releases before provider-scoped keys, read only during the move to the new
//! layout (`docs/table-design.md`, "Migrating a deployed table"): where an old item is, and
//! where it goes. Delete this module with the fallback, once every stack runs
//! `LegacyKeyLayout=off`.
//!
//! | old PK | old SK | new PK | new SK |
//! |---|---|---|---|
//! | `EVENT#<provider>#<id>` | `EVENT` | `<P>#E#<id>` | `EVENT` |
//! | `CUSTOMER#<c>` | `HIST#<t>#<provider>#<id>` | `<P>#C#<c>` | `HIST#<t>#<id>` |
//! | `CUSTOMER#<c>` | `STATE#<provider>` | `<P>#C#<c>` | `STATE` (merged) |
//! | `CUSTOMER#<c>` | `GOPAY#PROFILE` | `GP#C#<c>` | `LINK#PROFILE` |
//! | `UNASSIGNED#<provider>#<day>` | `HIST#<t>#<provider>#<id>` | `<P>#U#<day>` | `HIST#<t>#<id>` |
//! | `REJECTED#<provider>#<day>` | `<t>#<sha256>` | `<P>#R#<day>` | the same |

use crate::intake::Provider;
use crate::keys;

/// An event item's old partition key: `EVENT#<provider>#<event>`.
pub fn event_pk(provider: Provider, event_id: &str) -> String {
    format!("EVENT#{}#{}", provider.as_str(), event_id)
}

/// A customer's old partition key: `CUSTOMER#<customer>`.
pub fn customer_pk(customer: &str) -> String {
    format!("CUSTOMER#{customer}")
}

/// A provider state's old sort key: `STATE#<provider>`.
pub fn state_sk(provider: Provider) -> String {
    format!("STATE#{}", provider.as_str())
}

/// The old sort key of a customer's GoPay profile link.
pub const GOPAY_LINK_SK: &str = "GOPAY#PROFILE";

/// What an old item is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegacyItem {
    /// An event item.
    Event {
        /// The provider that sent it.
        provider: Provider,
        /// The event's id.
        event_id: String,
    },
    /// A history entry of a customer.
    History {
        /// The provider of the event.
        provider: Provider,
        /// The customer.
        customer: String,
        /// The entry's sort key, parsed.
        sk: HistorySk,
    },
    /// A provider's state of a customer.
    State {
        /// The provider.
        provider: Provider,
        /// The customer.
        customer: String,
    },
    /// A customer's GoPay profile link.
    GoPayLink {
        /// The customer.
        customer: String,
    },
    /// A history entry of a day's events that name no customer.
    Unassigned {
        /// The provider of the event.
        provider: Provider,
        /// The day, `YYYY-MM-DD`.
        day: String,
        /// The entry's sort key, parsed.
        sk: HistorySk,
    },
    /// A rejected delivery.
    Rejection {
        /// The provider that sent it.
        provider: Provider,
        /// The day, `YYYY-MM-DD`.
        day: String,
        /// Its sort key.
        sk: String,
    },
}

/// An old history sort key's parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistorySk {
    /// The received time.
    pub time: String,
    /// The provider of the event.
    pub provider: Provider,
    /// The event's id.
    pub event_id: String,
}

fn parse_history_sk(sk: &str) -> Option<HistorySk> {
    let rest = sk.strip_prefix("HIST#")?;
    let (time, rest) = rest.split_once('#')?;
    let (provider, event_id) = rest.split_once('#')?;
    Some(HistorySk {
        time: time.to_string(),
        provider: Provider::parse(provider)?,
        event_id: event_id.to_string(),
    })
}

/// `<provider>#<day>` of the old unassigned and rejection partitions.
fn provider_and_day(rest: &str) -> Option<(Provider, String)> {
    let (provider, day) = rest.split_once('#')?;
    Some((Provider::parse(provider)?, day.to_string()))
}

/// Reads an old item's keys; `None` for an item of the new layout, or a GoPay profile or
/// pending consent (their keys did not change).
pub fn classify(pk: &str, sk: &str) -> Option<LegacyItem> {
    if let Some(rest) = pk.strip_prefix("EVENT#") {
        let (provider, event_id) = rest.split_once('#')?;
        if sk != "EVENT" {
            return None;
        }
        return Some(LegacyItem::Event {
            provider: Provider::parse(provider)?,
            event_id: event_id.to_string(),
        });
    }
    if let Some(customer) = pk.strip_prefix("CUSTOMER#") {
        let customer = customer.to_string();
        if sk == GOPAY_LINK_SK {
            return Some(LegacyItem::GoPayLink { customer });
        }
        if let Some(provider) = sk.strip_prefix("STATE#") {
            return Some(LegacyItem::State {
                provider: Provider::parse(provider)?,
                customer,
            });
        }
        let sk = parse_history_sk(sk)?;
        return Some(LegacyItem::History {
            provider: sk.provider,
            customer,
            sk,
        });
    }
    if let Some(rest) = pk.strip_prefix("UNASSIGNED#") {
        let (provider, day) = provider_and_day(rest)?;
        return Some(LegacyItem::Unassigned {
            provider,
            day,
            sk: parse_history_sk(sk)?,
        });
    }
    if let Some(rest) = pk.strip_prefix("REJECTED#") {
        let (provider, day) = provider_and_day(rest)?;
        return Some(LegacyItem::Rejection {
            provider,
            day,
            sk: sk.to_string(),
        });
    }
    None
}

impl LegacyItem {
    /// The provider the item belongs to (GoPay for a profile link).
    pub fn provider(&self) -> Provider {
        match self {
            LegacyItem::Event { provider, .. }
            | LegacyItem::History { provider, .. }
            | LegacyItem::State { provider, .. }
            | LegacyItem::Unassigned { provider, .. }
            | LegacyItem::Rejection { provider, .. } => *provider,
            LegacyItem::GoPayLink { .. } => Provider::Gopay,
        }
    }

    /// The customer the item belongs to, if any.
    pub fn customer(&self) -> Option<&str> {
        match self {
            LegacyItem::History { customer, .. }
            | LegacyItem::State { customer, .. }
            | LegacyItem::GoPayLink { customer } => Some(customer),
            _ => None,
        }
    }

    /// The item's keys in the new layout.
    pub fn new_keys(&self) -> (String, String) {
        let history_sk = |sk: &HistorySk| {
            format!(
                "{}{}#{}",
                keys::HISTORY_PREFIX,
                sk.time,
                keys::escape_id(&sk.event_id)
            )
        };
        let area = |p: Provider| keys::provider_prefix(p);
        match self {
            LegacyItem::Event { provider, event_id } => {
                (keys::event_pk(*provider, event_id), keys::EVENT_SK.into())
            }
            LegacyItem::History {
                provider,
                customer,
                sk,
            } => (keys::customer_pk(*provider, customer), history_sk(sk)),
            LegacyItem::State { provider, customer } => (
                keys::customer_pk(*provider, customer),
                keys::STATE_SK.into(),
            ),
            LegacyItem::GoPayLink { customer } => (
                keys::customer_pk(Provider::Gopay, customer),
                keys::GOPAY_LINK_SK.into(),
            ),
            LegacyItem::Unassigned { provider, day, sk } => {
                (format!("{}#U#{day}", area(*provider)), history_sk(sk))
            }
            LegacyItem::Rejection { provider, day, sk } => {
                (format!("{}#R#{day}", area(*provider)), sk.clone())
            }
        }
    }
}

/// Whether the functions still read the layout of earlier releases: `read` during a deployed
/// table's move (template parameter `LegacyKeyLayout`, environment `LEGACY_KEY_LAYOUT`), `off`
/// otherwise and for new stacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LegacyKeyLayout {
    /// The old layout is not read (new stacks, and once a move is done).
    #[default]
    Off,
    /// The old layout is read beside the new one (during a move).
    Read,
}

impl LegacyKeyLayout {
    /// The environment variable that sets it.
    pub const ENV: &'static str = "LEGACY_KEY_LAYOUT";

    /// `off` when the variable is unset.
    pub fn from_env(env: &crate::config::Env) -> Result<Self, crate::config::SettingsError> {
        match env.optional(Self::ENV).as_deref().map(str::trim) {
            None | Some("off") => Ok(Self::Off),
            Some("read") => Ok(Self::Read),
            Some(_) => Err(crate::config::SettingsError::invalid(
                Self::ENV,
                "`off` or `read`",
            )),
        }
    }

    /// True when the old layout is read.
    pub fn reads_legacy(self) -> bool {
        self == Self::Read
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Env;

    #[test]
    fn every_old_item_kind_has_its_new_keys() {
        let cases = [
            ("EVENT#xpollens#wh-1", "EVENT", "XP#E#wh-1", "EVENT"),
            ("EVENT#trust_sign#s3:ab", "EVENT", "TS#E#s3:ab", "EVENT"),
            (
                "CUSTOMER#alice",
                "HIST#2026-11-01T09:00:00.000000Z#gopay#gp:1",
                "GP#C#alice",
                "HIST#2026-11-01T09:00:00.000000Z#gp:1",
            ),
            ("CUSTOMER#alice", "STATE#xpollens", "XP#C#alice", "STATE"),
            (
                "CUSTOMER#alice",
                "GOPAY#PROFILE",
                "GP#C#alice",
                "LINK#PROFILE",
            ),
            (
                "UNASSIGNED#xpollens#2026-11-01",
                "HIST#2026-11-01T09:00:00.000000Z#xpollens#wh 9",
                "XP#U#2026-11-01",
                "HIST#2026-11-01T09:00:00.000000Z#wh%209",
            ),
            (
                "REJECTED#gopay#2026-11-01",
                "2026-11-01T09:00:00.000000Z#abc",
                "GP#R#2026-11-01",
                "2026-11-01T09:00:00.000000Z#abc",
            ),
            // The id that could forge keys before: kept whole, escaped in the new key.
            (
                "CUSTOMER#h5#STATE#gopay",
                "STATE#xpollens",
                "XP#C#h5%23STATE%23gopay",
                "STATE",
            ),
        ];
        for (pk, sk, new_pk, new_sk) in cases {
            let item = classify(pk, sk).unwrap_or_else(|| panic!("{pk} {sk}"));
            assert_eq!(
                item.new_keys(),
                (new_pk.to_string(), new_sk.to_string()),
                "{pk} {sk}"
            );
        }
    }

    #[test]
    fn new_layout_and_unmoved_items_are_not_legacy() {
        for (pk, sk) in [
            ("XP#E#wh-1", "EVENT"),
            ("XP#C#alice", "STATE"),
            ("GOPAY_PROFILE#p1", "PROFILE"),
            ("GOPAY_STATE#sha256:00", "GOPAY_STATE"),
            ("C#alice", "DECISION"),
            ("EVENT#nobody#x", "EVENT"),
        ] {
            assert_eq!(classify(pk, sk), None, "{pk} {sk}");
        }
    }

    #[test]
    fn the_setting_is_off_unless_read_is_asked() {
        assert_eq!(
            LegacyKeyLayout::from_env(&Env::from_pairs(&[])),
            Ok(LegacyKeyLayout::Off)
        );
        assert_eq!(
            LegacyKeyLayout::from_env(&Env::from_pairs(&[(LegacyKeyLayout::ENV, "read")])),
            Ok(LegacyKeyLayout::Read)
        );
        assert!(
            LegacyKeyLayout::from_env(&Env::from_pairs(&[(LegacyKeyLayout::ENV, "on")])).is_err()
        );
    }
}
