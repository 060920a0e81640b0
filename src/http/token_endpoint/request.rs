//! Reading a `POST /token` request (RFC 6749 §3.2): the form-urlencoded body, its parameters,
//! and the client's authentication (HTTP Basic, §2.3.1, or `client_id` and `client_secret` in
//! the body). Every check here runs before any hashing, and none of it knows the accounts.

use std::collections::HashMap;

use actix_web::http::header::{self, HeaderMap};
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine;
use secrecy::zeroize::Zeroizing;
use secrecy::SecretString;

use super::error::OAuthError;
use crate::http::attempt::ClientSecret;
use crate::login::password::MAX_PASSWORD_BYTES;
use crate::login::totp::MAX_OTP_BYTES;
use crate::login::users::{canonical_name, holds_control_character, MAX_NAME_BYTES};
use crate::session::refresh_token::MAX_REFRESH_TOKEN_BYTES;

/// Longest `scope` parameter accepted (bytes): far more than any account's permissions.
pub const MAX_SCOPE_BYTES: usize = 1024;

/// The grant a token request asks for.
#[derive(Debug)]
pub enum Grant {
    /// §4.3: a person's user name and password (and seed 003's organisation and unit).
    Password {
        /// `username`.
        username: String,
        /// `password`; never logged.
        password: SecretString,
        /// `organisation`, when given.
        organisation: Option<String>,
        /// `unit`, when given.
        unit: Option<String>,
        /// `otp`: a TOTP code or recovery code, when given; never logged.
        otp: Option<SecretString>,
    },
    /// §4.4: a service account authenticating as the client, for a token of its own.
    ClientCredentials,
    /// §6: a refresh token (with `sessions.enabled`; otherwise an unsupported grant).
    RefreshToken {
        /// `refresh_token`; never logged.
        refresh_token: SecretString,
    },
}

impl Grant {
    /// The `grant_type` value, for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Grant::Password { .. } => "password",
            Grant::ClientCredentials => "client_credentials",
            Grant::RefreshToken { .. } => "refresh_token",
        }
    }
}

/// A checked token request.
pub struct TokenRequest {
    /// What is asked for.
    pub grant: Grant,
    /// The scopes asked for, without duplicates, in the order given; `None` when absent or
    /// empty.
    pub scope: Option<Vec<String>>,
    /// The client's credentials, when it sent a secret. A `client_id` without a secret (a
    /// public client) authenticates nothing and is not kept.
    pub client: Option<ClientSecret>,
    /// The `client_id` of a client that sent no secret (in the body, or Basic with an empty
    /// secret): a public client, unless it names a service account, which must authenticate.
    pub public_client: Option<String>,
}

/// The parameters this endpoint reads; every other one is ignored (§3.2).
const KNOWN: [&str; 12] = [
    "otp",
    "grant_type",
    "refresh_token",
    "token",
    "token_type_hint",
    "username",
    "password",
    "scope",
    "organisation",
    "unit",
    "client_id",
    "client_secret",
];

/// Read a token request. `require_organisation` is `login.require_organisation`.
pub fn parse(
    headers: &HeaderMap,
    body: &[u8],
    require_organisation: bool,
) -> Result<TokenRequest, OAuthError> {
    let charset = content_type(headers, body)?;
    let mut params = form(body, charset)?;
    let grant_type = required(&mut params, "grant_type", 64)?;
    let is_password = match grant_type.as_str() {
        "password" => true,
        "client_credentials" | "refresh_token" => false,
        _ => return Err(OAuthError::UnsupportedGrantType),
    };
    let (client, public_client) = client_auth(headers, &mut params)?;
    let grant = if grant_type == "refresh_token" {
        let token = required(&mut params, "refresh_token", MAX_REFRESH_TOKEN_BYTES)?;
        Grant::RefreshToken {
            refresh_token: token.into(),
        }
    } else if is_password {
        let username = named(
            required(&mut params, "username", MAX_NAME_BYTES)?,
            "username",
        )?;
        let password = required(&mut params, "password", MAX_PASSWORD_BYTES)?;
        let organisation = optional_name(&mut params, "organisation")?;
        if require_organisation && organisation.is_none() {
            return Err(OAuthError::invalid_request(
                "The organisation parameter is missing.",
            ));
        }
        Grant::Password {
            username,
            password: password.into(),
            organisation,
            unit: optional_name(&mut params, "unit")?,
            otp: optional(&mut params, "otp", MAX_OTP_BYTES)?.map(Into::into),
        }
    } else {
        // §4.4: only an authenticated client may use this grant.
        if client.is_none() {
            return Err(OAuthError::InvalidClient);
        }
        Grant::ClientCredentials
    };
    let scope = match optional(&mut params, "scope", MAX_SCOPE_BYTES)? {
        None => None,
        Some(text) => scopes(&text)?,
    };
    Ok(TokenRequest {
        grant,
        scope,
        client,
        public_client,
    })
}

/// How the bytes of a form's values are text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Charset {
    /// UTF-8 (and its subset US-ASCII): what the URL standard and every OAuth client use.
    Utf8,
    /// ISO-8859-1, when the content type says so (some Java clients): each byte a code point.
    Latin1,
}

/// `application/x-www-form-urlencoded`, with an optional `charset` parameter naming UTF-8,
/// US-ASCII or ISO-8859-1. No content type at all is fine only for an empty body.
pub(super) fn content_type(headers: &HeaderMap, body: &[u8]) -> Result<Charset, OAuthError> {
    let mut values = headers.get_all(header::CONTENT_TYPE);
    let Some(value) = values.next() else {
        return if body.is_empty() {
            Ok(Charset::Utf8)
        } else {
            Err(OAuthError::UnsupportedMediaType)
        };
    };
    if values.next().is_some() {
        return Err(OAuthError::invalid_request(
            "The Content-Type header is given more than once.",
        ));
    }
    let value = value
        .to_str()
        .map_err(|_| OAuthError::UnsupportedMediaType)?;
    let mut parts = value.split(';');
    let essence = parts.next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(OAuthError::UnsupportedMediaType);
    }
    let mut charset = Charset::Utf8;
    for param in parts {
        let Some((name, value)) = param.split_once('=') else {
            continue;
        };
        if name.trim().eq_ignore_ascii_case("charset") {
            let named = value.trim().trim_matches('"').to_ascii_lowercase();
            charset = match named.as_str() {
                "utf-8" | "utf8" | "us-ascii" => Charset::Utf8,
                "iso-8859-1" | "iso8859-1" | "latin1" | "latin-1" => Charset::Latin1,
                _ => return Err(OAuthError::UnsupportedMediaType),
            };
        }
    }
    Ok(charset)
}

/// The known parameters of a form body, each with every value it was given; unknown ones are
/// dropped. A known parameter whose value is not text in `charset` is refused.
pub(super) fn form(
    body: &[u8],
    charset: Charset,
) -> Result<HashMap<&'static str, Vec<String>>, OAuthError> {
    let mut params: HashMap<&'static str, Vec<String>> = HashMap::new();
    for pair in body.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
        let (name, value) = match pair.iter().position(|b| *b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &[][..]),
        };
        let name = form_decode(name);
        let Some(known) = KNOWN.iter().find(|k| k.as_bytes() == name.as_slice()) else {
            continue;
        };
        let value = match charset {
            Charset::Utf8 => String::from_utf8(form_decode(value)).map_err(|_| {
                OAuthError::invalid_request(format!("The {known} parameter is not valid UTF-8."))
            })?,
            Charset::Latin1 => form_decode(value).into_iter().map(char::from).collect(),
        };
        params.entry(known).or_default().push(value);
    }
    Ok(params)
}

/// Undo `application/x-www-form-urlencoded` (the WHATWG URL standard's parser): `+` is a
/// space, `%XX` a byte, and a `%` without two hex digits after it stays as it is.
pub fn form_decode(raw: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                raw.get(i + 1).and_then(|b| hex(*b)),
                raw.get(i + 2).and_then(|b| hex(*b)),
            ) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// A parameter given at most once; an empty value counts as absent (§3.2).
pub(super) fn optional(
    params: &mut HashMap<&'static str, Vec<String>>,
    name: &'static str,
    max: usize,
) -> Result<Option<String>, OAuthError> {
    let Some(mut values) = params.remove(name) else {
        return Ok(None);
    };
    if values.len() > 1 {
        return Err(OAuthError::invalid_request(format!(
            "The {name} parameter is given more than once."
        )));
    }
    let value = values.pop().unwrap_or_default();
    if value.len() > max {
        return Err(OAuthError::invalid_request(format!(
            "The {name} parameter is longer than {max} bytes."
        )));
    }
    Ok(Some(value).filter(|v| !v.is_empty()))
}

/// A name parameter (`username`, `client_id`, `organisation`, `unit`) holds no control
/// character: the same rule as account names, checked before the throttle so that a NUL never
/// reaches a database query.
fn named(value: String, name: &'static str) -> Result<String, OAuthError> {
    if holds_control_character(&value) {
        return Err(OAuthError::invalid_request(format!(
            "The {name} parameter holds a control character."
        )));
    }
    Ok(canonical_name(&value))
}

/// An optional name parameter (see [`named`]).
fn optional_name(
    params: &mut HashMap<&'static str, Vec<String>>,
    name: &'static str,
) -> Result<Option<String>, OAuthError> {
    optional(params, name, MAX_NAME_BYTES)?
        .map(|v| named(v, name))
        .transpose()
}

/// A parameter given exactly once, not empty.
pub(super) fn required(
    params: &mut HashMap<&'static str, Vec<String>>,
    name: &'static str,
    max: usize,
) -> Result<String, OAuthError> {
    let present = params.contains_key(name);
    optional(params, name, max)?.ok_or_else(|| {
        OAuthError::invalid_request(if present {
            format!("The {name} parameter is empty.")
        } else {
            format!("The {name} parameter is missing.")
        })
    })
}

/// The client's credentials: HTTP Basic or `client_id` + `client_secret` in the body, never
/// both. The first half is `None` when no secret was sent; the second is then the
/// `client_id` named without one, if any.
pub(super) fn client_auth(
    headers: &HeaderMap,
    params: &mut HashMap<&'static str, Vec<String>>,
) -> Result<(Option<ClientSecret>, Option<String>), OAuthError> {
    let body_id = optional_name(params, "client_id")?;
    let body_secret = optional(params, "client_secret", MAX_PASSWORD_BYTES)?;
    let mut authorization = headers.get_all(header::AUTHORIZATION);
    let first = authorization.next();
    if authorization.next().is_some() {
        return Err(OAuthError::invalid_request(
            "The Authorization header is given more than once.",
        ));
    }
    if let Some(value) = first {
        let value = value.as_bytes();
        // Another scheme is another authentication method, which this endpoint does not
        // support (§5.2: invalid_client).
        if value.len() < 6 || !value[..6].eq_ignore_ascii_case(b"basic ") {
            return Err(OAuthError::InvalidClient);
        }
        if body_secret.is_some() {
            return Err(OAuthError::invalid_request(
                "Client credentials are given both in the Authorization header and in the body.",
            ));
        }
        let (identifier, client) = basic(&value[6..])?;
        if let Some(id) = &body_id {
            if client.is_some() && &identifier != id {
                return Err(OAuthError::invalid_request(
                    "The client_id parameter differs from the Authorization header's.",
                ));
            }
        }
        return Ok(match client {
            Some(client) => (Some(client), None),
            None => (None, Some(identifier)),
        });
    }
    match (body_id, body_secret) {
        (Some(identifier), Some(secret)) => Ok((
            Some(ClientSecret {
                identifier,
                secrets: vec![secret.into()],
            }),
            None,
        )),
        (None, Some(_)) => Err(OAuthError::invalid_request(
            "The client_id parameter is missing.",
        )),
        // A public client (no secret) authenticates nothing.
        (public, None) => Ok((None, public)),
    }
}

/// `Basic base64(client_id ":" client_secret)`. RFC 6749 §2.3.1 has clients form-urlencode
/// both halves first; Go's x/oauth2 and node's clients do, Python's requests and Authlib send
/// them as they are (in Latin-1). Both are accepted: a client encodes both halves or neither,
/// so the secret is checked as sent and, when its decoding differs, decoded (one attempt for
/// the throttle).
/// The client id, and its secret (`None` for an empty secret: a public client naming itself).
fn basic(encoded: &[u8]) -> Result<(String, Option<ClientSecret>), OAuthError> {
    let bad =
        || OAuthError::invalid_request("The Authorization header is not valid Basic credentials.");
    let encoded = encoded.trim_ascii();
    let max = 4 * (3 * (MAX_NAME_BYTES + MAX_PASSWORD_BYTES + 1)).div_ceil(3);
    if encoded.len() > max {
        return Err(OAuthError::invalid_request(
            "The Authorization header is longer than its credentials can be.",
        ));
    }
    let decoded = STANDARD
        .decode(encoded)
        .or_else(|_| STANDARD_NO_PAD.decode(encoded))
        .map_err(|_| bad())?;
    // The decoded text holds the secret: wiped when this function returns. Bytes that are
    // not UTF-8 are read as Latin-1, the charset Python's requests and Authlib encode in.
    let text = Zeroizing::new(match String::from_utf8(decoded) {
        Ok(text) => text,
        Err(e) => {
            let bytes = Zeroizing::new(e.into_bytes());
            bytes.iter().map(|&b| char::from(b)).collect()
        }
    });
    let (raw_id, raw_secret) = text.split_once(':').ok_or_else(bad)?;
    let decode = |s: &str| String::from_utf8(form_decode(s.as_bytes())).ok();
    let decoded_id = decode(raw_id);
    // Which client is meant: the name as sent, unless it only makes sense decoded (it holds a
    // %XX escape and its decoding is another name).
    let escaped = |s: &str| {
        s.as_bytes()
            .windows(3)
            .any(|w| w[0] == b'%' && w[1].is_ascii_hexdigit() && w[2].is_ascii_hexdigit())
    };
    let (identifier, secrets): (String, Vec<String>) = match decoded_id {
        // (the identifier is put in NFC below, after its checks)
        Some(id) if id != raw_id && escaped(raw_id) => {
            (id, decode(raw_secret).into_iter().collect())
        }
        Some(id) if id != raw_id => (raw_id.to_owned(), vec![raw_secret.to_owned()]),
        _ => {
            let mut secrets = vec![raw_secret.to_owned()];
            secrets.extend(decode(raw_secret).filter(|d| d != raw_secret));
            (raw_id.to_owned(), secrets)
        }
    };
    if identifier.is_empty() {
        return Err(OAuthError::invalid_request(
            "The client_id in the Authorization header is empty.",
        ));
    }
    if identifier.len() > MAX_NAME_BYTES {
        return Err(OAuthError::invalid_request(format!(
            "The client_id is longer than {MAX_NAME_BYTES} bytes."
        )));
    }
    if holds_control_character(&identifier) {
        return Err(OAuthError::invalid_request(
            "The client_id in the Authorization header holds a control character.",
        ));
    }
    let identifier = canonical_name(&identifier);
    let secrets: Vec<String> = secrets.into_iter().filter(|s| !s.is_empty()).collect();
    if secrets.is_empty() {
        return Ok((identifier, None));
    }
    if secrets.iter().any(|s| s.len() > MAX_PASSWORD_BYTES) {
        return Err(OAuthError::invalid_request(format!(
            "The client_secret is longer than {MAX_PASSWORD_BYTES} bytes."
        )));
    }
    Ok((
        identifier.clone(),
        Some(ClientSecret {
            identifier,
            secrets: secrets.into_iter().map(SecretString::from).collect(),
        }),
    ))
}

/// A `scope` value (§3.3): scope tokens separated by spaces, each of the characters RFC 6749
/// allows; duplicates dropped. `None` when it holds no token.
fn scopes(text: &str) -> Result<Option<Vec<String>>, OAuthError> {
    let mut out: Vec<String> = Vec::new();
    for token in text.split(' ').filter(|t| !t.is_empty()) {
        let valid = token
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b));
        if !valid {
            return Err(OAuthError::InvalidScope(
                "The scope parameter is malformed.",
            ));
        }
        if !out.iter().any(|t| t == token) {
            out.push(token.to_owned());
        }
    }
    Ok(Some(out).filter(|v| !v.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;
    use secrecy::ExposeSecret;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(k.parse().unwrap(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

    fn described(r: Result<TokenRequest, OAuthError>) -> String {
        match r {
            Ok(_) => "ok".into(),
            Err(e) => format!("{} {e}", e.error()),
        }
    }

    #[test]
    fn form_decoding_follows_the_url_standard() {
        assert_eq!(form_decode(b"a+b%20c%2B%25"), b"a b c+%");
        assert_eq!(form_decode(b"100%"), b"100%");
        assert_eq!(form_decode(b"%zz%4"), b"%zz%4");
        assert_eq!(form_decode(b"%C3%A9"), "é".as_bytes());
    }

    #[test]
    fn password_grant_parameters() {
        let r = parse(
            &headers(&[FORM]),
            b"grant_type=password&username=alice&password=p%C3%A4ss+word&scope=b+a+b&extra=1&extra=2&unit=",
            false,
        )
        .unwrap();
        let Grant::Password {
            username,
            password,
            organisation,
            unit,
            otp,
        } = r.grant
        else {
            panic!("password grant")
        };
        assert_eq!(username, "alice");
        assert_eq!(password.expose_secret(), "päss word");
        assert!(otp.is_none());
        assert_eq!((organisation, unit), (None, None));
        assert_eq!(r.scope.unwrap(), ["b", "a"]);
        assert!(r.client.is_none());
    }

    #[test]
    fn request_errors_name_the_parameter() {
        let form = |body: &str| described(parse(&headers(&[FORM]), body.as_bytes(), false));
        assert_eq!(
            form(""),
            "invalid_request The grant_type parameter is missing."
        );
        assert_eq!(
            form("grant_type="),
            "invalid_request The grant_type parameter is empty."
        );
        assert_eq!(
            form("grant_type=authorization_code"),
            "unsupported_grant_type The grant_type must be password or client_credentials."
        );
        assert_eq!(
            form("grant_type=password&password=x"),
            "invalid_request The username parameter is missing."
        );
        assert_eq!(
            form("grant_type=password&username=&password=x"),
            "invalid_request The username parameter is empty."
        );
        assert_eq!(
            form("grant_type=password&username=a&username=b&password=x"),
            "invalid_request The username parameter is given more than once."
        );
        assert_eq!(
            form("grant_type=password&grant_type=password&username=a&password=x"),
            "invalid_request The grant_type parameter is given more than once."
        );
        assert_eq!(
            form("grant_type=password&username=a&password=%FF"),
            "invalid_request The password parameter is not valid UTF-8."
        );
        assert_eq!(
            form(&format!(
                "grant_type=password&username=a&password={}",
                "p".repeat(1025)
            )),
            "invalid_request The password parameter is longer than 1024 bytes."
        );
        assert_eq!(
            form("grant_type=password&username=a&password=x&scope=a%22b"),
            "invalid_scope The scope parameter is malformed."
        );
        assert_eq!(
            form("grant_type=password&username=a&password=x&client_secret=s"),
            "invalid_request The client_id parameter is missing."
        );
        assert_eq!(
            form("grant_type=client_credentials"),
            "invalid_client Client authentication failed."
        );
        assert_eq!(
            form("grant_type=client_credentials&client_id=svc"),
            "invalid_client Client authentication failed."
        );
        assert_eq!(
            form("grant_type=client_credentials&client_id=svc&client_secret=s"),
            "ok"
        );
        assert_eq!(
            described(parse(
                &headers(&[FORM]),
                b"grant_type=password&username=a&password=x",
                true
            )),
            "invalid_request The organisation parameter is missing."
        );
    }

    #[test]
    fn latin1_forms_when_the_content_type_says_so() {
        let body = b"grant_type=password&username=a&password=caf%E9";
        let latin1 = (
            "content-type",
            "application/x-www-form-urlencoded; charset=iso-8859-1",
        );
        let Grant::Password { password, .. } =
            parse(&headers(&[latin1]), body, false).unwrap().grant
        else {
            panic!("password grant")
        };
        assert_eq!(password.expose_secret(), "caf\u{e9}");
        assert_eq!(
            described(parse(&headers(&[FORM]), body, false)),
            "invalid_request The password parameter is not valid UTF-8."
        );
    }

    #[test]
    fn content_types() {
        let body = b"grant_type=client_credentials&client_id=a&client_secret=b";
        for ok in [
            "application/x-www-form-urlencoded",
            "Application/X-WWW-Form-URLEncoded; charset=UTF-8",
            "application/x-www-form-urlencoded;charset=\"utf-8\"",
            "application/x-www-form-urlencoded; charset=ISO-8859-1",
        ] {
            assert_eq!(
                described(parse(&headers(&[("content-type", ok)]), body, false)),
                "ok",
                "{ok}"
            );
        }
        for bad in [
            "application/json",
            "text/plain",
            "application/x-www-form-urlencoded; charset=utf-16",
            "multipart/form-data; boundary=x",
        ] {
            assert_eq!(
                described(parse(&headers(&[("content-type", bad)]), body, false)),
                "invalid_request The body must be application/x-www-form-urlencoded.",
                "{bad}"
            );
        }
        assert!(matches!(
            parse(&headers(&[]), body, false),
            Err(OAuthError::UnsupportedMediaType)
        ));
        assert_eq!(
            described(parse(&headers(&[]), b"", false)),
            "invalid_request The grant_type parameter is missing."
        );
    }

    fn basic_of(id: &str, secret: &str) -> String {
        format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
    }

    fn secrets(c: &ClientSecret) -> Vec<&str> {
        c.secrets.iter().map(|s| s.expose_secret()).collect()
    }

    #[test]
    fn basic_credentials_raw_and_form_encoded() {
        let body = b"grant_type=client_credentials";
        let raw = basic_of("svc", "a%b+c: d");
        let r = parse(&headers(&[FORM, ("authorization", &raw)]), body, false).unwrap();
        let c = r.client.unwrap();
        assert_eq!(c.identifier, "svc");
        assert_eq!(secrets(&c), ["a%b+c: d", "a%b c: d"]);
        let encoded = basic_of("svc", "a%25b%2Bc%3A+d");
        let c = parse(&headers(&[FORM, ("authorization", &encoded)]), body, false)
            .unwrap()
            .client
            .unwrap();
        assert_eq!(secrets(&c), ["a%25b%2Bc%3A+d", "a%b+c: d"]);
        // An identifier that only makes sense decoded is taken decoded, with its secret.
        let c = parse(
            &headers(&[FORM, ("authorization", &basic_of("svc%2F1", "s%2B"))]),
            body,
            false,
        )
        .unwrap()
        .client
        .unwrap();
        assert_eq!((c.identifier.as_str(), secrets(&c)), ("svc/1", vec!["s+"]));
        // Latin-1 (Authlib, requests) when the bytes are not UTF-8.
        let latin1 = format!("Basic {}", STANDARD.encode(b"svc:caf\xe9"));
        let c = parse(&headers(&[FORM, ("authorization", &latin1)]), body, false)
            .unwrap()
            .client
            .unwrap();
        assert_eq!(secrets(&c), ["caf\u{e9}"]);
        // A plain secret is checked once.
        let c = parse(
            &headers(&[FORM, ("authorization", &basic_of("svc", "plain"))]),
            body,
            false,
        )
        .unwrap()
        .client
        .unwrap();
        assert_eq!(secrets(&c), ["plain"]);
    }

    #[test]
    fn client_authentication_errors() {
        let cc = b"grant_type=client_credentials";
        let p = |h: &[(&str, &str)], body: &[u8]| described(parse(&headers(h), body, false));
        let auth = basic_of("svc", "s");
        assert_eq!(
            p(&[FORM, ("authorization", &auth)], b"grant_type=client_credentials&client_id=svc&client_secret=s"),
            "invalid_request Client credentials are given both in the Authorization header and in the body."
        );
        assert_eq!(
            p(
                &[FORM, ("authorization", &auth)],
                b"grant_type=client_credentials&client_id=svc"
            ),
            "ok"
        );
        assert_eq!(
            p(
                &[FORM, ("authorization", &auth)],
                b"grant_type=client_credentials&client_id=other"
            ),
            "invalid_request The client_id parameter differs from the Authorization header's."
        );
        assert_eq!(
            p(
                &[FORM, ("authorization", &auth), ("authorization", &auth)],
                cc
            ),
            "invalid_request The Authorization header is given more than once."
        );
        assert_eq!(
            p(&[FORM, ("authorization", "Bearer abc")], cc),
            "invalid_client Client authentication failed."
        );
        assert_eq!(
            p(&[FORM, ("authorization", "Basic !!!")], cc),
            "invalid_request The Authorization header is not valid Basic credentials."
        );
        assert_eq!(
            p(
                &[
                    FORM,
                    (
                        "authorization",
                        &format!("Basic {}", STANDARD.encode("nocolon"))
                    )
                ],
                cc
            ),
            "invalid_request The Authorization header is not valid Basic credentials."
        );
        assert_eq!(
            p(&[FORM, ("authorization", &basic_of("", "s"))], cc),
            "invalid_request The client_id in the Authorization header is empty."
        );
        // A public client (no secret) may use the password grant, not client credentials.
        assert_eq!(
            p(&[FORM, ("authorization", &basic_of("app", ""))], cc),
            "invalid_client Client authentication failed."
        );
        let r = parse(
            &headers(&[FORM, ("authorization", &basic_of("app", ""))]),
            b"grant_type=password&username=a&password=b",
            false,
        )
        .unwrap();
        assert!(r.client.is_none());
    }
}
