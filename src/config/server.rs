//! `[server]`: where to listen, which proxies to trust, and how long connections may take.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

use super::checks::{duration, positive, threads};
use super::error::{invalid, ConfigError};

/// `server.forwarded_header`: the one header the trusted proxies write with the client's
/// address. Only that one is read: a header the proxy does not write is the client's own
/// claim, passed through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, …` (nginx, HAProxy, most load balancers).
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1; …`.
    Forwarded,
}

impl ForwardedHeader {
    /// The header's name, lowercase.
    pub fn name(self) -> &'static str {
        match self {
            ForwardedHeader::XForwardedFor => "x-forwarded-for",
            ForwardedHeader::Forwarded => "forwarded",
        }
    }
}

/// `[server]`: where to listen.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// `server.bind`
    pub bind: SocketAddr,
    /// `server.workers`, resolved (never 0).
    pub workers: usize,
    /// `server.trusted_proxies`
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// `server.forwarded_header`
    pub forwarded_header: ForwardedHeader,
    /// `server.max_connections`, per worker.
    pub max_connections: usize,
    /// `server.request_head_timeout`
    pub request_head_timeout: Duration,
    /// `server.keep_alive`
    pub keep_alive: Duration,
    /// `server.shutdown_timeout`
    pub shutdown_timeout: Duration,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServer {
    bind: String,
    workers: usize,
    trusted_proxies: Vec<String>,
    forwarded_header: String,
    max_connections: usize,
    request_head_timeout: String,
    keep_alive: String,
    shutdown_timeout: String,
}

impl RawServer {
    pub(super) fn validate(self) -> Result<ServerSettings, ConfigError> {
        let bind = self.bind.parse::<SocketAddr>().map_err(|_| {
            invalid(
                "server.bind",
                format!(
                    "{:?} is not an IP address with a port (e.g. 127.0.0.1:8080)",
                    self.bind
                ),
            )
        })?;
        let secs = Duration::from_secs;
        let trusted_proxies = self
            .trusted_proxies
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<ipnet::IpNet>()
                    .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| {
                        invalid(
                            "server.trusted_proxies",
                            format!("{s:?} is not an address or CIDR range (e.g. 10.0.0.0/8)"),
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ServerSettings {
            bind,
            workers: threads("server.workers", self.workers)?,
            trusted_proxies,
            forwarded_header: match self.forwarded_header.trim().to_ascii_lowercase().as_str() {
                "x-forwarded-for" => ForwardedHeader::XForwardedFor,
                "forwarded" => ForwardedHeader::Forwarded,
                other => {
                    return Err(invalid(
                        "server.forwarded_header",
                        format!(
                            "{other:?} is not one of \"x-forwarded-for\", \"forwarded\" \
                             (the header your proxies write with the client address)"
                        ),
                    ))
                }
            },
            max_connections: positive("server.max_connections", self.max_connections)?,
            request_head_timeout: duration(
                "server.request_head_timeout",
                &self.request_head_timeout,
                Duration::from_millis(100),
                secs(300),
            )?,
            keep_alive: duration(
                "server.keep_alive",
                &self.keep_alive,
                Duration::ZERO,
                secs(3600),
            )?,
            shutdown_timeout: duration(
                "server.shutdown_timeout",
                &self.shutdown_timeout,
                Duration::ZERO,
                secs(3600),
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::validate_with;

    #[test]
    fn forwarded_header_is_one_of_two() {
        assert_eq!(
            validate_with("").unwrap().server.forwarded_header,
            ForwardedHeader::XForwardedFor
        );
        let s = validate_with("[server]\nforwarded_header = \"Forwarded\"").unwrap();
        assert_eq!(s.server.forwarded_header, ForwardedHeader::Forwarded);
        let err = validate_with("[server]\nforwarded_header = \"x-real-ip\"")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("server.forwarded_header: "), "{err}");
    }
}
