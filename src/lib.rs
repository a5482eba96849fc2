//! bccreds: a declarative reconciler for the BigCommerce API credentials of UnoPim's connector.

pub mod model;
pub mod schema;
pub mod yaml;
