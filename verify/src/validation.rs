//! What a token must satisfy beyond its signature: time window, issuer, audience, size.

use std::time::Duration;

use crate::claims::Claims;
use crate::error::VerifyError;

/// Leeway when none is configured: enough for ordinary clock drift between hosts.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);

/// Largest leeway honoured, whatever is configured: more would turn a 30-minute token into a
/// much longer-lived one.
pub const MAX_LEEWAY: Duration = Duration::from_secs(300);

/// Default for [`Validation::max_token_size`]: far above a real watchword token (well under
/// 2 KiB), far below anything that costs real work to refuse.
pub const DEFAULT_MAX_TOKEN_SIZE: usize = 8192;

/// Claim checks a [`Verifier`](super::Verifier) applies after the signature.
///
/// A plain struct with public fields so services can fill it from their own configuration;
/// `Validation::default()` is safe (time checks with 30 s leeway, 8 KiB limit) and the
/// issuer and audience checks are switched on by giving values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validation {
    /// Required `iss`, when `Some`: pins tokens to one login service so another issuer's
    /// tokens (signed by a key that happens to be trusted too) are refused.
    pub issuer: Option<String>,
    /// When non-empty, the token's `aud` must contain at least one of these. When empty, `aud`
    /// is not checked (a token with an `aud` is accepted), so adding an audience on the issuer
    /// does not break verifiers that do not use audiences.
    pub audience: Vec<String>,
    /// Clock tolerance for `exp`, `nbf` and `iat`. Values above [`MAX_LEEWAY`] are treated as
    /// [`MAX_LEEWAY`] even when this field is set directly.
    pub leeway: Duration,
    /// Longest token accepted, in bytes; checked before any decoding.
    pub max_token_size: usize,
}

impl Default for Validation {
    fn default() -> Self {
        Validation {
            issuer: None,
            audience: Vec::new(),
            leeway: DEFAULT_LEEWAY,
            max_token_size: DEFAULT_MAX_TOKEN_SIZE,
        }
    }
}

impl Validation {
    /// Require `iss` to equal `issuer` (builder style, for one-expression configuration).
    pub fn with_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Require `aud` to contain one of `audience`.
    pub fn with_audience<I, S>(mut self, audience: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.audience = audience.into_iter().map(Into::into).collect();
        self
    }

    /// Set the clock leeway, clamped to [`MAX_LEEWAY`] so the stored value is the one used.
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway.min(MAX_LEEWAY);
        self
    }

    /// Set the largest accepted token size in bytes.
    pub fn with_max_token_size(mut self, bytes: usize) -> Self {
        self.max_token_size = bytes;
        self
    }

    /// The leeway the checks really use: the configured one, at most [`MAX_LEEWAY`].
    pub fn effective_leeway(&self) -> Duration {
        self.leeway.min(MAX_LEEWAY)
    }

    /// Time window, issuer and audience, in that order, for a claim set whose signature has
    /// already been checked. `now` is Unix seconds.
    pub(crate) fn check(&self, claims: &Claims, now: i64) -> Result<(), VerifyError> {
        // At most 300: the cast cannot truncate.
        let leeway = self.effective_leeway().as_secs() as i64;
        if claims.exp.saturating_add(leeway) <= now {
            return Err(VerifyError::Expired);
        }
        if let Some(nbf) = claims.nbf {
            if nbf > now.saturating_add(leeway) {
                return Err(VerifyError::NotYetValid);
            }
        }
        if let Some(iat) = claims.iat {
            if iat > now.saturating_add(leeway) {
                return Err(VerifyError::IssuedInFuture);
            }
        }
        if let Some(issuer) = &self.issuer {
            if claims.iss.as_deref() != Some(issuer.as_str()) {
                return Err(VerifyError::WrongIssuer);
            }
        }
        if !self.audience.is_empty() && !claims.aud.iter().any(|a| self.audience.contains(a)) {
            return Err(VerifyError::WrongAudience);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> Claims {
        serde_json::from_value(serde_json::json!({"sub": "a", "exp": exp})).unwrap()
    }

    #[test]
    fn leeway_is_capped_even_when_set_directly() {
        let v = Validation {
            leeway: Duration::from_secs(86_400),
            ..Validation::default()
        };
        assert_eq!(v.effective_leeway(), MAX_LEEWAY);
        // exp 301 s ago is expired despite a one-day leeway.
        assert_eq!(v.check(&claims(1000), 1301), Err(VerifyError::Expired));
        assert_eq!(v.check(&claims(1000), 1299), Ok(()));
        assert_eq!(
            Validation::default()
                .with_leeway(Duration::from_secs(900))
                .leeway,
            MAX_LEEWAY
        );
    }

    #[test]
    fn exp_boundary_and_extreme_values() {
        let v = Validation::default().with_leeway(Duration::ZERO);
        assert_eq!(v.check(&claims(100), 100), Err(VerifyError::Expired));
        assert_eq!(v.check(&claims(101), 100), Ok(()));
        assert_eq!(v.check(&claims(i64::MAX), i64::MAX - 1), Ok(()));
        assert_eq!(v.check(&claims(i64::MIN), 0), Err(VerifyError::Expired));
    }

    /// `nbf` and `iat` exactly at now + leeway pass, one second later they do not: the
    /// boundary cargo-mutants found untested (`>` turned into `>=` survived).
    #[test]
    fn nbf_and_iat_boundaries() {
        let v = Validation::default().with_leeway(Duration::from_secs(30));
        let with = |name: &str, at: i64| -> Claims {
            serde_json::from_value(serde_json::json!({"sub": "a", "exp": 10_000, name: at}))
                .unwrap()
        };
        assert_eq!(v.check(&with("nbf", 1030), 1000), Ok(()));
        assert_eq!(
            v.check(&with("nbf", 1031), 1000),
            Err(VerifyError::NotYetValid)
        );
        assert_eq!(v.check(&with("iat", 1030), 1000), Ok(()));
        assert_eq!(
            v.check(&with("iat", 1031), 1000),
            Err(VerifyError::IssuedInFuture)
        );
    }
}
