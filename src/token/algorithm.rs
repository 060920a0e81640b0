//! The signing algorithms the service can issue tokens with (`token.algorithm`).

/// Token signing algorithms the service can issue with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningAlgorithm {
    /// Ed25519: small keys, fast, the default.
    EdDSA,
    /// ECDSA P-256 with SHA-256.
    ES256,
    /// RSA PKCS#1 v1.5 with SHA-256, for clients that know nothing else.
    RS256,
    /// HMAC-SHA-256 with a shared secret: verifiers need the secret, so no JWKS.
    HS256,
}

impl SigningAlgorithm {
    /// Every accepted spelling, for error messages and the CLI.
    pub const NAMES: &'static str = "EdDSA, ES256, RS256, HS256";

    /// The `alg` header value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EdDSA => "EdDSA",
            Self::ES256 => "ES256",
            Self::RS256 => "RS256",
            Self::HS256 => "HS256",
        }
    }

    /// The jsonwebtoken algorithm.
    pub fn jwt(self) -> jsonwebtoken::Algorithm {
        match self {
            Self::EdDSA => jsonwebtoken::Algorithm::EdDSA,
            Self::ES256 => jsonwebtoken::Algorithm::ES256,
            Self::RS256 => jsonwebtoken::Algorithm::RS256,
            Self::HS256 => jsonwebtoken::Algorithm::HS256,
        }
    }
}

impl std::str::FromStr for SigningAlgorithm {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "EdDSA" => Ok(Self::EdDSA),
            "ES256" => Ok(Self::ES256),
            "RS256" => Ok(Self::RS256),
            "HS256" => Ok(Self::HS256),
            other => Err(format!("{other:?} is not one of {}", Self::NAMES)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_error_names_the_accepted_values() {
        let err = "HS1024".parse::<SigningAlgorithm>().unwrap_err();
        assert_eq!(err, r#""HS1024" is not one of EdDSA, ES256, RS256, HS256"#);
    }
}
