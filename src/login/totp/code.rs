//! RFC 6238 time-based one-time passwords as authenticator apps make them: HMAC-SHA-1, six
//! digits, 30-second steps from the Unix epoch, and one step of skew either way (a phone whose
//! clock is a little off, a code typed as it turns over). The RFC's Appendix B vectors are the
//! tests.
//!
//! SHA-1 is what every authenticator app computes; HMAC-SHA-1 as a PRF is not affected by
//! SHA-1's collision attacks, which is why aws-lc-rs keeps it under `FOR_LEGACY_USE_ONLY`.

use aws_lc_rs::hmac;
use secrecy::{ExposeSecret, SecretSlice};

/// Seconds per time step (RFC 6238 `X`).
pub const STEP_SECONDS: u64 = 30;
/// Digits of a code.
pub const DIGITS: u32 = 6;
/// Steps either side of now that a code may be from.
pub const SKEW: u64 = 1;
/// Bytes of a new secret (160 bits, RFC 4226 §4's recommendation and the HMAC-SHA-1 block).
pub const SECRET_BYTES: usize = 20;

/// The time step of Unix time `unix_seconds`.
pub fn step_at(unix_seconds: u64) -> u64 {
    unix_seconds / STEP_SECONDS
}

/// The time step now.
pub fn current_step() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    step_at(now)
}

/// HOTP (RFC 4226 §5.3) of `secret` at `counter`, `digits` long.
pub fn hotp(secret: &[u8], counter: u64, digits: u32) -> u32 {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let tag = hmac::sign(&key, &counter.to_be_bytes());
    let h = tag.as_ref();
    let offset = usize::from(h[h.len() - 1] & 0x0f);
    let binary = u32::from_be_bytes([
        h[offset] & 0x7f,
        h[offset + 1],
        h[offset + 2],
        h[offset + 3],
    ]);
    binary % 10u32.pow(digits)
}

/// The six-digit code of `secret` at `step`, zero-padded.
pub fn code_at(secret: &[u8], step: u64) -> String {
    format!("{:06}", hotp(secret, step, DIGITS))
}

/// True when `text` has the shape of a code (six ASCII digits): anything else a client sends
/// where a code goes is taken for a recovery code.
pub fn is_code_shaped(text: &str) -> bool {
    text.len() == DIGITS as usize && text.bytes().all(|b| b.is_ascii_digit())
}

/// Every step of the window around `now` whose code is `code`, lowest first. All three codes
/// are computed and compared in constant time whatever matches, so the answer time says
/// nothing about which step (if any) matched. More than one step can match (a one-in-a-million
/// collision); the caller takes the newest, so a code that matches an old, used step and a
/// newer one is not refused for the old one.
pub fn matching_steps(secret: &SecretSlice<u8>, code: &str, now: u64) -> Vec<u64> {
    let mut found = Vec::new();
    if !is_code_shaped(code) {
        return found;
    }
    for step in now.saturating_sub(SKEW)..=now + SKEW {
        let expected = code_at(secret.expose_secret(), step);
        #[allow(deprecated)]
        let equal =
            aws_lc_rs::constant_time::verify_slices_are_equal(expected.as_bytes(), code.as_bytes())
                .is_ok();
        if equal {
            found.push(step);
        }
    }
    found
}

/// RFC 4648 base32 without padding, upper case: how `otpauth://` URIs and people type secrets.
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, the SHA-1 rows: seed "12345678901234567890", eight digits.
    #[test]
    fn rfc_6238_appendix_b_vectors() {
        let seed = b"12345678901234567890";
        for (time, expected) in [
            (59u64, 94287082u32),
            (1111111109, 7081804),
            (1111111111, 14050471),
            (1234567890, 89005924),
            (2000000000, 69279037),
            (20000000000, 65353130),
        ] {
            assert_eq!(hotp(seed, step_at(time), 8), expected, "T = {time}");
        }
    }

    /// RFC 4226 Appendix D: HOTP of the same seed at counters 0..=9, six digits.
    #[test]
    fn rfc_4226_appendix_d_vectors() {
        let expected = [
            755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489,
        ];
        for (counter, want) in expected.iter().enumerate() {
            assert_eq!(hotp(b"12345678901234567890", counter as u64, 6), *want);
        }
    }

    #[test]
    fn the_window_is_one_step_either_way_and_every_match_is_reported() {
        let secret: SecretSlice<u8> = b"12345678901234567890".to_vec().into();
        let now = step_at(1111111111);
        for (step, found) in [
            (now - 2, false),
            (now - 1, true),
            (now, true),
            (now + 1, true),
            (now + 2, false),
        ] {
            let code = code_at(secret.expose_secret(), step);
            assert_eq!(
                matching_steps(&secret, &code, now).contains(&step),
                found,
                "step {step}"
            );
        }
        assert!(matching_steps(&secret, "12345", now).is_empty());
        assert!(matching_steps(&secret, "1234567", now).is_empty());
        assert!(matching_steps(&secret, "１２３４５６", now).is_empty());
    }

    #[test]
    fn base32_is_rfc_4648() {
        // RFC 4648 §10, without padding.
        for (input, output) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32(input.as_bytes()), output);
        }
    }
}
