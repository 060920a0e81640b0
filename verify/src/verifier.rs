//! The [`Verifier`]: a key set and claim rules, checking one token at a time.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::authorization::token_from_authorization;
use crate::claims::Claims;
use crate::error::{KeyError, VerifyError};
use crate::jws::{self, Failure};
use crate::key_set::{KeySet, SharedKeys};
#[cfg(feature = "remote-jwks")]
use crate::remote::{self, RemoteOptions};
use crate::revocations::{RevocationList, SharedRevocations};
use crate::validation::Validation;

/// Checks tokens against a fixed or remotely refreshed key set.
///
/// Build it once at start and share it: cloning is cheap (an `Arc`), verification takes
/// `&self` and is safe from any number of threads. Keys are parsed when the verifier is
/// built, so a bad key fails construction instead of every request.
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

struct Inner {
    validation: Validation,
    /// Swapped as a whole by a remote refresh, which holds only a `Weak` to it: the refresh
    /// task ends once every clone of the verifier is gone.
    keys: Arc<SharedKeys>,
    #[cfg(feature = "remote-jwks")]
    remote: Option<remote::Remote>,
    /// What [`Verifier::verify`] refuses as revoked; empty unless set or polled.
    revocations: Arc<SharedRevocations>,
}

impl Inner {
    fn keys(&self) -> Arc<KeySet> {
        self.keys.current()
    }
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("keys", &self.key_count())
            .field("validation", &self.inner.validation)
            .field("fetches", &self.fetch_count())
            .finish()
    }
}

fn now_unix() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(_) => 0,
    }
}

impl Verifier {
    fn with_keys(keys: KeySet, validation: Validation) -> Verifier {
        Verifier {
            inner: Arc::new(Inner {
                validation,
                keys: Arc::new(SharedKeys::new(keys)),
                #[cfg(feature = "remote-jwks")]
                remote: None,
                revocations: Arc::default(),
            }),
        }
    }

    /// From a JWK Set document (`{"keys":[…]}`), e.g. a copy of the login service's
    /// `/.well-known/jwks.json`. Unusable entries are skipped (logged at debug): `use` other
    /// than `sig`, `key_ops` without `verify`, an `alg` other than the key type's one, `oct`
    /// keys (HS256 only via [`Verifier::from_hs256_secret`]), other key types and curves, RSA
    /// under 2048 bits. Keys without `kid` are stored under their RFC 7638 SHA-256 thumbprint.
    /// A second key with an already used `kid` is skipped. Fails when no key is usable.
    pub fn from_jwks_json(text: &str, validation: Validation) -> Result<Verifier, KeyError> {
        Ok(Verifier::with_keys(
            KeySet::from_jwks_json(text)?,
            validation,
        ))
    }

    /// [`Verifier::from_jwks_json`] on a file's contents, for keys shipped with the deployment.
    pub fn from_jwks_file(
        path: impl AsRef<Path>,
        validation: Validation,
    ) -> Result<Verifier, KeyError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Verifier::from_jwks_json(&text, validation)
    }

    /// From an already parsed JWK Set (the login service builds its own `/verify` verifier
    /// from the set it publishes, so both always agree). Same rules as
    /// [`Verifier::from_jwks_json`].
    ///
    /// It takes the set as JSON so that any JOSE library's JWK type (serialized with serde)
    /// can be handed over, and this crate depends on none of them.
    pub fn from_jwk_set(
        set: &serde_json::Value,
        validation: Validation,
    ) -> Result<Verifier, KeyError> {
        Ok(Verifier::with_keys(
            KeySet::from_jwks_value(set)?,
            validation,
        ))
    }

    /// From one SubjectPublicKeyInfo `PUBLIC KEY` PEM (or a PKCS#1 `RSA PUBLIC KEY`); the key
    /// type, and so the algorithm, is read from the key itself: Ed25519 → EdDSA, P-256 → ES256,
    /// RSA (2048 to 8192 bits) → RS256.
    ///
    /// Tokens without `kid`, or with the key's RFC 7638 thumbprint as `kid` (what watchword
    /// issues), are checked against it; other `kid`s are unknown. Use
    /// [`Verifier::from_public_pem_with_kid`] when the issuer uses its own key ids.
    pub fn from_public_pem(pem: &[u8], validation: Validation) -> Result<Verifier, KeyError> {
        Ok(Verifier::with_keys(
            KeySet::from_public_pem(pem, None)?,
            validation,
        ))
    }

    /// [`Verifier::from_public_pem`] for an issuer that names its key `kid` (then tokens
    /// must carry that `kid` or none).
    pub fn from_public_pem_with_kid(
        pem: &[u8],
        kid: &str,
        validation: Validation,
    ) -> Result<Verifier, KeyError> {
        Ok(Verifier::with_keys(
            KeySet::from_public_pem(pem, Some(kid))?,
            validation,
        ))
    }

    /// An HS256 verifier: the only way HS256 is ever accepted, so a public key can never be
    /// mistaken for a MAC secret. The secret must have at least 32 bytes and pass
    /// [`check_hs256_secret`](crate::check_hs256_secret): well-known, monotonous and
    /// guessable secrets are refused ([`KeyError::WeakSecret`]), as the login service refuses
    /// them. Its `kid` is the
    /// RFC 7638 thumbprint of the secret's `oct` JWK, as watchword's issuer sets it; tokens
    /// without `kid` are accepted too.
    pub fn from_hs256_secret(secret: &[u8], validation: Validation) -> Result<Verifier, KeyError> {
        Ok(Verifier::with_keys(
            KeySet::from_hs256_secret(secret, None)?,
            validation,
        ))
    }

    /// [`Verifier::from_hs256_secret`] for an issuer that names its secret `kid`.
    pub fn from_hs256_secret_with_kid(
        secret: &[u8],
        kid: &str,
        validation: Validation,
    ) -> Result<Verifier, KeyError> {
        Ok(Verifier::with_keys(
            KeySet::from_hs256_secret(secret, Some(kid))?,
            validation,
        ))
    }

    /// DANGER, for published test vectors only (Wycheproof's all-zero HMAC key): an HS256
    /// verifier without the strength check of [`Verifier::from_hs256_secret`], which refuses
    /// such keys. Never use this for a real secret.
    #[doc(hidden)]
    pub fn from_unchecked_hs256_secret_for_test_vectors(
        secret: &[u8],
        kid: &str,
        validation: Validation,
    ) -> Result<Verifier, KeyError> {
        Ok(Verifier::with_keys(
            KeySet::from_any_hs256_secret(secret, Some(kid))?,
            validation,
        ))
    }

    /// From the login service's URL: its discovery document
    /// (`…/.well-known/openid-configuration`, whose `jwks_uri` is followed once) or directly a
    /// JWKS URL. The keys are fetched now (an error if that fails), then refreshed in the
    /// background every [`RemoteOptions::refresh_interval`] and when a token names an unknown
    /// `kid` (at most once per [`RemoteOptions::cooldown`], so random `kid`s cannot make it
    /// hammer the issuer). Verification itself never waits for the network: a token with a
    /// new `kid` is refused with [`VerifyError::UnknownKey`] until the refresh has landed. A
    /// failed refresh keeps the last good keys and logs a warning. The refresh task runs on
    /// the Tokio runtime this is called on and stops once every clone of the verifier is gone.
    #[cfg(feature = "remote-jwks")]
    pub async fn from_url(
        url: &str,
        validation: Validation,
        options: RemoteOptions,
    ) -> Result<Verifier, KeyError> {
        let (keys, remote, task) = remote::connect(url, options).await?;
        let keys = Arc::new(SharedKeys::new(keys));
        task.spawn(Arc::downgrade(&keys));
        let inner = Arc::new(Inner {
            validation,
            keys,
            remote: Some(remote),
            revocations: Arc::default(),
        });
        Ok(Verifier { inner })
    }

    /// Refuse the tokens of `list` from now on ([`VerifyError::Revoked`]), replacing any list
    /// set or polled before.
    pub fn set_revocations(&self, list: RevocationList) {
        self.inner.revocations.replace(list);
    }

    /// The revocation list this verifier refuses tokens by (empty unless set or polled).
    pub fn revocations(&self) -> Arc<RevocationList> {
        self.inner.revocations.current()
    }

    /// Fetch the login service's revocation list (`revocations_uri` of its discovery
    /// document, `…/.well-known/revocations`) now, then again every `interval` in the
    /// background (with `If-None-Match`, so an unchanged list costs a 304), so that a token
    /// revoked at the login service is refused here within `interval` (plus one request).
    /// A failed poll keeps the last list. The task ends with the last clone of the verifier.
    /// Fails when the first fetch fails.
    #[cfg(feature = "remote-jwks")]
    pub async fn poll_revocations(
        &self,
        url: &str,
        interval: std::time::Duration,
    ) -> Result<(), KeyError> {
        crate::revocation_poller::start(url, interval, &self.inner.revocations).await
    }

    /// Verify a compact JWS token now: signature, then claims. The token's text never appears
    /// in the error.
    pub fn verify(&self, token: &str) -> Result<Claims, VerifyError> {
        self.verify_at(token, now_unix())
    }

    /// Parse an `Authorization` value (see [`token_from_authorization`]) and verify its token.
    pub fn verify_authorization(&self, header_value: &[u8]) -> Result<Claims, VerifyError> {
        self.verify(token_from_authorization(header_value)?)
    }

    /// DANGER, for tests and offline replay only: [`Verifier::verify`] as if the current time
    /// were `now_unix_secs`. Lets published test vectors with long-past `exp` be checked
    /// without switching off time checks in production code.
    #[doc(hidden)]
    pub fn verify_at(&self, token: &str, now_unix_secs: i64) -> Result<Claims, VerifyError> {
        let payload = self.check_signature(token)?;
        let claims = jws::parse_claims(&payload)?;
        self.inner.validation.check(&claims, now_unix_secs)?;
        if self.inner.revocations.current().is_revoked(&claims) {
            return Err(VerifyError::Revoked);
        }
        Ok(claims)
    }

    /// DANGER, for test vectors whose payload is not a claim set (RFC 8037 A.4, Wycheproof):
    /// every structural, header, key and signature rule, but no claim check at all. Returns
    /// the payload bytes. Never use this to authenticate anything.
    #[doc(hidden)]
    pub fn verify_signature_only(&self, token: &str) -> Result<Vec<u8>, VerifyError> {
        self.check_signature(token)
    }

    fn check_signature(&self, token: &str) -> Result<Vec<u8>, VerifyError> {
        let keys = self.inner.keys();
        match jws::check_signature(token, self.inner.validation.max_token_size, &keys) {
            Ok(checked) => Ok(checked.payload),
            Err(Failure::Other(e)) => Err(e),
            Err(Failure::UnknownKid) => {
                #[cfg(feature = "remote-jwks")]
                if let Some(remote) = &self.inner.remote {
                    remote.request_refresh();
                }
                Err(VerifyError::UnknownKey)
            }
        }
    }

    /// Number of keys currently loaded (for start-up logs and health checks).
    pub fn key_count(&self) -> usize {
        self.inner.keys().len()
    }

    /// The `kid`s currently loaded, in no particular order (thumbprints for keys loaded
    /// without one), so operators can see which keys a service trusts.
    pub fn key_ids(&self) -> Vec<String> {
        self.inner.keys().kids().map(str::to_owned).collect()
    }

    /// The claim rules this verifier applies.
    pub fn validation(&self) -> &Validation {
        &self.inner.validation
    }

    /// HTTP requests made for keys so far (discovery document and JWKS, first fetch included,
    /// failed ones too); always 0 for a verifier not built with `from_url`. Lets tests and
    /// metrics see that unknown `kid`s do not turn into a request each.
    pub fn fetch_count(&self) -> u64 {
        #[cfg(feature = "remote-jwks")]
        if let Some(remote) = &self.inner.remote {
            return remote.fetch_count();
        }
        0
    }
}

#[allow(dead_code)]
fn assert_send_sync() {
    fn is<T: Send + Sync + 'static>() {}
    is::<Verifier>();
    is::<VerifyError>();
    is::<KeyError>();
}
