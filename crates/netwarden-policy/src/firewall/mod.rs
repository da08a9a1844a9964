//! IngressNodeFirewall: objects, validation, and the compiler to lookup tables.
//!
//! ```text
//! YAML --load_yaml--> objects --select(node)--> objects of the node --compile--> CompiledFirewall
//! ```

mod compile;
pub mod compiled;
mod load;
pub mod model;
mod problem;
mod protected;
mod region;
mod selector;
mod validate;

#[cfg(test)]
mod reference;

pub use compile::compile;
pub use compiled::{CompiledFirewall, Decision, Verdict};
pub use load::{load_yaml, Loaded, API_VERSIONS};
pub use model::IngressNodeFirewall;
pub use problem::{Problem, Severity};
pub use protected::{ProtectedService, ProtectedServiceError};
pub use selector::{select, NodeIdentity, HOSTNAME_LABEL};
pub use validate::{validate, ORDER_MAX, ORDER_MIN};
