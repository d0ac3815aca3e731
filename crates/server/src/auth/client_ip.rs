//! The client's address behind reverse proxies, and the key it is rate limited under.
//!
//! `X-Forwarded-For` is a list each proxy appends the address it saw to, so only its right-most
//! entries were written by proxies we run; anything to their left is whatever the client sent.
//! We walk from the peer leftwards while the hop is trusted (by position, `DBAAS_TRUSTED_PROXY_HOPS`,
//! or by address, `DBAAS_TRUSTED_PROXIES`) and take the first untrusted one. The peer itself must be
//! trusted before the header is read at all; an unparsable hop ends the walk.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::http::HeaderMap;
use ipnet::IpNet;

use crate::config::Config;

/// Which hops of a request's path are our own proxies.
#[derive(Debug, Clone, Default)]
pub struct ProxyTrust {
    /// Whether `X-Forwarded-For` is read at all.
    pub enabled: bool,
    /// The nearest `hops` addresses (the peer first) are trusted by position.
    pub hops: usize,
    /// Addresses trusted wherever they appear in the chain.
    pub cidrs: Vec<IpNet>,
}

impl ProxyTrust {
    pub fn from_config(c: &Config) -> Self {
        ProxyTrust {
            enabled: c.trust_proxy,
            // With neither setting, the peer is the one proxy (the usual single load balancer).
            hops: c
                .trusted_proxy_hops
                .unwrap_or(if c.trusted_proxies.is_empty() { 1 } else { 0 }),
            cidrs: c.trusted_proxies.clone(),
        }
    }

    /// `position` counts from the peer (0) leftwards through `X-Forwarded-For`.
    fn trusts(&self, position: usize, ip: IpAddr) -> bool {
        position < self.hops || self.cidrs.iter().any(|n| n.contains(&ip))
    }

    /// The client's address: the peer, unless it is a trusted proxy, in which case the right-most
    /// untrusted `X-Forwarded-For` hop (or the left-most, when every hop is trusted).
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.enabled || !self.trusts(0, peer) {
            return peer;
        }
        // Several header lines form one list, in order.
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .flat_map(|v| match v.to_str() {
                Ok(s) => s.split(',').collect::<Vec<_>>(),
                // Not even text: one unparsable hop.
                Err(_) => vec![""],
            })
            .collect();
        let mut client = peer;
        for (i, hop) in hops.iter().rev().enumerate() {
            let Some(ip) = parse_hop(hop) else {
                // A hop we cannot read is untrusted: stop at the last address we could, the proxy
                // that passed it on, so the request counts against that proxy rather than escaping.
                return client;
            };
            client = ip;
            if !self.trusts(i + 1, ip) {
                return ip;
            }
        }
        client
    }
}

impl ProxyTrust {
    /// Whether a trusted proxy says the client connected over TLS (`X-Forwarded-Proto: https`,
    /// its first entry being the client's side).
    pub fn forwarded_https(&self, peer: IpAddr, headers: &HeaderMap) -> bool {
        self.enabled
            && self.trusts(0, peer.to_canonical())
            && headers
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
    }
}

/// One `X-Forwarded-For` entry: an address, optionally with a port or IPv6 brackets.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    let ip = hop
        .parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            hop.strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .and_then(|h| h.parse::<IpAddr>().ok())
        })?;
    Some(ip.to_canonical())
}

/// The rate-limit key of a client address: the address for IPv4, its /64 network for IPv6 (one
/// subscriber usually holds a whole /64, so per-address limits would not bind).
pub fn limit_key(ip: Option<&str>) -> String {
    match ip
        .and_then(|s| s.parse::<IpAddr>().ok())
        .map(|i| i.to_canonical())
    {
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => {
            let s = v6.segments();
            let net = Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
            format!("{net}/64")
        }
        None => "unknown".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn trust(hops: usize, cidrs: &[&str]) -> ProxyTrust {
        ProxyTrust {
            enabled: true,
            hops,
            cidrs: cidrs.iter().map(|c| c.parse().unwrap()).collect(),
        }
    }

    #[test]
    fn without_trust_the_header_is_ignored() {
        let t = ProxyTrust {
            enabled: false,
            hops: 1,
            cidrs: vec![],
        };
        let h = headers(&["1.1.1.1"]);
        assert_eq!(t.client_ip(ip("10.0.0.1"), &h), ip("10.0.0.1"));
    }

    #[test]
    fn one_hop_takes_the_right_most_entry_not_the_spoofed_left_most() {
        let t = trust(1, &[]);
        // The client claimed 6.6.6.6; our proxy appended the address it really saw.
        let h = headers(&["6.6.6.6, 203.0.113.9"]);
        assert_eq!(t.client_ip(ip("10.0.0.1"), &h), ip("203.0.113.9"));
        // The same with the spoof in its own header line.
        let h = headers(&["6.6.6.6", "203.0.113.9"]);
        assert_eq!(t.client_ip(ip("10.0.0.1"), &h), ip("203.0.113.9"));
        // No header: the proxy itself.
        assert_eq!(
            t.client_ip(ip("10.0.0.1"), &HeaderMap::new()),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn two_hops_skip_the_inner_proxy() {
        let t = trust(2, &[]);
        let h = headers(&["6.6.6.6, 7.7.7.7, 203.0.113.9, 10.0.0.2"]);
        assert_eq!(t.client_ip(ip("10.0.0.1"), &h), ip("203.0.113.9"));
    }

    #[test]
    fn every_hop_trusted_gives_the_left_most() {
        let t = trust(5, &[]);
        let h = headers(&["203.0.113.9, 10.0.0.2"]);
        assert_eq!(t.client_ip(ip("10.0.0.1"), &h), ip("203.0.113.9"));
    }

    #[test]
    fn cidrs_trust_proxies_by_address_and_an_untrusted_peer_is_never_believed() {
        let t = trust(0, &["10.0.0.0/8", "2001:db8::/32"]);
        let h = headers(&["6.6.6.6, 203.0.113.9, 10.1.2.3, 10.9.9.9"]);
        assert_eq!(t.client_ip(ip("10.0.0.1"), &h), ip("203.0.113.9"));
        // A client connecting directly, from outside the trusted range, with a forged header.
        let h = headers(&["10.0.0.5"]);
        assert_eq!(t.client_ip(ip("198.51.100.7"), &h), ip("198.51.100.7"));
        // An IPv6 proxy, and an IPv4-mapped peer address.
        let h = headers(&["203.0.113.9"]);
        assert_eq!(t.client_ip(ip("2001:db8::1"), &h), ip("203.0.113.9"));
        assert_eq!(t.client_ip(ip("::ffff:10.0.0.1"), &h), ip("203.0.113.9"));
    }

    #[test]
    fn a_spoofed_trusted_address_left_of_the_client_does_not_help() {
        // The client sends "10.0.0.7" hoping to pass as a proxy; our proxy appends its real address.
        let t = trust(0, &["10.0.0.0/8"]);
        let h = headers(&["10.0.0.7, 203.0.113.9"]);
        assert_eq!(t.client_ip(ip("10.0.0.1"), &h), ip("203.0.113.9"));
    }

    #[test]
    fn an_unparsable_hop_stops_the_walk() {
        let t = trust(0, &["10.0.0.0/8"]);
        // Garbage right of the client: counted against the proxy that passed it on.
        let h = headers(&["203.0.113.9, unknown, 10.0.0.2"]);
        assert_eq!(t.client_ip(ip("10.0.0.1"), &h), ip("10.0.0.2"));
        let h = headers(&["203.0.113.9, "]);
        assert_eq!(t.client_ip(ip("10.0.0.1"), &h), ip("10.0.0.1"));
        let mut h = HeaderMap::new();
        h.append(
            "x-forwarded-for",
            HeaderValue::from_bytes(b"1.2.3.4\xff").unwrap(),
        );
        assert_eq!(t.client_ip(ip("10.0.0.1"), &h), ip("10.0.0.1"));
    }

    #[test]
    fn hops_with_ports_and_brackets_parse() {
        assert_eq!(parse_hop(" 203.0.113.9:4711 "), Some(ip("203.0.113.9")));
        assert_eq!(parse_hop("[2001:db8::7]:443"), Some(ip("2001:db8::7")));
        assert_eq!(parse_hop("[2001:db8::7]"), Some(ip("2001:db8::7")));
        assert_eq!(parse_hop("::ffff:1.2.3.4"), Some(ip("1.2.3.4")));
        assert_eq!(parse_hop("_hidden"), None);
        assert_eq!(parse_hop("1.2.3.4.5"), None);
    }

    #[test]
    fn ipv6_clients_share_their_64() {
        assert_eq!(limit_key(Some("203.0.113.9")), "203.0.113.9");
        assert_eq!(limit_key(Some("::ffff:203.0.113.9")), "203.0.113.9");
        assert_eq!(
            limit_key(Some("2001:db8:1:2:aaaa::1")),
            limit_key(Some("2001:db8:1:2:bbbb::2"))
        );
        assert_ne!(
            limit_key(Some("2001:db8:1:2::1")),
            limit_key(Some("2001:db8:1:3::1"))
        );
        assert_eq!(limit_key(None), "unknown");
    }
}
