//! IPv4 / IPv6 networks in CIDR notation, for per-key source restrictions.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An IP network: `203.0.113.0/24`, `2001:db8::/32`, or a single address (`198.51.100.7` = `/32`,
/// `2001:db8::1` = `/128`).
///
/// Parsing is strict: the host bits must be zero (`10.0.0.1/8` is refused as a likely typo for
/// `10.0.0.0/8` or `10.0.0.1/32`), no leading zeros in the prefix length, no zone ids. An IPv4
/// network also contains the IPv4-mapped IPv6 form of its addresses (`::ffff:203.0.113.9`), as
/// dual-stack sockets report IPv4 peers.
///
/// ```
/// use tower_auth::apikey::IpNetwork;
/// let net: IpNetwork = "203.0.113.0/24".parse().unwrap();
/// assert!(net.contains("203.0.113.9".parse().unwrap()));
/// assert!(net.contains("::ffff:203.0.113.9".parse().unwrap()));
/// assert!(!net.contains("203.0.114.1".parse().unwrap()));
/// assert!("10.0.0.1/8".parse::<IpNetwork>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpNetwork {
    addr: IpAddr,
    prefix_len: u8,
}

/// A string that is not a network in CIDR notation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidNetwork(String);

impl fmt::Display for InvalidNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid network {:?}: expected an IP address or ADDRESS/PREFIX with zero host bits", self.0)
    }
}

impl std::error::Error for InvalidNetwork {}

impl IpNetwork {
    /// The network of `addr` with `prefix_len` leading bits; `None` if the length is too long for
    /// the address family or host bits are set.
    pub fn new(addr: IpAddr, prefix_len: u8) -> Option<Self> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix_len > max {
            return None;
        }
        let net = Self { addr, prefix_len };
        (mask(net.bits(), prefix_len, max) == net.bits()).then_some(net)
    }

    /// The network address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    fn bits(&self) -> u128 {
        match self.addr {
            IpAddr::V4(a) => u128::from(u32::from(a)),
            IpAddr::V6(a) => u128::from(a),
        }
    }

    /// Whether `ip` lies in this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(_), IpAddr::V4(ip)) => mask(u128::from(u32::from(ip)), self.prefix_len, 32) == self.bits(),
            (IpAddr::V6(_), IpAddr::V6(ip)) => mask(u128::from(ip), self.prefix_len, 128) == self.bits(),
            // An IPv6 network may also be written to contain mapped IPv4 addresses.
            (IpAddr::V6(_), IpAddr::V4(ip)) => {
                mask(u128::from(ip.to_ipv6_mapped()), self.prefix_len, 128) == self.bits()
            }
            (IpAddr::V4(_), IpAddr::V6(_)) => false,
        }
    }
}

/// Keeps the first `prefix_len` of the `width` low bits of `bits` (`prefix_len <= width`).
fn mask(bits: u128, prefix_len: u8, width: u8) -> u128 {
    let host = u32::from(width - prefix_len);
    if host >= 128 { 0 } else { (bits >> host) << host }
}

impl FromStr for IpNetwork {
    type Err = InvalidNetwork;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidNetwork(s.chars().take(64).collect());
        let (addr, len) = match s.split_once('/') {
            Some((addr, len)) => (addr, Some(len)),
            None => (s, None),
        };
        // `Ipv4Addr` / `Ipv6Addr` parsing refuses zone ids, brackets and leading-zero octets.
        let addr: IpAddr = match addr.parse::<Ipv4Addr>() {
            Ok(v4) => IpAddr::V4(v4),
            Err(_) => IpAddr::V6(addr.parse::<Ipv6Addr>().map_err(|_| invalid())?),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix_len = match len {
            None => max,
            Some(len) => {
                let valid_digits = !len.is_empty() && len.len() <= 3 && len.bytes().all(|b| b.is_ascii_digit());
                if !valid_digits || (len.len() > 1 && len.starts_with('0')) {
                    return Err(invalid());
                }
                len.parse::<u8>().map_err(|_| invalid())?
            }
        };
        Self::new(addr, prefix_len).ok_or_else(invalid)
    }
}

impl fmt::Display for IpNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parse_and_contain() {
        let net: IpNetwork = "10.1.0.0/16".parse().unwrap();
        assert!(net.contains(ip("10.1.255.3")));
        assert!(!net.contains(ip("10.2.0.1")));
        assert!(net.contains(ip("::ffff:10.1.2.3")));
        assert!(!net.contains(ip("2001:db8::1")));
        let one: IpNetwork = "192.0.2.7".parse().unwrap();
        assert_eq!(one.to_string(), "192.0.2.7/32");
        assert!(one.contains(ip("192.0.2.7")) && !one.contains(ip("192.0.2.8")));
        let all: IpNetwork = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("8.8.8.8")) && !all.contains(ip("::1")));
        let v6: IpNetwork = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains(ip("2001:db8:ffff::1")));
        assert!(!v6.contains(ip("2001:db9::1")));
        let loopback6: IpNetwork = "::1".parse().unwrap();
        assert_eq!(loopback6.to_string(), "::1/128");
        assert!(loopback6.contains(ip("::1")));
        let any6: IpNetwork = "::/0".parse().unwrap();
        assert!(any6.contains(ip("fe80::1")));
        let mapped: IpNetwork = "::ffff:0:0/96".parse().unwrap();
        assert!(mapped.contains(ip("127.0.0.1")));
        let odd: IpNetwork = "10.0.0.0/9".parse().unwrap();
        assert!(odd.contains(ip("10.127.0.1")) && !odd.contains(ip("10.128.0.1")));
    }

    #[test]
    fn strict_parsing() {
        for bad in [
            "",
            "/",
            "10.0.0.1/8",
            "10.0.0.0/33",
            "10.0.0.0/",
            "10.0.0.0/08",
            "10.0.0.0/+8",
            "10.0.0.0/-1",
            "10.0.0/8",
            "010.0.0.0/8",
            "2001:db8::1/32",
            "2001:db8::/129",
            "fe80::1%eth0",
            "[::1]",
            "host",
            "10.0.0.0/8/8",
            " 10.0.0.0/8",
            "1.2.3.4 ",
        ] {
            assert!(bad.parse::<IpNetwork>().is_err(), "{bad:?}");
        }
        assert_eq!("2001:DB8::/32".parse::<IpNetwork>().unwrap().to_string(), "2001:db8::/32");
    }
}
