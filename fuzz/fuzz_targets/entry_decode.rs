//! Fuzz target: arbitrary bytes into `canonical::check`, held to the reference round trip.
//!
//! `check` must accept exactly the bytes that `serde_json` parses as an object and the reference
//! encoder writes back unchanged; on acceptance its members must be the object's members.
//!
//! The reference parse is `json::parse_plain`, which reads serde_json's reserved keys
//! (`$serde_json::private::…`) as plain keys whatever features the build unifies (the fuzz crate
//! links the gateway, whose axum turns on `raw_value`). `check` must refuse any object holding
//! such a key (docs/reliability.md, finding 6).
#![no_main]

use auditgate_ledger::canonical::{self, CanonicalErrorKind};
use auditgate_ledger::json;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let checked = canonical::check(data);
    let reference = json::parse_plain(data).ok().filter(Value::is_object);
    if let Some(value) = &reference
        && json::find_reserved_key(value).is_some()
    {
        if canonical::encode(value) == data {
            let error = checked.expect_err("check accepted a reserved key");
            assert_eq!(error.reason, CanonicalErrorKind::ReservedKey);
        } else {
            assert!(checked.is_err(), "check accepted bytes that are not canonical");
        }
        return;
    }
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
