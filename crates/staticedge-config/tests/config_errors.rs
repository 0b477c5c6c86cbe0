//! Every kind of configuration mistake gives one line naming file, line and column.

use staticedge_config::{parse, AccessLog, HostHeader, HostPattern, UpstreamAddress};
use std::path::Path;

const GOOD: &str = r#"
[server]
threads = 2
grace_period = "15s"
drain_timeout = "1m"
access_log = "off"

[admin]
listen = "127.0.0.1:9901"

[tls]
min_version = "1.3"
alpn = ["h2", "http/1.1"]

[[tls.certificate]]
cert = "/etc/staticedge/tls/a/fullchain.pem"
key = "/etc/staticedge/tls/a/privkey.pem"

[[listener]]
listen = "0.0.0.0:443"
proxy_protocol = "optional"

[[listener]]
listen = "0.0.0.0:80"
tls = false
redirect_https = true

[[route]]
hosts = ["api.example.com", "*.api.example.com"]
upstream = "eb-prod"
host_header = "upstream"
allow_cidrs = ["10.0.0.0/8", "2001:db8::/32"]

[[route]]
hosts = ["*"]
path_prefix = "/v2"
upstream = "eb-prod"
host_header = "app.internal"

[upstream.eb-prod]
address = "MyApp.eba-abc123.us-east-1.elasticbeanstalk.com:80"
connect_timeout = "2s"
retries = 2

[upstream.eb-prod.dns]
min_ttl = "1s"
max_ttl = "60s"
serve_stale_for = "1h"
nameservers = ["127.0.0.1:5354", "10.0.0.2"]

[upstream.eb-prod.probe]
path = "/health"
host = "api.example.com"
expect_status = [200, 204]
interval = "10s"
"#;

#[test]
fn the_full_format_parses_into_the_model() {
    let c = parse(Path::new("/etc/staticedge/staticedge.toml"), GOOD).expect("valid");
    assert_eq!(c.server.threads, 2);
    assert_eq!(c.server.drain_timeout.as_secs(), 60);
    assert_eq!(c.server.access_log, AccessLog::Off);
    assert_eq!(c.listeners.len(), 2);
    assert!(c.listeners[1].redirect_https && !c.listeners[1].tls);
    assert_eq!(
        c.routes[0].hosts[1],
        HostPattern::Wildcard("api.example.com".into())
    );
    assert_eq!(c.routes[0].host_header, HostHeader::Upstream);
    assert_eq!(
        c.routes[1].host_header,
        HostHeader::Literal("app.internal".into())
    );
    assert_eq!(c.routes[1].path_prefix, "/v2");
    let u = &c.upstreams["eb-prod"];
    assert_eq!(
        u.address,
        UpstreamAddress::Name {
            host: "myapp.eba-abc123.us-east-1.elasticbeanstalk.com".into(),
            port: 80
        }
    );
    assert_eq!(u.retries, 2);
    assert_eq!(u.dns.nameservers[1].port(), 53);
    assert_eq!(
        u.probe.as_ref().map(|p| p.expect_status.clone()),
        Some(vec![200, 204])
    );
    assert_eq!(c.source.sha256.len(), 64);
}

/// One broken variant of a minimal file per case: the text to replace, its
/// replacement, and what the single error line must say (position and words).
struct Case {
    name: &'static str,
    from: &'static str,
    to: &'static str,
    want: &'static str,
}

const BASE: &str = r#"[server]
grace_period = "15s"

[[tls.certificate]]
cert = "a.pem"
key = "a.key"

[[listener]]
listen = "127.0.0.1:8443"

[[route]]
hosts = ["api.example.com"]
upstream = "app"

[upstream.app]
address = "app.example.com:80"
"#;

#[test]
fn each_mistake_names_file_line_and_column() {
    let cases = [
        Case { name: "unknown key", from: "grace_period", to: "grace_perod", want: "/x/se.toml:2:1: unknown field `grace_perod` in [server]; did you mean `grace_period`?" },
        Case { name: "bad duration", from: "\"15s\"", to: "\"15 parsecs\"", want: "/x/se.toml:2:16: server.grace_period: invalid duration \"15 parsecs\"" },
        Case { name: "bad socket address", from: "127.0.0.1:8443", to: "127.0.0.1:port", want: "/x/se.toml:9:10: listener.listen: invalid socket address \"127.0.0.1:port\"" },
        Case { name: "bad cidr", from: "upstream = \"app\"\n", to: "upstream = \"app\"\nallow_cidrs = [\"10.0.0.0/33\"]\n", want: "/x/se.toml:14:16: route.allow_cidrs: invalid IP network \"10.0.0.0/33\"" },
        Case { name: "unknown upstream", from: "upstream = \"app\"", to: "upstream = \"ap\"", want: "/x/se.toml:13:12: route.upstream: no [upstream.ap] is defined (defined: app)" },
        Case { name: "duplicate route", from: "upstream = \"app\"\n", to: "upstream = \"app\"\n[[route]]\nhosts = [\"API.example.com\"]\nupstream = \"app\"\n", want: "/x/se.toml:15:10: route: host api.example.com with path_prefix \"/\" is already routed at line 12" },
        Case { name: "upstream without port", from: "app.example.com:80", to: "app.example.com", want: "/x/se.toml:16:11: upstream.app.address: \"app.example.com\" needs a port" },
        Case { name: "bad host pattern", from: "[\"api.example.com\"]", to: "[\"api.*.com\"]", want: "/x/se.toml:12:10: route.hosts: host pattern \"api.*.com\"" },
        Case { name: "bad min_version", from: "[[tls.certificate]]", to: "[tls]\nmin_version = \"1.1\"\n[[tls.certificate]]", want: "/x/se.toml:5:15: tls.min_version: unknown value `1.1`; expected one of `1.2`, `1.3`" },
        Case { name: "bad proxy_protocol", from: "listen = \"127.0.0.1:8443\"", to: "listen = \"127.0.0.1:8443\"\nproxy_protocol = \"yes\"", want: "/x/se.toml:10:18: listener.proxy_protocol: unknown value `yes`; expected one of `off`, `optional`, `required`" },
        Case { name: "syntax error", from: "[[route]]", to: "[[route]", want: "/x/se.toml:11:" },
        Case { name: "ttl clamp inverted", from: "address = \"app.example.com:80\"", to: "address = \"app.example.com:80\"\n[upstream.app.dns]\nmin_ttl = \"2m\"\nmax_ttl = \"1m\"", want: "/x/se.toml:18:11: upstream.app.dns: min_ttl (120s) is above max_ttl (60s)" },
        Case { name: "keepalive above the NLB idle timeout", from: "[server]", to: "[server]\nkeepalive_timeout = \"400s\"", want: "/x/se.toml:2:21: server.keepalive_timeout must be above 0 and below the NLB's 350s idle timeout" },
        Case { name: "zero min_ttl", from: "address = \"app.example.com:80\"", to: "address = \"app.example.com:80\"\n[upstream.app.dns]\nmin_ttl = \"0s\"", want: "/x/se.toml:18:11: upstream.app.dns.min_ttl must be at least 100ms" },
        Case { name: "zero header timeout", from: "[server]", to: "[limits]\nheader_timeout = \"0s\"\n[server]", want: "/x/se.toml:2:18: limits.header_timeout must be above 0" },
        Case { name: "unknown limit", from: "[server]", to: "[limits]\nmax_body = 1\n[server]", want: "/x/se.toml:2:1: unknown field `max_body` in [limits], expected one of `header_timeout`, `handshake_timeout`, `max_request_body_bytes`" },
        Case { name: "header limit too small", from: "[server]", to: "[limits]\nmax_request_header_bytes = 100\n[server]", want: "/x/se.toml:2:28: limits.max_request_header_bytes must be between 1024 and 524288 (found 100)" },
        Case { name: "too many headers allowed", from: "[server]", to: "[limits]\nmax_request_headers = 1000\n[server]", want: "/x/se.toml:2:23: limits.max_request_headers must be between 1 and 256 (found 1000)" },
        Case { name: "request line above the header", from: "[server]", to: "[limits]\nmax_request_header_bytes = 4096\nmax_request_line_bytes = 8192\n[server]", want: "/x/se.toml:3:26: limits.max_request_line_bytes (8192) cannot be above limits.max_request_header_bytes (4096)" },
        Case { name: "wrong type", from: "[server]", to: "[server]\nthreads = \"2\"", want: "/x/se.toml:2:11: server.threads: expected an integer, found the string \"2\"" },
        Case { name: "wrong type in a list", from: "[\"api.example.com\"]", to: "[\"api.example.com\", 7]", want: "/x/se.toml:12:29: route.hosts: expected a string, found the integer 7" },
        Case { name: "threads out of range", from: "[server]", to: "[server]\nthreads = 0", want: "/x/se.toml:2:11: server.threads must be between 1 and 1024 (found 0)" },
        Case { name: "missing field", from: "address = \"app.example.com:80\"", to: "tls = false", want: "/x/se.toml:15:1: [upstream.app]: missing field `address`" },
        Case { name: "single table for an array of tables", from: "[[listener]]", to: "[listener]", want: "/x/se.toml:8:1: listener: write [[listener]] (one block per entry), not [listener]" },
        Case { name: "unknown section", from: "[server]", to: "[sever]", want: "/x/se.toml:1:2: unknown field `sever` in the top level of the file; did you mean `server`?" },
        Case { name: "redirect on a TLS listener", from: "listen = \"127.0.0.1:8443\"", to: "listen = \"127.0.0.1:8443\"\nredirect_https = true", want: "listener: redirect_https needs tls = false" },
    ];
    let path = Path::new("/x/se.toml");
    assert!(parse(path, BASE).is_ok(), "the base case must be valid");
    for case in cases {
        assert!(BASE.contains(case.from), "{}: bad test", case.name);
        let text = BASE.replacen(case.from, case.to, 1);
        let errors = parse(path, &text).expect_err(case.name);
        let rendered = errors.to_string();
        assert_eq!(errors.0.len(), 1, "{}: {rendered}", case.name);
        assert!(
            rendered.contains(case.want),
            "{}: got {rendered:?}, want it to contain {:?}",
            case.name,
            case.want
        );
    }
}

#[test]
fn defaults_fill_what_the_file_leaves_out() {
    let c = parse(
        Path::new("/x/se.toml"),
        &BASE.replace("grace_period = \"15s\"\n", ""),
    )
    .expect("valid");
    // the bundled NLB health check: 10 s interval x 2 failures, plus one interval
    assert_eq!(c.server.grace_period.as_secs(), 30);
    let h = c.limits.headers;
    assert_eq!(
        (
            h.max_request_header_bytes,
            h.max_request_headers,
            h.max_request_line_bytes
        ),
        (32 * 1024, 100, 8 * 1024)
    );
}

#[test]
fn header_limits_are_read_and_a_small_header_limit_caps_the_line_default() {
    let text = BASE.replace(
        "[server]",
        "[limits]\nmax_request_header_bytes = 4096\nmax_request_headers = 20\n[server]",
    );
    let h = parse(Path::new("/x/se.toml"), &text)
        .expect("valid")
        .limits
        .headers;
    assert_eq!(
        (
            h.max_request_header_bytes,
            h.max_request_headers,
            h.max_request_line_bytes
        ),
        (4096, 20, 4096)
    );
}

#[test]
fn every_problem_is_reported_not_just_the_first() {
    let text = BASE
        .replace("upstream = \"app\"", "upstream = \"nope\"")
        .replace("app.example.com:80", "app.example.com:99999");
    let errors = parse(Path::new("c.toml"), &text).expect_err("two problems");
    assert_eq!(errors.0.len(), 2, "{errors}");
    // sorted in file order
    assert!(errors.0[0].location.line < errors.0[1].location.line);
}

#[test]
fn unknown_key_wrong_type_and_invalid_value_are_reported_in_one_run() {
    let text = BASE
        .replace("grace_period", "grace_perod")
        .replace(
            "[[listener]]",
            "[limits]\nmax_connections = \"many\"\n\n[[listener]]",
        )
        .replace("127.0.0.1:8443", "127.0.0.1:84430");
    let errors = parse(Path::new("/x/se.toml"), &text).expect_err("three problems");
    let lines: Vec<String> = errors.0.iter().map(ToString::to_string).collect();
    let want = [
        "/x/se.toml:2:1: unknown field `grace_perod` in [server]; did you mean `grace_period`?",
        "/x/se.toml:9:19: limits.max_connections: expected an integer, found the string \"many\"",
        "/x/se.toml:12:10: listener.listen: invalid socket address \"127.0.0.1:84430\"",
    ];
    assert_eq!(lines.len(), want.len(), "{errors}");
    for (line, want) in lines.iter().zip(want) {
        assert!(line.starts_with(want), "got {line:?}, want {want:?}");
    }
}

/// Mistakes an operator makes with the docs open: each message names the key and
/// says what to write instead.
#[test]
fn messages_say_what_to_write() {
    let route_with = |line: &'static str| {
        (
            "upstream = \"app\"\n",
            format!("upstream = \"app\"\n{line}\n"),
        )
    };
    let cases: Vec<(&str, (&str, String), &str)> = vec![
        ("host_header typo", route_with("host_header = \"upsteam\""), "/x/se.toml:14:15: route.host_header: unknown value \"upsteam\"; did you mean \"upstream\"?"),
        ("host_header capitalised", route_with("host_header = \"Preserve\""), "/x/se.toml:14:15: route.host_header: unknown value \"Preserve\"; did you mean \"preserve\"?"),
        ("host_header empty", route_with("host_header = \"\""), "/x/se.toml:14:15: route.host_header: the Host value is empty"),
        ("host_header URL", route_with("host_header = \"https://app.example.com/\""), "/x/se.toml:14:15: route.host_header: \"https://app.example.com/\" is a URL (https://...); write only the host, like \"app.example.com\""),
        ("host_header CR LF", route_with("host_header = \"app.example.com\\r\\nX-Admin: 1\""), "/x/se.toml:14:15: route.host_header: \"app.example.com\\r\\nX-Admin: 1\" contains a space, line break or control character"),
        ("host_header without a dot", route_with("host_header = \"backend\""), "/x/se.toml:14:15: route.host_header: \"backend\" is neither \"preserve\", \"upstream\" nor a host name with a dot; for a name without a dot write host_header = { literal = \"backend\" }"),
        ("host_header table with a bad literal", route_with("host_header = { literal = \"a b\" }"), "/x/se.toml:14:27: route.host_header: \"a b\" contains a space"),
        ("host_header table with a number", route_with("host_header = { literal = 5 }"), "/x/se.toml:14:27: route.host_header.literal: expected a string, found the integer 5"),
        ("duration as a number", ("address = \"app.example.com:80\"", "address = \"app.example.com:80\"\nconnect_timeout = 2".into()), "/x/se.toml:17:19: upstream.app.connect_timeout: durations are strings with a unit, not numbers: write connect_timeout = \"2s\" for 2 seconds"),
        ("IPv6 any without brackets", ("127.0.0.1:8443", ":::443".into()), "/x/se.toml:9:10: listener.listen: invalid socket address \":::443\" (invalid socket address syntax); an IPv6 address needs brackets: write \"[::]:443\""),
        ("IPv6 without brackets", ("127.0.0.1:8443", "2001:db8::1:443".into()), "an IPv6 address needs brackets: write \"[2001:db8::1]:443\""),
        ("listen without a port", ("127.0.0.1:8443", "127.0.0.1".into()), "the port is missing: write \"127.0.0.1:443\""),
        ("listen on a host name", ("127.0.0.1:8443", "localhost:443".into()), "host names are not accepted here: write an IP address, like \"0.0.0.0:443\""),
        ("one address as a CIDR", route_with("allow_cidrs = [\"203.0.113.7\"]"), "/x/se.toml:14:16: route.allow_cidrs: \"203.0.113.7\" is an address, not a network: write \"203.0.113.7/32\" for this one address"),
        ("upstream as a URL", ("app.example.com:80", "http://app.example.com/".into()), "/x/se.toml:16:11: upstream.app.address: \"http://app.example.com/\" is a URL; write host:port without a scheme or path: address = \"app.example.com:80\""),
        ("https upstream as a URL", ("app.example.com:80", "https://app.example.com".into()), "address = \"app.example.com:443\" and tls = true"),
    ];
    let path = Path::new("/x/se.toml");
    for (name, (from, to), want) in cases {
        assert!(BASE.contains(from), "{name}: bad test");
        let text = BASE.replacen(from, &to, 1);
        let errors = parse(path, &text).expect_err(name);
        let rendered = errors.to_string();
        assert_eq!(errors.0.len(), 1, "{name}: {rendered}");
        assert!(
            rendered.contains(want),
            "{name}: got {rendered:?}, want it to contain {want:?}"
        );
    }
}

#[test]
fn host_header_keywords_and_literals_mean_what_they_say() {
    let cases = [
        ("host_header = \"preserve\"", HostHeader::Preserve),
        ("host_header = \"upstream\"", HostHeader::Upstream),
        (
            "host_header = \"app.example.com\"",
            HostHeader::Literal("app.example.com".into()),
        ),
        (
            "host_header = \"app.example.com:8080\"",
            HostHeader::Literal("app.example.com:8080".into()),
        ),
        (
            "host_header = \"10.0.0.5\"",
            HostHeader::Literal("10.0.0.5".into()),
        ),
        (
            "host_header = { literal = \"backend\" }",
            HostHeader::Literal("backend".into()),
        ),
        (
            "host_header = { literal = \"upstream\" }",
            HostHeader::Literal("upstream".into()),
        ),
    ];
    for (line, want) in cases {
        let text = BASE.replacen(
            "upstream = \"app\"\n",
            &format!("upstream = \"app\"\n{line}\n"),
            1,
        );
        let config = parse(Path::new("se.toml"), &text).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!(config.routes[0].host_header, want, "{line}");
    }
}

/// The commented example operators start from is valid, and the fuzz seed full of
/// mistakes yields one line per mistake (and nothing twice).
#[test]
fn the_shipped_example_is_valid_and_the_mistakes_seed_reports_each_mistake() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let example = root.join("config/staticedge.example.toml");
    let text = std::fs::read_to_string(&example).expect("example");
    if let Err(e) = parse(&example, &text) {
        panic!("the example has problems:\n{e}");
    }
    let seed = root.join("tests/fuzz/corpus/config/mistakes.toml");
    let text = std::fs::read_to_string(&seed).expect("seed");
    let errors = parse(Path::new("m.toml"), &text).expect_err("mistakes");
    let lines: Vec<String> = errors.0.iter().map(ToString::to_string).collect();
    let want = [
        "m.toml:2:1: unknown field `grace_perod`",
        "m.toml:3:11: server.threads: expected an integer",
        "m.toml:6:19: limits.max_connections: expected an integer",
        "m.toml:9:10: listener.listen: invalid socket address \":::443\"",
        "m.toml:12:10: listener.listen: invalid socket address \"2001:db8::1:443\"",
        "m.toml:15:29: route.hosts: expected a string",
        "m.toml:17:15: route.host_header: unknown value \"upsteam\"",
        "m.toml:18:16: route.allow_cidrs: \"203.0.113.7\" is an address",
        "m.toml:26:11: upstream.app.address: \"http://app.example.com/\" is a URL",
        "m.toml:27:19: upstream.app.connect_timeout: durations are strings",
    ];
    assert_eq!(lines.len(), want.len(), "{errors}");
    for (line, want) in lines.iter().zip(want) {
        assert!(line.starts_with(want), "got {line:?}, want {want:?}");
    }
}

/// Every prefix of the example (a file cut off while being written or copied) is
/// read without a panic, and every problem points inside the text.
#[test]
fn every_prefix_of_the_example_reads_without_panic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let text =
        std::fs::read_to_string(root.join("config/staticedge.example.toml")).expect("example");
    let cuts = text.char_indices().map(|(i, _)| i).step_by(7);
    for cut in cuts {
        let prefix = &text[..cut];
        if let Err(errors) = parse(Path::new("cut.toml"), prefix) {
            let lines = prefix.lines().count().max(1);
            for e in &errors.0 {
                assert!(e.location.line >= 1 && e.location.line <= lines + 1, "{e}");
            }
        }
    }
}

#[test]
fn request_buffering_settings_parse_with_defaults_and_reject_mistakes() {
    use staticedge_config::RequestBuffering;
    let path = Path::new("/x/se.toml");
    let c = parse(path, BASE).expect("valid");
    let b = &c.limits.buffer;
    assert_eq!(b.mode, RequestBuffering::Unsized);
    assert_eq!((b.memory, b.disk_total), (64 * 1024, 1024 * 1024 * 1024));
    assert_eq!(b.body_timeout.as_secs(), 30);
    assert!(
        b.applies(None) && !b.applies(Some(10)),
        "unsized: chunked only"
    );

    let dir = std::env::temp_dir();
    let set = format!(
        "[limits]\nrequest_buffering = \"all\"\nrequest_buffer_memory = 1024\n\
         request_buffer_dir = {:?}\nrequest_buffer_disk_total = 5000\nbody_timeout = \"2s\"\n[server]",
        dir.display()
    );
    let c = parse(path, &BASE.replacen("[server]", &set, 1)).expect("valid");
    let b = &c.limits.buffer;
    assert_eq!(b.mode, RequestBuffering::All);
    assert_eq!((b.memory, b.disk_total, b.dir.clone()), (1024, 5000, dir));
    assert_eq!(b.body_timeout.as_secs(), 2);
    assert!(b.applies(None) && b.applies(Some(10)) && !b.applies(Some(0)));

    let mistakes = [
        (
            "request_buffering = \"some\"",
            "/x/se.toml:2:21: limits.request_buffering: unknown value `some`",
        ),
        (
            "request_buffer_dir = \"spool\"",
            "/x/se.toml:2:22: limits.request_buffer_dir: spool must be an absolute path",
        ),
        (
            "request_buffer_dir = \"/nonexistent/staticedge\"",
            "limits.request_buffer_dir: /nonexistent/staticedge is not an existing directory",
        ),
        (
            "body_timeout = \"0s\"",
            "/x/se.toml:2:16: limits.body_timeout must be above 0",
        ),
        (
            "request_buffer_memory = -1",
            "/x/se.toml:2:25: limits.request_buffer_memory must be between",
        ),
    ];
    for (line, want) in mistakes {
        let text = BASE.replacen("[server]", &format!("[limits]\n{line}\n[server]"), 1);
        let errors = parse(path, &text).expect_err(line).to_string();
        assert!(
            errors.contains(want),
            "{line}: got {errors:?}, want {want:?}"
        );
    }
}

const PARTNERS: &str = r#"
[[tls.certificate]]
cert = "api.pem"
key = "api.key"
client_ca = "partners-ca.pem"
client_crls = ["partners.crl.pem"]

[[tls.certificate]]
cert = "other.pem"
key = "other.key"
client_ca = "other-ca.pem"
client_auth = "optional"

[[listener]]
listen = "127.0.0.1:8443"

[[route]]
hosts = ["api.example.com"]
upstream = "app"
allow_client_names = ["Partner-A.example.com"]
rate_limit = { requests_per_second = 50, burst = 100, key = "client_cert" }

[[route]]
hosts = ["other.example.com"]
upstream = "app"
client_cert = "required"
rate_limit = { requests_per_second = 5 }

[upstream.app]
address = "127.0.0.1:9000"
"#;

#[test]
fn partner_access_settings_are_read_with_their_defaults() {
    use staticedge_config::{ClientAuthMode, ClientCertRule, RateLimit, RateLimitKey};
    let c = parse(Path::new("/etc/se/se.toml"), PARTNERS).expect("valid");
    let a = c.tls.certificates[0]
        .client_auth
        .as_ref()
        .expect("client auth");
    assert_eq!(
        a.mode,
        ClientAuthMode::Required,
        "client_ca alone means required"
    );
    assert_eq!(a.ca, Path::new("/etc/se/partners-ca.pem"));
    assert_eq!(a.crls, [Path::new("/etc/se/partners.crl.pem")]);
    assert_eq!((a.ca_at.line, a.crls_at[0].line), (5, 6));
    let b = c.tls.certificates[1]
        .client_auth
        .as_ref()
        .expect("client auth");
    assert_eq!(b.mode, ClientAuthMode::Optional);
    let (api, other) = (&c.routes[0], &c.routes[1]);
    assert_eq!(api.allow_client_names, ["partner-a.example.com"]);
    assert!(api.requires_client_cert(), "an allow-list implies required");
    assert_eq!(api.client_cert_at.map(|l| l.line), Some(20));
    assert_eq!(
        api.rate_limit,
        Some(RateLimit {
            requests_per_second: 50,
            burst: 100,
            key: RateLimitKey::ClientCert,
            max_keys: 100_000
        })
    );
    assert_eq!(other.client_cert, ClientCertRule::Required);
    let limit = other.rate_limit.expect("limit");
    assert_eq!((limit.burst, limit.key), (5, RateLimitKey::ClientIp));
    let plain = parse(Path::new("/x/se.toml"), BASE).expect("valid");
    assert!(plain
        .tls
        .certificates
        .iter()
        .all(|c| c.client_auth.is_none()));
    assert!(plain
        .routes
        .iter()
        .all(|r| !r.requires_client_cert() && r.rate_limit.is_none()));
}

#[test]
fn partner_access_mistakes_name_file_line_and_column() {
    let cases = [
        ("rate_limit = { requests_per_second = 5 }", "rate_limit = { requests_per_second = 0 }", "/x/se.toml:27:38: route.rate_limit.requests_per_second must be between 1 and 1000000 (found 0)"),
        ("rate_limit = { requests_per_second = 5 }", "rate_limit = { requests_per_second = -3 }", "route.rate_limit.requests_per_second must be between 1 and 1000000 (found -3)"),
        ("rate_limit = { requests_per_second = 5 }", "rate_limit = { requests_per_second = 5, burst = 0 }", "route.rate_limit.burst must be between 1"),
        ("rate_limit = { requests_per_second = 5 }", "rate_limit = { burst = 5 }", "/x/se.toml:27:14: [route.rate_limit]: missing field `requests_per_second`"),
        ("rate_limit = { requests_per_second = 5 }", "rate_limit = { requests_per_second = 5, key = \"client-ip\" }", "route.rate_limit.key: unknown value `client-ip`; did you mean `client_ip`?"),
        ("rate_limit = { requests_per_second = 5 }", "rate_limit = { requests_per_second = 5, per = \"1m\" }", "unknown field `per`"),
        ("client_cert = \"required\"", "client_cert = \"yes\"", "/x/se.toml:26:15: route.client_cert: unknown value `yes`"),
        ("client_auth = \"optional\"", "client_auth = \"request\"", "/x/se.toml:12:15: tls.certificate.client_auth: unknown value `request`"),
        ("client_ca = \"other-ca.pem\"\n", "", "/x/se.toml:11:15: tls.certificate.client_auth needs client_ca"),
        ("[\"Partner-A.example.com\"]", "[\"\"]", "route.allow_client_names: a name is a certificate's DNS or URI SAN"),
    ];
    let path = Path::new("/x/se.toml");
    for (from, to, want) in cases {
        assert!(PARTNERS.contains(from), "bad test: {from}");
        let text = PARTNERS.replacen(from, to, 1);
        let rendered = parse(path, &text).expect_err(to).to_string();
        assert!(
            rendered.contains(want),
            "{to}: got {rendered:?}, want {want:?}"
        );
    }
}
