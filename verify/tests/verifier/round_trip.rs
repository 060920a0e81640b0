//! Sign with jsonwebtoken (as the issuer does), verify with every constructor.

use watchword_verify::{KeyError, Validation, Verifier, VerifyError};

use crate::common::*;

fn check(verifier: &Verifier, key: &TestKey, what: &str) {
    let mut c = claims();
    c["roles"] = serde_json::json!(["user", "admin"]);
    c["dept"] = serde_json::json!("ops");
    let claims = verifier
        .verify(&key.token(&c))
        .unwrap_or_else(|e| panic!("{what} {}: {e}", key.alg_name()));
    assert_eq!(claims.sub, "alice");
    assert_eq!(claims.iss.as_deref(), Some(ISS));
    assert!(claims.has_role("admin"));
    assert_eq!(claims.extra["dept"], "ops");
}

#[test]
fn every_algorithm_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    for key in [ed(), ec(), rsa()] {
        let set = jsonwebtoken::jwk::JwkSet {
            keys: vec![key.jwk().clone()],
        };
        check(
            &Verifier::from_jwk_set(&serde_json::to_value(&set).unwrap(), validation()).unwrap(),
            key,
            "from_jwk_set",
        );
        check(&verifier(), key, "from_jwk_set (3 keys)");
        let json = serde_json::to_string(&set).unwrap();
        check(
            &Verifier::from_jwks_json(&json, validation()).unwrap(),
            key,
            "from_jwks_json",
        );
        let path = dir.path().join(format!("{}.json", key.kid));
        std::fs::write(&path, &json).unwrap();
        check(
            &Verifier::from_jwks_file(&path, validation()).unwrap(),
            key,
            "from_jwks_file",
        );

        // PEM: the key's kid is its thumbprint unless named; a token without kid also works.
        let pem = Verifier::from_public_pem(key.pem(), validation()).unwrap();
        assert_eq!(pem.key_count(), 1);
        let thumbprint = key
            .jwk()
            .thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256)
            .unwrap();
        assert_eq!(
            pem.key_ids(),
            vec![thumbprint.clone()],
            "{}",
            key.alg_name()
        );
        let mut header = jsonwebtoken::Header::new(key.alg);
        header.kid = Some(thumbprint);
        let token = jsonwebtoken::encode(&header, &claims(), &key.encoding).unwrap();
        assert!(
            pem.verify(&token).is_ok(),
            "thumbprint kid {}",
            key.alg_name()
        );
        let token = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(key.alg),
            &claims(),
            &key.encoding,
        )
        .unwrap();
        assert!(pem.verify(&token).is_ok(), "no kid {}", key.alg_name());
        assert_eq!(
            pem.verify(&key.token(&claims())),
            Err(VerifyError::UnknownKey),
            "foreign kid {}",
            key.alg_name()
        );
        let named = Verifier::from_public_pem_with_kid(key.pem(), &key.kid, validation()).unwrap();
        check(&named, key, "from_public_pem_with_kid");
    }
}

#[test]
fn hs256_round_trips_only_through_the_secret() {
    let key = hs();
    let secret = key.secret.as_deref().unwrap();
    let named = Verifier::from_hs256_secret_with_kid(secret, &key.kid, validation()).unwrap();
    check(&named, key, "from_hs256_secret_with_kid");
    // The issuer's convention: kid = RFC 7638 thumbprint of the oct JWK.
    let plain = Verifier::from_hs256_secret(secret, validation()).unwrap();
    let oct =
        jsonwebtoken::jwk::Jwk::from_encoding_key(&key.encoding, jsonwebtoken::Algorithm::HS256)
            .unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(
        oct.thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256)
            .unwrap(),
    );
    let token = jsonwebtoken::encode(&header, &claims(), &key.encoding).unwrap();
    assert_eq!(plain.verify(&token).unwrap().sub, "alice");
    // Another secret: bad signature. A short secret: refused at construction.
    let other =
        Verifier::from_hs256_secret_with_kid(STRONG_SECRET, &key.kid, validation()).unwrap();
    assert_eq!(
        other.verify(&key.token(&claims())),
        Err(VerifyError::BadSignature)
    );
    assert!(matches!(
        Verifier::from_hs256_secret(&[7u8; 31], Validation::default()),
        Err(KeyError::SecretTooShort(31))
    ));
    // The oct JWK in a JWKS is never loaded.
    let jwks = serde_json::json!({"keys": [oct]}).to_string();
    assert!(matches!(
        Verifier::from_jwks_json(&jwks, validation()),
        Err(KeyError::NoUsableKey(_))
    ));
}

/// Another HS256 secret, from `openssl rand -base64 32`.
const STRONG_SECRET: &[u8] = b"Rk3vQx9PzL1mWc7YbN0tHs5JdA2gFe8UiO4nVyT6rKw=";

/// Long enough is not enough: guessable secrets are refused as the login service refuses them
/// (the same rule, `check_hs256_secret`), each saying why.
#[test]
fn guessable_hs256_secrets_are_refused() {
    for secret in [
        &b"12345678901234567890123456789012"[..],
        b"a-string-secret-at-least-256-bits-long",
        b"super-secret-jwt-token-with-at-least-32-characters-long",
        b"09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7",
        &[7u8; 32],
        b"secretsecretsecretsecretsecretsecret",
    ] {
        let err = Verifier::from_hs256_secret(secret, Validation::default()).unwrap_err();
        assert!(matches!(err, KeyError::WeakSecret(_)), "{err}");
        assert!(err.to_string().contains("keygen --alg HS256"), "{err}");
        assert!(Verifier::from_hs256_secret_with_kid(secret, "k", Validation::default()).is_err());
    }
    assert!(Verifier::from_hs256_secret(STRONG_SECRET, Validation::default()).is_ok());
}

#[test]
fn verifier_is_cheap_to_clone_and_shareable() {
    let v = verifier();
    let token = ed().token(&claims());
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (v, token) = (v.clone(), token.clone());
            std::thread::spawn(move || (0..50).all(|_| v.verify(&token).is_ok()))
        })
        .collect();
    assert!(handles.into_iter().all(|h| h.join().unwrap()));
    assert_eq!(v.key_count(), 3);
    assert_eq!(v.validation().issuer.as_deref(), Some(ISS));
    assert_eq!(v.fetch_count(), 0);
}

#[test]
fn bad_key_material_fails_construction() {
    assert!(matches!(
        Verifier::from_jwks_json("not json", Validation::default()),
        Err(KeyError::Json(_))
    ));
    assert!(matches!(
        Verifier::from_jwks_json(r#"{"keys":{}}"#, Validation::default()),
        Err(KeyError::NotAJwkSet)
    ));
    assert!(matches!(
        Verifier::from_jwks_json(r#"{"keys":[]}"#, Validation::default()),
        Err(KeyError::NoUsableKey(_))
    ));
    assert!(matches!(
        Verifier::from_jwks_file("/nonexistent/jwks.json", Validation::default()),
        Err(KeyError::Read { .. })
    ));
    assert!(matches!(
        Verifier::from_public_pem(b"junk", Validation::default()),
        Err(KeyError::Pem(_))
    ));
    // A private key PEM is refused with a helpful message.
    let private =
        "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n";
    let err = Verifier::from_public_pem(private.as_bytes(), Validation::default()).unwrap_err();
    assert!(err.to_string().contains("private key"), "{err}");
    assert!(matches!(
        Verifier::from_hs256_secret_with_kid(STRONG_SECRET, "", Validation::default()),
        Err(KeyError::InvalidKid(_))
    ));
}
