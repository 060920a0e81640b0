//! `Authorization` header parsing, shared by the actix extractor, `/verify` and callers with
//! their own HTTP stack, so every entry point accepts exactly the same spellings.

use crate::error::VerifyError;

/// The token of an `Authorization` value: `Bearer <token>` (RFC 6750) or `Token <token>` (the
/// spelling of watchword's original specification).
///
/// The scheme is case-insensitive and may be followed by one or more spaces (RFC 7235's
/// `1*SP`), so `Bearer  <token>` is accepted; spaces and tabs around the whole value are
/// ignored. Exactly one token must follow, made of RFC 6750 `b64token` characters: a second
/// word, a comma (a list of credentials) or any other character is refused, since which of
/// several credentials counts would be ambiguous. Non-ASCII bytes are refused. Any byte
/// sequence is handled without panicking.
///
/// Errors: [`VerifyError::MissingToken`] for an empty value or a scheme with no token,
/// [`VerifyError::BadScheme`] for another scheme (e.g. `Basic`), [`VerifyError::Malformed`]
/// for everything else.
pub fn token_from_authorization(value: &[u8]) -> Result<&str, VerifyError> {
    let value = trim(value);
    if value.is_empty() {
        return Err(VerifyError::MissingToken);
    }
    if !value.is_ascii() {
        return Err(VerifyError::Malformed("Authorization value is not ASCII"));
    }
    let (scheme, rest) = match value.iter().position(|&b| b == b' ') {
        Some(i) => value.split_at(i),
        None => (value, &[][..]),
    };
    if !scheme.eq_ignore_ascii_case(b"bearer") && !scheme.eq_ignore_ascii_case(b"token") {
        return Err(VerifyError::BadScheme);
    }
    let token = trim(rest);
    if token.is_empty() {
        return Err(VerifyError::MissingToken);
    }
    if !is_b64token(token) {
        return Err(VerifyError::Malformed(
            "Authorization value must be `<scheme> <one token>`",
        ));
    }
    // ASCII was checked above, so this cannot fail; no panic path either way.
    std::str::from_utf8(token)
        .map_err(|_| VerifyError::Malformed("Authorization value is not ASCII"))
}

/// The token of a request's `Authorization` header, given every value the request carried
/// for it (in HTTP stacks: `headers.get_all("authorization")`): exactly one value, parsed by
/// [`token_from_authorization`].
///
/// Errors: [`VerifyError::MissingToken`] without any value,
/// [`VerifyError::RepeatedAuthorization`] for more than one, else those of
/// [`token_from_authorization`].
pub fn token_from_authorization_headers<'a>(
    values: impl IntoIterator<Item = &'a [u8]>,
) -> Result<&'a str, VerifyError> {
    let mut values = values.into_iter();
    let value = values.next().ok_or(VerifyError::MissingToken)?;
    if values.next().is_some() {
        return Err(VerifyError::RepeatedAuthorization);
    }
    token_from_authorization(value)
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// RFC 6750 §2.1: `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(s: &[u8]) -> bool {
    let body_end = s.iter().rposition(|&b| b != b'=').map_or(0, |i| i + 1);
    body_end > 0
        && s[body_end..].iter().all(|&b| b == b'=')
        && s[..body_end].iter().all(|&b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_and_shapes() {
        assert_eq!(token_from_authorization(b"Bearer a.b.c"), Ok("a.b.c"));
        assert_eq!(token_from_authorization(b"token a.b.c"), Ok("a.b.c"));
        assert_eq!(
            token_from_authorization(b"  BEARER   a.b.c \t"),
            Ok("a.b.c")
        );
        assert_eq!(
            token_from_authorization(b""),
            Err(VerifyError::MissingToken)
        );
        assert_eq!(
            token_from_authorization(b"Bearer"),
            Err(VerifyError::MissingToken)
        );
        assert_eq!(
            token_from_authorization(b"Bearer   "),
            Err(VerifyError::MissingToken)
        );
        assert_eq!(
            token_from_authorization(b"Basic abc"),
            Err(VerifyError::BadScheme)
        );
        assert_eq!(
            token_from_authorization(b"Bearerx abc"),
            Err(VerifyError::BadScheme)
        );
        assert!(matches!(
            token_from_authorization(b"Bearer a b"),
            Err(VerifyError::Malformed(_))
        ));
        assert!(matches!(
            token_from_authorization(b"Bearer a,b"),
            Err(VerifyError::Malformed(_))
        ));
        assert!(matches!(
            token_from_authorization(b"Bearer a\tb"),
            Err(VerifyError::Malformed(_))
        ));
        assert!(matches!(
            token_from_authorization(b"Bearer =="),
            Err(VerifyError::Malformed(_))
        ));
        assert!(matches!(
            token_from_authorization(b"Bearer a=b"),
            Err(VerifyError::Malformed(_))
        ));
        assert!(matches!(
            token_from_authorization("Bearer é".as_bytes()),
            Err(VerifyError::Malformed(_))
        ));
        assert_eq!(token_from_authorization(b"Bearer ab=="), Ok("ab=="));
    }

    #[test]
    fn exactly_one_header_value() {
        let one: [&[u8]; 1] = [b"Bearer a.b.c"];
        assert_eq!(token_from_authorization_headers(one), Ok("a.b.c"));
        let none: [&[u8]; 0] = [];
        assert_eq!(
            token_from_authorization_headers(none),
            Err(VerifyError::MissingToken)
        );
        let two: [&[u8]; 2] = [b"Bearer a.b.c", b"Bearer d.e.f"];
        assert_eq!(
            token_from_authorization_headers(two),
            Err(VerifyError::RepeatedAuthorization)
        );
        let same_twice: [&[u8]; 2] = [b"Bearer a.b.c", b"Bearer a.b.c"];
        assert_eq!(
            token_from_authorization_headers(same_twice),
            Err(VerifyError::RepeatedAuthorization)
        );
    }

    #[test]
    fn never_panics_on_any_short_input() {
        let alphabet = [
            b' ', b'\t', b'B', b'e', b'a', b'r', b'=', b',', 0xff, 0x00, b'x',
        ];
        for len in 0..5 {
            let mut idx = vec![0usize; len];
            loop {
                let v: Vec<u8> = idx.iter().map(|&i| alphabet[i]).collect();
                let _ = token_from_authorization(&v);
                let mut k = 0;
                while k < len {
                    idx[k] += 1;
                    if idx[k] < alphabet.len() {
                        break;
                    }
                    idx[k] = 0;
                    k += 1;
                }
                if k == len {
                    break;
                }
            }
        }
    }
}
