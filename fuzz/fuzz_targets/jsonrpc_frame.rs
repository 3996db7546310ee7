//! Fuzzes JSON-RPC framing: arbitrary bytes must never panic; anything accepted must serialize
//! to one line without a newline that reparses to the same message, and the raw bytes are kept
//! exactly. Anything refused must map to a Parse error or an Invalid Request.
#![no_main]

use auditgate::mcp::jsonrpc::{Frame, code};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match Frame::parse(data) {
        Ok(frame) => {
            assert_eq!(frame.raw(), data);
            let bytes = frame.message().to_bytes();
            assert!(!bytes.contains(&b'\n'), "serialized frame contains a newline");
            let again = Frame::parse(bytes.as_slice()).expect("a serialized message reparses");
            assert_eq!(again.message(), frame.message());
            assert_eq!(again.message().to_bytes(), bytes);
        }
        Err(err) => {
            let error = err.to_jsonrpc_error();
            assert!(error.code == code::PARSE_ERROR || error.code == code::INVALID_REQUEST);
            let response = err.to_response().to_bytes();
            let reparsed = Frame::parse(response.as_slice()).expect("an error response reparses");
            assert_eq!(reparsed.message(), &err.to_response());
        }
    }
});
