//! bccreds: a declarative reconciler for the BigCommerce API credentials of UnoPim's connector.

pub mod api_url;
pub mod cli;
pub mod controller;
pub mod crypto;
pub mod daemon;
pub mod diagnostic;
pub mod export;
pub mod manifest;
pub mod model;
pub mod probe;
pub mod reconcile;
pub mod redact;
pub mod schema;
pub mod secret;
pub mod server;
pub mod simulator;
pub mod source;
pub mod store;
pub mod tls;
pub mod validate;
pub mod verify;
pub mod watch;
pub mod web;
pub mod yaml;
