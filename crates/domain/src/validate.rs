//! Field rules shared by every entry point.

use crate::DomainError;

/// A DNS-1123 label of `min..=max` characters: lowercase letters, digits and '-', starting with a
/// letter and ending with a letter or digit.
pub fn dns_label(field: &str, s: &str, min: usize, max: usize) -> Result<(), DomainError> {
    let ok_chars = s
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let first_ok = s.bytes().next().is_some_and(|b| b.is_ascii_lowercase());
    let last_ok = s
        .bytes()
        .last()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if s.len() < min || s.len() > max || !ok_chars || !first_ok || !last_ok {
        return Err(DomainError::validation(
            field,
            format!("must be {min}-{max} lowercase letters, digits or '-', start with a letter and end with a letter or digit"),
        ));
    }
    Ok(())
}

/// A plausible e-mail address (one '@', non-empty local part, a dot in the domain, no spaces).
pub fn email(field: &str, s: &str) -> Result<(), DomainError> {
    let valid = s.chars().count() <= 254
        && !s.chars().any(char::is_whitespace)
        && s.split_once('@').is_some_and(|(local, dom)| {
            !local.is_empty()
                && !dom.contains('@')
                && dom.contains('.')
                && !dom.starts_with('.')
                && !dom.ends_with('.')
        });
    if valid {
        Ok(())
    } else {
        Err(DomainError::validation(
            field,
            "must be a valid e-mail address",
        ))
    }
}

pub fn password(field: &str, s: &str) -> Result<(), DomainError> {
    if s.chars().count() < 12 {
        return Err(DomainError::validation(
            field,
            "must be at least 12 characters",
        ));
    }
    if s.chars().count() > 256 {
        return Err(DomainError::validation(
            field,
            "must be at most 256 characters",
        ));
    }
    Ok(())
}

/// Length in characters within `min..=max`, after trimming.
pub fn text(field: &str, s: &str, min: usize, max: usize) -> Result<(), DomainError> {
    let n = s.trim().chars().count();
    if n < min || n > max {
        return Err(DomainError::validation(
            field,
            format!("must be {min}-{max} characters"),
        ));
    }
    Ok(())
}

/// The name part of a Kubernetes label key, or a label value: at most 63 characters of
/// `[A-Za-z0-9._-]`, beginning and ending with an alphanumeric (a value may also be empty).
fn label_token(s: &str, allow_empty: bool) -> bool {
    if s.is_empty() {
        return allow_empty;
    }
    let b = s.as_bytes();
    s.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

/// A DNS-1123 subdomain (a label key's prefix): at most 253 characters, dot-separated labels of
/// lowercase alphanumerics and '-', each starting and ending with an alphanumeric.
fn dns_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            let b = l.as_bytes();
            !b.is_empty()
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
        })
}

/// A Kubernetes label key (a qualified name): `[prefix/]name`, the prefix a DNS subdomain.
pub fn label_key(field: &str, key: &str) -> Result<(), DomainError> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if prefix.is_some_and(|p| !dns_subdomain(p)) || !label_token(name, false) {
        return Err(DomainError::validation(
            field,
            format!(
                "'{key}' is not a Kubernetes label key: an optional DNS subdomain prefix and '/', then \
                 at most 63 of A-Z a-z 0-9 . _ -, beginning and ending with a letter or digit"
            ),
        ));
    }
    Ok(())
}

/// A Kubernetes label value: empty, or at most 63 of `[A-Za-z0-9._-]` with alphanumeric ends.
pub fn label_value(field: &str, value: &str) -> Result<(), DomainError> {
    if !label_token(value, true) {
        return Err(DomainError::validation(
            field,
            "must be a Kubernetes label value: at most 63 of A-Z a-z 0-9 . _ -, beginning and \
             ending with a letter or digit",
        ));
    }
    Ok(())
}

/// Derives a domain slug from an organisation name or an e-mail address.
pub fn slugify(s: &str) -> String {
    let mut out = String::new();
    for c in s.to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let mut out: String = out.trim_matches('-').chars().take(40).collect();
    out = out.trim_end_matches('-').to_string();
    if !out.starts_with(|c: char| c.is_ascii_lowercase()) {
        out.insert_str(0, "t-");
    }
    while out.len() < 3 {
        out.push('0');
    }
    out
}

/// A free-form JSON object field (metadata): an object, at most 16 KiB encoded; absent = `{}`.
pub fn json_object(
    field: &str,
    v: Option<serde_json::Value>,
) -> Result<serde_json::Value, DomainError> {
    match v {
        None => Ok(serde_json::json!({})),
        Some(v @ serde_json::Value::Object(_)) if v.to_string().len() <= 16 * 1024 => Ok(v),
        Some(serde_json::Value::Object(_)) => {
            Err(DomainError::validation(field, "must be at most 16 KiB"))
        }
        Some(_) => Err(DomainError::validation(field, "must be a JSON object")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert!(dns_label("name", "acme-1", 3, 63).is_ok());
        for bad in ["ab", "Acme", "1abc", "abc-", "a_bc", &"a".repeat(64)] {
            assert!(dns_label("name", bad, 3, 63).is_err(), "{bad}");
        }
    }

    #[test]
    fn emails_and_passwords() {
        assert!(email("email", "a@b.io").is_ok());
        for bad in ["a", "a@b", "@b.io", "a b@c.io", "a@b@c.io", "a@.io"] {
            assert!(email("email", bad).is_err(), "{bad}");
        }
        assert!(password("password", "short").is_err());
        assert!(password("password", "long-enough-pw").is_ok());
    }

    #[test]
    fn kubernetes_labels() {
        for ok in ["app", "team.io/owner", "a", "x-y_z.1", "example.com/A_b"] {
            assert!(label_key("k", ok).is_ok(), "{ok}");
        }
        let long = "a".repeat(64);
        for bad in [
            "",
            "-app",
            "app-",
            "a b",
            "a/b/c",
            "/x",
            "Bad.Prefix/x",
            "x/",
            &long,
            "é",
        ] {
            assert!(label_key("k", bad).is_err(), "{bad}");
        }
        for ok in ["", "prod", "v1.2_3-x"] {
            assert!(label_value("v", ok).is_ok(), "{ok}");
        }
        for bad in ["-x", "x.", "a b", "x/y", &long] {
            assert!(label_value("v", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn slugs_are_labels() {
        for s in ["Acme Corp!", "alice@example.com", "42 Inc", "x"] {
            let slug = slugify(s);
            assert!(dns_label("s", &slug, 3, 63).is_ok(), "{s} -> {slug}");
        }
    }
}
