//! "Did you mean" for unknown field names.

use crate::fields::{either_end_names, fields};

/// The field name closest to `typed`, if one is close enough to be a likely typo.
///
/// A name ending in `_<typed>` wins first (`Namespace` -> `K8S_Namespace`), since users often
/// drop NetObserv's prefixes; otherwise the smallest case-insensitive edit distance, up to a
/// third of the word's length (rounded up), so short words only get near misses.
pub fn closest_field(typed: &str) -> Option<&'static str> {
    let typed_lower = typed.to_ascii_lowercase();
    let candidates = || fields().iter().map(|f| f.name).chain(either_end_names());
    let suffix = format!("_{typed_lower}");
    if let Some(name) = candidates()
        .filter(|n| n.to_ascii_lowercase().ends_with(&suffix))
        .min_by_key(|n| n.len())
    {
        return Some(name);
    }
    let limit = typed.chars().count().div_ceil(3);
    candidates()
        .map(|n| (edit_distance(&typed_lower, &n.to_ascii_lowercase()), n))
        .filter(|(d, _)| *d <= limit.max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

/// Levenshtein distance, in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = substitute.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("dstprt", "dstport"), 1);
        assert_eq!(edit_distance("same", "same"), 0);
    }

    #[test]
    fn suggestions() {
        let cases = [
            ("DstPrt", Some("DstPort")),
            ("Dstport2", Some("DstPort")),
            ("SrcK8S_Namespce", Some("SrcK8S_Namespace")),
            ("SrcNamespace", Some("SrcK8S_Namespace")),
            ("Namespace", Some("K8S_Namespace")),
            ("OwnerName", Some("K8S_OwnerName")),
            ("Byte", Some("Bytes")),
            ("Protocol", Some("Proto")),
            ("TimeFlowEnd", Some("TimeFlowEndMs")),
            ("Pkts", None),
            ("zzzzzzzz", None),
        ];
        for (typed, want) in cases {
            assert_eq!(closest_field(typed), want, "{typed}");
        }
    }
}
