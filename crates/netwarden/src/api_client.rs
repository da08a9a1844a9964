//! The commands that read the store (`flows`, `policy whatif`) go through the API of the process
//! that owns it: DuckDB locks its file, so they never open it themselves.

use anyhow::Context;
use serde_json::Value;

/// Where the API is and how to authenticate to it.
#[derive(clap::Args, Debug, Clone)]
pub struct ApiArgs {
    /// The API (the agent's or `netwarden serve`'s).
    #[arg(long, default_value = "http://127.0.0.1:9001", env = "NETWARDEN_API")]
    pub api: String,
    /// Bearer token, when the API requires one.
    #[arg(long, env = "NETWARDEN_API_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

impl ApiArgs {
    /// GET `path` with `query`; the JSON answer, or the API's own error message.
    pub fn get(&self, path: &str, query: &[(&str, String)]) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.api.trim_end_matches('/'));
        let mut req = ureq::get(&url);
        for (k, v) in query {
            req = req.query(k, v);
        }
        if let Some(t) = &self.token {
            req = req.set("Authorization", &format!("Bearer {t}"));
        }
        match req.call() {
            Ok(resp) => resp.into_json().with_context(|| format!("reading {url}")),
            Err(ureq::Error::Status(code, resp)) => {
                let body: Value = resp.into_json().unwrap_or(Value::Null);
                let msg = body["error"].as_str().unwrap_or("no details");
                anyhow::bail!("{path} ({code}): {msg}")
            }
            Err(e) => Err(anyhow::anyhow!(
                "{url}: {e} (is the agent or `netwarden serve` running with the API on?)"
            )),
        }
    }
}

/// Epoch milliseconds as `HH:MM:SS.mmm` UTC, for tables (JSON keeps the number).
pub fn clock(ms: i64) -> String {
    let day_ms = ms.rem_euclid(86_400_000);
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        day_ms / 3_600_000,
        day_ms / 60_000 % 60,
        day_ms / 1000 % 60,
        day_ms % 1000
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn clock_shows_the_time_of_day_in_utc() {
        // 2026-11-22T01:49:21.880Z
        assert_eq!(super::clock(1_795_312_161_880), "01:49:21.880");
        assert_eq!(super::clock(0), "00:00:00.000");
    }
}
