//! A secret value that cannot be printed by accident.

use std::fmt;
use std::sync::atomic::{AtomicIsize, Ordering};

use zeroize::Zeroizing;

/// What every secret prints as, in Debug and Display alike.
pub const MASK: &str = "**********";

/// Secrets created or cloned and not yet dropped (zeroed), in this process.
static LIVE: AtomicIsize = AtomicIsize::new(0);

/// How many secrets exist now ([`SecretValue`]s, APP_KEYs and the keys derived from them):
/// created and cloned, minus dropped. A command that zeroizes everything it read ends with the
/// count it started with.
pub fn live_secrets() -> isize {
    LIVE.load(Ordering::SeqCst)
}

/// One count in [`live_secrets`] for as long as the secret holding it lives: every type that
/// holds secret material has one beside its zeroized buffer, so a copy counts too.
pub(crate) struct Tally(());

impl Tally {
    /// One more live secret.
    pub(crate) fn new() -> Tally {
        LIVE.fetch_add(1, Ordering::Relaxed);
        Tally(())
    }
}

impl Clone for Tally {
    fn clone(&self) -> Tally {
        Tally::new()
    }
}

impl Drop for Tally {
    fn drop(&mut self) {
        LIVE.fetch_sub(1, Ordering::Relaxed);
    }
}

// The tally takes no part in what a secret is equal to.
impl PartialEq for Tally {
    fn eq(&self, _: &Tally) -> bool {
        true
    }
}

impl Eq for Tally {}

/// A secret value (token, client secret) held from the moment it is read.
///
/// Debug and Display print [`MASK`]; the value is zeroed on drop; only [`SecretValue::expose`]
/// gives the plaintext, so every use of it is easy to find.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(Zeroizing<String>, Tally);

impl SecretValue {
    /// Wraps a plaintext value.
    pub fn new(value: impl Into<String>) -> Self {
        SecretValue(Zeroizing::new(value.into()), Tally::new())
    }

    /// The plaintext, for the few places that must send or store it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when the value is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value without one trailing newline (`\n`, or `\r\n`): what `echo`, editors and
    /// `echo tok | base64` add, and never part of a token. Only one is removed, in place, so
    /// that no copy of the plaintext is left behind.
    pub fn without_trailing_newline(mut self) -> Self {
        if self.0.ends_with('\n') {
            self.0.pop();
            if self.0.ends_with('\r') {
                self.0.pop();
            }
        }
        self
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

    #[test]
    fn exactly_one_trailing_newline_is_trimmed() {
        let trim = |s: &str| SecretValue::new(s).without_trailing_newline();
        assert_eq!(trim("tok\n").expose(), "tok");
        assert_eq!(trim("tok\r\n").expose(), "tok");
        assert_eq!(trim("tok\n\n").expose(), "tok\n");
        assert_eq!(trim("tok").expose(), "tok");
        assert_eq!(trim("tok\r").expose(), "tok\r");
        assert_eq!(trim(" tok \n").expose(), " tok ");
        assert!(trim("\n").is_empty());
        assert!(trim("").is_empty());
        assert!(!trim("\n\n").is_empty());
    }
}
