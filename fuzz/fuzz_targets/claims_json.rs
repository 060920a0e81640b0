//! Arbitrary bytes → `Claims`; anything accepted must survive serialize → parse unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use watchword_verify::Claims;

fuzz_target!(|data: &[u8]| {
    let Ok(claims) = serde_json::from_slice::<Claims>(data) else { return };
    let json = serde_json::to_vec(&claims).expect("Claims always serializes");
    let again: Claims = match serde_json::from_slice(&json) {
        Ok(c) => c,
        Err(e) => panic!("re-serialized claims do not parse ({e}): {}", String::from_utf8_lossy(&json)),
    };
    assert_eq!(again, claims, "round trip changed the claims: {}", String::from_utf8_lossy(&json));
    // And the serialized form is a fixed point.
    assert_eq!(serde_json::to_vec(&again).expect("serializes"), json);
});
