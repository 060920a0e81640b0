//! `Authorization` value parsing and `verify_authorization`.

use watchword_verify::{token_from_authorization, VerifyError};

use crate::common::*;

#[test]
fn accepted_spellings() {
    for value in [
        "Bearer abc.def.ghi",
        "Token abc.def.ghi",
        "bearer abc.def.ghi",
        "TOKEN abc.def.ghi",
        "BeArEr abc.def.ghi",
    ] {
        assert_eq!(
            token_from_authorization(value.as_bytes()),
            Ok("abc.def.ghi"),
            "{value}"
        );
    }
    // Documented choices: several spaces after the scheme (RFC 7235 `1*SP`) and surrounding
    // whitespace are accepted.
    assert_eq!(token_from_authorization(b"Bearer  abc"), Ok("abc"));
    assert_eq!(token_from_authorization(b" Bearer abc\t"), Ok("abc"));
}

#[test]
fn refused_values() {
    let cases: &[(&[u8], VerifyError)] = &[
        (b"", VerifyError::MissingToken),
        (b"   ", VerifyError::MissingToken),
        (b"Bearer", VerifyError::MissingToken),
        (b"Bearer ", VerifyError::MissingToken),
        (b"Basic dXNlcjpwYXNz", VerifyError::BadScheme),
        (b"Digest abc", VerifyError::BadScheme),
        (b"abc.def.ghi", VerifyError::BadScheme),
        (b"Bearer:abc", VerifyError::BadScheme),
    ];
    for (value, expected) in cases {
        assert_eq!(
            token_from_authorization(value).as_ref(),
            Err(expected),
            "{:?}",
            String::from_utf8_lossy(value)
        );
    }
    for value in [
        &b"Bearer a b"[..],
        b"Bearer a,b",
        b"Bearer a, Bearer b",
        b"Bearer \"abc\"",
        b"Bearer a\x00b",
        b"Bearer \xff\xfe",
        "Bearer tok\u{e9}n".as_bytes(),
        b"\xc3\x28 abc",
    ] {
        assert!(
            matches!(
                token_from_authorization(value),
                Err(VerifyError::Malformed(_))
            ),
            "{:?}",
            String::from_utf8_lossy(value)
        );
    }
}

#[test]
fn verify_authorization_end_to_end() {
    let v = verifier();
    let token = ec().token(&claims());
    assert_eq!(
        v.verify_authorization(format!("Bearer {token}").as_bytes())
            .unwrap()
            .sub,
        "alice"
    );
    assert_eq!(
        v.verify_authorization(format!("Token {token}").as_bytes())
            .unwrap()
            .sub,
        "alice"
    );
    assert_eq!(
        v.verify_authorization(b"Basic abc"),
        Err(VerifyError::BadScheme)
    );
    assert_eq!(v.verify_authorization(b""), Err(VerifyError::MissingToken));
    assert_eq!(
        v.verify_authorization(format!("Bearer {token}x").as_bytes())
            .unwrap_err()
            .reason(),
        "malformed"
    );
    let huge = format!("Bearer {}", "a".repeat(1 << 20));
    assert_eq!(
        v.verify_authorization(huge.as_bytes()),
        Err(VerifyError::TooLarge)
    );
}

#[test]
fn arbitrary_bytes_never_panic() {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let v = verifier();
    for _ in 0..5000 {
        let len = (next() % 40) as usize;
        let mut value: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if next() % 2 == 0 {
            value.splice(0..0, b"Bearer ".iter().copied());
        }
        let _ = token_from_authorization(&value);
        let _ = v.verify_authorization(&value);
    }
}
