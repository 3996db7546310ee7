//! C2SP tlog-checkpoint: a signed note whose body states a log's origin, tree size and RFC 6962
//! root hash.
//!
//! ```text
//! <origin>\n
//! <tree size, decimal, no leading zeros>\n
//! <base64 (standard, padded) of the 32-byte root hash>\n
//! [<extension line>\n]...
//! ```
//!
//! followed by the signed-note blank line and signature lines (see [`crate::note`]).
//!
//! Architecture Invariant: a [`SignedCheckpoint`]'s checkpoint is always the parse of its note's
//! text, so what was verified is what is read.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::keys::{SigningKey, VerifierKey};
use crate::merkle::Hash;
use crate::note::{self, Note, NoteError, SignatureCheck};

/// Why a checkpoint could not be parsed, signed or verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// The signed note around the checkpoint is invalid, or its signatures do not verify.
    #[error(transparent)]
    Note(#[from] NoteError),
    /// The body does not end with a newline.
    #[error("checkpoint body does not end with a newline")]
    MissingFinalNewline,
    /// The body has fewer than three lines (origin, size, root).
    #[error("checkpoint body has fewer than three lines")]
    TooFewLines,
    /// The origin line is empty.
    #[error("checkpoint origin is empty")]
    EmptyOrigin,
    /// The body contains an ASCII control character other than the line-ending newlines.
    #[error("checkpoint body contains a control character")]
    ControlCharacter,
    /// The size line is not a decimal u64 without leading zeros.
    #[error("checkpoint tree size is not a canonical decimal number")]
    BadSize,
    /// The root line is not canonical standard base64.
    #[error("checkpoint root hash is not valid base64")]
    BadRootEncoding,
    /// The root decodes to something other than 32 bytes.
    #[error("checkpoint root hash is {0} bytes, expected 32")]
    BadRootLength(usize),
    /// An extension line is empty.
    #[error("checkpoint extension line {line} is empty")]
    EmptyExtensionLine { line: usize },
}

/// A log's tree head: origin, size and root hash, plus opaque extension lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's identity, e.g. `auditgate.example/ledger/prod`.
    pub origin: String,
    /// Number of leaves.
    pub size: u64,
    /// RFC 6962 root hash at `size`.
    pub root: Hash,
    /// Optional extension lines, each non-empty, without the newline.
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// The note body: `origin\nsize\nbase64(root)\n` then each extension line and '\n'.
    pub fn body(&self) -> String {
        let mut out = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            BASE64.encode(self.root)
        );
        for ext in &self.extensions {
            out.push_str(ext);
            out.push('\n');
        }
        out
    }

    /// Parses a checkpoint body, strictly: `parse_body(b)?.body() == b` for every accepted `b`.
    pub fn parse_body(body: &str) -> Result<Checkpoint, CheckpointError> {
        if body.bytes().any(|b| b < 0x20 && b != b'\n') {
            return Err(CheckpointError::ControlCharacter);
        }
        let body = body
            .strip_suffix('\n')
            .ok_or(CheckpointError::MissingFinalNewline)?;
        let mut lines = body.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next())
        else {
            return Err(CheckpointError::TooFewLines);
        };
        if origin.is_empty() {
            return Err(CheckpointError::EmptyOrigin);
        }
        let size = parse_size(size)?;
        let root = BASE64
            .decode(root)
            .map_err(|_| CheckpointError::BadRootEncoding)?;
        let root: Hash = root
            .as_slice()
            .try_into()
            .map_err(|_| CheckpointError::BadRootLength(root.len()))?;
        let extensions = lines
            .enumerate()
            .map(|(i, line)| {
                if line.is_empty() {
                    Err(CheckpointError::EmptyExtensionLine { line: i + 4 })
                } else {
                    Ok(line.to_owned())
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }
}

fn parse_size(s: &str) -> Result<u64, CheckpointError> {
    // u64::from_str would accept a leading '+'; leading zeros would make two encodings of one size.
    let canonical =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    if !canonical {
        return Err(CheckpointError::BadSize);
    }
    s.parse().map_err(|_| CheckpointError::BadSize)
}

/// A checkpoint with its signed note. The checkpoint is always the parse of the note's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    checkpoint: Checkpoint,
    note: Note,
}

impl SignedCheckpoint {
    /// Signs `checkpoint` with each signer. Fails if the checkpoint's body would not parse back
    /// (empty origin, an origin or extension with a newline or control character, ...).
    pub fn sign(
        checkpoint: Checkpoint,
        signers: &[&SigningKey],
    ) -> Result<SignedCheckpoint, CheckpointError> {
        let body = checkpoint.body();
        if Checkpoint::parse_body(&body)? != checkpoint {
            // An origin or extension containing '\n' shifts the lines of the body.
            return Err(CheckpointError::ControlCharacter);
        }
        let note = note::sign(&body, signers)?;
        Ok(SignedCheckpoint { checkpoint, note })
    }

    /// Parses a signed checkpoint (note syntax and body syntax). Does not verify signatures.
    pub fn parse(bytes: &[u8]) -> Result<SignedCheckpoint, CheckpointError> {
        let note = Note::parse(bytes)?;
        let checkpoint = Checkpoint::parse_body(&note.text)?;
        Ok(SignedCheckpoint { checkpoint, note })
    }

    /// The signed note's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.note.to_bytes()
    }

    /// The checkpoint. Only trust it after [`SignedCheckpoint::verify`] succeeded.
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// The signed note.
    pub fn note(&self) -> &Note {
        &self.note
    }

    /// Verifies the note's signatures; returns the indices into `known` of the keys that signed.
    /// Whether the log's key name matches the origin is the caller's policy, not checked here.
    pub fn verify(&self, known: &[VerifierKey]) -> Result<Vec<usize>, CheckpointError> {
        Ok(self.note.verify(known)?)
    }

    /// [`SignedCheckpoint::verify`] with the signature check given (see [`Note::verify_with`]).
    pub(crate) fn verify_with(
        &self,
        known: &[VerifierKey],
        valid: &SignatureCheck,
    ) -> Result<Vec<usize>, CheckpointError> {
        Ok(self.note.verify_with(known, valid)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle;
    use proptest::prelude::*;

    fn sample() -> Checkpoint {
        Checkpoint {
            origin: "auditgate.example/ledger".into(),
            size: 8,
            root: merkle::root(
                &(0u8..8)
                    .map(|i| merkle::leaf_hash(&[i]))
                    .collect::<Vec<_>>(),
            ),
            extensions: vec![],
        }
    }

    fn key(name: &str, seed: u8) -> SigningKey {
        SigningKey::from_seed(name, &[seed; 32]).unwrap()
    }

    /// The example in the C2SP tlog-checkpoint spec parses (its signature is by a key we do
    /// not know, so only the syntax is checked).
    #[test]
    fn parses_the_spec_example() {
        let text = "example.com/behind-the-sofa\n20852163\n\
                    CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n\
                    — example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n";
        let sc = SignedCheckpoint::parse(text.as_bytes()).unwrap();
        assert_eq!(sc.checkpoint().origin, "example.com/behind-the-sofa");
        assert_eq!(sc.checkpoint().size, 20852163);
        assert_eq!(
            BASE64.encode(sc.checkpoint().root),
            "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="
        );
        assert_eq!(sc.to_bytes(), text.as_bytes());
        assert_eq!(
            sc.verify(&[key("example.com/behind-the-sofa", 1).verifier_key()]),
            Err(CheckpointError::Note(NoteError::NoVerifiedSignature))
        );
    }

    /// The worked example of `docs/ledger-format.md`: the RFC 6962 reference tree of 8 leaves,
    /// signed with the published demo key. Frozen bytes: any change here is a format change.
    #[test]
    fn reproduces_the_format_doc_example() {
        // PRIVATE+KEY+auditgate.example/ledger/demo+c4d16add+AU1sQkgtNqakWJEKZen0bvgysZjKIjBhdqRRkbOp4C4W
        let data = BASE64
            .decode("AU1sQkgtNqakWJEKZen0bvgysZjKIjBhdqRRkbOp4C4W")
            .unwrap();
        let seed: [u8; 32] = data[1..].try_into().unwrap();
        let key = SigningKey::from_seed("auditgate.example/ledger/demo", &seed).unwrap();
        assert_eq!(
            key.verifier_key().to_string(),
            "auditgate.example/ledger/demo+c4d16add+ASpVQ0KxdttsNFkWrcMYjYGOab6Ng09QGjWn8A8CK0LN"
        );
        let leaves: Vec<Hash> = [
            "",
            "00",
            "10",
            "2021",
            "3031",
            "40414243",
            "5051525354555657",
            "606162636465666768696a6b6c6d6e6f",
        ]
        .iter()
        .map(|h| merkle::leaf_hash(&hex::decode(h).unwrap()))
        .collect();
        let cp = Checkpoint {
            origin: "auditgate.example/ledger/demo".into(),
            size: 8,
            root: merkle::root(&leaves),
            extensions: vec![],
        };
        let want = "auditgate.example/ledger/demo\n8\n\
                    XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n\n\
                    — auditgate.example/ledger/demo xNFq3crL2wsfTKqRLl8hUZnmV/3VXEXlln0umM1P3lWobttlUCTkxrmBQIqZmuBsQjy0onXHS0gZnYLi1Sqjy2n40wU=\n";
        let sc = SignedCheckpoint::sign(cp, &[&key]).unwrap();
        assert_eq!(String::from_utf8(sc.to_bytes()).unwrap(), want);
        let parsed = SignedCheckpoint::parse(want.as_bytes()).unwrap();
        let vk: VerifierKey =
            "auditgate.example/ledger/demo+c4d16add+ASpVQ0KxdttsNFkWrcMYjYGOab6Ng09QGjWn8A8CK0LN"
                .parse()
                .unwrap();
        assert_eq!(parsed.verify(&[vk]).unwrap(), vec![0]);
    }

    #[test]
    fn body_format_is_exact() {
        let mut cp = sample();
        cp.extensions = vec!["ext one".into(), "two".into()];
        let body = cp.body();
        assert_eq!(
            body,
            format!(
                "auditgate.example/ledger\n8\n{}\next one\ntwo\n",
                BASE64.encode(cp.root)
            )
        );
        assert_eq!(Checkpoint::parse_body(&body).unwrap(), cp);
        let empty = Checkpoint {
            origin: "o".into(),
            size: 0,
            root: merkle::empty_root(),
            extensions: vec![],
        };
        assert_eq!(
            empty.body(),
            "o\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"
        );
        assert_eq!(Checkpoint::parse_body(&empty.body()).unwrap(), empty);
        let max = Checkpoint {
            size: u64::MAX,
            ..empty
        };
        assert_eq!(Checkpoint::parse_body(&max.body()).unwrap(), max);
    }

    #[test]
    fn parse_body_rejections() {
        let root = BASE64.encode([0u8; 32]);
        let cases = [
            (
                format!("o\n1\n{root}"),
                CheckpointError::MissingFinalNewline,
            ),
            ("o\n1\n".to_string(), CheckpointError::TooFewLines),
            ("".to_string(), CheckpointError::MissingFinalNewline),
            (format!("\n1\n{root}\n"), CheckpointError::EmptyOrigin),
            (
                format!("o\t\n1\n{root}\n"),
                CheckpointError::ControlCharacter,
            ),
            (format!("o\n01\n{root}\n"), CheckpointError::BadSize),
            (format!("o\n00\n{root}\n"), CheckpointError::BadSize),
            (format!("o\n+1\n{root}\n"), CheckpointError::BadSize),
            (format!("o\n-1\n{root}\n"), CheckpointError::BadSize),
            (format!("o\n\n{root}\n"), CheckpointError::BadSize),
            (format!("o\n1 \n{root}\n"), CheckpointError::BadSize),
            (
                format!("o\n18446744073709551616\n{root}\n"),
                CheckpointError::BadSize,
            ),
            ("o\n1\n!!!!\n".to_string(), CheckpointError::BadRootEncoding),
            (
                format!("o\n1\n{}\n", root.trim_end_matches('=')),
                CheckpointError::BadRootEncoding,
            ),
            // Non-canonical: the last character carries non-zero padding bits.
            (
                format!("o\n1\n{}B=\n", &root[..42]),
                CheckpointError::BadRootEncoding,
            ),
            (
                format!("o\n1\n{}\n", BASE64.encode([0u8; 31])),
                CheckpointError::BadRootLength(31),
            ),
            (
                format!("o\n1\n{}\n", BASE64.encode([0u8; 33])),
                CheckpointError::BadRootLength(33),
            ),
            (
                format!("o\n1\n{root}\n\n"),
                CheckpointError::EmptyExtensionLine { line: 4 },
            ),
            (
                format!("o\n1\n{root}\next\n\n"),
                CheckpointError::EmptyExtensionLine { line: 5 },
            ),
        ];
        for (i, (body, want)) in cases.into_iter().enumerate() {
            assert_eq!(
                Checkpoint::parse_body(&body),
                Err(want),
                "case {i}: {body:?}"
            );
        }
    }

    #[test]
    fn sign_parse_verify_round_trip() {
        let log = key("auditgate.example/ledger", 1);
        let witness = key("witness.example/w1", 2);
        let sc = SignedCheckpoint::sign(sample(), &[&log, &witness]).unwrap();
        let bytes = sc.to_bytes();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.starts_with(&format!("{}\n", sample().body())));
        assert!(text.contains("\n— auditgate.example/ledger "));
        let parsed = SignedCheckpoint::parse(&bytes).unwrap();
        assert_eq!(parsed, sc);
        assert_eq!(parsed.checkpoint(), &sample());
        assert_eq!(
            parsed
                .verify(&[witness.verifier_key(), log.verifier_key()])
                .unwrap(),
            vec![0, 1]
        );
        assert_eq!(parsed.verify(&[log.verifier_key()]).unwrap(), vec![0]);
    }

    #[test]
    fn tampered_checkpoints_fail_verification() {
        let log = key("auditgate.example/ledger", 1);
        let sc = SignedCheckpoint::sign(sample(), &[&log]).unwrap();
        let text = String::from_utf8(sc.to_bytes()).unwrap();
        let tampered = text.replacen("\n8\n", "\n9\n", 1);
        let parsed = SignedCheckpoint::parse(tampered.as_bytes()).unwrap();
        assert_eq!(parsed.checkpoint().size, 9);
        assert_eq!(
            parsed.verify(&[log.verifier_key()]),
            Err(CheckpointError::Note(NoteError::BadSignature {
                name: "auditgate.example/ledger".into()
            }))
        );
        assert_eq!(
            sc.verify(&[key("auditgate.example/ledger", 2).verifier_key()]),
            Err(CheckpointError::Note(NoteError::NoVerifiedSignature))
        );
    }

    #[test]
    fn sign_rejects_checkpoints_that_would_not_parse_back() {
        let log = key("auditgate.example/ledger", 1);
        let bad = [
            Checkpoint {
                origin: String::new(),
                ..sample()
            },
            Checkpoint {
                origin: "a\nb".into(),
                ..sample()
            },
            Checkpoint {
                extensions: vec![String::new()],
                ..sample()
            },
            Checkpoint {
                extensions: vec!["x\ny".into()],
                ..sample()
            },
            Checkpoint {
                origin: "a\rb".into(),
                ..sample()
            },
        ];
        for cp in bad {
            assert!(
                SignedCheckpoint::sign(cp.clone(), &[&log]).is_err(),
                "{cp:?}"
            );
        }
        assert_eq!(
            SignedCheckpoint::sign(sample(), &[]),
            Err(CheckpointError::Note(NoteError::NoSigners))
        );
    }

    #[test]
    fn parse_reports_note_errors() {
        let body = sample().body();
        assert_eq!(
            SignedCheckpoint::parse(body.as_bytes()),
            Err(CheckpointError::Note(NoteError::MissingSeparator))
        );
    }

    proptest! {
        #[test]
        fn body_round_trips(
            origin in "[^\\x00-\\x1f]{1,30}",
            size in any::<u64>(),
            root in any::<[u8; 32]>(),
            extensions in proptest::collection::vec("[^\\x00-\\x1f]{1,20}", 0..4),
        ) {
            let cp = Checkpoint { origin, size, root, extensions };
            prop_assert_eq!(Checkpoint::parse_body(&cp.body()).unwrap(), cp);
        }

        #[test]
        fn parse_never_panics_and_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(sc) = SignedCheckpoint::parse(&bytes) {
                prop_assert_eq!(sc.to_bytes(), bytes);
            }
        }
    }
}
