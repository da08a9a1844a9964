//! The one record type that flows through netwarden.
//!
//! Field names are NetObserv's (`SrcAddr`, `DstPort`, `PktDropLatestDropCause`, `SrcK8S_Namespace`...)
//! so users' queries, dashboards and habits carry over. Optional fields are omitted from JSON when
//! absent.

mod flow;

pub use flow::{tcp_flags, Direction, FlowRecord, K8sEndpointDst, K8sEndpointSrc};
