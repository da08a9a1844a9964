//! Hosts and pods on one machine: network namespaces, veth pairs between them, and code or commands
//! run inside them. Everything made here is removed when its owner is dropped.
//!
//! [`Lab`] builds a simulated Kubernetes node from an inventory file ([`LabSpec`]): a bridge in the
//! host namespace, a namespace per pod, echo servers on the pods' ports; `netwarden lab` is its CLI.

pub mod addressing;
pub mod echo;
mod netns;
mod node;
pub mod spec;
mod state;
mod sys;
pub mod traffic;

pub use netns::{command_keep_mounts, unique_tag, LabError, Netns};
pub use node::{Lab, LabOptions, NodeError, ServiceCommand, Services};
pub use spec::{LabSpec, PodSpec, SpecError};
pub use state::{LabRecord, PodRecord, ServiceProcess, StateError, DEFAULT_STATE_DIR};
