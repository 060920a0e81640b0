//! Who is on the other end: the address throttling counts and the log names.
//!
//! Forwarding headers are written by whoever sends the request, so they are believed only when
//! the TCP peer is a configured trusted proxy, and then only up to the first hop that is not
//! itself trusted (reading right to left: each proxy appends the address it saw). Anything a
//! client put further left is its own claim and ignored. Only the one header the proxies write
//! (`server.forwarded_header`) is read: a proxy that writes `Forwarded` passes a client's own
//! `X-Forwarded-For` on untouched, and reading that would give the client any address it likes.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};

use actix_web::http::header::HeaderMap;
use ipnet::IpNet;

use crate::config::ForwardedHeader;

/// `server.trusted_proxies` and `server.forwarded_header`, and the warnings given once about
/// a deployment that looks misconfigured.
#[derive(Debug)]
pub struct ClientAddress {
    trusted: Vec<IpNet>,
    header: ForwardedHeader,
    warned_untrusted: AtomicBool,
    warned_other_header: AtomicBool,
}

impl ClientAddress {
    /// Believe `header` from the `trusted` proxies only.
    pub fn new(trusted: Vec<IpNet>, header: ForwardedHeader) -> ClientAddress {
        ClientAddress {
            trusted,
            header,
            warned_untrusted: AtomicBool::new(false),
            warned_other_header: AtomicBool::new(false),
        }
    }

    /// The client address for a request that came from `peer`.
    ///
    /// Warns once when a peer that is not trusted sends forwarding headers: behind a proxy
    /// missing from `server.trusted_proxies`, every client is counted as the proxy, and a few
    /// dozen wrong guesses lock everyone out. Warns once, too, when a trusted proxy sends only
    /// the header that is not `server.forwarded_header`.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let is_trusted = |ip: &IpAddr| self.trusted.iter().any(|net| net.contains(ip));
        let has = |name: &str| headers.contains_key(name);
        let (ours, other) = match self.header {
            ForwardedHeader::XForwardedFor => ("x-forwarded-for", "forwarded"),
            ForwardedHeader::Forwarded => ("forwarded", "x-forwarded-for"),
        };
        if !is_trusted(&peer) {
            if (has(ours) || has(other)) && !self.warned_untrusted.swap(true, Ordering::Relaxed) {
                log::warn!(
                    "a request from {peer} carries X-Forwarded-For or Forwarded, ignored because \
                     {peer} is not in server.trusted_proxies. If watchword runs behind a proxy, \
                     list the proxy there: until then every client is counted as the proxy's \
                     address, and throttle.max_failures_per_ip failures lock everyone out \
                     (logged once)"
                );
            }
            return peer;
        }
        if !has(ours) && has(other) && !self.warned_other_header.swap(true, Ordering::Relaxed) {
            log::warn!(
                "trusted proxy {peer} sent {other} but no {ours}: only server.forwarded_header = \
                 {ours:?} is read, so the proxy is taken as the client. Set it to the header the \
                 proxy writes (logged once)"
            );
        }
        client_ip(peer, headers, &self.trusted, self.header)
    }
}

/// The client address for a request that came from `peer`, reading only `header`.
pub fn client_ip(
    peer: IpAddr,
    headers: &HeaderMap,
    trusted: &[IpNet],
    header: ForwardedHeader,
) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops = forwarded_hops(headers, header);
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

/// Hops from every instance of `header`, in order: `X-Forwarded-For` entries, or the `for=`
/// of each `Forwarded` element.
///
/// The raw bytes are split on `,`, so a hop holding bytes that are not ASCII (obs-text, which
/// HTTP lets through) is one unreadable hop at its own position, and the hops a trusted proxy
/// appended on its right still count. (Reading the whole value as text instead dropped the
/// header for one such byte, and the client was counted as the proxy.) Bytes of a UTF-8
/// sequence are never `,`, so splitting the lossy text splits the bytes.
fn forwarded_hops(headers: &HeaderMap, header: ForwardedHeader) -> Vec<String> {
    let values = headers
        .get_all(header.name())
        .map(|v| String::from_utf8_lossy(v.as_bytes()))
        .flat_map(|v| v.split(',').map(str::to_owned).collect::<Vec<_>>());
    match header {
        ForwardedHeader::XForwardedFor => values.map(|h| h.trim().to_owned()).collect(),
        ForwardedHeader::Forwarded => values
            .filter_map(|element| {
                element.split(';').find_map(|pair| {
                    let (k, v) = pair.trim().split_once('=')?;
                    k.trim()
                        .eq_ignore_ascii_case("for")
                        .then(|| v.trim().trim_matches('"').to_owned())
                })
            })
            .collect(),
    }
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

    const XFF: ForwardedHeader = ForwardedHeader::XForwardedFor;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn untrusted_peer_headers_are_ignored() {
        let h = headers(&[("x-forwarded-for", "9.9.9.9")]);
        assert_eq!(
            client_ip(ip("5.5.5.5"), &h, &nets(&["10.0.0.0/8"]), XFF),
            ip("5.5.5.5")
        );
        assert_eq!(client_ip(ip("5.5.5.5"), &h, &[], XFF), ip("5.5.5.5"));
    }

    #[test]
    fn rightmost_untrusted_hop_wins() {
        // The client claimed 1.1.1.1; the edge proxy saw 2.2.2.2; an inner proxy 10.0.0.5.
        let h = headers(&[
            ("x-forwarded-for", "1.1.1.1, 2.2.2.2"),
            ("x-forwarded-for", "10.0.0.5"),
        ]);
        assert_eq!(
            client_ip(ip("10.0.0.9"), &h, &nets(&["10.0.0.0/8"]), XFF),
            ip("2.2.2.2")
        );
    }

    #[test]
    fn forwarded_header_is_read_when_configured() {
        let h = headers(&[(
            "forwarded",
            r#"for=1.1.1.1, for="[2001:db8::1]:443";proto=https"#,
        )]);
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(
            client_ip(ip("10.0.0.9"), &h, &trusted, ForwardedHeader::Forwarded),
            ip("2001:db8::1")
        );
        assert_eq!(client_ip(ip("10.0.0.9"), &h, &trusted, XFF), ip("10.0.0.9"));
    }

    #[test]
    fn only_the_configured_header_is_read() {
        // The proxy writes Forwarded; the client sent its own X-Forwarded-For through it.
        let h = headers(&[
            ("x-forwarded-for", "198.51.100.77"),
            ("forwarded", "for=203.0.113.5"),
        ]);
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(
            client_ip(ip("10.0.0.9"), &h, &trusted, ForwardedHeader::Forwarded),
            ip("203.0.113.5")
        );
        // And the other way round.
        let h = headers(&[
            ("x-forwarded-for", "203.0.113.5"),
            ("forwarded", "for=198.51.100.77"),
        ]);
        assert_eq!(
            client_ip(ip("10.0.0.9"), &h, &trusted, XFF),
            ip("203.0.113.5")
        );
    }

    #[test]
    fn garbage_hop_stops_at_the_last_trusted_address() {
        let h = headers(&[("x-forwarded-for", "1.1.1.1, unknown, 10.0.0.7")]);
        assert_eq!(
            client_ip(ip("10.0.0.9"), &h, &nets(&["10.0.0.0/8"]), XFF),
            ip("10.0.0.7")
        );
        let h = headers(&[("x-forwarded-for", "4.4.4.4:999")]);
        assert_eq!(
            client_ip(ip("10.0.0.9"), &h, &nets(&["10.0.0.0/8"]), XFF),
            ip("4.4.4.4")
        );
    }

    #[test]
    fn trusted_peer_without_headers_is_the_client() {
        assert_eq!(
            client_ip(
                ip("10.0.0.9"),
                &HeaderMap::new(),
                &nets(&["10.0.0.0/8"]),
                XFF
            ),
            ip("10.0.0.9")
        );
    }
}
