//! What the issued tokens say (`[token]`): the settings the issuer runs with, checked and
//! assembled by [`crate::config`].

use std::time::Duration;

use super::algorithm::SigningAlgorithm;

/// The shape of the issued tokens (`token.profile`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenProfile {
    /// `typ: JWT` and watchword's claims, as always.
    #[default]
    Jwt,
    /// JWT access tokens per RFC 9068: `typ: at+jwt`, and `client_id`, `jti`, `iat` and `aud`
    /// in every token.
    Rfc9068,
}

impl TokenProfile {
    /// Every accepted spelling, for error messages.
    pub const NAMES: &'static str = "jwt, rfc9068";
}

impl std::str::FromStr for TokenProfile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "jwt" => Ok(Self::Jwt),
            "rfc9068" => Ok(Self::Rfc9068),
            other => Err(format!("{other:?} is not one of {}", Self::NAMES)),
        }
    }
}

/// `[token]`: what the issued tokens say.
#[derive(Debug, Clone)]
pub struct TokenSettings {
    /// `token.issuer`
    pub issuer: String,
    /// `token.audience`
    pub audience: Vec<String>,
    /// `token.algorithm`
    pub algorithm: SigningAlgorithm,
    /// `token.ttl`
    pub ttl: Duration,
    /// `token.service_ttl`
    pub service_ttl: Duration,
    /// `token.profile`
    pub profile: TokenProfile,
    /// `token.client_id`: the `client_id` claim of RFC 9068 tokens issued to people (there is
    /// no OAuth client to name when a person logs in on `/login`).
    pub client_id: String,
}
