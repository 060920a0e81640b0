//! `[metrics]`: the listener `/metrics` is served on, never the public one.

use std::net::SocketAddr;

use serde::Deserialize;

use super::error::{invalid, ConfigError};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMetrics {
    bind: String,
}

impl RawMetrics {
    /// `metrics.bind`, `None` for no `/metrics`; `server_bind` is `server.bind`, which it may
    /// not share.
    pub(super) fn validate(
        self,
        server_bind: SocketAddr,
    ) -> Result<Option<SocketAddr>, ConfigError> {
        let metrics_bind = match self.bind.trim() {
            "" => None,
            addr => Some(addr.parse::<SocketAddr>().map_err(|_| {
                invalid(
                    "metrics.bind",
                    format!(
                        "{addr:?} is not an IP address with a port (e.g. 127.0.0.1:9090), \
                         or \"\" to serve no /metrics"
                    ),
                )
            })?),
        };
        let bind = server_bind;
        if metrics_bind == Some(bind) && bind.port() != 0 {
            return Err(invalid(
                "metrics.bind",
                format!(
                    "{bind} is server.bind too: /metrics gets a port of its own, never the \
                     public one (e.g. 127.0.0.1:9090), or \"\" for none"
                ),
            ));
        }
        Ok(metrics_bind)
    }
}
