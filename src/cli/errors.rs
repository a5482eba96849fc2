//! How a command's error reaches the terminal: one `error:` line whose causes are each said
//! once, a hint where one helps, and exit code 2 for mistakes in the command line or its
//! environment (a bad store URL, table prefix or APP_KEY) rather than 1.

use crate::cli::out::errln;
use crate::crypto::KeyError;
use crate::store::StoreError;

use super::{EXIT_FAILED, EXIT_USAGE};

/// Prints `e` as one `error:` line and returns the exit code it deserves.
pub fn report(e: &anyhow::Error) -> u8 {
    errln!("error: {}", describe(e));
    if let Some(hint) = hint(e) {
        errln!("hint: {hint}");
    }
    exit_code(e)
}

/// The error and its causes joined by `: `, skipping a cause whose text the line already holds
/// (many errors print their source themselves, so `{:#}` repeats it two or three times).
pub fn describe(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if text.is_empty() || line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// Exit code 2 for errors in how bccreds was invoked, 1 for everything else.
pub fn exit_code(e: &anyhow::Error) -> u8 {
    let usage = e.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<StoreError>(),
            Some(
                StoreError::Url(_)
                    | StoreError::Prefix(_)
                    | StoreError::PrefixTooLong { .. }
                    | StoreError::NeedsAppKey(_)
                    | StoreError::KeyMismatch { .. }
                    | StoreError::Key(KeyError::InvalidAppKey)
            )
        ) || matches!(
            cause.downcast_ref::<KeyError>(),
            Some(KeyError::InvalidAppKey)
        ) || cause.downcast_ref::<UsageError>().is_some()
    });
    if usage {
        EXIT_USAGE
    } else {
        EXIT_FAILED
    }
}

/// A mistake in the command line or the environment, found after parsing.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

fn hint(e: &anyhow::Error) -> Option<&'static str> {
    e.chain().find_map(|cause| {
        cause
            .downcast_ref::<kube::config::InferConfigError>()
            .map(|_| {
                "the controller runs inside a cluster, or with KUBECONFIG (or ~/.kube/config) \
                 pointing at one; `kubectl config current-context` shows which it would use"
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot create key file /x.key: {source}")]
    struct Outer {
        source: std::io::Error,
    }

    #[test]
    fn each_cause_is_said_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory");
        let e = anyhow::Error::new(Outer { source: io }).context("cannot open the store");
        assert_eq!(
            describe(&e),
            "cannot open the store: cannot create key file /x.key: No such file or directory"
        );
        assert_eq!(exit_code(&e), EXIT_FAILED);
    }

    #[test]
    fn configuration_mistakes_are_usage_errors() {
        for e in [
            anyhow::Error::new(StoreError::Url("redis://x".into())),
            anyhow::Error::new(StoreError::Prefix("bad prefix".into())),
            anyhow::Error::new(StoreError::Key(KeyError::InvalidAppKey)),
            anyhow::Error::new(KeyError::InvalidAppKey).context("APP_KEY"),
            anyhow::Error::new(StoreError::NeedsAppKey("MySQL")),
        ] {
            assert_eq!(exit_code(&e), EXIT_USAGE, "{e}");
        }
        assert_eq!(
            exit_code(&anyhow::anyhow!("the store is down")),
            EXIT_FAILED
        );
    }
}
