//! `GET /`: a small self-contained HTML page of `/status`, for a person with a browser
//! and an SSM port forward. No scripts, no external assets; it reloads itself every
//! 10 s.
//!
//! Its first line is the readiness verdict with every reason, red when not ready, so
//! the page can never look healthy while `/readyz` answers 503.

use crate::charts::{chart, number, Line};
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

const STYLE: &str = "body{font:14px system-ui,sans-serif;margin:0 2em 2em;color:#222}\
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}\
th{background:#f3f3f3}td:first-child{white-space:nowrap}.bad{color:#b00;font-weight:bold}.ok{color:#070}\
.verdict{margin:0 -2em 1em;padding:.6em 2em;font-size:18px;font-weight:bold;color:#fff}\
.verdict.ready{background:#0a7d2c}.verdict.unready{background:#b00020}\
h1{font-size:22px;margin:.2em 0}.facts{color:#444}.charts{display:flex;flex-wrap:wrap;gap:1em}\
.chart{border:1px solid #ddd;background:#fcfcfc}.chart .ct{font-weight:bold;font-size:12px}\
.chart .axis{font-size:10px;fill:#666}.chart .legend{font-size:11px;font-weight:bold}\
.chart .frame{fill:none;stroke:#ccc}.chart .grid{stroke:#eee}";

/// Renders the status document as HTML: the verdict, who and what this is, the live
/// figures, then one table per concern.
pub fn render(status: &Value) -> String {
    let mut h = String::with_capacity(16 * 1024);
    h.push_str(&format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{} &middot; staticedge {}</title>\
         <meta http-equiv=\"refresh\" content=\"10\"><style>{STYLE}</style></head><body>",
        if is_ready(status) { "ready" } else { "NOT READY" },
        status["instance"]["id"].as_str().map(esc).unwrap_or_default(),
    ));
    verdict(&mut h, status);
    summary(&mut h, status);
    figures(&mut h, status);
    listeners(&mut h, status);
    upstreams(&mut h, status);
    certificates(&mut h, status);
    routes(&mut h, status);
    h.push_str("<p>JSON: <a href=\"/status\">/status</a> &middot; <a href=\"/readyz\">/readyz</a> &middot; <a href=\"/metrics\">/metrics</a></p></body></html>\n");
    h
}

fn list(v: &Value) -> Vec<String> {
    v.as_array().into_iter().flatten().map(text).collect()
}

/// True only when the document says ready (an old or broken one is not).
fn is_ready(status: &Value) -> bool {
    status["ready"].as_bool() == Some(true)
}

/// The first line: READY, or NOT READY with every reason `/readyz` gives.
fn verdict(h: &mut String, status: &Value) {
    if is_ready(status) {
        h.push_str("<p class=\"verdict ready\">READY: serving traffic</p>");
        return;
    }
    let reasons = list(&status["reasons"]);
    h.push_str(&format!(
        "<p class=\"verdict unready\">NOT READY: {}</p>",
        if reasons.is_empty() {
            "no reason given".to_string()
        } else {
            reasons.join("; ")
        }
    ));
}

/// Version, instance, uptime, drain state and the last reload.
fn summary(h: &mut String, status: &Value) {
    let draining = status["draining"].as_bool().unwrap_or(false);
    let instance = &status["instance"];
    let identity = if instance.is_object() {
        format!(
            "instance {} &middot; zone {} &middot; ",
            text(&instance["id"]),
            text(&instance["availability_zone"])
        )
    } else {
        String::new()
    };
    let uptime = status["uptime_seconds"].as_u64().unwrap_or(0);
    // No "serving" here: whether this instance should get traffic is the verdict's
    // to say, and a second word for it could only disagree.
    h.push_str(&format!(
        "<h1>staticedge {}</h1><p class=\"facts\">{identity}up {} &middot; {} in flight{}</p>",
        text(&status["version"]),
        humantime::format_duration(std::time::Duration::from_secs(uptime)),
        text(&status["in_flight_requests"]),
        if draining {
            " &middot; <span class=\"bad\">draining</span>"
        } else {
            ""
        }
    ));
    let reload = &status["config"]["last_reload"];
    h.push_str(&format!(
        "<p class=\"facts\">config {} (sha256 {}) &middot; last reload {} at {}{}</p>",
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
    if let Some(e) = status["access_log"]["last_error"].as_str() {
        h.push_str(&format!(
            "<p class=\"facts\">access log: <span class=\"bad\">last line lost at {}: {}</span></p>",
            text(&status["access_log"]["last_error_at"]),
            esc(e)
        ));
    }
}

/// The last minute's figures as numbers, then the last minutes as charts.
fn figures(h: &mut String, status: &Value) {
    let f = &status["figures"];
    let m = &f["last_minute"];
    let value = |key: &str, unit: &str| match m[key].as_f64() {
        Some(x) => format!("{} {unit}", number(x)),
        None => "-".into(),
    };
    h.push_str(&format!(
        "<h2>Traffic</h2><p>last minute: {} &middot; 4xx {} &middot; 5xx {} &middot; upstream latency p50 {} &middot; p99 {}</p><div class=\"charts\">",
        value("requests_per_second", "requests/s"),
        value("4xx_per_second", "/s"),
        value("5xx_per_second", "/s"),
        value("upstream_p50_ms", "ms"),
        value("upstream_p99_ms", "ms"),
    ));
    let requests = [Line {
        key: "requests_per_second",
        label: "req/s",
        colour: "#2563c9",
    }];
    let errors = [
        Line {
            key: "4xx_per_second",
            label: "4xx/s",
            colour: "#c77700",
        },
        Line {
            key: "5xx_per_second",
            label: "5xx/s",
            colour: "#c00020",
        },
    ];
    let latency = [
        Line {
            key: "upstream_p50_ms",
            label: "p50",
            colour: "#2563c9",
        },
        Line {
            key: "upstream_p99_ms",
            label: "p99",
            colour: "#7b2cbf",
        },
    ];
    h.push_str(&chart("requests/s", "/s", f, &requests));
    h.push_str(&chart("errors/s", "/s", f, &errors));
    h.push_str(&chart("upstream latency", "ms", f, &latency));
    h.push_str("</div>");
}

/// Each listener and whether it accepts connections now.
fn listeners(h: &mut String, status: &Value) {
    h.push_str("<h2>Listeners</h2><table><tr><th>listen</th><th>TLS</th><th>PROXY protocol</th><th>accepting</th></tr>");
    for l in status["listeners"].as_array().into_iter().flatten() {
        let accepting = l["accepting"].as_bool().unwrap_or(false);
        h.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            text(&l["listen"]),
            if l["tls"].as_bool().unwrap_or(false) {
                "yes"
            } else {
                "no"
            },
            text(&l["proxy_protocol"]),
            if accepting {
                "<span class=\"ok\">yes</span>"
            } else {
                "<span class=\"bad\">NO</span>"
            },
        ));
    }
    h.push_str("</table>");
}

/// An upstream's start-up probe: none, passed, or what it last got.
fn probe_cell(probe: &Value) -> String {
    if probe.is_null() {
        return "-".into();
    }
    if probe["ever_succeeded"].as_bool().unwrap_or(false) {
        format!(
            "<span class=\"ok\">passed</span> (last: {})",
            text(&probe["last_result"])
        )
    } else {
        format!(
            "<span class=\"bad\">not passed</span> (last: {})",
            text(&probe["last_result"])
        )
    }
}

/// Each upstream's addresses, DNS state and start-up probe.
fn upstreams(h: &mut String, status: &Value) {
    h.push_str("<h2>Upstreams</h2><table><tr><th>name</th><th>target</th><th>addresses (TTL left)</th><th>last refresh</th><th>last error</th><th>stale since</th><th>start-up probe</th></tr>");
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
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
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
            probe_cell(&u["probe"]),
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

/// Routes and the Host each sends upstream.
fn routes(h: &mut String, status: &Value) {
    h.push_str("<h2>Routes</h2><table><tr><th>hosts</th><th>path prefix</th><th>upstream</th><th>Host sent</th></tr>");
    for r in status["routes"].as_array().into_iter().flatten() {
        let hosts = list(&r["hosts"]);
        let sent = match &r["host_sent"] {
            Value::Null => &r["host_header"],
            sent => sent,
        };
        h.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            hosts.join(", "),
            text(&r["path_prefix"]),
            text(&r["upstream"]),
            text(sent),
        ));
    }
    h.push_str("</table>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn status(ready: bool, reasons: &[&str]) -> Value {
        json!({
            "ready": ready, "reasons": reasons,
            "instance": {"id": "i-0abc", "availability_zone": "eu-west-1b"},
            "version": "0.1.0", "uptime_seconds": 65, "draining": false, "in_flight_requests": 0,
            "config": {"source": "/etc/x.toml", "hash": "abc", "last_reload": {"result": "error", "at": "t", "error": "<bad>"}},
            "upstreams": [{"name": "eb", "target": "eb.test:80", "addresses": [{"addr": "127.0.0.2:8000", "ttl_left_seconds": 3}],
                           "probe": {"ever_succeeded": false, "last_result": "status 500"}}],
            "listeners": [{"listen": "127.0.0.1:443", "tls": true, "proxy_protocol": "off", "accepting": false}],
            "certificates": [],
            "routes": [{"hosts": ["api.example.test"], "upstream": "eb", "host_header": "upstream", "host_sent": "eb.test"}],
            "figures": {"now_unix": 1000, "history_seconds": 900, "sample_interval_seconds": 5,
                        "last_minute": {"requests_per_second": 12.5, "4xx_per_second": 0.5, "5xx_per_second": 0.0,
                                        "upstream_p50_ms": 3.25, "upstream_p99_ms": null},
                        "history": [{"end_unix": 995, "requests_per_second": 10.0, "4xx_per_second": 0.0,
                                     "5xx_per_second": 0.0, "upstream_p50_ms": 3.0, "upstream_p99_ms": 9.0},
                                    {"end_unix": 1000, "requests_per_second": 12.5, "4xx_per_second": 0.5,
                                     "5xx_per_second": 0.0, "upstream_p50_ms": 3.5, "upstream_p99_ms": 8.0}]}
        })
    }

    /// The first element of the body, its text without tags.
    fn first_line(page: &str) -> (String, String) {
        let body = &page[page.find("<body>").unwrap_or(0) + 6..];
        let end = body.find("</p>").unwrap_or(body.len());
        let element = &body[..end];
        let class = element
            .split("class=\"")
            .nth(1)
            .and_then(|c| c.split('"').next())
            .unwrap_or_default()
            .to_string();
        let text = element[element.find('>').map_or(0, |i| i + 1)..].to_string();
        (class, text)
    }

    #[test]
    fn an_unready_instance_says_so_in_red_with_every_reason_first() {
        let page = render(&status(
            false,
            &[
                "upstream eb: never resolved",
                "listener 127.0.0.1:443 is not accepting connections",
            ],
        ));
        let (class, line) = first_line(&page);
        assert_eq!(class, "verdict unready");
        assert_eq!(
            line,
            "NOT READY: upstream eb: never resolved; listener 127.0.0.1:443 is not accepting connections"
        );
        assert!(STYLE.contains(".verdict.unready{background:#b00020}"));
        assert!(page.contains("<title>NOT READY"));
        assert!(
            !page.contains("serving"),
            "nothing on the page says otherwise"
        );
        assert!(
            page.contains("<span class=\"bad\">NO</span>"),
            "the listener"
        );
        assert!(
            page.contains("<span class=\"bad\">not passed</span> (last: status 500)"),
            "the probe"
        );
    }

    #[test]
    fn a_ready_instance_says_so_in_green() {
        let page = render(&status(true, &[]));
        let (class, line) = first_line(&page);
        assert_eq!(
            (class.as_str(), line.as_str()),
            ("verdict ready", "READY: serving traffic")
        );
        assert!(!page.contains("NOT READY"));
    }

    #[test]
    fn a_document_without_a_verdict_is_not_shown_as_ready() {
        let page = render(&json!({"version": "0.1.0"}));
        assert_eq!(first_line(&page).1, "NOT READY: no reason given");
    }

    #[test]
    fn the_page_shows_identity_host_sent_and_addresses() {
        let page = render(&status(true, &[]));
        assert!(page.contains("instance i-0abc &middot; zone eu-west-1b"));
        assert!(page.contains("up 1m 5s"));
        assert!(page.contains("127.0.0.2:8000 (3s)"));
        assert!(
            page.contains("<td>eb.test</td></tr>"),
            "Host sent, not the policy name"
        );
        let without = render(&json!({"ready": true, "instance": null}));
        assert!(!without.contains("instance "), "no identity off EC2");
    }

    #[test]
    fn the_page_draws_the_figures_and_the_charts() {
        let page = render(&status(true, &[]));
        assert!(page.contains("last minute: 12.5 requests/s"));
        assert!(page.contains("upstream latency p50 3.25 ms &middot; p99 -"));
        assert_eq!(page.matches("<svg class=\"chart\"").count(), 3);
        assert_eq!(
            page.matches("<path d=\"M").count(),
            5,
            "one line per series"
        );
        assert!(!page.contains("no data yet"));
    }

    #[test]
    fn without_samples_the_charts_say_no_data() {
        let mut s = status(true, &[]);
        s["figures"]["history"] = json!([]);
        s["figures"]["last_minute"] = Value::Null;
        let page = render(&s);
        assert_eq!(page.matches("no data yet").count(), 3);
        assert!(page.contains("last minute: - &middot;"));
    }

    #[test]
    fn the_access_log_s_last_failure_is_shown() {
        let mut s = status(true, &[]);
        s["access_log"] = json!({"last_error": "open_error: /var/log/x.log: Permission denied",
                                 "last_error_at": "2026-01-01T00:00:00Z"});
        let page = render(&s);
        assert!(page.contains("access log: <span class=\"bad\">last line lost at 2026-01-01T00:00:00Z: open_error: /var/log/x.log: Permission denied</span>"));
    }

    #[test]
    fn text_from_the_document_is_escaped() {
        let mut s = status(false, &["upstream <x>: \"bad\" & worse"]);
        s["upstreams"][0]["last_error"] = json!("<script>alert(1)</script>");
        s["instance"]["id"] = json!("<i>");
        let page = render(&s);
        assert!(page.contains("NOT READY: upstream &lt;x&gt;: &quot;bad&quot; &amp; worse"));
        assert!(page.contains("&lt;bad&gt;"));
        assert!(page.contains("&lt;script&gt;alert(1)"));
        assert!(!page.contains("<script") && !page.contains("<i>"));
    }
}
