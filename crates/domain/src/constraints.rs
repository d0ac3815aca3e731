//! Masterminds-style version constraints, as KubeDB catalogs write them in
//! `spec.updateConstraints` (`">= 8.0.17, < 10.0.0"`, `"~1.2"`, `"^16 || 17.2"`).

use std::cmp::Ordering;

/// A version parsed leniently: up to three numeric parts (missing = 0), pre-release kept apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SemVer {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    pub pre: String,
}

impl SemVer {
    pub fn parse(s: &str) -> Option<SemVer> {
        let s = s.trim().trim_start_matches(['v', 'V']);
        let (core, pre) = match s.split_once('-') {
            Some((c, p)) => (c, p.to_string()),
            None => (s, String::new()),
        };
        let core = core.split('+').next().unwrap_or(core);
        let mut parts = core.split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = match parts.next() {
            Some(p) => p.parse().ok()?,
            None => 0,
        };
        let patch = match parts.next() {
            Some(p) => p.parse().ok()?,
            None => 0,
        };
        if parts.next().is_some() {
            return None;
        }
        Some(SemVer {
            major,
            minor,
            patch,
            pre,
        })
    }
}

impl PartialOrd for SemVer {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SemVer {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| {
                // A pre-release sorts before the release itself.
                match (self.pre.is_empty(), other.pre.is_empty()) {
                    (true, true) => Ordering::Equal,
                    (true, false) => Ordering::Greater,
                    (false, true) => Ordering::Less,
                    (false, false) => self.pre.cmp(&other.pre),
                }
            })
    }
}

/// Does `version` satisfy the Masterminds-style constraint string? `||` separates alternatives,
/// commas or spaces separate ANDed terms; operators `=`, `!=`, `>`, `<`, `>=`, `<=`, `~`, `^`
/// (none = exact). `None` when the constraint cannot be parsed.
pub fn constraint_matches(constraint: &str, version: &SemVer) -> Option<bool> {
    let mut any = false;
    for alt in constraint.split("||") {
        let terms = split_terms(alt)?;
        if terms.is_empty() {
            return None;
        }
        let mut all = true;
        for (op, v) in terms {
            if !term_matches(&op, &v, version) {
                all = false;
            }
        }
        any |= all;
    }
    Some(any)
}

fn split_terms(alt: &str) -> Option<Vec<(String, SemVer)>> {
    // Normalise "> = 1.2" style gaps: glue operators to the following token.
    let mut tokens: Vec<String> = Vec::new();
    let mut pending_op = String::new();
    for raw in alt.split([',', ' ']).filter(|t| !t.is_empty()) {
        if raw
            .chars()
            .all(|c| matches!(c, '<' | '>' | '=' | '!' | '~' | '^'))
        {
            pending_op.push_str(raw);
            continue;
        }
        tokens.push(format!("{pending_op}{raw}"));
        pending_op.clear();
    }
    if !pending_op.is_empty() {
        return None;
    }
    tokens
        .into_iter()
        .map(|t| {
            let split = t
                .find(|c: char| c.is_ascii_alphanumeric())
                .unwrap_or(t.len());
            let (op, v) = t.split_at(split);
            Some((op.to_string(), SemVer::parse(v)?))
        })
        .collect()
}

fn term_matches(op: &str, c: &SemVer, v: &SemVer) -> bool {
    match op {
        "" | "=" | "==" => v == c,
        "!=" => v != c,
        ">" => v > c,
        "<" => v < c,
        ">=" | "=>" => v >= c,
        "<=" | "=<" => v <= c,
        "~" | "~>" => {
            let upper = SemVer {
                major: c.major,
                minor: c.minor + 1,
                patch: 0,
                pre: String::new(),
            };
            v >= c && *v < upper
        }
        "^" => {
            let upper = if c.major > 0 {
                SemVer {
                    major: c.major + 1,
                    minor: 0,
                    patch: 0,
                    pre: String::new(),
                }
            } else {
                SemVer {
                    major: 0,
                    minor: c.minor + 1,
                    patch: 0,
                    pre: String::new(),
                }
            };
            v >= c && *v < upper
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> SemVer {
        SemVer::parse(s).expect("valid version")
    }

    #[test]
    fn constraints_follow_masterminds_forms() {
        assert_eq!(
            constraint_matches(">= 8.0.17, < 10.0.0", &v("9.1.0")),
            Some(true)
        );
        assert_eq!(
            constraint_matches(">= 8.0.17, < 10.0.0", &v("10.0.0")),
            Some(false)
        );
        assert_eq!(constraint_matches(">= 17.9", &v("18.3")), Some(true));
        assert_eq!(constraint_matches(">= 17.9", &v("17.6")), Some(false));
        assert_eq!(constraint_matches("8.2.2", &v("8.2.2")), Some(true));
        assert_eq!(constraint_matches("8.2.2", &v("8.2.3")), Some(false));
        assert_eq!(
            constraint_matches(">=1.0 <2.0 || 3.0", &v("3.0.0")),
            Some(true)
        );
        assert_eq!(constraint_matches("~1.2", &v("1.2.9")), Some(true));
        assert_eq!(constraint_matches("~1.2", &v("1.3.0")), Some(false));
        assert_eq!(constraint_matches("^1.2.3", &v("1.9.0")), Some(true));
        assert_eq!(constraint_matches("^1.2.3", &v("2.0.0")), Some(false));
        assert_eq!(constraint_matches(">= ", &v("1.0.0")), None);
        assert!(v("17.9") < v("18.3"));
        assert!(v("1.0.0-rc1") < v("1.0.0"));
    }
}
