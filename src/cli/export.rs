//! `bccreds export`: the credentials already in the store as manifests that adopt them without
//! changing a byte, for teams moving hand-made credentials into git or Kubernetes.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use super::errors::UsageError;
use super::export_files::{self, Planned, Written};
use super::list::StatusFilter;
use super::options::StoreArgs;
use super::{EXIT_FAILED, EXIT_OK};
use crate::cli::out::{errln, out, outln};
use crate::export::{self, SecretRefs, ACCESS_TOKEN_KEY, CLIENT_SECRET_KEY};
use crate::redact::escape_controls;
use crate::store::{fold, ListQuery, ListedCredential, StoredCredential, UnoPimCodes};
use crate::validate::ValidateOptions;

/// The schema file written beside exported manifests, which their modeline names.
const SCHEMA_FILE: &str = "bigcommercecredential.schema.json";

/// Where the exported secrets go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SecretsMode {
    // Described in `--secrets`' help: doc comments here would make `--help` long.
    None,
    Files,
    Kubernetes,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Only the credential with this label, ignoring case; repeat for more.
    #[arg(long = "label", value_name = "LABEL", help_heading = "Select")]
    labels: Vec<String>,
    /// Only labels containing this text, ignoring case.
    #[arg(long, help_heading = "Select")]
    search: Option<String>,
    /// Only active or only inactive credentials.
    #[arg(long, value_enum, ignore_case = true, help_heading = "Select")]
    status: Option<StatusFilter>,
    /// Only rows that no reconciler manages yet.
    #[arg(long, help_heading = "Select")]
    unmanaged: bool,
    /// Where secrets go, never stdout: none (adoption keeps the stored ones), files (under
    /// --secrets-dir, 0600) or kubernetes (a Secret beside each manifest, 0600).
    #[arg(long, value_enum, default_value_t = SecretsMode::None, help_heading = "Output")]
    secrets: SecretsMode,
    /// The directory `--secrets files` writes to (apply with the same --secrets-dir).
    #[arg(long, value_name = "DIR", help_heading = "Output")]
    secrets_dir: Option<PathBuf>,
    /// Write one file per credential here instead of one stream on stdout.
    #[arg(long, value_name = "DIR", help_heading = "Output")]
    output_dir: Option<PathBuf>,
    /// metadata.namespace of the manifests and Secrets.
    #[arg(long, help_heading = "Output")]
    namespace: Option<String>,
    /// Replace files that exist already in --output-dir and --secrets-dir.
    #[arg(long, help_heading = "Output")]
    force: bool,
    /// Hosts an apiUrl may name: rows naming others are not exported.
    #[arg(long = "allowed-host", default_value = crate::api_url::DEFAULT_ALLOWED_HOST,
          value_delimiter = ',', env = "BCCREDS_ALLOWED_HOSTS", help_heading = "Output")]
    allowed_hosts: Vec<String>,
    #[command(flatten)]
    store: StoreArgs,
}

/// One credential ready to be written.
struct Exported {
    label: String,
    name: String,
    manifest: String,
    /// `(path relative to its root, contents)` of each file holding a secret.
    secret_files: Vec<(PathBuf, String)>,
}

/// A row left out, with why.
struct Skipped {
    label: String,
    id: i64,
    reason: String,
}

impl ExportArgs {
    fn check(&self) -> Result<(), UsageError> {
        let usage = |m: &str| Err(UsageError(m.to_string()));
        match self.secrets {
            SecretsMode::Files if self.secrets_dir.is_none() => {
                return usage("--secrets files needs --secrets-dir DIR to write the secrets to")
            }
            SecretsMode::None | SecretsMode::Kubernetes if self.secrets_dir.is_some() => {
                return usage("--secrets-dir is only for --secrets files")
            }
            SecretsMode::Files | SecretsMode::Kubernetes if self.output_dir.is_none() => {
                return usage(
                    "secrets never go to stdout: --secrets files and --secrets kubernetes need --output-dir DIR",
                )
            }
            _ => {}
        }
        if let Some(ns) = &self.namespace {
            if ns.is_empty() || ns.len() > 63 || export::slug(ns) != *ns {
                return Err(UsageError(format!(
                    "--namespace `{}` is not a Kubernetes namespace name (a DNS-1123 label)",
                    escape_controls(ns)
                )));
            }
        }
        Ok(())
    }

    /// Whether `row` is chosen by the selection flags; the search folds case as `list` does.
    fn selects(&self, row: &ListedCredential) -> bool {
        let search = self.search.as_deref().map(fold).unwrap_or_default();
        (self.labels.is_empty() || self.labels.iter().any(|l| same_label(l, &row.label)))
            && (search.is_empty() || fold(&row.label).contains(&search))
            && self
                .status
                .is_none_or(|s| row.active == (s == StatusFilter::Active))
            && (!self.unmanaged || row.owner_id.is_none())
    }

    fn validate_options(&self) -> ValidateOptions {
        let mut opts = ValidateOptions::default();
        opts.semantic.allowed_hosts = self.allowed_hosts.clone();
        opts.semantic.kubernetes = self.secrets == SecretsMode::Kubernetes;
        opts
    }
}

fn same_label(a: &str, b: &str) -> bool {
    fold(a) == fold(b)
}

/// The manifest (and secret files) of one row, or why it cannot be exported.
fn export_row(
    args: &ExportArgs,
    row: &StoredCredential,
    name: &str,
    codes: &UnoPimCodes,
) -> Result<Exported, String> {
    let data = &row.data;
    let ns = args.namespace.as_deref();
    if args.secrets != SecretsMode::None {
        let secrets = [
            ("accessToken", Some(&data.access_token)),
            ("clientSecret", data.client_secret.as_ref()),
        ];
        let files = args.secrets == SecretsMode::Files;
        if let Some(problem) = secrets
            .iter()
            .find_map(|(field, value)| value.and_then(|v| export::secret_problem(field, v, files)))
        {
            return Err(problem);
        }
    }
    let secret_name = format!("{name}-bigcommerce");
    let (refs, secret_files) = match args.secrets {
        SecretsMode::None => (SecretRefs::None, Vec::new()),
        SecretsMode::Files => {
            let token = format!("{name}/{ACCESS_TOKEN_KEY}");
            let secret = data
                .client_secret
                .as_ref()
                .map(|v| (format!("{name}/{CLIENT_SECRET_KEY}"), v));
            // One trailing newline, as `echo` writes it; a `file:` source trims exactly one.
            let mut files = vec![(
                PathBuf::from(&token),
                format!("{}\n", data.access_token.expose()),
            )];
            if let Some((path, value)) = &secret {
                files.push((PathBuf::from(path), format!("{}\n", value.expose())));
            }
            let refs = SecretRefs::Files {
                access_token: token,
                client_secret: secret.map(|(path, _)| path),
            };
            (refs, files)
        }
        SecretsMode::Kubernetes => {
            let doc = export::render_secret(
                &secret_name,
                ns,
                &data.access_token,
                data.client_secret.as_ref(),
            );
            let refs = SecretRefs::Kubernetes {
                secret: secret_name.clone(),
                client_secret: data.client_secret.is_some(),
            };
            (
                refs,
                vec![(PathBuf::from(format!("{name}.secret.yaml")), doc)],
            )
        }
    };
    let manifest = export::render(data, name, ns, &refs, SCHEMA_FILE);
    // A Kubernetes manifest is checked with its Secret, as `validate --kubernetes DIR` reads them.
    let checked = match args.secrets {
        SecretsMode::Kubernetes => secret_files
            .iter()
            .fold(manifest.clone(), |text, (_, doc)| {
                format!("{text}---\n{doc}")
            }),
        _ => manifest.clone(),
    };
    if let Some(problem) = export::manifest_problem(&checked, &args.validate_options()) {
        return Err(problem);
    }
    if let Some(problem) = export::codes_problem(data, codes) {
        return Err(problem);
    }
    Ok(Exported {
        label: data.label.clone(),
        name: name.to_string(),
        manifest,
        secret_files,
    })
}

/// Reads the selected rows and turns each into a manifest or a reason.
async fn collect(args: &ExportArgs) -> anyhow::Result<(Vec<Exported>, Vec<Skipped>, Vec<String>)> {
    let store = if args.secrets == SecretsMode::None {
        args.store.open_existing_for_names().await?
    } else {
        args.store.open_existing().await?
    };
    let result = async {
        if args.secrets != SecretsMode::None {
            // Secrets are decrypted: a key the store's are not sealed with is said once, plainly.
            store.check_key().await?;
        }
        // Names come from every row, so that a filter never changes a credential's name.
        let listing = store.listing(&ListQuery::default()).await?;
        let all = listing.rows;
        let names = export::names(all.iter().map(|r| (r.id, r.label.as_str())));
        let selected: Vec<&ListedCredential> = all.iter().filter(|r| args.selects(r)).collect();
        let missing: Vec<String> = args
            .labels
            .iter()
            .filter(|l| !all.iter().any(|r| same_label(l, &r.label)))
            .cloned()
            .collect();
        let codes = store.unopim_codes().await?;
        let (mut exported, mut skipped) = (Vec::new(), Vec::new());
        // A row whose label cannot be read is never selected by one: it is named, and fails alone.
        for (id, problem) in listing.unreadable {
            skipped.push(Skipped {
                label: String::new(),
                id,
                reason: format!("the row cannot be read: {problem}"),
            });
        }
        for listed in selected {
            let skip = |reason: String| Skipped {
                label: listed.label.clone(),
                id: listed.id,
                reason,
            };
            let name = names.get(&listed.id).cloned().unwrap_or_default();
            match store.get(listed.id).await {
                // Deleted since it was listed: nothing to export.
                Ok(None) => {}
                Ok(Some(row)) => match export_row(args, &row, &name, &codes) {
                    Ok(e) => exported.push(e),
                    Err(reason) => skipped.push(skip(reason)),
                },
                Err(e) => skipped.push(skip(format!("the row cannot be read: {e}"))),
            }
        }
        anyhow::Ok((exported, skipped, missing))
    }
    .await;
    store.close().await;
    result
}

/// Writes the exported files under `out` (and `secrets_dir`); returns each credential's file.
/// The schema file the modelines name is written too, except for Kubernetes output, which
/// `kubectl apply -f DIR` reads whole and where a JSON Schema is not an object it can apply.
fn write_tree(
    exported: &[Exported],
    out: &Path,
    secrets_dir: Option<&Path>,
    with_schema: bool,
    force: bool,
) -> anyhow::Result<Written> {
    let mut files = Vec::new();
    if with_schema {
        files.push(Planned {
            path: out.join(SCHEMA_FILE),
            contents: crate::schema::manifest_schema_json(),
            private: false,
        });
    }
    let mut written = Written::new();
    for e in exported {
        let root = secrets_dir.unwrap_or(out);
        for (relative, contents) in &e.secret_files {
            files.push(Planned {
                path: root.join(relative),
                contents: contents.clone(),
                private: true,
            });
        }
        let path = out.join(format!("{}.yaml", e.name));
        files.push(Planned {
            path: path.clone(),
            contents: e.manifest.clone(),
            private: false,
        });
        written.insert(e.label.clone(), path);
    }
    export_files::write_all(&files, force)?;
    Ok(written)
}

/// A label cut to what a line of a terminal shows (labels may run to thousands of characters
/// in a hand-edited row), with `…` where it was cut.
fn shortened(label: &str) -> String {
    const SHOWN: usize = 80;
    match label.char_indices().nth(SHOWN) {
        Some((cut, _)) => format!("{}…", &label[..cut]),
        None => label.to_string(),
    }
}

pub fn run(args: &ExportArgs) -> u8 {
    if let Err(e) = args.check() {
        return super::errors::report(&anyhow::Error::new(e));
    }
    let Some(runtime) = super::process::runtime() else {
        return EXIT_FAILED;
    };
    let (exported, skipped, missing) = match runtime.block_on(collect(args)) {
        Ok(found) => found,
        Err(e) => return super::errors::report(&e),
    };
    match &args.output_dir {
        Some(dir) => match write_tree(
            &exported,
            dir,
            args.secrets_dir.as_deref(),
            args.secrets != SecretsMode::Kubernetes,
            args.force,
        ) {
            Ok(written) => {
                for (label, path) in &written {
                    outln!(
                        "exported \"{}\" to {}",
                        escape_controls(label),
                        escape_controls(&path.display().to_string())
                    );
                }
            }
            Err(e) => return super::errors::report(&e),
        },
        None => {
            let stream: Vec<&str> = exported.iter().map(|e| e.manifest.as_str()).collect();
            out!("{}", stream.join("---\n"));
        }
    }
    for label in &missing {
        errln!(
            "error: no stored credential is labelled \"{}\"",
            escape_controls(label)
        );
    }
    for s in &skipped {
        let label = match s.label.as_str() {
            "" => String::new(),
            label => format!("\"{}\" ", escape_controls(&shortened(label))),
        };
        errln!(
            "skipped {label}(row {}): {}",
            s.id,
            escape_controls(&s.reason)
        );
    }
    let n = exported.len();
    errln!(
        "Exported {n} credential{}{}.",
        if n == 1 { "" } else { "s" },
        if skipped.is_empty() {
            String::new()
        } else {
            format!(
                "; skipped {} that would not validate or be read",
                skipped.len()
            )
        }
    );
    if skipped.is_empty() && missing.is_empty() {
        EXIT_OK
    } else {
        EXIT_FAILED
    }
}
