//! Who is on the other end: the address throttling counts and the log names.
//!
//! Forwarding headers are written by whoever sends the request, so they are believed only when
//! the TCP peer is a configured trusted proxy, and then only up to the first hop that is not
//! itself trusted (reading right to left: each proxy appends the address it saw). Anything a
//! client put further left is its own claim and ignored.

use std::net::IpAddr;

use actix_web::http::header::HeaderMap;
use ipnet::IpNet;

/// The client address for a request that came from `peer`.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops = forwarded_hops(headers);
    let mut client = peer;
    for hop in hops.iter().rev() {
        match parse_hop(hop) {
            Some(ip) => {
                client = ip;
                if !is_trusted(&ip) {
                    return ip;
                }
            }
            // A hop we cannot read ends the chain: count the request against the last address
            // we could vouch for (a proxy), which throttles more, never less.
            None => return client,
        }
    }
    client
}

/// Hops from `X-Forwarded-For` (every instance, in order), or from `Forwarded: for=` when
/// there is no `X-Forwarded-For`.
fn forwarded_hops(headers: &HeaderMap) -> Vec<String> {
    let mut hops: Vec<String> = headers
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|h| h.trim().to_owned())
        .collect();
    if hops.is_empty() {
        hops = headers
            .get_all("forwarded")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|element| {
                element.split(';').find_map(|pair| {
                    let (k, v) = pair.trim().split_once('=')?;
                    k.trim()
                        .eq_ignore_ascii_case("for")
                        .then(|| v.trim().trim_matches('"').to_owned())
                })
            })
            .collect();
    }
    hops
}

/// `1.2.3.4`, `1.2.3.4:5678`, `[::1]`, `[::1]:5678` or `::1`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = hop.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    let (host, _port) = hop.rsplit_once(':')?;
    host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn untrusted_peer_headers_are_ignored() {
        let h = headers(&[("x-forwarded-for", "9.9.9.9")]);
        assert_eq!(
            client_ip(ip("5.5.5.5"), &h, &nets(&["10.0.0.0/8"])),
            ip("5.5.5.5")
        );
        assert_eq!(client_ip(ip("5.5.5.5"), &h, &[]), ip("5.5.5.5"));
    }

    #[test]
    fn rightmost_untrusted_hop_wins() {
        // The client claimed 1.1.1.1; the edge proxy saw 2.2.2.2; an inner proxy 10.0.0.5.
        let h = headers(&[
            ("x-forwarded-for", "1.1.1.1, 2.2.2.2"),
            ("x-forwarded-for", "10.0.0.5"),
        ]);
        assert_eq!(
            client_ip(ip("10.0.0.9"), &h, &nets(&["10.0.0.0/8"])),
            ip("2.2.2.2")
        );
    }

    #[test]
    fn forwarded_header_is_read_when_there_is_no_xff() {
        let h = headers(&[(
            "forwarded",
            r#"for=1.1.1.1, for="[2001:db8::1]:443";proto=https"#,
        )]);
        assert_eq!(
            client_ip(ip("10.0.0.9"), &h, &nets(&["10.0.0.0/8"])),
            ip("2001:db8::1")
        );
    }

    #[test]
    fn garbage_hop_stops_at_the_last_trusted_address() {
        let h = headers(&[("x-forwarded-for", "1.1.1.1, unknown, 10.0.0.7")]);
        assert_eq!(
            client_ip(ip("10.0.0.9"), &h, &nets(&["10.0.0.0/8"])),
            ip("10.0.0.7")
        );
        let h = headers(&[("x-forwarded-for", "4.4.4.4:999")]);
        assert_eq!(
            client_ip(ip("10.0.0.9"), &h, &nets(&["10.0.0.0/8"])),
            ip("4.4.4.4")
        );
    }

    #[test]
    fn trusted_peer_without_headers_is_the_client() {
        assert_eq!(
            client_ip(ip("10.0.0.9"), &HeaderMap::new(), &nets(&["10.0.0.0/8"])),
            ip("10.0.0.9")
        );
    }
}
