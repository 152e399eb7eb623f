//! Case-insensitive glob patterns with `*` as the only wildcard, the matching
//! language of mapping files (`Delete*`, `*AccessDenied*`, `system:serviceaccount:*`).
//!
//! Security engineers read and write these; regexes are kept for extraction.

/// A compiled pattern. Matching is ASCII case-insensitive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    /// The pattern as written, for messages.
    pattern: String,
    /// The literal pieces between the stars, lower-cased.
    parts: Vec<String>,
    anchored_start: bool,
    anchored_end: bool,
}

impl std::fmt::Display for Glob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.pattern)
    }
}

impl Glob {
    pub fn new(pattern: &str) -> Self {
        let lower = pattern.to_ascii_lowercase();
        Glob {
            pattern: pattern.to_owned(),
            parts: lower.split('*').filter(|p| !p.is_empty()).map(str::to_owned).collect(),
            anchored_start: !lower.starts_with('*'),
            anchored_end: !lower.ends_with('*'),
        }
    }

    pub fn matches(&self, text: &str) -> bool {
        self.matches_lowercase(&lowercase(text))
    }

    /// [`Glob::matches`] for text already ASCII-lower-cased, so a list of
    /// globs tested against one value folds its case once.
    pub fn matches_lowercase(&self, text: &str) -> bool {
        if self.parts.is_empty() {
            // `*` matches anything; an empty pattern only the empty text.
            return !self.anchored_start || text.is_empty();
        }
        let mut rest = text;
        let last = self.parts.len() - 1;
        for (i, part) in self.parts.iter().enumerate() {
            if i == 0 && self.anchored_start {
                let Some(after) = rest.strip_prefix(part.as_str()) else { return false };
                if i == last && self.anchored_end {
                    return after.is_empty();
                }
                rest = after;
                continue;
            }
            if i == last && self.anchored_end {
                return rest.ends_with(part.as_str());
            }
            match rest.find(part.as_str()) {
                Some(found) => rest = &rest[found + part.len()..],
                None => return false,
            }
        }
        true
    }
}

/// The text ASCII-lower-cased, copied only when it has upper-case letters.
pub fn lowercase(text: &str) -> std::borrow::Cow<'_, str> {
    if text.bytes().any(|b| b.is_ascii_uppercase()) {
        std::borrow::Cow::Owned(text.to_ascii_lowercase())
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_like_a_shell_glob_ignoring_case() {
        let cases = [
            ("Delete*", "DeleteBucket", true),
            ("Delete*", "deletebucket", true),
            ("Delete*", "UndeleteBucket", false),
            ("*AccessDenied*", "Client.AccessDeniedException", true),
            ("*.destroy", "repo.destroy", true),
            ("*.destroy", "repo.destroyed", false),
            ("true", "TRUE", true),
            ("true", "truex", false),
            ("*", "", true),
            ("*", "anything", true),
            ("", "", true),
            ("", "x", false),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "aXcYb", false),
            ("ab*ab", "ab", false),
            ("2*", "204", true),
            ("system:serviceaccount:agents:*", "system:serviceaccount:agents:deployer", true),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(Glob::new(pattern).matches(text), expected, "{pattern} ~ {text}");
        }
    }
}
