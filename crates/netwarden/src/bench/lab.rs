//! The bench topology: a client and a server namespace joined by one veth pair, plus a blackhole
//! route for generated flows (their frames carry a MAC nobody owns, so the server drops them in
//! `ip_rcv` at once: no socket or ICMP work muddies the figures, and the drop happens in another
//! namespace than the agent's, so it is not recorded).

use anyhow::Context;
use netwarden_lab::{unique_tag, Netns};

pub const CLIENT4: &str = "192.168.90.1";
pub const SERVER4: &str = "192.168.90.2";
/// Next hop of generated flows: a neighbour with a MAC no interface has.
const BLACKHOLE_HOP: &str = "192.168.90.3";
const BLACKHOLE_MAC: &str = "02:00:00:00:90:03";
/// Generated flows go to addresses in this range (4 Mi destinations).
pub const FLOW_NET: &str = "10.64.0.0/10";
pub const FLOW_BASE: u32 = u32::from_be_bytes([10, 64, 0, 0]);
pub const FLOW_SPAN: u32 = 1 << 22;

pub struct BenchLab {
    pub client: Netns,
    pub server: Netns,
    /// The client's end of the pair: the interface captured on.
    pub client_if: String,
}

impl BenchLab {
    pub fn new() -> anyhow::Result<Self> {
        let tag = unique_tag();
        let client = Netns::create(format!("nwbc{tag}")).context("bench client namespace")?;
        let server = Netns::create(format!("nwbs{tag}")).context("bench server namespace")?;
        let client_if = format!("bc{tag}");
        client.veth_to(
            &client_if,
            &[&format!("{CLIENT4}/24")],
            &server,
            &format!("bs{tag}"),
            &[&format!("{SERVER4}/24")],
        )?;
        client.ip(&[
            "neigh",
            "replace",
            BLACKHOLE_HOP,
            "lladdr",
            BLACKHOLE_MAC,
            "dev",
            &client_if,
            "nud",
            "permanent",
        ])?;
        client.ip(&["route", "add", FLOW_NET, "via", BLACKHOLE_HOP])?;
        Ok(Self {
            client,
            server,
            client_if,
        })
    }
}
