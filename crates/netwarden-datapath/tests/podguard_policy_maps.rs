//! The pod guard's network-policy maps: a generation that does not fit is refused before
//! anything is written, naming the map and the counts, and the generation in force stays (the
//! next one that fits goes in). Needs root (it loads the object; nothing is attached).

use netwarden_datapath::podguard::{PodGuard, PodGuardError, PodGuardOptions};
use netwarden_policy::netpol::{self, compile_enforcement, Enforcement, Inventory, PodInfo};

const POLICY: &str = r#"
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: web, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: api}}}]
    ports: [{port: 80}]
"#;

/// `pods` pods in namespace shop (web, then api, then others), compiled for the first.
fn enforcement(pods: usize) -> Enforcement {
    let pods: Vec<PodInfo> = (0..pods)
        .map(|i| PodInfo {
            namespace: "shop".into(),
            name: format!("p{i}"),
            labels: [(
                "app".to_string(),
                ["web", "api"].get(i).unwrap_or(&"x").to_string(),
            )]
            .into(),
            ips: vec![format!("10.1.0.{}", i + 1).parse().unwrap()],
            ..Default::default()
        })
        .collect();
    let inv = Inventory {
        pods,
        ..Default::default()
    };
    let (set, problems) = netpol::parse_str(POLICY, "test").unwrap();
    assert!(problems.is_empty());
    compile_enforcement(&inv, &set, &[("shop".into(), "p0".into())]).unwrap()
}

#[test]
fn a_generation_that_does_not_fit_leaves_the_one_in_force() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root");
        return;
    }
    let small = enforcement(3);
    let large = enforcement(40);
    let (s, l) = (small.classes.len(), large.classes.len());
    assert!(s < 8 && l > 16, "{s} and {l} class entries");
    // Room for two small generations, not for a large one next to a small one.
    let opts = PodGuardOptions {
        max_policy_classes: 16,
        ..PodGuardOptions::default()
    };
    let mut guard = PodGuard::load(&opts).unwrap();
    guard.set_network_policy(Some(small.clone())).unwrap();
    let before = guard.last_rules_write();
    assert_eq!(before.classes, s);
    assert_eq!(before.sets, 2, "one pod, two scopes");

    let err = guard.set_network_policy(Some(large)).unwrap_err();
    match &err {
        PodGuardError::TableFull {
            table,
            needed,
            in_use,
            capacity,
        } => assert_eq!(
            (*table, *needed, *in_use, *capacity),
            ("nw_pg_np_classes", l, s, 16)
        ),
        other => panic!("{other}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("nw_pg_np_classes") && text.contains("stay"),
        "{text}"
    );
    assert_eq!(guard.last_rules_write(), before, "nothing written");

    // Small generations still alternate: the refused one left nothing behind.
    for _ in 0..3 {
        guard.set_network_policy(Some(small.clone())).unwrap();
        assert_eq!(guard.last_rules_write().classes, s);
    }
    guard.set_network_policy(None).unwrap();
    assert_eq!(guard.last_rules_write().classes, 0);
}
