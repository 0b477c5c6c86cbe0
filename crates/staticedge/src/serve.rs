//! `staticedge run`: check everything, then start pingora with our services.

use crate::control::Control;
use crate::drain::{BeforeExit, DrainSignal};
use crate::edge::{prepare, Edge};
use pingora::apps::HttpServerOptions;
use pingora::listeners::{ListenerConfig, TcpSocketOptions};
use pingora::protocols::l4::stream::L4BufferSettings;
use pingora::protocols::TcpKeepalive;
use pingora::proxy::http_proxy;
use pingora::server::configuration::ServerConf;
use pingora::server::{RunArgs, Server};
use pingora::services::background::background_service;
use pingora::services::listening::Service;
use pingora::services::ServiceWithDependents;
use staticedge_admin::AdminApp;
use staticedge_config::Config;
use staticedge_proxy::{EdgeProxy, Front};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tracing::info;

/// Every address must be bindable before anything starts: pingora would otherwise
/// retry for 30 s, then let the listener task die while the process (and its health
/// port) lives on.
fn check_bindable(config: &Config) -> Result<(), String> {
    let addrs = config
        .listeners
        .iter()
        .map(|l| ("listener", l.listen))
        .chain(std::iter::once(("admin", config.admin.listen)));
    for (what, addr) in addrs {
        std::net::TcpListener::bind(addr).map_err(|e| {
            format!(
                "{}: cannot listen on {addr} ({what}): {e}",
                config.source.path.display()
            )
        })?;
    }
    Ok(())
}

fn server_conf(config: &Config) -> ServerConf {
    let mut conf = ServerConf {
        threads: config.server.threads,
        // pingora sleeps this long after it stops accepting. Our drain watcher exits as
        // soon as in-flight requests are done, or at drain_timeout as read at SIGTERM
        // (a reload may have raised it), so this is only a generous backstop.
        grace_period_seconds: Some(config.server.drain_timeout.as_secs().max(3600) + 1),
        graceful_shutdown_timeout_seconds: Some(1),
        // Our fail_to_connect decides per upstream (`retries`, at most 10); this is the cap.
        max_retries: 11,
        // Work-stealing runtime (pingora's default), chosen on measurement: per-thread
        // current-thread runtimes cost 7 % less per HTTP/1.1 request but 28 % more per
        // HTTP/2 stream (docs/benchmarks.md, "Runtime").
        work_stealing: true,
        ..ServerConf::default()
    };
    let run_dir = std::env::temp_dir();
    let pid = std::process::id();
    conf.upgrade_sock = run_dir
        .join(format!("staticedge-{pid}-upgrade.sock"))
        .display()
        .to_string();
    conf.pid_file = run_dir
        .join(format!("staticedge-{pid}.pid"))
        .display()
        .to_string();
    conf
}

fn socket_options() -> TcpSocketOptions {
    let mut o = TcpSocketOptions::default();
    // Dead clients behind the NLB are noticed instead of holding a slot forever.
    o.tcp_keepalive = Some(TcpKeepalive {
        idle: Duration::from_secs(60),
        interval: Duration::from_secs(10),
        count: 6,
        #[cfg(target_os = "linux")]
        user_timeout: Duration::from_secs(0),
    });
    o
}

/// Runs the proxy from `config_path` until SIGTERM/SIGINT. `extra` services (the
/// demo's upstream) run in the same server; `before_exit` runs once when the
/// process stops, whichever way it stops.
pub fn run(
    config_path: &Path,
    extra: Vec<Box<dyn ServiceWithDependents>>,
    before_exit: Option<BeforeExit>,
) -> ExitCode {
    let prepared = match prepare(config_path) {
        Ok(p) => p,
        Err(errors) => {
            eprintln!("{errors}");
            return ExitCode::from(1);
        }
    };
    if let Err(e) = check_bindable(&prepared.config) {
        eprintln!("{e}");
        return ExitCode::from(1);
    }
    let conf = Arc::new(server_conf(&prepared.config));
    let (edge, fresh) = match Edge::start(config_path, prepared) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    let state = edge.state.load_full();
    let config = state.config.clone();
    drop(state);

    let mut server = Server::new_with_opt_and_conf(None, server_conf(&config));
    server.bootstrap();

    let options = {
        let mut o = HttpServerOptions::default();
        o.h2_idle_timeout = Some(config.server.keepalive_timeout);
        o
    };
    let h2 = {
        let mut b = pingora::protocols::http::v2::server::default_h2_options();
        b.max_concurrent_streams(config.limits.h2_max_concurrent_streams);
        b
    };
    let new_proxy = || {
        let mut p = http_proxy(
            &conf,
            EdgeProxy::new(
                edge.state.clone(),
                edge.in_flight.clone(),
                edge.access_log.clone(),
            ),
        );
        p.server_options = Some(options.clone());
        p.h2_options = Some(h2.clone());
        p
    };
    for tls in [true, false] {
        let listeners: Vec<_> = config.listeners.iter().filter(|l| l.tls == tls).collect();
        if listeners.is_empty() {
            continue;
        }
        let front = Front::new(
            new_proxy(),
            tls.then(|| edge.tls_acceptor.clone()),
            edge.state.clone(),
            edge.limits.clone(),
        );
        let name = if tls {
            "staticedge tls"
        } else {
            "staticedge http"
        };
        let mut svc = Service::new(name.to_string(), front);
        for l in &listeners {
            let mut endpoint =
                ListenerConfig::tcp(l.listen.to_string()).tcp_socket_options(socket_options());
            if tls {
                // pingora's default puts a 64 KiB read buffer under every connection
                // and keeps it while the connection idles. rustls buffers TLS records
                // itself, so a TLS listener reads straight from the socket: 7 KiB less
                // resident per idle connection in the benchmark (docs/benchmarks.md).
                endpoint = endpoint.l4_buffer(L4BufferSettings::default().read(0));
            }
            svc.add_listener(endpoint);
        }
        svc.threads = Some(if tls { config.server.threads } else { 1 });
        server.add_service(svc);
    }
    let mut admin = Service::new(
        "staticedge admin".to_string(),
        AdminApp::new(edge.admin_view()),
    );
    admin.add_tcp(&config.admin.listen.to_string());
    admin.threads = Some(1);
    server.add_service(admin);
    let mut control = background_service("staticedge control", Control::new(edge.clone(), fresh));
    control.threads = Some(1);
    server.add_service(control);
    for svc in extra {
        server.add_boxed_service(svc);
    }

    info!(
        config = %config_path.display(),
        listeners = %config.listeners.iter().map(|l| l.listen.to_string()).collect::<Vec<_>>().join(","),
        admin = %config.admin.listen,
        "staticedge starting"
    );
    server.run(RunArgs {
        shutdown_signal: Box::new(DrainSignal {
            lifecycle: edge.lifecycle.clone(),
            state: edge.state.clone(),
            in_flight: edge.in_flight.clone(),
            access_log: edge.access_log.clone(),
            before_exit: before_exit.clone(),
        }),
    });
    // SIGINT (fast stop) ends here; the drain path exits from its own thread.
    edge.access_log.flush(Duration::from_secs(1));
    if let Some(clean_up) = before_exit {
        clean_up();
    }
    ExitCode::SUCCESS
}
