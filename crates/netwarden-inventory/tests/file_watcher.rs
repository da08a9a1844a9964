//! The file source's reload behaviour, as a table of steps on one file.

use netwarden_inventory::{FileWatcher, InventoryError};

const ONE: &str = "{apiVersion: v1, kind: Pod, metadata: {namespace: a, name: one}}";
const TWO: &str = "{apiVersion: v1, kind: Pod, metadata: {namespace: a, name: two}}";
const TWO_WITH_NOTE: &str = "{apiVersion: v1, kind: Pod, metadata: {namespace: a, name: two}}
---
{apiVersion: v1, kind: ConfigMap, metadata: {namespace: a, name: c}}";
const BROKEN: &str = "{apiVersion: v1, kind: Pod";

enum Action {
    Poll,
    Write(&'static str),
    Remove,
}

#[derive(Debug, PartialEq)]
enum Outcome {
    /// Reloaded: pod names and problem count.
    Loaded(Vec<String>, usize),
    Unchanged,
    /// Nothing new; last_error() is a read error.
    ReadFailed,
    /// Nothing new; last_error() is a YAML error.
    YamlFailed,
}

#[test]
fn reloads_on_content_change_and_keeps_going_through_failures() {
    use Action::*;
    use Outcome::*;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("inventory.yaml");
    let mut watcher = FileWatcher::new(&path);
    let loaded =
        |names: &[&str], problems| Loaded(names.iter().map(|s| s.to_string()).collect(), problems);

    // (step, action before polling, expected outcome of the poll)
    let steps: Vec<(&str, Action, Outcome)> = vec![
        ("file absent", Poll, ReadFailed),
        ("file appears", Write(ONE), loaded(&["one"], 0)),
        ("nothing changed", Poll, Unchanged),
        ("rewritten identically", Write(ONE), Unchanged),
        ("content changed", Write(TWO), loaded(&["two"], 0)),
        ("broken YAML", Write(BROKEN), YamlFailed),
        ("still broken", Poll, YamlFailed),
        (
            "fixed, with a note",
            Write(TWO_WITH_NOTE),
            loaded(&["two"], 1),
        ),
        ("removed", Remove, ReadFailed),
        ("restored as it was", Write(TWO_WITH_NOTE), Unchanged),
        ("changed again", Write(ONE), loaded(&["one"], 0)),
    ];
    for (step, action, want) in steps {
        match action {
            Poll => {}
            Write(text) => std::fs::write(&path, text).expect("write inventory"),
            Remove => std::fs::remove_file(&path).expect("remove inventory"),
        }
        let got = match watcher.poll() {
            Some((snapshot, problems)) => Loaded(
                snapshot
                    .pods
                    .iter()
                    .filter_map(|p| p.metadata.name.clone())
                    .collect(),
                problems.len(),
            ),
            None => match watcher.last_error() {
                None => Unchanged,
                Some(InventoryError::Read { .. }) => ReadFailed,
                Some(InventoryError::Yaml { .. }) => YamlFailed,
                Some(other) => panic!("{step}: unexpected error {other}"),
            },
        };
        assert_eq!(got, want, "{step}");
    }
    assert_eq!(watcher.path(), path);
}
