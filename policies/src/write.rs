//! `defaults.write`: the ceilings on the tier of writes, one per write class.
//!
//! ```toml
//! [defaults]
//! write = "deny"                                  # one word: every write
//! write = { functions = "ask", data = "deny" }    # per class; an omitted class is "deny"
//! ```
//!
//! Classes: `functions` (Convex mutations and actions) and `data` (the data tools that write
//! tables). A process may lower the ceilings further (`auditgate serve --write`,
//! [`WriteCeilings::lowered_to`]), never raise them.
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::tier::{Tier, ToolKind, WriteMode};

/// Which ceiling caps a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteClass {
    /// Convex mutations and actions.
    Functions,
    /// Data tools that write tables.
    Data,
}

impl WriteClass {
    pub const ALL: [WriteClass; 2] = [WriteClass::Functions, WriteClass::Data];

    /// The class of a tool kind, `None` for reads.
    pub fn of(kind: ToolKind) -> Option<WriteClass> {
        match kind {
            ToolKind::Mutation | ToolKind::Action => Some(WriteClass::Functions),
            ToolKind::DataWrite => Some(WriteClass::Data),
            ToolKind::Query | ToolKind::DataRead => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            WriteClass::Functions => "functions",
            WriteClass::Data => "data",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// Where a ceiling comes from, for the sentence a capped decision carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// `defaults.write = "<mode>"`.
    OneWord,
    /// `defaults.write = { <class> = "<mode>" }` (or the class omitted: `deny`).
    PerClass,
    /// `auditgate serve --write=<mode>`, lower than the file's.
    Process,
}

/// The write ceilings in force: the policy file's, possibly lowered by the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteCeilings {
    modes: [WriteMode; 2],
    sources: [Source; 2],
}

impl WriteCeilings {
    /// `write = "<mode>"`.
    pub fn one(mode: WriteMode) -> Self {
        Self {
            modes: [mode; 2],
            sources: [Source::OneWord; 2],
        }
    }

    /// `write = { functions = …, data = … }`.
    pub fn per_class(functions: WriteMode, data: WriteMode) -> Self {
        Self {
            modes: [functions, data],
            sources: [Source::PerClass; 2],
        }
    }

    pub fn mode(&self, class: WriteClass) -> WriteMode {
        self.modes[class.index()]
    }

    /// The tier a request of this kind is capped at (`allow` for reads).
    pub fn ceiling(&self, kind: ToolKind) -> Tier {
        WriteClass::of(kind).map_or(Tier::Allow, |c| self.mode(c).ceiling())
    }

    /// These ceilings, each lowered to at most `limit` (a process's `--write`); never raised.
    pub fn lowered_to(mut self, limit: WriteMode) -> Self {
        for i in 0..2 {
            if limit.ceiling() < self.modes[i].ceiling() {
                self.modes[i] = limit;
                self.sources[i] = Source::Process;
            }
        }
        self
    }

    /// What a capped decision's reason ends with, for a write of this class.
    pub fn cap_note(&self, class: WriteClass) -> String {
        let mode = self.mode(class).as_str();
        match self.sources[class.index()] {
            Source::OneWord => format!("; capped by defaults.write = \"{mode}\""),
            Source::PerClass => {
                format!("; capped by defaults.write.{} = \"{mode}\"", class.as_str())
            }
            Source::Process => format!("; capped by serve --write={mode}"),
        }
    }
}

/// The file's `defaults.write`, as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawWrite(pub WriteCeilings);

impl<'de> Deserialize<'de> for RawWrite {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RawWriteVisitor)
    }
}

struct RawWriteVisitor;

const MODES: &[&str] = &["deny", "ask", "allow"];
const CLASSES: &[&str] = &["functions", "data"];

fn mode<E: de::Error>(s: &str) -> Result<WriteMode, E> {
    match s {
        "deny" => Ok(WriteMode::Deny),
        "ask" => Ok(WriteMode::Ask),
        "allow" => Ok(WriteMode::Allow),
        other => Err(E::unknown_variant(other, MODES)),
    }
}

impl<'de> Visitor<'de> for RawWriteVisitor {
    type Value = RawWrite;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(r#""deny", "ask", "allow", or a table { functions = …, data = … }"#)
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<RawWrite, E> {
        Ok(RawWrite(WriteCeilings::one(mode(s)?)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawWrite, A::Error> {
        let mut modes: [Option<WriteMode>; 2] = [None, None];
        while let Some(key) = map.next_key::<String>()? {
            let class = match key.as_str() {
                "functions" => WriteClass::Functions,
                "data" => WriteClass::Data,
                other => return Err(de::Error::unknown_field(other, CLASSES)),
            };
            if modes[class.index()].is_some() {
                return Err(de::Error::duplicate_field(class.as_str()));
            }
            let value: String = map.next_value()?;
            modes[class.index()] = Some(mode(&value)?);
        }
        let [functions, data] = modes.map(|m| m.unwrap_or(WriteMode::Deny));
        Ok(RawWrite(WriteCeilings::per_class(functions, data)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_limit_lowers_and_never_raises() {
        let file = WriteCeilings::per_class(WriteMode::Ask, WriteMode::Deny);
        let lowered = file.lowered_to(WriteMode::Allow);
        assert_eq!(lowered, file);
        let lowered = file.lowered_to(WriteMode::Deny);
        assert_eq!(lowered.mode(WriteClass::Functions), WriteMode::Deny);
        assert_eq!(
            lowered.cap_note(WriteClass::Functions),
            "; capped by serve --write=deny"
        );
        assert_eq!(
            lowered.cap_note(WriteClass::Data),
            "; capped by defaults.write.data = \"deny\""
        );
        assert_eq!(lowered.ceiling(ToolKind::Query), Tier::Allow);
    }
}
