//! Stable counter slots: a rule keeps its slot (and so its counters) across updates for as long as
//! its identity (object, interface, CIDR, order) stays in the rule set.

use std::collections::{BTreeMap, BTreeSet};

/// Slots for `keys`, reusing `previous` where the key is unchanged. Returns the new assignment and
/// the slots handed to keys that did not have one (their counters must be zeroed first).
pub fn assign(
    previous: &BTreeMap<String, u32>,
    keys: &[String],
) -> (BTreeMap<String, u32>, Vec<u32>) {
    let mut next = BTreeMap::new();
    let mut used = BTreeSet::new();
    for k in keys {
        if let Some(&slot) = previous.get(k) {
            next.insert(k.clone(), slot);
            used.insert(slot);
        }
    }
    let mut fresh = Vec::new();
    let mut candidate = 0u32;
    for k in keys {
        if next.contains_key(k) {
            continue;
        }
        while used.contains(&candidate) {
            candidate += 1;
        }
        next.insert(k.clone(), candidate);
        used.insert(candidate);
        fresh.push(candidate);
    }
    (next, fresh)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn kept_rules_keep_their_slots_and_freed_slots_are_reused() {
        let (first, fresh) = assign(&BTreeMap::new(), &keys(&["a", "b", "c"]));
        assert_eq!(fresh, vec![0, 1, 2]);
        let (second, fresh) = assign(&first, &keys(&["c", "d", "a"]));
        assert_eq!(second["a"], 0);
        assert_eq!(second["c"], 2);
        assert_eq!(second["d"], 1, "b's slot is free again");
        assert_eq!(fresh, vec![1]);
        let (third, fresh) = assign(&second, &keys(&["c", "d", "a"]));
        assert_eq!(third, second);
        assert!(fresh.is_empty());
    }
}
