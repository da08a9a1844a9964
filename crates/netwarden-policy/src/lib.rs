//! Pure policy cores: values in, values out, no I/O. The datapath crates turn the results into
//! kernel maps.

pub mod firewall;
pub mod netpol;
pub mod podguard;
