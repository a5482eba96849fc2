//! A secret value that cannot be printed by accident.

use std::fmt;

use zeroize::Zeroizing;

/// What every secret prints as, in Debug and Display alike.
pub const MASK: &str = "**********";

/// A secret value (token, client secret) held from the moment it is read.
///
/// Debug and Display print [`MASK`]; the value is zeroed on drop; only [`SecretValue::expose`]
/// gives the plaintext, so every use of it is easy to find.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(Zeroizing<String>);

impl SecretValue {
    /// Wraps a plaintext value.
    pub fn new(value: impl Into<String>) -> Self {
        SecretValue(Zeroizing::new(value.into()))
    }

    /// The plaintext, for the few places that must send or store it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when the value is a run of asterisks: "keep the current value" on the credentials page.
    pub fn is_keep_current(&self) -> bool {
        !self.0.is_empty() && self.0.chars().all(|c| c == '*')
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl fmt::Display for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_mask_the_value() {
        let s = SecretValue::new("tok-abc123");
        assert_eq!(format!("{s}"), MASK);
        assert_eq!(format!("{s:?}"), MASK);
        assert_eq!(format!("{:?}", Some(&s)), format!("Some({MASK})"));
        assert_eq!(s.expose(), "tok-abc123");
    }

    #[test]
    fn asterisks_mean_keep_current() {
        assert!(SecretValue::new("**********").is_keep_current());
        assert!(SecretValue::new("***").is_keep_current());
        assert!(!SecretValue::new("").is_keep_current());
        assert!(!SecretValue::new("**x**").is_keep_current());
    }
}
