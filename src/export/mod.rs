//! `bccreds export`'s core: stored rows turned into manifests that adopt them. Pure: the
//! command reads the store and writes the files.

mod check;
mod manifest;
mod names;

pub use check::{codes_problem, manifest_problem, secret_problem};
pub use manifest::{render, render_secret, SecretRefs, ACCESS_TOKEN_KEY, CLIENT_SECRET_KEY};
pub use names::{names, slug};
