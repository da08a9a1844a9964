//! Loading IngressNodeFirewall objects from multi-document YAML, reporting every problem at once.
//!
//! Objects are accepted as users already have them: `apiVersion`
//! `ingressnodefirewall.openshift.io/v1alpha1` or `netwarden.io/v1alpha1`, kind
//! `IngressNodeFirewall`, also inside a `kind: List`. `IngressNodeFirewallConfig` objects (which tell
//! the OpenShift operator where to run its daemons) are accepted and ignored with a note; other
//! kinds are skipped with a warning. Unknown fields under `spec` are errors; unknown `metadata`
//! fields and `status` are ignored.

mod spec;
mod walk;

use serde::Deserialize;
use serde_yaml::Value;

use super::model::IngressNodeFirewall;
use super::problem::Problem;
use walk::{field, Ctx};

/// The API versions whose IngressNodeFirewall objects are read.
pub const API_VERSIONS: [&str; 2] = [
    "ingressnodefirewall.openshift.io/v1alpha1",
    "netwarden.io/v1alpha1",
];

/// What a YAML text held.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Loaded {
    /// The IngressNodeFirewall objects, in file order.
    pub objects: Vec<IngressNodeFirewall>,
    /// Documents skipped (other kinds or API versions), as warnings.
    pub warnings: Vec<Problem>,
    /// Documents accepted and deliberately ignored, one line each.
    pub notes: Vec<String>,
}

/// Parses every document of `text`; `source` names the text in messages (usually its file name).
/// Fails with every problem found (errors, and the warnings found alongside them) when there is
/// at least one error.
pub fn load_yaml(text: &str, source: &str) -> Result<Loaded, Vec<Problem>> {
    let mut loaded = Loaded::default();
    let mut problems = Vec::new();
    for (index, document) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let at = format!("document {index}");
        match Value::deserialize(document) {
            Ok(value) => read_document(&value, source, &at, &mut loaded, &mut problems),
            Err(err) => {
                // The parser cannot resynchronise after a syntax error: stop here.
                let message = format!("not valid YAML: {err}");
                problems.push(Problem::error(source, message).with_location(at));
                break;
            }
        }
    }
    if problems.iter().any(Problem::is_error) {
        return Err(problems);
    }
    loaded.warnings = problems;
    Ok(loaded)
}

fn read_document(
    value: &Value,
    source: &str,
    at: &str,
    loaded: &mut Loaded,
    problems: &mut Vec<Problem>,
) {
    let map = match value {
        Value::Null => return,
        Value::Mapping(map) => map,
        other => {
            let message = walk::expected("a mapping with apiVersion and kind", other);
            problems.push(Problem::error(source, message).with_location(at));
            return;
        }
    };
    let text = |key: &str| field(map, key).and_then(Value::as_str).unwrap_or_default();
    let (api_version, kind) = (text("apiVersion"), text("kind"));
    let accepted = API_VERSIONS.contains(&api_version);
    match kind {
        "List" => match field(map, "items") {
            Some(Value::Sequence(items)) => {
                for (i, item) in items.iter().enumerate() {
                    let at = format!("{at} items[{i}]");
                    read_document(item, source, &at, loaded, problems);
                }
            }
            None => {}
            Some(other) => {
                let message = walk::expected("a list", other);
                let problem = Problem::error(source, message).with_location(at);
                problems.push(problem.with_field("items"));
            }
        },
        "IngressNodeFirewall" if accepted => {
            if let Some(object) = read_object(map, source, at, problems) {
                loaded.objects.push(object);
            }
        }
        "IngressNodeFirewallConfig" if accepted => {
            let name = field(map, "metadata")
                .and_then(|m| m.get("name"))
                .and_then(Value::as_str)
                .unwrap_or("(unnamed)");
            loaded.notes.push(format!(
                "{source}: {at}: IngressNodeFirewallConfig {name} ignored: it tells the OpenShift \
                 operator where to run its daemons, which netwarden does not need"
            ));
        }
        _ => {
            let message = format!(
                "skipped: apiVersion {api_version:?}, kind {kind:?} is not an IngressNodeFirewall \
                 (accepted apiVersions: {})",
                API_VERSIONS.join(", ")
            );
            problems.push(Problem::warning(source, message).with_location(at));
        }
    }
}

fn read_object(
    map: &serde_yaml::Mapping,
    source: &str,
    at: &str,
    problems: &mut Vec<Problem>,
) -> Option<IngressNodeFirewall> {
    let name = field(map, "metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .filter(|name| !name.is_empty());
    let mut ctx = Ctx {
        source,
        object: match name {
            Some(name) => format!("IngressNodeFirewall {name}"),
            None => format!("IngressNodeFirewall in {at}"),
        },
        problems,
    };
    if name.is_none() {
        ctx.error("metadata", "name", None, "missing");
    }
    let Some(spec) = field(map, "spec") else {
        ctx.error("", "spec", None, "missing");
        return None;
    };
    let object = spec::object(&mut ctx, name.unwrap_or_default().to_string(), spec);
    object.filter(|_| name.is_some())
}
