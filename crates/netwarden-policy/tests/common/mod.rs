//! Helpers shared by the integration tests.
#![allow(dead_code)]

use netwarden_policy::firewall::{
    compile, load_yaml, CompiledFirewall, IngressNodeFirewall, Problem, ProtectedService,
};

pub const SOURCE: &str = "rules.yaml";

/// One IngressNodeFirewall document named `name` with `spec` (YAML, indented from column 0).
pub fn doc(name: &str, spec: &str) -> String {
    let spec: String = spec.lines().map(|l| format!("  {l}\n")).collect();
    format!(
        "apiVersion: ingressnodefirewall.openshift.io/v1alpha1\nkind: IngressNodeFirewall\n\
         metadata:\n  name: {name}\nspec:\n{spec}"
    )
}

/// Documents joined into one multi-document text.
pub fn docs(parts: &[String]) -> String {
    parts.join("---\n")
}

/// The objects of a text that must load.
pub fn objects(text: &str) -> Vec<IngressNodeFirewall> {
    match load_yaml(text, SOURCE) {
        Ok(loaded) => loaded.objects,
        Err(problems) => panic!("did not load: {}", lines(&problems).join("\n")),
    }
}

/// The problems of a text that must fail to load, one line each.
pub fn load_errors(text: &str) -> Vec<String> {
    match load_yaml(text, SOURCE) {
        Ok(loaded) => panic!("loaded but should not: {loaded:?}"),
        Err(problems) => lines(&problems),
    }
}

pub fn lines(problems: &[Problem]) -> Vec<String> {
    problems.iter().map(ToString::to_string).collect()
}

/// Compiles every object of `text` with the default protected services.
pub fn compiled(text: &str) -> CompiledFirewall {
    let objects = objects(text);
    let selected: Vec<&IngressNodeFirewall> = objects.iter().collect();
    compile(&selected, &ProtectedService::defaults())
        .unwrap_or_else(|p| panic!("did not compile: {}", lines(&p).join("\n")))
}

/// Compile errors of every object of `text` (which must load).
pub fn compile_errors(text: &str) -> Vec<String> {
    let objects = objects(text);
    let selected: Vec<&IngressNodeFirewall> = objects.iter().collect();
    match compile(&selected, &ProtectedService::defaults()) {
        Ok(_) => panic!("compiled but should not"),
        Err(problems) => lines(&problems),
    }
}
