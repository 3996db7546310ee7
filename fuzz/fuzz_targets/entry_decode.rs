//! Fuzz target: arbitrary bytes into `canonical::check`, held to the reference round trip.
//!
//! `check` must accept exactly the bytes that `serde_json` parses as an object and the reference
//! encoder writes back unchanged; on acceptance its members must be the object's members.
//!
//! Inputs naming serde_json's private raw-value key are skipped: the fuzz crate links the gateway,
//! whose axum turns on serde_json's `raw_value` feature, and with it `serde_json` reads an object
//! holding `$serde_json::private::RawValue` as a raw value instead of an object, so the reference
//! is wrong there, not `check` (docs/reliability.md, finding 6). An accepted input is canonical,
//! so the key appears in it unescaped.
#![no_main]

use auditgate_ledger::canonical;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const RAW_VALUE_KEY: &[u8] = b"$serde_json::private::";

fuzz_target!(|data: &[u8]| {
    if data.windows(RAW_VALUE_KEY.len()).any(|w| w == RAW_VALUE_KEY) {
        return;
    }
    let checked = canonical::check(data);
    let reference = serde_json::from_slice::<Value>(data)
        .ok()
        .filter(Value::is_object);
    match (checked, reference) {
        (Ok(object), Some(value)) => {
            assert_eq!(
                canonical::encode(&value),
                data,
                "check accepted bytes that are not canonical"
            );
            let members = value.as_object().expect("filtered to objects");
            assert_eq!(object.len(), members.len());
            for (key, raw) in object.iter() {
                assert_eq!(canonical::encode(&members[key]), raw, "member {key:?}");
            }
        }
        (Ok(_), None) => panic!("check accepted bytes serde_json does not read as an object"),
        (Err(error), Some(value)) => {
            assert_ne!(
                canonical::encode(&value),
                data,
                "check rejected canonical bytes: {error}"
            );
            assert!(error.offset <= data.len());
        }
        (Err(error), None) => assert!(error.offset <= data.len()),
    }
});
