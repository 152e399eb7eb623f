//! Case-insensitive glob patterns with `*` as the only wildcard, the matching
//! language of mapping files (`Delete*`, `*AccessDenied*`, `system:serviceaccount:*`).
//!
//! Security engineers read and write these; regexes are kept for extraction.

/// A compiled pattern. Matching is ASCII case-insensitive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    /// The literal pieces between the stars, lower-cased.
    parts: Vec<String>,
    anchored_start: bool,
    anchored_end: bool,
}

impl Glob {
    pub fn new(pattern: &str) -> Self {
        let lower = pattern.to_ascii_lowercase();
        Glob {
            parts: lower.split('*').filter(|p| !p.is_empty()).map(str::to_owned).collect(),
            anchored_start: !lower.starts_with('*'),
            anchored_end: !lower.ends_with('*'),
        }
    }

    pub fn matches(&self, text: &str) -> bool {
        let text = text.as_bytes();
        if self.parts.is_empty() {
            // `*` matches anything; an empty pattern only the empty text.
            return !self.anchored_start || text.is_empty();
        }
        let mut at = 0;
        let last = self.parts.len() - 1;
        for (i, part) in self.parts.iter().enumerate() {
            let part = part.as_bytes();
            if i == 0 && self.anchored_start {
                if !starts_with_ignore_case(text, part) {
                    return false;
                }
                at = part.len();
                if i == last && self.anchored_end {
                    return at == text.len();
                }
                continue;
            }
            if i == last && self.anchored_end {
                return text.len() >= at + part.len() && ends_with_ignore_case(text, part);
            }
            match find_ignore_case(&text[at..], part) {
                Some(found) => at += found + part.len(),
                None => return false,
            }
        }
        true
    }
}

fn starts_with_ignore_case(text: &[u8], prefix: &[u8]) -> bool {
    text.len() >= prefix.len() && text[..prefix.len()].eq_ignore_ascii_case(prefix)
}

fn ends_with_ignore_case(text: &[u8], suffix: &[u8]) -> bool {
    text.len() >= suffix.len() && text[text.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
}

fn find_ignore_case(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.len() > haystack.len() {
        return None;
    }
    (0..=haystack.len() - needle.len()).find(|&i| haystack[i..i + needle.len()].eq_ignore_ascii_case(needle))
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
