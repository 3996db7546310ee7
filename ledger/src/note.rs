//! C2SP signed-note: a UTF-8 text body signed by one or more Ed25519 keys.
//!
//! ```text
//! <body: one or more lines, each ending in '\n'>
//! <blank line>
//! — <key name> <base64(4-byte key id || 64-byte signature)>\n     (one line per signature)
//! ```
//!
//! The signature covers exactly the body bytes (final newline included, blank line excluded).
//! The body ends at the *last* blank line of the note. Limits: no ASCII control characters other
//! than '\n' anywhere, at least one and at most [`MAX_SIGNATURES`] signature lines.
//!
//! Architecture Invariant: a note is accepted only if at least one signature by a trusted key
//! verifies, and it is rejected outright if any signature claiming to be by a trusted key (same
//! name and key id) fails to verify. Signatures by unknown keys are ignored.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::keys::{SigningKey, VerifierKey, is_valid_key_name};

/// Most signature lines a note may carry (as golang.org/x/mod/sumdb/note).
pub const MAX_SIGNATURES: usize = 100;

/// The signature line prefix: U+2014 EM DASH, then a space.
const SIG_PREFIX: &str = "\u{2014} ";

/// Why a note could not be parsed, signed or verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// The note is not valid UTF-8.
    #[error("note is not valid UTF-8")]
    NotUtf8,
    /// The note (or a body to sign) contains an ASCII control character other than '\n'.
    #[error("note contains a control character other than newline")]
    ControlCharacter,
    /// The note does not end with a newline.
    #[error("note does not end with a newline")]
    MissingFinalNewline,
    /// No blank line separates the body from the signatures.
    #[error("note has no blank line separating the text from the signatures")]
    MissingSeparator,
    /// The blank line is the last line: there are no signature lines.
    #[error("note has no signatures")]
    NoSignatures,
    /// More than [`MAX_SIGNATURES`] signature lines.
    #[error("note has more than {MAX_SIGNATURES} signatures")]
    TooManySignatures,
    /// A line after the blank line is not `— <name> <base64>`.
    #[error("signature line {line} is malformed")]
    MalformedSignatureLine { line: usize },
    /// A signature line's key name is empty or has spaces or '+'.
    #[error("signature line {line} has an invalid key name")]
    InvalidKeyName { line: usize },
    /// A signature line's base64 is invalid or shorter than a key id plus one byte.
    #[error("signature line {line} has an invalid base64 signature")]
    BadSignatureEncoding { line: usize },
    /// The body to sign is empty or does not end with a newline.
    #[error("note text must be non-empty and end with a newline")]
    TextMissingFinalNewline,
    /// `sign` was given no signers.
    #[error("no signing keys given")]
    NoSigners,
    /// A signature by a known key (same name and key id) does not verify.
    #[error("signature by known key {name} does not verify")]
    BadSignature { name: String },
    /// No signature by a known key is present.
    #[error("note has no signature by a trusted key")]
    NoVerifiedSignature,
}

/// Whether a signature by a key over a message is valid: [`VerifierKey::verify`], or an answer
/// from a batch check (`verify/signatures.rs`).
pub(crate) type SignatureCheck = dyn Fn(&VerifierKey, &[u8], &[u8]) -> bool;

/// One signature line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// The signer's key name.
    pub name: String,
    /// The signer's 4-byte key id.
    pub key_id: [u8; 4],
    /// The signature bytes (64 for Ed25519; other algorithms may differ).
    pub signature: Vec<u8>,
}

/// A signed note: body text plus its signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The signed text, ending with '\n'.
    pub text: String,
    /// The signature lines, in order.
    pub signatures: Vec<NoteSignature>,
}

fn check_control_chars(s: &str) -> Result<(), NoteError> {
    // The spec's "control characters" are exactly those below U+0020 (DEL is allowed, as in Go).
    if s.bytes().any(|b| b < 0x20 && b != b'\n') {
        return Err(NoteError::ControlCharacter);
    }
    Ok(())
}

fn check_text(text: &str) -> Result<(), NoteError> {
    if !text.ends_with('\n') {
        return Err(NoteError::TextMissingFinalNewline);
    }
    check_control_chars(text)
}

impl Note {
    /// Parses a signed note, strictly. Does not verify any signature: see [`Note::verify`].
    pub fn parse(bytes: &[u8]) -> Result<Note, NoteError> {
        let s = std::str::from_utf8(bytes).map_err(|_| NoteError::NotUtf8)?;
        check_control_chars(s)?;
        if !s.ends_with('\n') {
            return Err(NoteError::MissingFinalNewline);
        }
        let split = s.rfind("\n\n").ok_or(NoteError::MissingSeparator)?;
        let text = &s[..=split];
        let sig_block = &s[split + 2..];
        if sig_block.is_empty() {
            return Err(NoteError::NoSignatures);
        }
        // The block ends with '\n' (checked above), so the last split piece is empty.
        let lines: Vec<&str> = sig_block
            .strip_suffix('\n')
            .unwrap_or(sig_block)
            .split('\n')
            .collect();
        if lines.len() > MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures);
        }
        let first_sig_line = text.matches('\n').count() + 2;
        let signatures = lines
            .iter()
            .enumerate()
            .map(|(i, line)| parse_signature_line(line, first_sig_line + i))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Note {
            text: text.to_owned(),
            signatures,
        })
    }

    /// The note's bytes: text, blank line, one signature line per signature.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = String::with_capacity(self.text.len() + 1 + self.signatures.len() * 110);
        out.push_str(&self.text);
        out.push('\n');
        for sig in &self.signatures {
            let mut blob = Vec::with_capacity(4 + sig.signature.len());
            blob.extend_from_slice(&sig.key_id);
            blob.extend_from_slice(&sig.signature);
            out.push_str(SIG_PREFIX);
            out.push_str(&sig.name);
            out.push(' ');
            out.push_str(&BASE64.encode(&blob));
            out.push('\n');
        }
        out.into_bytes()
    }

    /// Verifies the note against trusted keys. Returns the indices into `known` of the keys whose
    /// signature verified (each at most once, in `known` order). Signatures by unknown keys are
    /// ignored; a signature by a known key that fails is `BadSignature`; none verified is
    /// `NoVerifiedSignature`.
    pub fn verify(&self, known: &[VerifierKey]) -> Result<Vec<usize>, NoteError> {
        self.verify_with(known, &|key, msg, sig| key.verify(msg, sig))
    }

    /// The signatures [`Note::verify`] checks: each line naming a known key (same name and key
    /// id), with that key's index in `known`, in line order.
    pub fn known_signatures<'a>(
        &'a self,
        known: &'a [VerifierKey],
    ) -> impl Iterator<Item = (usize, &'a NoteSignature)> + 'a {
        self.signatures.iter().filter_map(move |sig| {
            known
                .iter()
                .position(|k| k.name() == sig.name && k.key_id() == sig.key_id)
                .map(|index| (index, sig))
        })
    }

    /// [`Note::verify`] with the signature check given: the crate's batch path passes one that
    /// answers from a batch check covering exactly [`Note::known_signatures`].
    pub(crate) fn verify_with(
        &self,
        known: &[VerifierKey],
        valid: &SignatureCheck,
    ) -> Result<Vec<usize>, NoteError> {
        let mut verified = vec![false; known.len()];
        for (index, sig) in self.known_signatures(known) {
            if !valid(&known[index], self.text.as_bytes(), &sig.signature) {
                return Err(NoteError::BadSignature {
                    name: sig.name.clone(),
                });
            }
            verified[index] = true;
        }
        let indices: Vec<usize> = verified
            .iter()
            .enumerate()
            .filter_map(|(i, ok)| ok.then_some(i))
            .collect();
        if indices.is_empty() {
            return Err(NoteError::NoVerifiedSignature);
        }
        Ok(indices)
    }
}

fn parse_signature_line(line: &str, line_no: usize) -> Result<NoteSignature, NoteError> {
    let malformed = NoteError::MalformedSignatureLine { line: line_no };
    let rest = line.strip_prefix(SIG_PREFIX).ok_or(malformed.clone())?;
    let (name, b64) = rest.split_once(' ').ok_or(malformed)?;
    if !is_valid_key_name(name) {
        return Err(NoteError::InvalidKeyName { line: line_no });
    }
    let bad_encoding = NoteError::BadSignatureEncoding { line: line_no };
    let blob = BASE64.decode(b64).map_err(|_| bad_encoding.clone())?;
    if blob.len() < 5 {
        return Err(bad_encoding);
    }
    let (id, signature) = blob.split_at(4);
    let key_id: [u8; 4] = id.try_into().map_err(|_| bad_encoding)?;
    Ok(NoteSignature {
        name: name.to_owned(),
        key_id,
        signature: signature.to_vec(),
    })
}

/// Signs `body` with each signer, in order. The body must be non-empty, end with '\n' and
/// contain no control characters other than '\n'.
pub fn sign(body: &str, signers: &[&SigningKey]) -> Result<Note, NoteError> {
    check_text(body)?;
    if signers.is_empty() {
        return Err(NoteError::NoSigners);
    }
    if signers.len() > MAX_SIGNATURES {
        return Err(NoteError::TooManySignatures);
    }
    let signatures = signers
        .iter()
        .map(|key| NoteSignature {
            name: key.name().to_owned(),
            key_id: key.key_id(),
            signature: key.sign(body.as_bytes()).to_vec(),
        })
        .collect();
    Ok(Note {
        text: body.to_owned(),
        signatures,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const GO_TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                           then you don't know what your problem is.\n";
    const GO_SKEY: &str =
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const GO_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const GO_SIG_LINE: &str = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

    fn go_note() -> String {
        format!("{GO_TEXT}\n{GO_SIG_LINE}")
    }

    fn key(name: &str, seed: u8) -> SigningKey {
        SigningKey::from_seed(name, &[seed; 32]).unwrap()
    }

    /// Known answer from golang.org/x/mod/sumdb/note's documentation: Ed25519 is deterministic,
    /// so signing the same text with the same key must give the same bytes.
    #[test]
    fn signing_reproduces_the_go_example_note() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("peter.key");
        std::fs::write(&path, GO_SKEY).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let signer = SigningKey::load(&path).unwrap();
        let note = sign(GO_TEXT, &[&signer]).unwrap();
        assert_eq!(String::from_utf8(note.to_bytes()).unwrap(), go_note());
    }

    #[test]
    fn parses_and_verifies_the_go_example_note() {
        let note = Note::parse(go_note().as_bytes()).unwrap();
        assert_eq!(note.text, GO_TEXT);
        assert_eq!(note.signatures.len(), 1);
        assert_eq!(note.signatures[0].name, "PeterNeumann");
        assert_eq!(note.signatures[0].key_id, [0xc7, 0x4f, 0x20, 0xa3]);
        assert_eq!(note.signatures[0].signature.len(), 64);
        let peter: VerifierKey = GO_VKEY.parse().unwrap();
        let enoch: VerifierKey = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
            .parse()
            .unwrap();
        assert_eq!(note.verify(&[enoch.clone(), peter]).unwrap(), vec![1]);
        assert_eq!(note.verify(&[enoch]), Err(NoteError::NoVerifiedSignature));
        assert_eq!(note.to_bytes(), go_note().as_bytes());
    }

    #[test]
    fn multiple_signers_unknown_ignored_and_bad_rejected() {
        let (a, b, c) = (
            key("a.example", 1),
            key("b.example", 2),
            key("c.example", 3),
        );
        let body = "hello\n\nworld\n";
        let note = sign(body, &[&a, &b, &c]).unwrap();
        let reparsed = Note::parse(&note.to_bytes()).unwrap();
        assert_eq!(reparsed, note);
        assert_eq!(reparsed.text, body);

        let known = [c.verifier_key(), a.verifier_key()];
        assert_eq!(note.verify(&known).unwrap(), vec![0, 1]);
        assert_eq!(
            note.verify(&[key("d.example", 4).verifier_key()]),
            Err(NoteError::NoVerifiedSignature)
        );
        assert_eq!(note.verify(&[]), Err(NoteError::NoVerifiedSignature));

        // Same name, different key: ignored, as the spec demands.
        let impostor = key("a.example", 9).verifier_key();
        assert_eq!(note.verify(&[impostor, c.verifier_key()]).unwrap(), vec![1]);

        // A known key's signature that fails rejects the whole note.
        let mut tampered = note.clone();
        tampered.signatures[0].signature[0] ^= 1;
        assert_eq!(
            tampered.verify(&known),
            Err(NoteError::BadSignature {
                name: "a.example".into()
            })
        );
        // A failing signature by a key the verifier does not know is ignored.
        let mut tampered = note.clone();
        tampered.signatures[1].signature[0] ^= 1;
        assert_eq!(tampered.verify(&known).unwrap(), vec![0, 1]);
        assert_eq!(
            tampered.verify(&[b.verifier_key()]),
            Err(NoteError::BadSignature {
                name: "b.example".into()
            })
        );
        let mut text_changed = note.clone();
        text_changed.text = "hellO\n\nworld\n".into();
        assert!(matches!(
            text_changed.verify(&known),
            Err(NoteError::BadSignature { .. })
        ));
        let mut short = note;
        short.signatures[0].signature.truncate(10);
        assert!(matches!(
            short.verify(&known),
            Err(NoteError::BadSignature { .. })
        ));
    }

    #[test]
    fn duplicate_signatures_count_once() {
        let a = key("a.example", 1);
        let note = sign("x\n", &[&a, &a]).unwrap();
        assert_eq!(note.verify(&[a.verifier_key()]).unwrap(), vec![0]);
    }

    #[test]
    fn parse_rejections() {
        let good = go_note();
        let cases: Vec<(Vec<u8>, NoteError)> = vec![
            (vec![0xff, b'\n', b'\n'], NoteError::NotUtf8),
            (
                good.replacen("cryptography", "crypto\tgraphy", 1)
                    .into_bytes(),
                NoteError::ControlCharacter,
            ),
            (
                good.replacen("\n", "\r\n", 1).into_bytes(),
                NoteError::ControlCharacter,
            ),
            (
                good.trim_end_matches('\n').as_bytes().to_vec(),
                NoteError::MissingFinalNewline,
            ),
            (
                good.replacen("\n\n", "\n", 1).into_bytes(),
                NoteError::MissingSeparator,
            ),
            (format!("{GO_TEXT}\n").into_bytes(), NoteError::NoSignatures),
            (format!("{good}\n").into_bytes(), NoteError::NoSignatures),
            (
                good.replacen("— ", "- ", 1).into_bytes(),
                NoteError::MalformedSignatureLine { line: 4 },
            ),
            (
                good.replacen("— ", "—", 1).into_bytes(),
                NoteError::MalformedSignatureLine { line: 4 },
            ),
            (
                good.replacen("PeterNeumann ", "PeterNeumann", 1)
                    .into_bytes(),
                NoteError::MalformedSignatureLine { line: 4 },
            ),
            (
                good.replacen("PeterNeumann", "Peter+Neumann", 1)
                    .into_bytes(),
                NoteError::InvalidKeyName { line: 4 },
            ),
            (
                good.replacen("— PeterNeumann", "—  PeterNeumann", 1)
                    .into_bytes(),
                NoteError::InvalidKeyName { line: 4 },
            ),
            (
                good.replacen("Neumann x08", "Neumann\u{a0}x08", 1)
                    .into_bytes(),
                NoteError::MalformedSignatureLine { line: 4 },
            ),
            (
                good.replacen("x08go", "x08g!", 1).into_bytes(),
                NoteError::BadSignatureEncoding { line: 4 },
            ),
            (
                good.replacen("AM=\n", "AM= \n", 1).into_bytes(),
                NoteError::BadSignatureEncoding { line: 4 },
            ),
            (
                format!("{GO_TEXT}\n— PeterNeumann AAAAAA==\n").into_bytes(),
                NoteError::BadSignatureEncoding { line: 4 },
            ),
            (
                format!("{good}trailing\n").into_bytes(),
                NoteError::MalformedSignatureLine { line: 5 },
            ),
        ];
        for (i, (bytes, want)) in cases.into_iter().enumerate() {
            assert_eq!(Note::parse(&bytes), Err(want), "case {i}");
        }
    }

    #[test]
    fn signature_count_limit() {
        let a = key("a.example", 1);
        let signers: Vec<&SigningKey> = vec![&a; MAX_SIGNATURES];
        let note = sign("x\n", &signers).unwrap();
        assert_eq!(Note::parse(&note.to_bytes()).unwrap().signatures.len(), 100);
        let mut over = note.clone();
        over.signatures.push(note.signatures[0].clone());
        assert_eq!(
            Note::parse(&over.to_bytes()),
            Err(NoteError::TooManySignatures)
        );
        let too_many: Vec<&SigningKey> = vec![&a; MAX_SIGNATURES + 1];
        assert_eq!(sign("x\n", &too_many), Err(NoteError::TooManySignatures));
    }

    #[test]
    fn sign_rejections() {
        let a = key("a.example", 1);
        assert_eq!(sign("", &[&a]), Err(NoteError::TextMissingFinalNewline));
        assert_eq!(sign("x", &[&a]), Err(NoteError::TextMissingFinalNewline));
        assert_eq!(sign("a\tb\n", &[&a]), Err(NoteError::ControlCharacter));
        assert_eq!(sign("x\n", &[]), Err(NoteError::NoSigners));
        // A body of blank lines is allowed and round-trips (the last blank line separates).
        let n = sign("\n\n", &[&a]).unwrap();
        assert_eq!(Note::parse(&n.to_bytes()).unwrap(), n);
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(note) = Note::parse(&bytes) {
                prop_assert_eq!(note.to_bytes(), bytes);
            }
        }

        #[test]
        fn signed_bodies_round_trip_and_verify(
            lines in proptest::collection::vec("[^\\x00-\\x1f\\x7f]{0,20}", 1..6)
        ) {
            let body: String = lines.iter().map(|l| format!("{l}\n")).collect();
            let a = key("a.example", 1);
            let note = sign(&body, &[&a]).unwrap();
            let parsed = Note::parse(&note.to_bytes()).unwrap();
            prop_assert_eq!(&parsed.text, &body);
            prop_assert_eq!(parsed.verify(&[a.verifier_key()]).unwrap(), vec![0]);
        }
    }
}
