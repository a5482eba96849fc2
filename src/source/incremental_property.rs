//! The property test of the incremental scan against full scans, kept apart so that
//! incremental.rs stays readable.

use std::collections::BTreeMap;

use super::*;
use crate::reconcile::Entry;
use crate::validate::ValidateOptions;

const NAMES: [&str; 5] = ["a", "b", "c", "d", "e"];
/// Few values, so that clientIds and secrets meet often.
const VALUES: [&str; 3] = ["v1", "v2", "v3"];

/// Whether each credential is refused for a copied secret.
fn refusals(scan: &Scan) -> BTreeMap<String, bool> {
    scan.entries
        .iter()
        .map(|e| {
            let refused =
                matches!(e, Entry::Invalid(i) if i.message.contains("clientId equals a secret"));
            (e.key().name.clone(), refused)
        })
        .collect()
}

/// A manifest whose token is one of the secret files, chosen at random (so that an edit
/// changes a token's value too), with a random clientId.
fn manifest(name: &str, rng: &mut fastrand::Rng) -> String {
    let token = NAMES[rng.usize(..NAMES.len())];
    let client = client(rng);
    format!(
        "apiVersion: bigcommerce.unopim.io/v1alpha1\nkind: BigCommerceCredential\nmetadata:\n  name: {name}\nspec:\n  label: {name}\n  apiUrl: https://api.bigcommerce.com/stores/abc123/\n  accessToken:\n    file: {token}\n{client}"
    )
}

fn client(rng: &mut fastrand::Rng) -> String {
    let value = VALUES[rng.usize(..VALUES.len())];
    match rng.usize(..4) {
        0 => String::new(),
        1 => format!("  clientId: {value}\n"),
        2 => format!("  clientId: cid-{value}\n"),
        // Another credential's token file.
        _ => format!(
            "  clientId:\n    file: {}\n",
            NAMES[rng.usize(..NAMES.len())]
        ),
    }
}

/// Writes with a new inode, as editors save, so that the stamp surely changes.
fn save(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).expect("w");
    std::fs::rename(&tmp, path).expect("rename");
}

/// Random edits of manifests (passed as `watch` passes them: the named file alone when that
/// is enough, else a rescan through the cache) and of secret files (a rescan, as a change
/// under --secrets-dir gives): after each, what `watch` knows of every credential's refusal
/// equals a fresh full scan's.
#[test]
fn an_edit_refuses_what_a_fresh_full_scan_refuses() {
    for seed in [1, 22, 77, 2026, 31337, 4242, 9, 123] {
        let mut rng = fastrand::Rng::with_seed(seed);
        let dir = tempfile::tempdir().expect("tmp");
        let (m, s) = (dir.path().join("m"), dir.path().join("s"));
        std::fs::create_dir_all(&m).expect("mkdir");
        std::fs::create_dir_all(&s).expect("mkdir");
        for name in NAMES {
            save(&s.join(name), VALUES[rng.usize(..VALUES.len())]);
            save(&m.join(format!("{name}.yaml")), &manifest(name, &mut rng));
        }
        let source = |cached: bool| {
            let f = FileSource::new(vec![m.clone()], ValidateOptions::default())
                .with_secrets_dir(Some(s.clone()));
            if cached {
                f.cached()
            } else {
                f
            }
        };
        let mut watched = source(true);
        let mut known = refusals(&watched.scan());
        for step in 0..40 {
            let name = NAMES[rng.usize(..NAMES.len())];
            if rng.bool() {
                let path = m.join(format!("{name}.yaml"));
                save(&path, &manifest(name, &mut rng));
                match watched.scan_changed(&[path]) {
                    Some(few) => known.extend(refusals(&few)),
                    None => known = refusals(&watched.scan()),
                }
            } else {
                save(&s.join(name), VALUES[rng.usize(..VALUES.len())]);
                known = refusals(&watched.scan());
            }
            let fresh = refusals(&source(false).scan());
            assert_eq!(known, fresh, "seed {seed}, step {step}");
        }
    }
}
