//! Why a token or a key set was refused.
//!
//! Token errors carry no part of the token: they end up in logs, metrics and HTTP answers,
//! and a token in a log line is a credential anyone with log access can replay.

/// Why a token was refused.
///
/// One variant per reason, so callers can answer, log and count each cause on its own; the
/// [`VerifyError::reason`] code is stable for metrics and HTTP answers. The `Display` text is
/// safe to show a client: it never contains the token or key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// Not a compact JWS this verifier can read: wrong number of segments, bad base64url,
    /// header or claims that are not the expected JSON. The text says which part.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// Longer than [`Validation::max_token_size`](super::Validation::max_token_size); refused
    /// before any decoding so oversized input costs nothing.
    #[error("token is longer than the configured limit")]
    TooLarge,
    /// The `kid` names no key of the key set, or the token has no `kid` and the set has more
    /// than one key. For a remote key set this also asks for a (rate-limited) refresh.
    #[error("unknown signing key")]
    UnknownKey,
    /// The signature does not match the key (tampered, truncated, or signed by someone else).
    #[error("signature does not verify")]
    BadSignature,
    /// The header's `alg` is not the one algorithm of the selected key (`none`, HS256 with a
    /// public key, or any other mismatch).
    #[error("algorithm not allowed for this key")]
    AlgorithmNotAllowed,
    /// A header parameter this verifier refuses to honour (`crit`, a `typ` other than JWT or at+jwt, …).
    #[error("unsupported header parameter {0}")]
    UnsupportedHeader(&'static str),
    /// `exp` has passed (beyond the leeway).
    #[error("token has expired")]
    Expired,
    /// `nbf` is still in the future (beyond the leeway).
    #[error("token is not valid yet")]
    NotYetValid,
    /// `iat` is in the future (beyond the leeway): a clock problem on the issuer or a forgery.
    #[error("token was issued in the future")]
    IssuedInFuture,
    /// `iss` is absent or not the configured issuer.
    #[error("token is from another issuer")]
    WrongIssuer,
    /// The token's `aud` names none of the configured audiences.
    #[error("token is meant for another audience")]
    WrongAudience,
    /// A required claim (`exp` or `sub`) is absent.
    #[error("required claim {0} is missing")]
    MissingClaim(&'static str),
    /// No token at all (no or empty `Authorization` value, or a scheme without a token).
    #[error("no token")]
    MissingToken,
    /// The `Authorization` scheme is not `Bearer` or `Token`.
    #[error("unsupported authorization scheme (use Bearer or Token)")]
    BadScheme,
    /// More than one `Authorization` header: which one counts would be a guess, and a proxy or
    /// upstream may read another one than this verifier. A malformed request rather than a bad
    /// token, so answered with RFC 6750's `invalid_request` (see [`VerifyError::error_code`]).
    #[error("more than one Authorization header")]
    RepeatedAuthorization,
    /// The token is on the verifier's revocation list (a logout, `/revoke`, or every token of
    /// its subject up to a moment): see [`RevocationList`](crate::RevocationList).
    #[error("token has been revoked")]
    Revoked,
}

impl VerifyError {
    /// A stable snake_case code ("bad_signature", "expired", …) for logs, metrics and
    /// `WWW-Authenticate` error descriptions; unlike the `Display` text it never changes wording.
    pub fn reason(&self) -> &'static str {
        match self {
            VerifyError::Malformed(_) => "malformed",
            VerifyError::TooLarge => "too_large",
            VerifyError::UnknownKey => "unknown_key",
            VerifyError::BadSignature => "bad_signature",
            VerifyError::AlgorithmNotAllowed => "algorithm_not_allowed",
            VerifyError::UnsupportedHeader(_) => "unsupported_header",
            VerifyError::Expired => "expired",
            VerifyError::NotYetValid => "not_yet_valid",
            VerifyError::IssuedInFuture => "issued_in_future",
            VerifyError::WrongIssuer => "wrong_issuer",
            VerifyError::WrongAudience => "wrong_audience",
            VerifyError::MissingClaim(_) => "missing_claim",
            VerifyError::MissingToken => "missing_token",
            VerifyError::BadScheme => "bad_scheme",
            VerifyError::RepeatedAuthorization => "repeated_authorization",
            VerifyError::Revoked => "revoked",
        }
    }

    /// The RFC 6750 §3.1 error code for the `WWW-Authenticate: Bearer error="…"` challenge:
    /// `invalid_request` for a malformed request (a repeated `Authorization` header),
    /// `invalid_token` for everything else. ([`VerifyError::MissingToken`] should get a bare
    /// `Bearer` challenge with no error code, RFC 6750 §3.1.)
    pub fn error_code(&self) -> &'static str {
        match self {
            VerifyError::RepeatedAuthorization => "invalid_request",
            _ => "invalid_token",
        }
    }
}

/// Why a [`Verifier`](super::Verifier) could not be built.
///
/// Construction fails loudly instead of producing a verifier that rejects every token, so a
/// misconfigured service stops at start rather than answering 401 to everyone.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key set is not JSON.
    #[error("key set is not JSON")]
    Json(#[source] serde_json::Error),
    /// The key set is JSON, but not a JWK Set object (`{"keys": […]}`).
    #[error("key set is not a JWK Set: expected an object with a \"keys\" array")]
    NotAJwkSet,
    /// No key of the set can be used; each entry says why one was skipped.
    #[error("no usable verification key{}", skipped_list(.0))]
    NoUsableKey(Vec<String>),
    /// A key file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The path as given.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The PEM is not a supported public key (Ed25519, P-256, or RSA of 2048 to 8192 bits).
    #[error("not a usable public key: {0}")]
    Pem(&'static str),
    /// An HS256 secret shorter than 256 bits (RFC 7518 §3.2).
    #[error("HS256 secret is {0} bytes; at least 32 are required")]
    SecretTooShort(usize),
    /// An HS256 secret long enough but guessable: well known, monotonous or of too little
    /// estimated entropy ([`check_hs256_secret`](crate::check_hs256_secret)).
    #[error(
        "HS256 secret refused: {0}; use a random one (`watchword keygen --alg HS256 --out FILE`, \
         or `openssl rand -base64 32`)"
    )]
    WeakSecret(crate::secret_strength::WeakSecret),
    /// An empty or otherwise unusable key id was given.
    #[error("invalid key id: {0}")]
    InvalidKid(&'static str),
    /// The first fetch of a remote key set failed (later failures keep the last good keys).
    #[error("fetching keys from {url} failed: {reason}")]
    Fetch {
        /// The URL that was requested.
        url: String,
        /// What went wrong.
        reason: String,
    },
}

fn skipped_list(skipped: &[String]) -> String {
    if skipped.is_empty() {
        " (the key set is empty)".to_owned()
    } else {
        format!(" ({} skipped: {})", skipped.len(), skipped.join("; "))
    }
}
