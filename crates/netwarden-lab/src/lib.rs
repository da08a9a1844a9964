//! Hosts and pods on one machine: network namespaces, veth pairs between them, and code or commands
//! run inside them. Everything made here is removed when its owner is dropped.

mod netns;
pub mod traffic;

pub use netns::{command_keep_mounts, unique_tag, LabError, Netns};
