//! Traffic the lab drives: small, well-formed protocol messages built by hand.

/// A DNS query (A record, recursion desired) for `name` with transaction `id`.
pub fn dns_query(id: u16, name: &str) -> Vec<u8> {
    let mut q = Vec::with_capacity(18 + name.len());
    q.extend_from_slice(&id.to_be_bytes());
    // Flags RD; one question, no other records.
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.').filter(|l| !l.is_empty()) {
        q.push(label.len().min(63) as u8);
        q.extend_from_slice(&label.as_bytes()[..label.len().min(63)]);
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

/// The response to `query` with response code `rcode` (0 NoError, 3 NXDomain) and no answers.
pub fn dns_response(query: &[u8], rcode: u8) -> Vec<u8> {
    let mut r = query.to_vec();
    if r.len() >= 4 {
        r[2] = 0x81; // QR, RD
        r[3] = 0x80 | (rcode & 0x0f); // RA, rcode
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_and_response_bytes() {
        let q = dns_query(0x1234, "a.bc");
        assert_eq!(
            q,
            b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01a\x02bc\x00\x00\x01\x00\x01"
        );
        let r = dns_response(&q, 3);
        assert_eq!(&r[..4], b"\x12\x34\x81\x83");
        assert_eq!(&r[4..], &q[4..]);
    }
}
