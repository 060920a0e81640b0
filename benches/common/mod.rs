//! Shared set-up of the benchmarks: a key, an issuer and a token per algorithm, the library's
//! verifier for it, and the bare crypto-backend check over exactly the same bytes.

#![allow(dead_code)] // each bench uses a different part

use std::time::Duration;

use aws_lc_rs::hmac;
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair, ParsedPublicKey, RsaKeyPair, ECDSA_P256_SHA256_FIXED,
    ECDSA_P256_SHA256_FIXED_SIGNING, ED25519, RSA_PKCS1_2048_8192_SHA256,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use watchword::config::{SigningAlgorithm, TokenSettings};
use watchword::login::users::{User, Users};
use watchword::token::issuer::Issuer;
use watchword::token::signing_key::{generate_pem, SigningKey};
use watchword_verify::Claims;
use watchword_verify::{Validation, Verifier};

/// Issuer used for every benchmark token.
pub const ISSUER: &str = "http://127.0.0.1:8080";

/// The bare backend check: one parsed public key (or HMAC key) of aws-lc-rs.
pub enum Bare {
    /// EdDSA, ES256, RS256.
    Public(ParsedPublicKey),
    /// HS256 (boxed, as in the library: the key holds over a kilobyte of HMAC state).
    Hmac(Box<hmac::Key>),
}

impl Bare {
    /// Parse a raw public key (Ed25519 bytes, uncompressed P-256 point, PKCS#1 RSA DER).
    pub fn public(alg: SigningAlgorithm, public: &[u8]) -> Bare {
        let algorithm: &'static dyn aws_lc_rs::signature::VerificationAlgorithm = match alg {
            SigningAlgorithm::EdDSA => &ED25519,
            SigningAlgorithm::ES256 => &ECDSA_P256_SHA256_FIXED,
            SigningAlgorithm::RS256 => &RSA_PKCS1_2048_8192_SHA256,
            SigningAlgorithm::HS256 => unreachable!("HS256 has no public key"),
        };
        Bare::Public(ParsedPublicKey::new(algorithm, public).expect("public key parses"))
    }

    /// True when `signature` is valid over `input`.
    #[inline]
    pub fn verify(&self, input: &[u8], signature: &[u8]) -> bool {
        match self {
            Bare::Public(key) => key.verify_sig(input, signature).is_ok(),
            Bare::Hmac(key) => hmac::verify(key, input, signature).is_ok(),
        }
    }
}

/// Everything one algorithm's benchmarks need.
pub struct Case {
    pub alg: SigningAlgorithm,
    pub key: SigningKey,
    pub issuer: Issuer,
    pub user: User,
    pub claims: Claims,
    pub token: String,
    pub verifier: Verifier,
    pub bare: Bare,
    /// `header.payload` of `token`.
    pub signing_input: Vec<u8>,
    /// Decoded signature of `token`.
    pub signature: Vec<u8>,
}

/// The validation the service's own `/verify` uses: issuer checked, no audience.
pub fn validation() -> Validation {
    Validation {
        issuer: Some(ISSUER.into()),
        ..Validation::default()
    }
}

/// The demo user (`user_test`), as the service logs it in.
pub fn demo_user() -> User {
    Users::demo()
        .get("user_test")
        .expect("demo user exists")
        .clone()
}

/// Split a compact JWS into its signing input and decoded signature.
pub fn signing_parts(token: &str) -> (Vec<u8>, Vec<u8>) {
    let dot = token.rfind('.').expect("three segments");
    let signature = URL_SAFE_NO_PAD
        .decode(&token[dot + 1..])
        .expect("base64url signature");
    (token.as_bytes()[..dot].to_vec(), signature)
}

impl Case {
    /// A fresh key of `alg`, a token for the demo user signed by the library's issuer, and
    /// both verifiers.
    pub fn new(alg: SigningAlgorithm) -> Case {
        let pem = generate_pem(alg).expect("key generation");
        let key = SigningKey::from_bytes(pem.as_bytes(), alg).expect("own key loads");
        let settings = TokenSettings {
            issuer: ISSUER.into(),
            audience: Vec::new(),
            algorithm: alg,
            ttl: Duration::from_secs(1800),
            service_ttl: Duration::from_secs(1800),
            profile: Default::default(),
            client_id: "watchword".into(),
        };
        let issuer = Issuer::new(key.clone(), &settings);
        let user = demo_user();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970")
            .as_secs() as i64;
        let claims = issuer.claims_for(&user, &Default::default(), now);
        let token = issuer.sign(&claims).expect("signing");
        let verifier = match key.secret() {
            Some(secret) => Verifier::from_hs256_secret(secret, validation()),
            None => {
                Verifier::from_jwk_set(&serde_json::to_value(key.jwk_set()).unwrap(), validation())
            }
        }
        .expect("verifier");
        let der = key.encoding_key().as_bytes();
        let bare = match alg {
            SigningAlgorithm::EdDSA => {
                let pair = Ed25519KeyPair::from_pkcs8(der).expect("Ed25519 PKCS#8");
                Bare::public(alg, pair.public_key().as_ref())
            }
            SigningAlgorithm::ES256 => {
                let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
                    .expect("P-256 PKCS#8");
                Bare::public(alg, pair.public_key().as_ref())
            }
            SigningAlgorithm::RS256 => {
                let pair = RsaKeyPair::from_der(der).expect("RSA key");
                Bare::public(alg, pair.public_key().as_ref())
            }
            SigningAlgorithm::HS256 => Bare::Hmac(Box::new(hmac::Key::new(
                hmac::HMAC_SHA256,
                key.secret().expect("HS256 secret"),
            ))),
        };
        let (signing_input, signature) = signing_parts(&token);
        assert!(
            bare.verify(&signing_input, &signature),
            "bare check accepts the token"
        );
        assert!(verifier.verify(&token).is_ok(), "library accepts the token");
        Case {
            alg,
            key,
            issuer,
            user,
            claims,
            token,
            verifier,
            bare,
            signing_input,
            signature,
        }
    }

    /// jsonwebtoken's own key and validation for this token, prepared once.
    pub fn jsonwebtoken(&self) -> (jsonwebtoken::DecodingKey, jsonwebtoken::Validation) {
        let key = match self.key.secret() {
            Some(secret) => jsonwebtoken::DecodingKey::from_secret(secret),
            None => jsonwebtoken::DecodingKey::from_jwk(self.key.public_jwk().expect("public JWK"))
                .expect("jsonwebtoken takes the JWK"),
        };
        let mut validation = jsonwebtoken::Validation::new(self.alg.jwt());
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "sub"]);
        (key, validation)
    }
}
