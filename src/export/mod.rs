//! `bccreds export`'s core: stored rows turned into manifests that adopt them. Pure: the
//! command reads the store and writes the files.

mod manifest;
mod names;

pub use manifest::{render, SecretRefs, ACCESS_TOKEN_KEY, CLIENT_SECRET_KEY};
pub use names::{names, slug};
