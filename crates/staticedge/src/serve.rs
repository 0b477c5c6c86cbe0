//! `staticedge run`: check everything, then start pingora with our services.

use crate::control::Control;
use crate::drain::{BeforeExit, DrainSignal};
use crate::live::{prepare, CertificateProblems, Live};
use pingora::apps::HttpServerOptions;
use pingora::listeners::{ListenerConfig, TcpSocketOptions};
use pingora::protocols::http::v2::server::H2Options;
use pingora::protocols::l4::stream::L4BufferSettings;
use pingora::protocols::TcpKeepalive;
use pingora::proxy::http_proxy;
use pingora::server::configuration::ServerConf;
use pingora::server::{RunArgs, Server};
use pingora::services::background::background_service;
use pingora::services::listening::Service;
use pingora::services::ServiceWithDependents;
use staticedge_admin::AdminApp;
use staticedge_config::{Config, Listener};
use staticedge_dns::UpstreamAddrs;
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
        // Work-stealing runtime (pingora's default), chosen on measurement: cheaper
        // for HTTP/2 streams than per-thread runtimes (docs/benchmarks.md, "Runtime").
        work_stealing: true,
        // Idle upstream connections pingora's path keeps (HTTP/2 streams, the slow
        // path). Its default of 128 is below the requests a busy instance has in flight
        // (50 HTTP/2 connections x 10 streams in `make bench`), so it closed and
        // reopened upstream connections all the time; the lean path's pool keeps up
        // to 1,024 per address (docs/benchmarks.md, "Upstream connections").
        upstream_keepalive_pool_size: 1024,
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

/// pingora's HTTP options for the proxy: the h2 idle timeout and stream limit (the
/// HTTP/1 limits are the front's).
fn http_options(config: &Config) -> (HttpServerOptions, H2Options) {
    let mut options = HttpServerOptions::default();
    options.h2_idle_timeout = Some(config.server.keepalive_timeout);
    let mut h2 = pingora::protocols::http::v2::server::default_h2_options();
    h2.max_concurrent_streams(config.limits.h2_max_concurrent_streams);
    (options, h2)
}

/// One listening endpoint for a configured listener.
fn endpoint(listener: &Listener) -> ListenerConfig {
    let mut endpoint =
        ListenerConfig::tcp(listener.listen.to_string()).tcp_socket_options(socket_options());
    if listener.tls {
        // pingora's default puts a 64 KiB read buffer under every connection and
        // keeps it while the connection idles. rustls buffers TLS records itself, so
        // a TLS listener reads straight from the socket (docs/benchmarks.md, memory
        // per idle connection).
        endpoint = endpoint.l4_buffer(L4BufferSettings::default().read(0));
    }
    endpoint
}

/// The proxy services: one for the TLS listeners, one for the plain ones, each a
/// [`Front`] around pingora's `HttpProxy` driving [`EdgeProxy`].
fn proxy_services(
    conf: &Arc<ServerConf>,
    config: &Config,
    live: &Live,
) -> Vec<Box<dyn ServiceWithDependents>> {
    let (options, h2) = http_options(config);
    let mut services: Vec<Box<dyn ServiceWithDependents>> = Vec::new();
    for tls in [true, false] {
        let listeners: Vec<_> = config.listeners.iter().filter(|l| l.tls == tls).collect();
        if listeners.is_empty() {
            continue;
        }
        let mut proxy = http_proxy(
            conf,
            EdgeProxy::new(
                live.state.clone(),
                live.in_flight.clone(),
                live.access_log.clone(),
            ),
        );
        proxy.server_options = Some(options.clone());
        proxy.h2_options = Some(h2.clone());
        let front = Front::new(
            proxy,
            tls.then(|| live.tls_acceptor.clone()),
            live.state.clone(),
            live.limits.clone(),
            live.access_log.clone(),
            live.in_flight.clone(),
        );
        let name = if tls {
            "staticedge tls"
        } else {
            "staticedge http"
        };
        let mut svc = Service::new(name.to_string(), front);
        for l in listeners {
            svc.add_listener(endpoint(l));
        }
        svc.threads = Some(if tls { config.server.threads } else { 1 });
        services.push(Box::new(svc));
    }
    services
}

/// The admin port and the control loop (DNS, reloads, probes, certificate files).
fn support_services(
    config: &Config,
    live: &Live,
    fresh: Vec<Arc<UpstreamAddrs>>,
) -> Vec<Box<dyn ServiceWithDependents>> {
    let mut admin = Service::new(
        "staticedge admin".to_string(),
        AdminApp::new(live.admin_view()).with_access_log(live.access_log.clone()),
    );
    admin.add_tcp(&config.admin.listen.to_string());
    admin.threads = Some(1);
    let mut control = background_service("staticedge control", Control::new(live.clone(), fresh));
    control.threads = Some(1);
    vec![Box::new(admin), Box::new(control)]
}

/// Runs the proxy from `config_path` until SIGTERM/SIGINT. `extra` services (the
/// demo's upstream) run in the same server; `before_exit` runs once when the
/// process stops, whichever way it stops.
pub fn run(
    config_path: &Path,
    extra: Vec<Box<dyn ServiceWithDependents>>,
    before_exit: Option<BeforeExit>,
) -> ExitCode {
    let started = prepare(config_path, CertificateProblems::Warn)
        .map_err(|errors| errors.to_string())
        .and_then(|prepared| {
            check_bindable(&prepared.config)?;
            Live::start(config_path, prepared)
        });
    let (live, fresh) = match started {
        Ok(x) => x,
        Err(e) => {
            crate::logging::startup_error(&e);
            return ExitCode::from(1);
        }
    };
    let config = live.state.load().config.clone();
    let mut server = Server::new_with_opt_and_conf(None, server_conf(&config));
    server.bootstrap();
    let conf = server.configuration.clone();
    let services = proxy_services(&conf, &config, &live)
        .into_iter()
        .chain(support_services(&config, &live, fresh))
        .chain(extra);
    for svc in services {
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
            lifecycle: live.lifecycle.clone(),
            state: live.state.clone(),
            in_flight: live.in_flight.clone(),
            access_log: live.access_log.clone(),
            before_exit: before_exit.clone(),
        }),
    });
    // SIGINT (fast stop) ends here; the drain path exits from its own thread.
    live.access_log.flush(Duration::from_secs(1));
    if let Some(clean_up) = before_exit {
        clean_up();
    }
    ExitCode::SUCCESS
}
