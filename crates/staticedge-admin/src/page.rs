//! `GET /`: a small self-contained HTML page of `/status`, for a person with a browser
//! and an SSM port forward. No scripts, no external assets.

use serde_json::Value;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => esc(s),
        other => esc(&other.to_string()),
    }
}

/// Renders the status document as HTML: a header, then one table per concern.
pub fn render(status: &Value) -> String {
    let mut h = String::with_capacity(4096);
    h.push_str(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>staticedge status</title>",
    );
    h.push_str("<meta http-equiv=\"refresh\" content=\"10\">");
    h.push_str("<style>body{font:14px system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}th{background:#f3f3f3}.bad{color:#b00;font-weight:bold}.ok{color:#070}</style></head><body>");
    summary(&mut h, status);
    upstreams(&mut h, status);
    certificates(&mut h, status);
    routes(&mut h, status);
    h.push_str("<p>JSON: <a href=\"/status\">/status</a> &middot; <a href=\"/readyz\">/readyz</a> &middot; <a href=\"/metrics\">/metrics</a></p></body></html>\n");
    h
}

fn list(v: &Value) -> Vec<String> {
    v.as_array().into_iter().flatten().map(text).collect()
}

/// Version, uptime, drain state and the last reload.
fn summary(h: &mut String, status: &Value) {
    let draining = status["draining"].as_bool().unwrap_or(false);
    h.push_str(&format!(
        "<h1>staticedge {}</h1><p>uptime {}s &middot; state: {}</p>",
        text(&status["version"]),
        text(&status["uptime_seconds"]),
        if draining {
            "<span class=\"bad\">draining</span>"
        } else {
            "<span class=\"ok\">serving</span>"
        }
    ));
    let reload = &status["config"]["last_reload"];
    h.push_str(&format!(
        "<p>config {} (sha256 {}) &middot; last reload {} at {}{}</p>",
        text(&status["config"]["source"]),
        text(&status["config"]["hash"])
            .chars()
            .take(12)
            .collect::<String>(),
        text(&reload["result"]),
        text(&reload["at"]),
        match reload["error"].as_str() {
            Some(e) => format!(": <span class=\"bad\">{}</span>", esc(e)),
            None => String::new(),
        }
    ));
}

/// Each upstream's addresses and DNS state.
fn upstreams(h: &mut String, status: &Value) {
    h.push_str("<h2>Upstreams</h2><table><tr><th>name</th><th>target</th><th>addresses (TTL left)</th><th>last refresh</th><th>last error</th><th>stale since</th></tr>");
    for u in status["upstreams"].as_array().into_iter().flatten() {
        let addrs: Vec<String> = u["addresses"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| match a["ttl_left_seconds"].as_u64() {
                Some(t) => format!("{} ({t}s)", text(&a["addr"])),
                None => format!("{} (fixed)", text(&a["addr"])),
            })
            .collect();
        h.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            text(&u["name"]),
            text(&u["target"]),
            if addrs.is_empty() {
                "<span class=\"bad\">unresolved</span>".to_string()
            } else {
                addrs.join("<br>")
            },
            text(&u["last_refresh"]),
            text(&u["last_error"]),
            text(&u["stale_since"]),
        ));
    }
    h.push_str("</table>");
}

/// Certificates with days left, red under 14.
fn certificates(h: &mut String, status: &Value) {
    h.push_str("<h2>Certificates</h2><table><tr><th>names</th><th>serial</th><th>expires</th><th>days left</th></tr>");
    for c in status["certificates"].as_array().into_iter().flatten() {
        let names = list(&c["names"]);
        let days = c["days_left"].as_i64().unwrap_or(0);
        h.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{}</td></tr>",
            names.join(", "),
            text(&c["serial"]),
            text(&c["not_after"]),
            if days < 14 { "bad" } else { "ok" },
            days
        ));
    }
    h.push_str("</table>");
}

/// Routes and the Host each sends.
fn routes(h: &mut String, status: &Value) {
    h.push_str("<h2>Routes</h2><table><tr><th>hosts</th><th>path prefix</th><th>upstream</th><th>Host sent</th></tr>");
    for r in status["routes"].as_array().into_iter().flatten() {
        let hosts = list(&r["hosts"]);
        h.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            hosts.join(", "),
            text(&r["path_prefix"]),
            text(&r["upstream"]),
            text(&r["host_header"]),
        ));
    }
    h.push_str("</table>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_page_shows_addresses_and_escapes_text() {
        let status = json!({
            "version": "0.1.0", "uptime_seconds": 5, "draining": false,
            "config": {"source": "/etc/x.toml", "hash": "abc", "last_reload": {"result": "error", "at": "t", "error": "<bad>"}},
            "upstreams": [{"name": "eb", "target": "eb.test:80", "addresses": [{"addr": "127.0.0.2:8000", "ttl_left_seconds": 3}]}],
            "certificates": [], "routes": []
        });
        let page = render(&status);
        assert!(page.contains("127.0.0.2:8000 (3s)"));
        assert!(page.contains("&lt;bad&gt;"));
        assert!(!page.contains("<script"));
    }
}
