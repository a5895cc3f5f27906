//! Who the client is: the TCP peer, or — only when the peer is one of `TRUSTED_PROXIES` — the
//! address that proxy (and any trusted proxies before it) put in `X-Forwarded-For`.
//!
//! The header is read from the right: each trusted proxy appends the address it received the
//! request from, so the rightmost address that is not a trusted proxy is the client. Anything a
//! client wrote itself sits to the left of that and is never used. A request from a peer that is
//! not a trusted proxy is counted against the peer, whatever headers it sends.

use std::net::IpAddr;
use std::str::FromStr;

use poem::http::HeaderMap;

/// An IP network in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`; a bare address is `/32` or
/// `/128`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr = addr
            .parse()
            .map_err(|_| format!("`{text}` is not an IP network (CIDR, e.g. 10.0.0.0/8)"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(prefix) => prefix
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{text}`: the prefix length must be 0 to {max}"))?,
        };
        Ok(Cidr { network, prefix })
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

fn masked(bits: u128, width: u32, prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        let shift = width - u32::from(prefix);
        (bits >> shift) << shift
    }
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        // An IPv4 peer seen as IPv4-mapped IPv6 (dual-stack listeners) is the IPv4 address.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                masked(u128::from(u32::from(net)), 32, self.prefix)
                    == masked(u128::from(u32::from(ip)), 32, self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                masked(u128::from(net), 128, self.prefix)
                    == masked(u128::from(ip), 128, self.prefix)
            }
            _ => false,
        }
    }
}

fn trusted(proxies: &[Cidr], ip: IpAddr) -> bool {
    proxies.iter().any(|cidr| cidr.contains(ip))
}

/// The client's address for limits and audit rows.
pub fn client_ip(peer: Option<IpAddr>, headers: &HeaderMap, proxies: &[Cidr]) -> Option<IpAddr> {
    let peer = peer?;
    if !trusted(proxies, peer) {
        return Some(peer);
    }
    let mut client = peer;
    // Every X-Forwarded-For header, in order, as one list; read from the right.
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .collect();
    for hop in hops.iter().rev() {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !trusted(proxies, ip) {
                    break;
                }
            }
            // An unreadable entry: the last address known stands (never a client's invention).
            Err(_) => break,
        }
    }
    Some(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in xff {
            map.append(
                "x-forwarded-for",
                value.parse().unwrap_or_else(|_| panic!("header {value}")),
            );
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or_else(|_| panic!("ip {text}"))
    }

    fn cidrs(list: &[&str]) -> Vec<Cidr> {
        list.iter()
            .map(|c| c.parse().unwrap_or_else(|e| panic!("{e}")))
            .collect()
    }

    #[test]
    fn cidrs_parse_and_match() {
        let net: Cidr = "10.1.0.0/16".parse().expect("cidr");
        assert!(net.contains(ip("10.1.200.3")));
        assert!(!net.contains(ip("10.2.0.1")));
        assert!(net.contains(ip("::ffff:10.1.0.9")), "IPv4-mapped");
        let one: Cidr = "192.0.2.7".parse().expect("bare address");
        assert_eq!(one.to_string(), "192.0.2.7/32");
        assert!(one.contains(ip("192.0.2.7")) && !one.contains(ip("192.0.2.8")));
        let v6: Cidr = "2001:db8::/32".parse().expect("v6");
        assert!(v6.contains(ip("2001:db8:1::1")) && !v6.contains(ip("2001:db9::1")));
        let all: Cidr = "0.0.0.0/0".parse().expect("all v4");
        assert!(all.contains(ip("203.0.113.1")));
        for bad in ["10.0.0.0/33", "nope", "10.0.0/8", "::/129", "10.0.0.0/x"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn forwarded_for_counts_only_from_a_trusted_proxy() {
        let proxies = cidrs(&["10.0.0.0/8"]);
        let h = headers(&["198.51.100.9"]);
        // Not from a proxy: the peer, whatever the header says.
        assert_eq!(
            client_ip(Some(ip("203.0.113.5")), &h, &proxies),
            Some(ip("203.0.113.5"))
        );
        assert_eq!(
            client_ip(Some(ip("10.0.0.2")), &h, &[]),
            Some(ip("10.0.0.2"))
        );
        // From a proxy: the rightmost untrusted hop; what the client prepended is ignored.
        let h = headers(&["6.6.6.6, 198.51.100.9", "10.0.0.7"]);
        assert_eq!(
            client_ip(Some(ip("10.0.0.2")), &h, &proxies),
            Some(ip("198.51.100.9"))
        );
        // A proxy without the header: the proxy itself.
        assert_eq!(
            client_ip(Some(ip("10.0.0.2")), &HeaderMap::new(), &proxies),
            Some(ip("10.0.0.2"))
        );
        // Garbage in the header stops the walk at the last known address.
        let h = headers(&["198.51.100.9, not-an-ip"]);
        assert_eq!(
            client_ip(Some(ip("10.0.0.2")), &h, &proxies),
            Some(ip("10.0.0.2"))
        );
    }
}
