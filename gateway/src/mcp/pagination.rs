//! Opaque `tools/list` cursors and paging.
//!
//! A cursor is unpadded base64url of `v1:<offset>:<listing hash>`. The hash is that of the exact
//! list being paged (the catalog hash, or a hash of one principal's view of it), so a cursor
//! handed out before the list changed is refused with -32602 instead of silently skipping or
//! repeating tools. Cursors are not secret and not signed: forging one only pages the same list.
use std::num::NonZeroUsize;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use super::jsonrpc::{ErrorObject, Params, code};

/// Tools per page unless configured otherwise.
pub const DEFAULT_PAGE_SIZE: NonZeroUsize = NonZeroUsize::new(100).expect("100 is not zero");

const PREFIX: &str = "v1";

/// Why a `cursor` is refused. Every variant is Invalid params (-32602).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CursorError {
    #[error("Invalid params: \"cursor\" must be a string")]
    NotAString,
    #[error("Invalid params: unknown cursor")]
    Undecodable,
    #[error("Invalid params: stale cursor (the tool list changed); list again from the start")]
    Stale,
    #[error("Invalid params: cursor is past the end of the list")]
    PastEnd,
}

impl CursorError {
    /// The one mapping of cursor failures to JSON-RPC errors.
    pub fn to_jsonrpc_error(&self) -> ErrorObject {
        ErrorObject::new(code::INVALID_PARAMS, self.to_string())
    }
}

/// Makes the cursor for the page starting at `offset`.
pub fn encode_cursor(offset: usize, listing_hash: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{PREFIX}:{offset}:{listing_hash}"))
}

/// Reads a cursor back to its offset, refusing one made for another list.
pub fn decode_cursor(cursor: &str, listing_hash: &str) -> Result<usize, CursorError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| CursorError::Undecodable)?;
    let text = String::from_utf8(bytes).map_err(|_| CursorError::Undecodable)?;
    let mut parts = text.splitn(3, ':');
    let (Some(PREFIX), Some(offset), Some(hash)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(CursorError::Undecodable);
    };
    // Only canonical decimal (what `encode_cursor` writes), so each offset has one cursor.
    if offset.is_empty() || (offset.len() > 1 && offset.starts_with('0')) {
        return Err(CursorError::Undecodable);
    }
    let offset: usize = offset.parse().map_err(|_| CursorError::Undecodable)?;
    if hash != listing_hash {
        return Err(CursorError::Stale);
    }
    Ok(offset)
}

/// The `cursor` member of `tools/list` params, if any.
pub fn cursor_param(params: Option<&Params>) -> Result<Option<&str>, CursorError> {
    match params
        .and_then(Params::as_object)
        .and_then(|p| p.get("cursor"))
    {
        None => Ok(None),
        Some(Value::String(cursor)) => Ok(Some(cursor)),
        Some(_) => Err(CursorError::NotAString),
    }
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<'a, T> {
    pub items: &'a [T],
    /// `nextCursor`, absent on the last page.
    pub next_cursor: Option<String>,
}

/// The page of `items` that `cursor` points at (the first page without one).
pub fn page<'a, T>(
    items: &'a [T],
    cursor: Option<&str>,
    page_size: NonZeroUsize,
    listing_hash: &str,
) -> Result<Page<'a, T>, CursorError> {
    let start = match cursor {
        None => 0,
        Some(cursor) => {
            let offset = decode_cursor(cursor, listing_hash)?;
            // `encode_cursor` is only called for a non-empty rest, so `offset == len` is forged.
            if offset >= items.len() {
                return Err(CursorError::PastEnd);
            }
            offset
        }
    };
    let end = start.saturating_add(page_size.get()).min(items.len());
    let next_cursor = (end < items.len()).then(|| encode_cursor(end, listing_hash));
    Ok(Page {
        items: &items[start..end],
        next_cursor,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use serde_json::json;

    use super::*;

    const HASH: &str = "sha256:abc";

    fn size(n: usize) -> NonZeroUsize {
        NonZeroUsize::new(n).unwrap()
    }

    #[test]
    fn pages_walk_the_whole_list() {
        // (list length, page size) -> page lengths
        let cases: &[(usize, usize, &[usize])] = &[
            (0, 3, &[0]),
            (1, 3, &[1]),
            (3, 3, &[3]),
            (7, 3, &[3, 3, 1]),
            (6, 2, &[2, 2, 2]),
            (5, 1, &[1, 1, 1, 1, 1]),
        ];
        for &(len, page_size, expected) in cases {
            let items: Vec<usize> = (0..len).collect();
            let mut cursor = None;
            let mut lengths = Vec::new();
            let mut seen = Vec::new();
            loop {
                let p = page(&items, cursor.as_deref(), size(page_size), HASH).unwrap();
                lengths.push(p.items.len());
                seen.extend_from_slice(p.items);
                match p.next_cursor {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            assert_eq!(lengths, expected, "len {len}, page {page_size}");
            assert_eq!(seen, items);
        }
    }

    #[test]
    fn bad_cursors_are_invalid_params() {
        let items: Vec<u8> = vec![0; 10];
        let cases: Vec<(String, &str)> = vec![
            ("not base64!".into(), "Invalid params: unknown cursor"),
            (
                URL_SAFE_NO_PAD.encode("v2:1:sha256:abc"),
                "Invalid params: unknown cursor",
            ),
            (
                URL_SAFE_NO_PAD.encode("v1:01:sha256:abc"),
                "Invalid params: unknown cursor",
            ),
            (
                URL_SAFE_NO_PAD.encode("v1:-1:sha256:abc"),
                "Invalid params: unknown cursor",
            ),
            (
                URL_SAFE_NO_PAD.encode("v1:3"),
                "Invalid params: unknown cursor",
            ),
            (
                URL_SAFE_NO_PAD.encode([0xff, 0xfe]),
                "Invalid params: unknown cursor",
            ),
            (
                encode_cursor(3, "sha256:old"),
                "Invalid params: stale cursor (the tool list changed); list again from the start",
            ),
            (
                encode_cursor(10, HASH),
                "Invalid params: cursor is past the end of the list",
            ),
            (
                encode_cursor(usize::MAX, HASH),
                "Invalid params: cursor is past the end of the list",
            ),
        ];
        for (cursor, message) in cases {
            let err = page(&items, Some(&cursor), size(4), HASH).unwrap_err();
            assert_eq!(
                err.to_jsonrpc_error(),
                ErrorObject::new(-32602, message),
                "{cursor}"
            );
        }
    }

    #[test]
    fn cursor_param_table() {
        // params -> the cursor read from them
        type Row = (Option<Value>, Result<Option<&'static str>, CursorError>);
        let cases: Vec<Row> = vec![
            (None, Ok(None)),
            (Some(json!({})), Ok(None)),
            (Some(json!({"cursor": "abc"})), Ok(Some("abc"))),
            (Some(json!({"cursor": 3})), Err(CursorError::NotAString)),
            (Some(json!({"cursor": null})), Err(CursorError::NotAString)),
            (Some(json!(["abc"])), Ok(None)),
        ];
        for (params, expected) in cases {
            let params = params.map(|v| match v {
                Value::Object(m) => Params::Object(m),
                Value::Array(a) => Params::Array(a),
                _ => unreachable!(),
            });
            assert_eq!(cursor_param(params.as_ref()), expected, "{params:?}");
        }
    }

    #[test]
    fn cursors_are_opaque_url_safe_ascii() {
        let cursor = encode_cursor(200, "sha256:0123456789abcdef");
        assert!(
            cursor
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(decode_cursor(&cursor, "sha256:0123456789abcdef"), Ok(200));
    }
}
