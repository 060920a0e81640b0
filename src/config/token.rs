//! `[token]`: its raw form and checks; the settings type is the token room's own
//! ([`TokenSettings`]).

use std::time::Duration;

use serde::Deserialize;

use super::checks::duration;
use super::error::{invalid, ConfigError};
use crate::token::algorithm::SigningAlgorithm;
use crate::token::settings::{TokenProfile, TokenSettings};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawToken {
    issuer: String,
    audience: Vec<String>,
    algorithm: String,
    ttl: String,
    service_ttl: String,
    profile: String,
    client_id: String,
}

/// Longest token lifetime accepted: a day. Longer-lived bearer tokens should be a deliberate
/// design (refresh tokens), not a config typo.
const MAX_TTL: Duration = Duration::from_secs(24 * 3600);

impl RawToken {
    pub(super) fn validate(self) -> Result<TokenSettings, ConfigError> {
        let algorithm = self
            .algorithm
            .parse::<SigningAlgorithm>()
            .map_err(|m| invalid("token.algorithm", m))?;
        let secs = Duration::from_secs;
        let ttl = duration("token.ttl", &self.ttl, secs(1), MAX_TTL)?;
        let profile = self
            .profile
            .trim()
            .parse::<TokenProfile>()
            .map_err(|m| invalid("token.profile", m))?;
        let audience: Vec<String> = self
            .audience
            .into_iter()
            .map(|a| a.trim().to_owned())
            .filter(|a| !a.is_empty())
            .collect();
        if profile == TokenProfile::Rfc9068 && audience.is_empty() {
            return Err(invalid(
                "token.audience",
                "must name at least one audience when token.profile = \"rfc9068\" \
                 (RFC 9068 access tokens always carry aud), e.g. audience = [\"my-api\"]",
            ));
        }
        let client_id = self.client_id.trim().to_owned();
        if client_id.is_empty() || client_id.chars().any(char::is_control) {
            return Err(invalid(
                "token.client_id",
                format!(
                    "{:?} is not a client id: give a non-empty name without control characters (default \"watchword\")",
                    self.client_id
                ),
            ));
        }
        if self.issuer.trim().is_empty() {
            return Err(invalid(
                "token.issuer",
                "must not be empty (use the service's public URL)",
            ));
        }
        Ok(TokenSettings {
            issuer: self.issuer.trim().to_owned(),
            audience,
            algorithm,
            ttl,
            service_ttl: duration("token.service_ttl", &self.service_ttl, secs(1), MAX_TTL)?,
            profile,
            client_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::validate_with;

    #[test]
    fn token_profile_rfc9068_needs_an_audience() {
        assert_eq!(validate_with("").unwrap().token.profile, TokenProfile::Jwt);
        assert_eq!(validate_with("").unwrap().token.client_id, "watchword");
        let err = validate_with("[token]\nprofile = \"rfc9068\"")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("token.audience: "), "{err}");
        assert!(err.contains("rfc9068"), "{err}");
        let s = validate_with("[token]\nprofile = \"rfc9068\"\naudience = [\"api\"]").unwrap();
        assert_eq!(s.token.profile, TokenProfile::Rfc9068);
        let err = validate_with("[token]\nprofile = \"RFC9068\"")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("token.profile: "), "{err}");
        assert!(err.contains("jwt, rfc9068"), "{err}");
        let err = validate_with("[token]\nclient_id = \" \"")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("token.client_id: "), "{err}");
    }
}
