//! A loopback BigCommerce API simulator for tests, the demo and users' CI.

pub mod fixture;

pub use fixture::{Fixture, FixtureError};
