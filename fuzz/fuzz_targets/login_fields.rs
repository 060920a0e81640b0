//! Arbitrary bytes as up to 3 values of the `Password` header → `read_field`, then NFC
//! normalisation of an accepted value. Must never panic; also checks `read_field`'s contract.
#![no_main]

use libfuzzer_sys::fuzz_target;
use watchword::http::login_request::read_field;
use watchword::login::password::MAX_PASSWORD_BYTES;

fuzz_target!(|data: &[u8]| {
    // First byte: how many values (0..=3); the rest is split on 0x00 (never valid in a real
    // header value, so the split loses nothing interesting) into that many values.
    let Some((&count, rest)) = data.split_first() else { return };
    let count = usize::from(count % 4);
    let values: Vec<&[u8]> = if count == 0 { Vec::new() } else { rest.splitn(count, |&b| b == 0).collect() };

    let result = read_field(values.iter().copied(), "Password", MAX_PASSWORD_BYTES);
    match result {
        Ok(s) => {
            assert_eq!(values.len(), 1, "accepted with {} values", values.len());
            assert!(!s.is_empty() && s.len() <= MAX_PASSWORD_BYTES);
            assert_eq!(s.as_bytes(), values[0]);
            let n = watchword::login::password::normalize(s);
            // NFC is idempotent: hashing time and login time must agree.
            assert_eq!(watchword::login::password::normalize(&n), n, "normalize is not idempotent");
        }
        Err(_) => assert!(
            values.len() != 1
                || values[0].is_empty()
                || values[0].len() > MAX_PASSWORD_BYTES
                || std::str::from_utf8(values[0]).is_err(),
            "a single valid value was refused"
        ),
    }
});
