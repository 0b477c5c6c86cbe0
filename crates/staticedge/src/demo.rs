//! `staticedge demo`: the whole path on loopback with nothing installed.

use async_trait::async_trait;
use http::Response;
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use pingora::services::listening::Service;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

const DEMO_HOST: &str = "demo.staticedge.test";

/// The demo upstream: says hello and shows what staticedge forwarded.
struct DemoUpstream;

#[async_trait]
impl ServeHttp for DemoUpstream {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let h = |name: &str| {
            session
                .req_header()
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-")
                .to_string()
        };
        let body = format!(
            "hello from the staticedge demo upstream\nHost: {}\nX-Forwarded-For: {}\nX-Forwarded-Proto: {}\nX-Request-Id: {}\n",
            h("host"),
            h("x-forwarded-for"),
            h("x-forwarded-proto"),
            h("x-request-id")
        );
        let mut r = Response::new(body.clone().into_bytes());
        if let Ok(v) = body.len().to_string().parse() {
            r.headers_mut().insert(http::header::CONTENT_LENGTH, v);
        }
        if let Ok(v) = "text/plain".parse() {
            r.headers_mut().insert(http::header::CONTENT_TYPE, v);
        }
        r
    }
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free loopback port: {e}"))
}

/// A throwaway CA and a certificate for the demo name signed by it.
fn write_certificates(dir: &Path) -> Result<(), String> {
    let err = |e: rcgen::Error| e.to_string();
    let ca_key = KeyPair::generate().map_err(err)?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "staticedge demo CA (throwaway)");
    let ca_cert = ca.self_signed(&ca_key).map_err(err)?;
    let leaf_key = KeyPair::generate().map_err(err)?;
    let mut leaf = CertificateParams::new(vec![DEMO_HOST.to_string()]).map_err(err)?;
    leaf.distinguished_name.push(DnType::CommonName, DEMO_HOST);
    let leaf_cert = leaf.signed_by(&leaf_key, &ca_cert, &ca_key).map_err(err)?;
    let write = |name: &str, text: String| {
        std::fs::write(dir.join(name), text).map_err(|e| format!("write {name}: {e}"))
    };
    write("ca.pem", ca_cert.pem())?;
    write(
        "fullchain.pem",
        format!("{}{}", leaf_cert.pem(), ca_cert.pem()),
    )?;
    write("privkey.pem", leaf_key.serialize_pem())?;
    Ok(())
}

fn prepare(
    dir: &Path,
) -> Result<(String, Box<dyn pingora::services::ServiceWithDependents>), String> {
    write_certificates(dir)?;
    let (proxy_port, admin_port, upstream_port) = (free_port()?, free_port()?, free_port()?);
    let config = format!(
        r#"# Written by `staticedge demo`; removed when the demo stops.
[server]
threads = 1
grace_period = "0s"
drain_timeout = "2s"
access_log = "stdout"

[admin]
listen = "127.0.0.1:{admin_port}"

[[tls.certificate]]
cert = "fullchain.pem"
key = "privkey.pem"

[[listener]]
listen = "127.0.0.1:{proxy_port}"

[[route]]
hosts = ["{DEMO_HOST}"]
upstream = "demo"
host_header = "preserve"

[upstream.demo]
address = "127.0.0.1:{upstream_port}"
"#
    );
    std::fs::write(dir.join("staticedge.toml"), config).map_err(|e| e.to_string())?;
    let mut upstream = Service::new("demo upstream".to_string(), DemoUpstream);
    upstream.add_tcp(&format!("127.0.0.1:{upstream_port}"));
    upstream.threads = Some(1);
    println!("staticedge demo");
    println!("  proxy     https://{DEMO_HOST}:{proxy_port}/  (TLS, throwaway certificate)");
    println!("  upstream  http://127.0.0.1:{upstream_port}/  (built-in demo app)");
    println!("  admin     http://127.0.0.1:{admin_port}/readyz  /status  /metrics");
    println!("  files     {}", dir.display());
    let curl = format!(
        "curl --silent --show-error --cacert {ca} --resolve {DEMO_HOST}:{proxy_port}:127.0.0.1 https://{DEMO_HOST}:{proxy_port}/",
        ca = dir.join("ca.pem").display()
    );
    print_when_ready(curl.clone(), admin_port);
    Ok((curl, Box::new(upstream)))
}

/// Prints the curl line once the proxy answers ready, so that pasting it at once
/// works: printed before, it raced the listeners' start.
fn print_when_ready(curl: String, admin_port: u16) {
    std::thread::spawn(move || {
        let ready = || -> Option<bool> {
            let mut s = std::net::TcpStream::connect(("127.0.0.1", admin_port)).ok()?;
            s.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
            s.write_all(b"GET /readyz HTTP/1.0\r\n\r\n").ok()?;
            let mut answer = [0u8; 12];
            s.read_exact(&mut answer).ok()?;
            Some(answer.ends_with(b"200"))
        };
        let started = Instant::now();
        while ready() != Some(true) && started.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(50));
        }
        println!("Try it (Ctrl-C stops everything):");
        println!("{curl}");
    });
}

/// Runs the demo until Ctrl-C.
pub fn run() -> ExitCode {
    let dir = match tempdir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("demo: {e}");
            return ExitCode::from(1);
        }
    };
    match prepare(&dir) {
        Ok((_curl, upstream)) => {
            // Ctrl-C and SIGTERM (after its drain) both leave no files behind.
            let files = dir.clone();
            let clean_up = Arc::new(move || {
                let _ = std::fs::remove_dir_all(&files);
            });
            crate::serve::run(&dir.join("staticedge.toml"), vec![upstream], Some(clean_up))
        }
        Err(e) => {
            eprintln!("demo: {e}");
            let _ = std::fs::remove_dir_all(&dir);
            ExitCode::from(1)
        }
    }
}

fn tempdir() -> Result<std::path::PathBuf, String> {
    let dir = std::env::temp_dir().join(format!("staticedge-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}
