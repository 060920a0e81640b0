//! Compact JWS parsing and the signature check, with the strictness rules in one place:
//! three segments of unpadded base64url, a header in our own strict struct, the key's
//! algorithm and nothing else.

use std::borrow::Cow;
use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

use crate::error::VerifyError;
use crate::key_set::{Alg, KeySet};

/// Longest signature of any supported algorithm: RSA-8192 is 1024 bytes.
const MAX_SIGNATURE_BYTES: usize = 1024;
/// Base64url length of [`MAX_SIGNATURE_BYTES`]; longer signature segments are refused.
const MAX_SIGNATURE_B64: usize = (MAX_SIGNATURE_BYTES * 4).div_ceil(3);
/// Buffer size: the base64 crate sizes its output check with a rounded-up estimate.
const SIGNATURE_BUF: usize = MAX_SIGNATURE_B64.div_ceil(4) * 3;
/// Header segments up to this length are decoded on the stack (a watchword header is ~100).
const HEADER_STACK_B64: usize = 512;
const HEADER_STACK_BUF: usize = HEADER_STACK_B64.div_ceil(4) * 3;

/// A token whose structure, header and signature have been checked; only the payload is left.
pub(crate) struct Checked {
    pub(crate) payload: Vec<u8>,
}

/// Why the key lookup failed, so a remote key set can refresh on an unknown `kid` only.
pub(crate) enum Failure {
    UnknownKid,
    Other(VerifyError),
}

impl From<VerifyError> for Failure {
    fn from(e: VerifyError) -> Self {
        Failure::Other(e)
    }
}

/// Everything up to and including the signature; `max_size` is checked first.
pub(crate) fn check_signature(
    token: &str,
    max_size: usize,
    keys: &KeySet,
) -> Result<Checked, Failure> {
    if token.len() > max_size {
        return Err(VerifyError::TooLarge.into());
    }
    let (header_b64, payload_b64, signature_b64, signing_input) = split(token)?;

    if signature_b64.len() > MAX_SIGNATURE_B64 {
        return Err(VerifyError::Malformed(
            "signature segment is longer than any supported signature",
        )
        .into());
    }
    let mut signature_buf = [0u8; SIGNATURE_BUF];
    let signature_len = URL_SAFE_NO_PAD
        .decode_slice(signature_b64, &mut signature_buf)
        .map_err(|_| VerifyError::Malformed("signature is not unpadded base64url"))?;
    let signature = signature_buf.get(..signature_len).unwrap_or_default();
    // Headers are small: decode onto the stack, fall back to the heap for odd large ones.
    const BAD_HEADER: VerifyError = VerifyError::Malformed("header is not unpadded base64url");
    let mut header_stack = [0u8; HEADER_STACK_BUF];
    let header_heap;
    let header_bytes: &[u8] = if header_b64.len() <= HEADER_STACK_B64 {
        let len = URL_SAFE_NO_PAD
            .decode_slice(header_b64, &mut header_stack)
            .map_err(|_| BAD_HEADER)?;
        header_stack.get(..len).unwrap_or_default()
    } else {
        header_heap = URL_SAFE_NO_PAD.decode(header_b64).map_err(|_| BAD_HEADER)?;
        &header_heap
    };
    let payload = URL_SAFE_NO_PAD
        .decode(payload_b64)
        .map_err(|_| VerifyError::Malformed("payload is not unpadded base64url"))?;

    let header: RawHeader = serde_json::from_slice(header_bytes)
        .map_err(|_| VerifyError::Malformed("header is not a JSON object with unique names"))?;
    let header = header.validate()?;

    let alg = Alg::from_header(header.alg).ok_or(VerifyError::AlgorithmNotAllowed)?;
    let key = match header.kid {
        Some(kid) => keys.get(kid).ok_or(Failure::UnknownKid)?,
        None => keys.sole().ok_or(VerifyError::UnknownKey)?,
    };
    // The key decides the algorithm: the header may only agree with it.
    if key.alg != alg {
        return Err(VerifyError::AlgorithmNotAllowed.into());
    }
    if signature.is_empty()
        || alg
            .fixed_signature_len()
            .is_some_and(|len| len != signature.len())
    {
        return Err(VerifyError::BadSignature.into());
    }
    if !key.verify(signing_input.as_bytes(), signature) {
        return Err(VerifyError::BadSignature.into());
    }
    Ok(Checked { payload })
}

/// `header.payload.signature` → the three segments and the signing input `header.payload`.
fn split(token: &str) -> Result<(&str, &str, &str, &str), VerifyError> {
    const SHAPE: VerifyError = VerifyError::Malformed("not three dot-separated segments");
    let first = token.find('.').ok_or(SHAPE)?;
    let second = token[first + 1..]
        .find('.')
        .map(|i| first + 1 + i)
        .ok_or(SHAPE)?;
    let signature = &token[second + 1..];
    if signature.contains('.') {
        return Err(SHAPE);
    }
    Ok((
        &token[..first],
        &token[first + 1..second],
        signature,
        &token[..second],
    ))
}

/// Claims → [`Claims`](crate::claims::Claims), with a missing `exp`/`sub` named as such.
pub(crate) fn parse_claims(payload: &[u8]) -> Result<crate::claims::Claims, VerifyError> {
    match serde_json::from_slice(payload) {
        Ok(claims) => Ok(claims),
        Err(_) => {
            // Slow path, only for refused tokens: say which required claim is absent.
            if let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(payload) {
                for required in ["exp", "sub"] {
                    if !map.contains_key(required) {
                        return Err(VerifyError::MissingClaim(required));
                    }
                }
            }
            Err(VerifyError::Malformed("payload is not a valid claim set"))
        }
    }
}

/// A header member that must be a string when present.
#[derive(Default)]
enum Member<'a> {
    #[default]
    Absent,
    /// Borrowed from the decoded header unless the JSON string had escapes.
    Str(Cow<'a, str>),
    NotStr,
}

/// Reads any JSON value without building it: a string is kept, anything else is only
/// consumed (and marked), so a wrongly typed member is reported instead of failing the parse.
impl<'de> Deserialize<'de> for Member<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Member<'de>, D::Error> {
        struct MemberVisitor;
        impl<'de> Visitor<'de> for MemberVisitor {
            type Value = Member<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Member<'de>, E> {
                Ok(Member::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Member<'de>, E> {
                Ok(Member::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Member<'de>, E> {
                Ok(Member::NotStr)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Member<'de>, E> {
                Ok(Member::NotStr)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Member<'de>, E> {
                Ok(Member::NotStr)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Member<'de>, E> {
                Ok(Member::NotStr)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Member<'de>, E> {
                Ok(Member::NotStr)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Member<'de>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Member::NotStr)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Member<'de>, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Member::NotStr)
            }
        }
        d.deserialize_any(MemberVisitor)
    }
}

/// The most members a JOSE header may have. Real headers have two to five (`alg`, `typ`,
/// `kid`, now and then `x5t` or `cty`); the cap keeps the duplicate check over the other
/// names linear in the header's size: an 8 KiB header of ~850 distinct names would otherwise
/// cost ~360 000 string comparisons before the signature is even looked at.
pub(crate) const MAX_HEADER_MEMBERS: usize = 32;

/// The JOSE header as read: our own type, not the JWT library's, so every member that
/// matters is seen (including ones we refuse) and duplicate names are an error.
#[derive(Default)]
struct RawHeader<'a> {
    alg: Member<'a>,
    typ: Member<'a>,
    kid: Member<'a>,
    crit: bool,
    /// `b64` (RFC 7797) other than `true` would change the signing input.
    b64_not_true: bool,
    /// `zip` belongs to JWE; we never decompress.
    zip: bool,
}

/// The header after its rules passed.
pub(crate) struct Header<'a> {
    pub(crate) alg: &'a str,
    pub(crate) kid: Option<&'a str>,
}

impl RawHeader<'_> {
    fn validate(&self) -> Result<Header<'_>, VerifyError> {
        let alg = match &self.alg {
            Member::Str(alg) => alg.as_ref(),
            Member::Absent => return Err(VerifyError::Malformed("header has no alg")),
            Member::NotStr => return Err(VerifyError::Malformed("alg is not a string")),
        };
        if self.crit {
            return Err(VerifyError::UnsupportedHeader("crit"));
        }
        match &self.typ {
            Member::Absent => {}
            Member::Str(typ) if accepted_typ(typ) => {}
            _ => return Err(VerifyError::UnsupportedHeader("typ")),
        }
        if self.b64_not_true {
            return Err(VerifyError::UnsupportedHeader("b64"));
        }
        if self.zip {
            return Err(VerifyError::UnsupportedHeader("zip"));
        }
        let kid = match &self.kid {
            Member::Absent => None,
            Member::Str(kid) => Some(kid.as_ref()),
            Member::NotStr => return Err(VerifyError::Malformed("kid is not a string")),
        };
        Ok(Header { alg, kid })
    }
}

/// The `typ` values of the tokens watchword issues: `JWT` (RFC 7519) and `at+jwt` (RFC 9068
/// access tokens), each also with the `application/` prefix that RFC 7515 §4.1.9 says may be
/// left out, compared ignoring ASCII case as media types are. Anything else is another kind of
/// token (an ID token's `JWT` aside, e.g. a logout token or a JWE) and is refused.
fn accepted_typ(typ: &str) -> bool {
    let bytes = typ.as_bytes();
    let media = match bytes.get(..12) {
        Some(prefix) if prefix.eq_ignore_ascii_case(b"application/") => &typ[12..],
        _ => typ,
    };
    media.eq_ignore_ascii_case("JWT") || media.eq_ignore_ascii_case("at+jwt")
}

enum Name {
    Alg,
    Typ,
    Kid,
    Crit,
    B64,
    Zip,
    Other(String),
}

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Name, D::Error> {
        struct NameVisitor;
        impl Visitor<'_> for NameVisitor {
            type Value = Name;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a header parameter name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Name, E> {
                Ok(match v {
                    "alg" => Name::Alg,
                    "typ" => Name::Typ,
                    "kid" => Name::Kid,
                    "crit" => Name::Crit,
                    "b64" => Name::B64,
                    "zip" => Name::Zip,
                    other => Name::Other(other.to_owned()),
                })
            }
        }
        d.deserialize_str(NameVisitor)
    }
}

impl<'de> Deserialize<'de> for RawHeader<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<RawHeader<'de>, D::Error> {
        struct HeaderVisitor;
        impl<'de> Visitor<'de> for HeaderVisitor {
            type Value = RawHeader<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JOSE header object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawHeader<'de>, A::Error> {
                let mut h = RawHeader::default();
                // Known names in a bit set, others in a list: every duplicate is an error
                // (RFC 7515 §4: a parser must reject or use the last; we reject).
                let mut seen_known = 0u8;
                let mut seen_other: Vec<String> = Vec::new();
                let mut members = 0usize;
                while let Some(name) = map.next_key::<Name>()? {
                    members += 1;
                    if members > MAX_HEADER_MEMBERS {
                        return Err(de::Error::custom("too many header parameters"));
                    }
                    let bit = match &name {
                        Name::Alg => 1,
                        Name::Typ => 2,
                        Name::Kid => 4,
                        Name::Crit => 8,
                        Name::B64 => 16,
                        Name::Zip => 32,
                        Name::Other(other) => {
                            if seen_other.contains(other) {
                                return Err(de::Error::custom("duplicate header parameter"));
                            }
                            seen_other.push(other.clone());
                            0
                        }
                    };
                    if seen_known & bit != 0 {
                        return Err(de::Error::custom("duplicate header parameter"));
                    }
                    seen_known |= bit;
                    match name {
                        Name::Alg => h.alg = map.next_value()?,
                        Name::Typ => h.typ = map.next_value()?,
                        Name::Kid => h.kid = map.next_value()?,
                        Name::Crit => {
                            map.next_value::<IgnoredAny>()?;
                            h.crit = true;
                        }
                        Name::B64 => {
                            h.b64_not_true = map.next_value::<Value>()? != Value::Bool(true)
                        }
                        Name::Zip => {
                            map.next_value::<IgnoredAny>()?;
                            h.zip = true;
                        }
                        // jku, x5u, x5c, jwk, cty, …: read and ignored, never fetched or trusted.
                        Name::Other(_) => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(h)
            }
        }
        d.deserialize_map(HeaderVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(json: &str) -> Result<(String, Option<String>), VerifyError> {
        let raw: RawHeader =
            serde_json::from_str(json).map_err(|_| VerifyError::Malformed("json"))?;
        let h = raw.validate()?;
        Ok((h.alg.to_owned(), h.kid.map(str::to_owned)))
    }

    /// A header of ~850 distinct names (8 KiB) is refused at the cap, before its quadratic
    /// duplicate check (hardening round 3, item 10); 32 members still pass.
    #[test]
    fn headers_with_more_members_than_the_cap_are_refused() {
        let with = |n: usize| {
            let others: String = (0..n.saturating_sub(1))
                .map(|i| format!(r#","x{i}":1"#))
                .collect();
            header(&format!(r#"{{"alg":"EdDSA"{others}}}"#))
        };
        assert_eq!(with(32).map(|h| h.0), Ok("EdDSA".into()));
        assert!(with(33).is_err());
        assert!(with(850).is_err());
    }

    #[test]
    fn header_rules() {
        assert_eq!(
            header(r#"{"alg":"EdDSA","kid":"k"}"#),
            Ok(("EdDSA".into(), Some("k".into())))
        );
        assert_eq!(
            header(r#"{"alg":"EdDSA","typ":"jwt"}"#).map(|h| h.0),
            Ok("EdDSA".into())
        );
        assert!(matches!(
            header(r#"{"alg":"EdDSA","alg":"HS256"}"#),
            Err(VerifyError::Malformed(_))
        ));
        assert!(matches!(
            header(r#"{"alg":"EdDSA","\u0061lg":"HS256"}"#),
            Err(VerifyError::Malformed(_))
        ));
        assert!(matches!(
            header(r#"{"alg":"EdDSA","x":1,"x":2}"#),
            Err(VerifyError::Malformed(_))
        ));
        assert_eq!(
            header(r#"{"alg":"Ed\u0044SA","kid":"\u006b"}"#),
            Ok(("EdDSA".into(), Some("k".into())))
        );
        assert!(matches!(
            header(r#"{"alg":1}"#),
            Err(VerifyError::Malformed(_))
        ));
        assert!(matches!(
            header(r#"{"typ":"JWT"}"#),
            Err(VerifyError::Malformed(_))
        ));
        assert!(matches!(
            header(r#"["alg"]"#),
            Err(VerifyError::Malformed(_))
        ));
        assert!(matches!(
            header(r#"{"alg":"EdDSA","kid":7}"#),
            Err(VerifyError::Malformed(_))
        ));
        assert_eq!(
            header(r#"{"alg":"EdDSA","crit":null}"#),
            Err(VerifyError::UnsupportedHeader("crit"))
        );
        assert_eq!(
            header(r#"{"alg":"EdDSA","crit":[]}"#),
            Err(VerifyError::UnsupportedHeader("crit"))
        );
        for typ in [
            "JWT",
            "jwt",
            "application/jwt",
            "at+jwt",
            "at+JWT",
            "AT+JWT",
            "application/at+jwt",
            "Application/AT+JWT",
        ] {
            assert!(
                header(&format!(r#"{{"alg":"EdDSA","typ":"{typ}"}}"#)).is_ok(),
                "{typ}"
            );
        }
        for typ in [
            "foo",
            "",
            "JWS",
            "at+jwt ",
            "application/",
            "application/foo",
            "application/application/jwt",
            "logout+jwt",
            "secevent+jwt",
            "JOSE",
            "at+jwt;charset=utf-8",
        ] {
            assert_eq!(
                header(&format!(r#"{{"alg":"EdDSA","typ":"{typ}"}}"#)),
                Err(VerifyError::UnsupportedHeader("typ")),
                "{typ}"
            );
        }
        assert_eq!(
            header(r#"{"alg":"EdDSA","typ":null}"#),
            Err(VerifyError::UnsupportedHeader("typ"))
        );
        assert_eq!(
            header(r#"{"alg":"EdDSA","b64":false}"#),
            Err(VerifyError::UnsupportedHeader("b64"))
        );
        assert_eq!(
            header(r#"{"alg":"EdDSA","zip":"DEF"}"#),
            Err(VerifyError::UnsupportedHeader("zip"))
        );
        assert!(
            header(r#"{"alg":"EdDSA","jku":"https://evil","x5u":"x","jwk":{},"x5c":[]}"#).is_ok()
        );
    }

    #[test]
    fn split_shapes() {
        assert!(split("a.b.c").is_ok());
        assert!(split("a.b").is_err());
        assert!(split("a.b.c.d").is_err());
        assert!(split("..").is_ok());
        assert!(split("").is_err());
    }

    #[test]
    fn signature_buffer_holds_the_longest_accepted_segment() {
        let sig = URL_SAFE_NO_PAD.encode([0u8; MAX_SIGNATURE_BYTES]);
        assert_eq!(sig.len(), MAX_SIGNATURE_B64);
        let mut buf = [0u8; SIGNATURE_BUF];
        assert_eq!(
            URL_SAFE_NO_PAD.decode_slice(&sig, &mut buf),
            Ok(MAX_SIGNATURE_BYTES)
        );
    }
}
