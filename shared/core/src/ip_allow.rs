//! Optional source-IP allow-list (Xpollens publishes its ranges), checked against the source IP
//! API Gateway saw.

use ipnet::IpNet;
use std::net::IpAddr;

/// The networks a caller may come from.
#[derive(Debug, Clone)]
pub struct IpAllowList(Vec<IpNet>);

/// An entry of the allow-list that is neither a CIDR nor an address.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid CIDR in allow-list: {0:?}")]
pub struct InvalidCidr(pub String);

impl IpAllowList {
    /// Parses comma- or whitespace-separated CIDRs (a bare address is a /32 or /128). An empty
    /// list means no allow-list: `None`.
    pub fn parse(list: &str) -> Result<Option<Self>, InvalidCidr> {
        let nets = list
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| InvalidCidr(s.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok((!nets.is_empty()).then_some(Self(nets)))
    }

    /// True when `ip` is in one of the networks (an unknown address never is).
    pub fn allows(&self, ip: Option<IpAddr>) -> bool {
        ip.is_some_and(|ip| self.0.iter().any(|n| n.contains(&ip)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_and_addresses() {
        let l = IpAllowList::parse("203.0.113.0/24, 198.51.100.7 2001:db8::/32")
            .unwrap()
            .unwrap();
        assert!(l.allows(Some("203.0.113.9".parse().unwrap())));
        assert!(l.allows(Some("198.51.100.7".parse().unwrap())));
        assert!(l.allows(Some("2001:db8::1".parse().unwrap())));
        assert!(!l.allows(Some("198.51.100.8".parse().unwrap())));
        assert!(!l.allows(None));
        assert!(IpAllowList::parse(" ").unwrap().is_none());
        assert_eq!(
            IpAllowList::parse("10.0.0.0/33").unwrap_err(),
            InvalidCidr("10.0.0.0/33".into())
        );
    }
}
