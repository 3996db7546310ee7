//! Name globs for tool names and Convex function paths.
//!
//! Compiled by globset with `literal_separator(true)` (`*` and `?` do not cross `/`, `**` does)
//! and backslash escapes. The common shapes (`exact`, `prefix*`, `**`) are matched without the
//! regex engine so a 100-rule policy decides in well under a microsecond; a property test
//! checks the fast paths agree with globset.

use globset::{GlobBuilder, GlobMatcher};

#[derive(Debug, Clone)]
pub(crate) struct NameGlob {
    pub text: String,
    matcher: Matcher,
}

#[derive(Debug, Clone)]
enum Matcher {
    Exact(String),
    /// `prefix*`: starts with the prefix and the rest has no `/`.
    Prefix(String),
    Everything,
    General(GlobMatcher),
}

const META: &[char] = &['*', '?', '[', ']', '{', '}', '\\', '!'];

impl NameGlob {
    pub(crate) fn new(text: &str) -> Result<NameGlob, globset::Error> {
        let glob = GlobBuilder::new(text)
            .literal_separator(true)
            .backslash_escape(true)
            .build()?;
        let matcher = if text == "**" {
            Matcher::Everything
        } else if !text.contains(META) {
            Matcher::Exact(text.to_owned())
        } else if let Some(prefix) = text.strip_suffix('*').filter(|p| !p.contains(META)) {
            Matcher::Prefix(prefix.to_owned())
        } else {
            Matcher::General(glob.compile_matcher())
        };
        Ok(NameGlob {
            text: text.to_owned(),
            matcher,
        })
    }

    pub(crate) fn is_match(&self, name: &str) -> bool {
        match &self.matcher {
            Matcher::Exact(s) => s == name,
            Matcher::Prefix(p) => name
                .strip_prefix(p.as_str())
                .is_some_and(|rest| !rest.contains('/')),
            Matcher::Everything => true,
            Matcher::General(m) => m.is_match(name),
        }
    }

    /// Whether this glob matches every name `other` matches (conservative: `false` when unsure).
    pub(crate) fn covers(&self, other: &NameGlob) -> bool {
        match &self.matcher {
            Matcher::Everything => true,
            _ if self.text == other.text => true,
            Matcher::Prefix(p) => match &other.matcher {
                Matcher::Exact(s) => self.is_match(s),
                Matcher::Prefix(q) => q.starts_with(p.as_str()) && !q[p.len()..].contains('/'),
                _ => false,
            },
            Matcher::Exact(_) | Matcher::General(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn separators_are_literal() {
        let g = NameGlob::new("orders:*").unwrap();
        assert!(g.is_match("orders:list"));
        assert!(g.is_match("orders:"));
        assert!(!g.is_match("orders:a/b"));
        assert!(NameGlob::new("admin/**").unwrap().is_match("admin/x/y:z"));
        assert!(NameGlob::new("**").unwrap().is_match("a/b"));
        assert!(
            NameGlob::new("*")
                .unwrap()
                .covers(&NameGlob::new("a*").unwrap())
        );
        assert!(
            !NameGlob::new("*")
                .unwrap()
                .covers(&NameGlob::new("a/*").unwrap())
        );
        assert!(NameGlob::new("[").is_err());
    }

    proptest! {
        #[test]
        fn fast_paths_agree_with_globset(
            pattern in "[ab/:*]{0,5}",
            name in "[ab/:]{0,6}",
        ) {
            if let Ok(fast) = NameGlob::new(&pattern) {
                let slow = GlobBuilder::new(&pattern)
                    .literal_separator(true)
                    .backslash_escape(true)
                    .build()
                    .unwrap()
                    .compile_matcher();
                prop_assert_eq!(fast.is_match(&name), slow.is_match(&name));
            }
        }
    }
}
