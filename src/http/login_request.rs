//! Reading a `/login` request into [`Credentials`], from whichever of the seeds' styles the
//! client used: `User-Name` and `Password` headers (seed 002, the primary way), HTTP Basic
//! (`curl -u`), a JSON body (seeds 000, 001, 003), a service account's `Identifier` and
//! `Pass-Code`, or its `Authentication-Code` alone (seed 003).
//!
//! Every style goes through the same checks, in the same order, before any hashing: one
//! source of credentials, each field present, non-empty, within its limit and UTF-8.

use actix_web::http::header::{self, HeaderMap};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Deserialize;

use secrecy::zeroize::Zeroizing;

use super::api_error::ApiError;
use crate::login::credentials::{Credentials, Secret};
use crate::login::password::MAX_PASSWORD_BYTES;
use crate::login::totp::MAX_OTP_BYTES;
use crate::login::users::{canonical_name, holds_control_character, MAX_NAME_BYTES};

/// Header names of the seed's login API.
pub const USER_NAME: &str = "User-Name";
/// See [`USER_NAME`].
pub const PASSWORD: &str = "Password";
/// The header of the second factor: a TOTP code or a recovery code.
pub const ONE_TIME_PASSWORD: &str = "One-Time-Password";

/// The checks of one credential field over all the values a request carried for it: exactly
/// one, non-empty, at most `max` bytes, UTF-8. Separate from actix types so it can be fuzzed.
pub fn read_field<'a>(
    mut values: impl Iterator<Item = &'a [u8]>,
    name: &'static str,
    max: usize,
) -> Result<&'a str, ApiError> {
    let bytes = values.next().ok_or(ApiError::MissingField(name))?;
    if values.next().is_some() {
        return Err(ApiError::RepeatedField(name));
    }
    if bytes.is_empty() {
        return Err(ApiError::EmptyField(name));
    }
    if bytes.len() > max {
        return Err(ApiError::FieldTooLong(name, max));
    }
    std::str::from_utf8(bytes).map_err(|_| ApiError::FieldNotUtf8(name))
}

/// A name field (user, identifier, organisation, unit) as checked text: no control character,
/// so it can be counted by the throttle and looked up in a database, and in NFC, the form
/// accounts are stored in. Passwords and codes are bytes for argon2 and are not checked here.
fn name(value: String, field: &'static str) -> Result<String, ApiError> {
    if holds_control_character(&value) {
        return Err(ApiError::ControlCharacter(field));
    }
    Ok(canonical_name(&value))
}

/// The JSON body's fields (the seeds' names); unknown fields are ignored so that clients of
/// the seeds' APIs can send what they always sent, but a field given twice is refused.
#[derive(Deserialize, Default)]
struct Body {
    username: Option<String>,
    password: Option<String>,
    organisation: Option<String>,
    unit: Option<String>,
    identifier: Option<String>,
    pass_code: Option<String>,
    authentication_code: Option<String>,
    otp: Option<String>,
}

fn present(headers: &HeaderMap, names: &[&str]) -> bool {
    names.iter().any(|n| headers.contains_key(*n))
}

/// Check one optional header: absent is fine, otherwise the usual field rules.
fn optional_header(
    headers: &HeaderMap,
    name: &'static str,
    max: usize,
) -> Result<Option<String>, ApiError> {
    if !headers.contains_key(name) {
        return Ok(None);
    }
    let value = read_field(headers.get_all(name).map(|v| v.as_bytes()), name, max)?;
    self::name(value.to_owned(), name).map(Some)
}

/// Required body field.
fn body_field(value: Option<&String>, name: &'static str, max: usize) -> Result<String, ApiError> {
    let v = value.ok_or(ApiError::MissingField(name))?;
    if v.is_empty() {
        return Err(ApiError::EmptyField(name));
    }
    if v.len() > max {
        return Err(ApiError::FieldTooLong(name, max));
    }
    Ok(v.clone())
}

/// Optional body field (organisation, unit): a name.
fn optional_body(value: Option<&String>, field: &'static str) -> Result<Option<String>, ApiError> {
    value
        .map(|_| body_field(value, field, MAX_NAME_BYTES).and_then(|v| name(v, field)))
        .transpose()
}

fn is_json(headers: &HeaderMap) -> Result<bool, ApiError> {
    let Some(ct) = headers.get(header::CONTENT_TYPE) else {
        return Ok(false);
    };
    let essence = ct
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    Ok(essence == "application/json")
}

/// Read the credentials of a `/login` request whose body is `body`.
pub fn extract(
    headers: &HeaderMap,
    body: &[u8],
    require_organisation: bool,
) -> Result<Credentials, ApiError> {
    let body: Option<Body> = if body.is_empty() && !is_json(headers)? {
        None
    } else if !is_json(headers)? {
        return Err(ApiError::UnsupportedContentType);
    } else {
        Some(serde_json::from_slice(body).map_err(|_| ApiError::BadBody)?)
    };
    // One Authorization header at most: with two, which credentials count would be a guess.
    if headers.get_all(header::AUTHORIZATION).nth(1).is_some() {
        return Err(ApiError::RepeatedField("Authorization"));
    }
    let basic = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes())
        .filter(|v| v.len() >= 6 && v[..6].eq_ignore_ascii_case(b"basic "));
    let header_user = present(headers, &["User-Name", "Password"]);
    let header_service = present(headers, &["Identifier", "Pass-Code"]);
    let header_code = present(headers, &["Authentication-Code"]);
    let (body_user, body_service, body_code) = body.as_ref().map_or((false, false, false), |b| {
        (
            b.username.is_some() || b.password.is_some(),
            b.identifier.is_some() || b.pass_code.is_some(),
            b.authentication_code.is_some(),
        )
    });
    let sources = [
        header_user,
        header_service,
        header_code,
        basic.is_some(),
        body_user,
        body_service,
        body_code,
    ];
    if sources.iter().filter(|s| **s).count() > 1 {
        return Err(ApiError::CredentialsTwice);
    }

    if let Some(b) = body.filter(|_| body_user || body_service || body_code) {
        let secret = if body_code {
            Secret::Code {
                code: body_field(
                    b.authentication_code.as_ref(),
                    "authentication_code",
                    MAX_PASSWORD_BYTES,
                )?
                .into(),
            }
        } else if body_service {
            Secret::Service {
                identifier: name(
                    body_field(b.identifier.as_ref(), "identifier", MAX_NAME_BYTES)?,
                    "identifier",
                )?,
                pass_code: body_field(b.pass_code.as_ref(), "pass_code", MAX_PASSWORD_BYTES)?
                    .into(),
            }
        } else {
            Secret::User {
                name: name(
                    body_field(b.username.as_ref(), "username", MAX_NAME_BYTES)?,
                    "username",
                )?,
                password: body_field(b.password.as_ref(), "password", MAX_PASSWORD_BYTES)?.into(),
            }
        };
        let organisation = optional_body(b.organisation.as_ref(), "organisation")?;
        if require_organisation && organisation.is_none() {
            return Err(ApiError::MissingField("organisation"));
        }
        let otp = b
            .otp
            .as_ref()
            .map(|_| body_field(b.otp.as_ref(), "otp", MAX_OTP_BYTES))
            .transpose()?;
        return Ok(Credentials {
            secret,
            organisation,
            unit: optional_body(b.unit.as_ref(), "unit")?,
            otp: otp.map(Into::into),
        });
    }

    let field = |name: &'static str, max: usize| -> Result<String, ApiError> {
        read_field(headers.get_all(name).map(|v| v.as_bytes()), name, max).map(str::to_owned)
    };
    let secret = if let Some(value) = basic {
        basic_credentials(&value[6..])?
    } else if header_code {
        Secret::Code {
            code: field("Authentication-Code", MAX_PASSWORD_BYTES)?.into(),
        }
    } else if header_service {
        Secret::Service {
            identifier: name(field("Identifier", MAX_NAME_BYTES)?, "Identifier")?,
            pass_code: field("Pass-Code", MAX_PASSWORD_BYTES)?.into(),
        }
    } else {
        Secret::User {
            name: name(field("User-Name", MAX_NAME_BYTES)?, "User-Name")?,
            password: field("Password", MAX_PASSWORD_BYTES)?.into(),
        }
    };
    let organisation = optional_header(headers, "Organisation", MAX_NAME_BYTES)?;
    if require_organisation && organisation.is_none() {
        return Err(ApiError::MissingField("Organisation"));
    }
    // Not a name: the code is a secret, only checked for its length and UTF-8.
    let otp = if headers.contains_key(ONE_TIME_PASSWORD) {
        Some(field(ONE_TIME_PASSWORD, MAX_OTP_BYTES)?.into())
    } else {
        None
    };
    Ok(Credentials {
        secret,
        organisation,
        unit: optional_header(headers, "Unit", MAX_NAME_BYTES)?,
        otp,
    })
}

/// `Basic base64(user ":" password)` (RFC 7617), UTF-8.
fn basic_credentials(encoded: &[u8]) -> Result<Secret, ApiError> {
    let encoded = encoded.trim_ascii();
    // base64 of 256 + 1 + 1024 bytes, rounded up: longer cannot be within the field limits.
    if encoded.len() > 4 * (MAX_NAME_BYTES + MAX_PASSWORD_BYTES + 1).div_ceil(3) {
        return Err(ApiError::FieldTooLong(
            "Authorization",
            4 * (MAX_NAME_BYTES + MAX_PASSWORD_BYTES + 1).div_ceil(3),
        ));
    }
    let decoded = STANDARD.decode(encoded).map_err(|_| ApiError::BadBasic)?;
    // The decoded text holds the password: wiped when this function returns.
    let text = Zeroizing::new(
        String::from_utf8(decoded).map_err(|_| ApiError::FieldNotUtf8("Authorization"))?,
    );
    let (name, password) = text.split_once(':').ok_or(ApiError::BadBasic)?;
    let check = |v: &str, name: &'static str, max: usize| -> Result<String, ApiError> {
        if v.is_empty() {
            return Err(ApiError::EmptyField(name));
        }
        if v.len() > max {
            return Err(ApiError::FieldTooLong(name, max));
        }
        Ok(v.to_owned())
    };
    Ok(Secret::User {
        name: self::name(check(name, "User-Name", MAX_NAME_BYTES)?, "User-Name")?,
        password: check(password, "Password", MAX_PASSWORD_BYTES)?.into(),
    })
}
