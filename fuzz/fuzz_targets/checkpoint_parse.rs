//! Fuzzes the checkpoint and verifier-key parsers: arbitrary bytes must never panic, and anything
//! accepted must serialise back to the same bytes and reparse to an equal value.
#![no_main]

use auditgate_ledger::checkpoint::SignedCheckpoint;
use auditgate_ledger::keys::VerifierKey;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(signed) = SignedCheckpoint::parse(data) {
        let bytes = signed.to_bytes();
        assert_eq!(bytes, data, "accepted checkpoint does not serialise to its input");
        let again = SignedCheckpoint::parse(&bytes).expect("serialised checkpoint must reparse");
        assert_eq!(again, signed);
        assert_eq!(
            auditgate_ledger::checkpoint::Checkpoint::parse_body(&signed.checkpoint().body())
                .as_ref(),
            Ok(signed.checkpoint())
        );
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(key) = text.parse::<VerifierKey>() {
            let shown = key.to_string();
            let again: VerifierKey = shown.parse().expect("displayed verifier key must reparse");
            assert_eq!(again, key);
        }
    }
});
