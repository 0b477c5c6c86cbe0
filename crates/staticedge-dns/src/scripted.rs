//! A resolver whose answers a test scripts in order, so the refresh loop runs
//! without DNS. Each lookup takes the next scripted answer and records when it was
//! asked (on tokio's clock, which the tests pause); once the script is used up a
//! lookup never finishes, which freezes the loop in the state the script left.

use crate::lookup::{Answer, DnsError, Resolve};
use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex};
use tokio::time::{Duration, Instant};

/// Cheap to clone: clones share one script, so a test keeps a handle to read what
/// the loop asked.
#[derive(Debug, Clone, Default)]
pub(crate) struct ScriptedResolver {
    script: Arc<Mutex<Script>>,
}

#[derive(Debug, Default)]
struct Script {
    answers: VecDeque<Result<Answer, DnsError>>,
    asked: Vec<(Instant, String)>,
}

impl ScriptedResolver {
    /// A resolver giving `answers`, one per lookup, in order.
    pub(crate) fn answering(answers: impl IntoIterator<Item = Result<Answer, DnsError>>) -> Self {
        let resolver = ScriptedResolver::default();
        resolver.lock().answers.extend(answers);
        resolver
    }

    /// When each lookup was asked, as the time since `start`.
    pub(crate) fn asked_since(&self, start: Instant) -> Vec<Duration> {
        let script = self.lock();
        script.asked.iter().map(|(at, _)| *at - start).collect()
    }

    /// The `host:port` each lookup asked for.
    pub(crate) fn asked_for(&self) -> Vec<String> {
        let script = self.lock();
        script.asked.iter().map(|(_, name)| name.clone()).collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Script> {
        self.script.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Resolve for ScriptedResolver {
    fn lookup(
        &self,
        host: &str,
        port: u16,
    ) -> impl Future<Output = Result<Answer, DnsError>> + Send {
        let next = {
            let mut script = self.lock();
            script
                .asked
                .push((Instant::now(), format!("{host}:{port}")));
            script.answers.pop_front()
        };
        async move {
            match next {
                Some(answer) => answer,
                None => std::future::pending().await,
            }
        }
    }
}
