//! Arbitrary bytes as a segment file: the verifier (and the writer's recovery scan, which
//! tolerates a torn tail) must answer with a verdict, never panic. Bytes that start with a valid
//! header go further, so the fuzzer is given one: the input is the segment after its header.
#![no_main]

use auditgate_ledger::segment;
use auditgate_ledger::verify::{Verifier, VerifyOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut bytes = segment::encode_header(0).to_vec();
    bytes.extend_from_slice(data);
    for tolerate_tail in [false, true] {
        let opts = VerifyOptions {
            check_signatures: !tolerate_tail,
            ..VerifyOptions::default()
        };
        let mut v = Verifier::new(Vec::new(), None, opts);
        let fed = if tolerate_tail {
            v.feed_last_segment(0, &bytes, &mut |_| {}).map(|_| ())
        } else {
            v.feed_segment(0, &bytes, &mut |_| {}).map(|_| ())
        };
        if fed.is_ok() {
            let _ = v.finish();
        }
    }
    // And the raw frame decoder from every offset.
    let mut offset = segment::HEADER_LEN;
    while let Ok(r) = segment::decode_record(&bytes, offset) {
        offset = r.end();
    }
});
