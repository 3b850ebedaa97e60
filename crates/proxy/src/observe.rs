//! The transcript of record (W2-5 item 6): the proxy holds the provider key and keeps a
//! sideband to each GPT-Live session it creates, so it can listen to what the session sends
//! the candidate's client. It stores the transcript fragments it observes, with the windows of
//! the session's timeline during which it was listening, in a store the candidate's computer
//! cannot write ([`Observations`]). Review compares the client's uploaded lines with them
//! (`viva_contract::observed::compare`).
//!
//! One observer per call, per instance ([`Running`]): it starts when a connection records a
//! Live call (an answered offer, or a takeover whose lease carries one) and reads the call's
//! events ([`crate::upstream::Upstream::observe`]) until the session closes. It keeps one
//! window open at a time:
//! - **From.** 0 when it was listening before the candidate could receive anything (this
//!   proxy just created the session, and its subscription was in place before the answer was
//!   sent: nothing can have been said yet). Otherwise it cannot know what it missed: the window
//!   starts [`DELIVERY_MARGIN_MS`] after the first fragment it hears begins (a fragment
//!   delivered just before it attached may start a little after one delivered just after).
//! - **To.** The latest end of a fragment it heard, checkpointed with each batch of fragments
//!   in one write ([`Observations::record`]), so a checkpoint never claims fragments that are
//!   not stored.
//! - **End.** `closed` on `session.closed`; `drain` when the proxy drains; `lost` when the
//!   event stream ends without `session.closed` or skips events (a new window opens after such
//!   a gap). A crash leaves the window open at its last checkpoint: the rest is a gap.
//!
//! Typed answers need no record of their own. A GPT-Live client makes lines only from the
//! session's transcript events, and the session writes a typed answer back as the candidate's
//! `session.input_transcript.delta` (the local interviewer does, after the provider's events),
//! on the same stream the sideband carries: the observer hears it as it hears spoken words. A
//! copy recorded from what the proxy passed on would repeat its words at a guessed time.
//!
//! **Realtime calls** are observed on the call's server-side connection (hosted: the sideband
//! `wss://…/v1/realtime?call_id=…` with the project key; local: the call's broadcast), from the
//! server events its client gets: the candidate's words from
//! `conversation.item.input_audio_transcription.completed`, the interviewer's from
//! `response.output_audio_transcript.done` (or `response.output_text.done`), each stored whole
//! with its item id (deltas are left out: the final transcript is what the client's line ends
//! as). Realtime events carry no timeline for the interviewer's words, so a Realtime fragment's
//! time is the observer's own clock: milliseconds since it asked for the call's events, taken
//! when the transcript arrived (`start_ms` = `end_ms`). A window from 0 means the subscription
//! was in place before the answer went out; otherwise it starts when it was. Its end moves with
//! every event heard (all of them reached the observer in order), and to the moment the events
//! ended when they end. The end of the call's events is `closed` (a Realtime call has no closing
//! event: the call's end closes its connection). Because that clock is this observer's own, a
//! Realtime call is observed only by the instance that created it, from its creation: an
//! observer on another instance after a takeover would put the same call on another timeline,
//! which the comparison could not tell apart; after a takeover, the rest of a Realtime call is
//! not observed (a gap).
//!
//! The hosted store is PostgreSQL ([`pg`]).

pub mod pg;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{broadcast, oneshot, watch};
use viva_contract::observed::{ObservedFragment, ObservedWindow, Speaker};
use viva_realtime::live::{LiveEvent, parse_live_event};
use viva_realtime::{ServerEvent, parse_server_event};

use crate::Proxy;
use crate::auth::BoxFuture;
use crate::upstream::{Upstream, UpstreamCall};

pub use pg::{CheckError, PgObservations};

/// How often pending fragments are written.
pub const FLUSH_EVERY: Duration = Duration::from_millis(500);
/// Pending fragments written at once without waiting for [`FLUSH_EVERY`].
pub const FLUSH_FRAGMENTS: usize = 20;
/// How long an answer waits for its call's observation to be in place (a hosted sideband's
/// handshake). Past it the answer goes anyway, and the window cannot start at 0.
pub const ATTACH_WAIT: Duration = Duration::from_secs(2);
/// How far after the first fragment heard a window starts when the observer joined a session
/// already under way (fragments arrive a little out of their timeline's order).
pub const DELIVERY_MARGIN_MS: u64 = 1_500;
/// Fragments kept while the store cannot be written; beyond, they are dropped and the window
/// ends at its last checkpoint (a gap), and a new one starts with the next fragment.
pub const MAX_PENDING: usize = 2_000;
/// The longest item id stored (the tables' limit); a longer one is cut to it.
pub const MAX_ITEM_ID_CHARS: usize = 200;

/// What an observed call's event stream yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    /// One server event, as the session sent it to its client.
    Event(String),
    /// Events were skipped (the observer fell behind).
    Gap { missed: u64 },
    /// The events ended because their source did: the call ended (a local call's task ended)
    /// or the service closed the connection. Nothing follows.
    Ended,
}

/// A call's server events, in the order the session sent them; `None` once they end.
pub trait EventSource: Send {
    /// The next event. Cancel-safe: dropping the future loses nothing.
    fn next(&mut self) -> BoxFuture<'_, Option<Heard>>;
}

/// An observed call's events (see [`crate::upstream::Upstream::observe`]).
pub type EventStream = Box<dyn EventSource>;

impl EventSource for broadcast::Receiver<String> {
    fn next(&mut self) -> BoxFuture<'_, Option<Heard>> {
        Box::pin(async move {
            match self.recv().await {
                Ok(text) => Some(Heard::Event(text)),
                Err(broadcast::error::RecvError::Lagged(missed)) => Some(Heard::Gap { missed }),
                // The sender is gone: the call (or the sideband carrying it) ended.
                Err(broadcast::error::RecvError::Closed) => Some(Heard::Ended),
            }
        })
    }
}

/// A window the observer opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowStart {
    pub tenant_id: String,
    /// The interview session.
    pub session_id: String,
    /// The provider's session (`live_…`), as in the client's line ids.
    pub provider_session: String,
    /// `live` or `realtime`.
    pub api: String,
    /// The proxy instance listening ([`Proxy::instance`]).
    pub instance: String,
    /// Where on the provider session's timeline it listened from.
    pub from_ms: u64,
}

/// A stored window's id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WindowId(pub String);

/// Why a window ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowEnd {
    /// The session closed (`session.closed`).
    Closed,
    /// The proxy drained (a deploy).
    Drain,
    /// The events stopped or skipped without the session closing.
    Lost,
}

impl WindowEnd {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Drain => "drain",
            Self::Lost => "lost",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "closed" => Some(Self::Closed),
            "drain" => Some(Self::Drain),
            "lost" => Some(Self::Lost),
            _ => None,
        }
    }
}

/// Why the store could not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ObserveError {
    #[error("observation is off")]
    Off,
    #[error("the observation store failed: {0}")]
    Store(String),
    #[error("no such observation window")]
    NoSuchWindow,
}

/// Where observed fragments and windows are kept: written only by the proxy (a service
/// credential), never by a candidate's client.
pub trait Observations: Send + Sync + std::fmt::Debug {
    /// Whether calls are observed at all. When not, the proxy never asks the upstream for a
    /// call's events (a hosted session's sideband then opens only for typed answers).
    fn enabled(&self) -> bool {
        true
    }

    /// Opens a window (`to_ms` = `from_ms` until recorded).
    fn open_window<'a>(
        &'a self,
        start: &'a WindowStart,
    ) -> BoxFuture<'a, Result<WindowId, ObserveError>>;

    /// Stores `fragments` (in the order received) and moves the window's end to `to_ms`, in
    /// one write.
    fn record<'a>(
        &'a self,
        window: &'a WindowId,
        fragments: &'a [ObservedFragment],
        to_ms: u64,
    ) -> BoxFuture<'a, Result<(), ObserveError>>;

    /// Ends the window at `to_ms`.
    fn close<'a>(
        &'a self,
        window: &'a WindowId,
        to_ms: u64,
        reason: WindowEnd,
    ) -> BoxFuture<'a, Result<(), ObserveError>>;
}

/// Observation off (the default).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoObservations;

impl Observations for NoObservations {
    fn enabled(&self) -> bool {
        false
    }

    fn open_window<'a>(
        &'a self,
        _start: &'a WindowStart,
    ) -> BoxFuture<'a, Result<WindowId, ObserveError>> {
        Box::pin(async { Err(ObserveError::Off) })
    }

    fn record<'a>(
        &'a self,
        _window: &'a WindowId,
        _fragments: &'a [ObservedFragment],
        _to_ms: u64,
    ) -> BoxFuture<'a, Result<(), ObserveError>> {
        Box::pin(async { Err(ObserveError::Off) })
    }

    fn close<'a>(
        &'a self,
        _window: &'a WindowId,
        _to_ms: u64,
        _reason: WindowEnd,
    ) -> BoxFuture<'a, Result<(), ObserveError>> {
        Box::pin(async { Err(ObserveError::Off) })
    }
}

/// A window as a store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredWindow {
    pub id: WindowId,
    pub start: WindowStart,
    pub to_ms: u64,
    /// `None` while open (or left open by a crash).
    pub end: Option<WindowEnd>,
}

impl StoredWindow {
    /// The window as the comparison takes it.
    pub fn observed(&self) -> ObservedWindow {
        ObservedWindow {
            provider_session: self.start.provider_session.clone(),
            from_ms: self.start.from_ms,
            to_ms: self.to_ms.max(self.start.from_ms),
        }
    }
}

#[derive(Debug, Default)]
struct Memory {
    windows: Vec<StoredWindow>,
    fragments: Vec<(WindowId, ObservedFragment)>,
}

/// Observations in this process (tests).
#[derive(Debug, Default, Clone)]
pub struct MemoryObservations {
    memory: Arc<Mutex<Memory>>,
}

impl MemoryObservations {
    /// Every window, in the order opened.
    pub fn windows(&self) -> Vec<StoredWindow> {
        self.memory
            .lock()
            .map(|m| m.windows.clone())
            .unwrap_or_default()
    }

    /// An interview session's record, as the comparison takes it ([`without_repeats`]).
    pub fn record_of(&self, session_id: &str) -> (Vec<ObservedFragment>, Vec<ObservedWindow>) {
        let Ok(memory) = self.memory.lock() else {
            return (Vec::new(), Vec::new());
        };
        let ours: HashSet<&WindowId> = memory
            .windows
            .iter()
            .filter(|w| w.start.session_id == session_id)
            .map(|w| &w.id)
            .collect();
        let fragments = without_repeats(
            memory
                .fragments
                .iter()
                .filter(|(window, _)| ours.contains(window))
                .map(|(window, fragment)| (window.0.as_str(), fragment.clone())),
        );
        let windows = memory
            .windows
            .iter()
            .filter(|w| w.start.session_id == session_id)
            .map(StoredWindow::observed)
            .collect();
        (fragments, windows)
    }
}

impl Observations for MemoryObservations {
    fn open_window<'a>(
        &'a self,
        start: &'a WindowStart,
    ) -> BoxFuture<'a, Result<WindowId, ObserveError>> {
        Box::pin(async move {
            let mut memory = self
                .memory
                .lock()
                .map_err(|_| ObserveError::Store("poisoned".into()))?;
            let id = WindowId(uuid::Uuid::new_v4().to_string());
            memory.windows.push(StoredWindow {
                id: id.clone(),
                start: start.clone(),
                to_ms: start.from_ms,
                end: None,
            });
            Ok(id)
        })
    }

    fn record<'a>(
        &'a self,
        window: &'a WindowId,
        fragments: &'a [ObservedFragment],
        to_ms: u64,
    ) -> BoxFuture<'a, Result<(), ObserveError>> {
        Box::pin(async move {
            let mut memory = self
                .memory
                .lock()
                .map_err(|_| ObserveError::Store("poisoned".into()))?;
            let stored = memory
                .windows
                .iter_mut()
                .find(|w| &w.id == window)
                .ok_or(ObserveError::NoSuchWindow)?;
            stored.to_ms = stored.to_ms.max(to_ms);
            memory
                .fragments
                .extend(fragments.iter().map(|f| (window.clone(), f.clone())));
            Ok(())
        })
    }

    fn close<'a>(
        &'a self,
        window: &'a WindowId,
        to_ms: u64,
        reason: WindowEnd,
    ) -> BoxFuture<'a, Result<(), ObserveError>> {
        Box::pin(async move {
            let mut memory = self
                .memory
                .lock()
                .map_err(|_| ObserveError::Store("poisoned".into()))?;
            let stored = memory
                .windows
                .iter_mut()
                .find(|w| &w.id == window)
                .ok_or(ObserveError::NoSuchWindow)?;
            stored.to_ms = stored.to_ms.max(to_ms);
            stored.end = Some(reason);
            Ok(())
        })
    }
}

pub use viva_contract::observed::without_repeats;

/// The calls observed by this instance now (one observer per call).
#[derive(Debug, Default)]
pub struct Running {
    calls: Arc<Mutex<HashSet<String>>>,
}

impl Running {
    /// How many calls are observed now.
    pub fn count(&self) -> usize {
        self.calls.lock().map(|c| c.len()).unwrap_or(0)
    }

    fn register(&self, call_id: &str) -> Option<Registered> {
        let mut calls = self.calls.lock().ok()?;
        calls.insert(call_id.to_owned()).then(|| Registered {
            calls: self.calls.clone(),
            call_id: call_id.to_owned(),
        })
    }
}

/// A call's place in [`Running`], given up however its observer ends.
struct Registered {
    calls: Arc<Mutex<HashSet<String>>>,
    call_id: String,
}

impl Drop for Registered {
    fn drop(&mut self) {
        if let Ok(mut calls) = self.calls.lock() {
            calls.remove(&self.call_id);
        }
    }
}

/// How the proxy came to the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attached {
    /// This proxy just created the session and has not sent its answer yet.
    AtCreation,
    /// The session was under way (a connection took over an interview's call).
    Later,
}

/// Starts observing `call` for the interview `session_id` of `tenant_id`, unless observation
/// is off, it is already observed here, or it is a Realtime call this proxy did not just
/// create (see the module's doc). For a call just created, waits (up to [`ATTACH_WAIT`]) until
/// its events are subscribed to, so the answer goes out only after: then the window starts at
/// 0.
pub async fn start(
    proxy: &Arc<Proxy>,
    tenant_id: &str,
    session_id: &str,
    call: &UpstreamCall,
    attached: Attached,
) {
    if call.id.is_empty()
        || (!call.live && attached == Attached::Later)
        || !proxy.observations.enabled()
        || proxy.is_draining()
    {
        return;
    }
    let Some(registered) = proxy.observing.register(&call.id) else {
        return;
    };
    let observer = Observer {
        store: proxy.observations.clone(),
        upstream: proxy.upstream.clone(),
        call: call.clone(),
        start: WindowStart {
            tenant_id: tenant_id.to_owned(),
            session_id: session_id.to_owned(),
            provider_session: call.id.clone(),
            api: if call.live { "live" } else { "realtime" }.to_owned(),
            instance: proxy.instance.clone(),
            from_ms: 0,
        },
        draining: proxy.draining.subscribe(),
        _registered: registered,
    };
    let (ready, subscribed) = oneshot::channel();
    tokio::spawn(observer.run(ready));
    if attached == Attached::AtCreation {
        let _ = tokio::time::timeout(ATTACH_WAIT, subscribed).await;
    }
}

struct Observer {
    store: Arc<dyn Observations>,
    upstream: Arc<dyn Upstream>,
    call: UpstreamCall,
    /// The windows' common part (`from_ms` is set per window).
    start: WindowStart,
    draining: watch::Receiver<bool>,
    _registered: Registered,
}

impl Observer {
    async fn run(mut self, ready: oneshot::Sender<()>) {
        // A Realtime fragment's clock: from just before the call's events are asked for.
        let origin = tokio::time::Instant::now();
        let since = move || u64::try_from(origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        let mut events = match self.upstream.observe(&self.call).await {
            Ok(events) => events,
            Err(problem) => {
                tracing::warn!(event = "proxy_observation_unavailable", call_id = %self.call.id, reason = problem.reason());
                return;
            }
        };
        // Received: the answer has not gone out yet, so nothing was said before this.
        let anchored = ready.send(()).is_ok();
        tracing::info!(event = "proxy_observation_started", call_id = %self.call.id, api = %self.start.api, from_start = anchored);
        let live = self.call.live;
        // Live: the session's timeline, unknown until a fragment says where the observer is
        // unless it listened from the start. Realtime: the observer's clock, known.
        let from = |anchored: bool| match (live, anchored) {
            (_, true) => Some(0),
            (true, false) => None,
            (false, false) => Some(since()),
        };
        let mut window = Window::new(&self.start, from(anchored));
        window.flush(self.store.as_ref()).await;
        let mut stored = 0usize;
        let mut flushes = tokio::time::interval(FLUSH_EVERY);
        flushes.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let end = loop {
            tokio::select! {
                heard = events.next() => match heard {
                    Some(Heard::Event(text)) if live => match parse_live_event(&text).map(|e| e.event) {
                        Ok(LiveEvent::InputTranscriptDelta(f)) => window.push(Speaker::Candidate, f),
                        Ok(LiveEvent::OutputTranscriptDelta(f)) => window.push(Speaker::Interviewer, f),
                        Ok(LiveEvent::SessionStarted(started)) if started.session.id != self.call.id => {
                            tracing::warn!(event = "proxy_observation_other_session", call_id = %self.call.id);
                        }
                        Ok(LiveEvent::SessionClosed(_)) => break WindowEnd::Closed,
                        Ok(_) => {}
                        // The client refuses it too: it is in neither transcript.
                        Err(_) => tracing::debug!(event = "proxy_observation_unreadable_event", call_id = %self.call.id),
                    },
                    Some(Heard::Event(text)) => {
                        let at = since();
                        match parse_server_event(&text).map(|e| e.event) {
                            Ok(ServerEvent::InputTranscriptCompleted(done)) => {
                                window.push_item(Speaker::Candidate, done.transcript, &done.item_id, at);
                            }
                            Ok(ServerEvent::OutputTranscriptDone(done) | ServerEvent::OutputTextDone(done)) => {
                                let text = done.transcript.or(done.text).unwrap_or_default();
                                window.push_item(Speaker::Interviewer, text, &done.item_id, at);
                            }
                            // Heard in order: nothing before it was missed.
                            Ok(_) => window.heard_until(at),
                            Err(_) => tracing::debug!(event = "proxy_observation_unreadable_event", call_id = %self.call.id),
                        }
                    }
                    Some(Heard::Gap { missed }) => {
                        tracing::warn!(event = "proxy_observation_gap", call_id = %self.call.id, missed);
                        stored += window.close(self.store.as_ref(), WindowEnd::Lost).await;
                        window = Window::new(&self.start, from(false));
                        continue;
                    }
                    // A Live session says when it closes; a Realtime call's end closes its
                    // events.
                    Some(Heard::Ended) if !live => break WindowEnd::Closed,
                    Some(Heard::Ended) | None => break WindowEnd::Lost,
                },
                _ = flushes.tick() => {
                    stored += window.flush(self.store.as_ref()).await;
                }
                () = wait_for_drain(&mut self.draining) => break WindowEnd::Drain,
            }
            if window.pending.len() >= FLUSH_FRAGMENTS {
                stored += window.flush(self.store.as_ref()).await;
            }
            if window.broken {
                window = Window::new(&self.start, from(false));
            }
        };
        if !live {
            // Every event until now reached the observer.
            window.heard_until(since());
        }
        stored += window.close(self.store.as_ref(), end).await;
        tracing::info!(event = "proxy_observation_ended", call_id = %self.call.id, reason = end.as_str(), fragments = stored);
    }
}

async fn wait_for_drain(draining: &mut watch::Receiver<bool>) {
    if draining.wait_for(|draining| *draining).await.is_err() {
        // The proxy is gone: it cannot drain any more.
        std::future::pending::<()>().await;
    }
}

/// The window being observed.
struct Window {
    start: WindowStart,
    id: Option<WindowId>,
    /// Where it starts; `None` until known (joined under way, nothing heard yet).
    from_ms: Option<u64>,
    /// The latest fragment end heard.
    to_ms: u64,
    /// The end last stored.
    stored_to: u64,
    pending: Vec<ObservedFragment>,
    /// The store failed for too long: this window ends at its last checkpoint.
    broken: bool,
}

impl Window {
    /// A window from `from_ms`; `None` when it is known only once a fragment is heard.
    fn new(common: &WindowStart, from_ms: Option<u64>) -> Self {
        Self {
            start: common.clone(),
            id: None,
            from_ms,
            to_ms: 0,
            stored_to: 0,
            pending: Vec::new(),
            broken: false,
        }
    }

    /// A Realtime item's final transcript, arrived at `at_ms` on the observer's clock.
    fn push_item(&mut self, speaker: Speaker, text: String, item_id: &str, at_ms: u64) {
        self.heard_until(at_ms);
        let item_id =
            (!item_id.is_empty()).then(|| item_id.chars().take(MAX_ITEM_ID_CHARS).collect());
        self.pending.push(ObservedFragment {
            provider_session: self.start.provider_session.clone(),
            speaker,
            text,
            start_ms: at_ms,
            end_ms: at_ms,
            item_id,
        });
    }

    /// Everything until `at_ms` (the observer's clock) was heard.
    fn heard_until(&mut self, at_ms: u64) {
        self.to_ms = self.to_ms.max(at_ms);
    }

    fn push(&mut self, speaker: Speaker, fragment: viva_realtime::live::TranscriptFragment) {
        if self.from_ms.is_none() {
            self.from_ms = Some(fragment.start_ms.saturating_add(DELIVERY_MARGIN_MS));
        }
        self.to_ms = self.to_ms.max(fragment.end_ms);
        self.pending.push(ObservedFragment {
            provider_session: self.start.provider_session.clone(),
            speaker,
            text: fragment.delta,
            start_ms: fragment.start_ms,
            end_ms: fragment.end_ms,
            item_id: None,
        });
    }

    /// Where the window ends so far: never before it starts.
    fn end(&self) -> u64 {
        self.to_ms.max(self.from_ms.unwrap_or(0))
    }

    /// Opens the window if it is not yet, and writes what is pending; the fragments stored.
    async fn flush(&mut self, store: &dyn Observations) -> usize {
        let Some(from_ms) = self.from_ms else {
            return 0;
        };
        if self.id.is_some() && self.pending.is_empty() && self.stored_to == self.end() {
            return 0;
        }
        let written = match &self.id {
            Some(id) => store.record(id, &self.pending, self.end()).await,
            None => {
                let start = WindowStart {
                    from_ms,
                    ..self.start.clone()
                };
                match store.open_window(&start).await {
                    Ok(id) => {
                        self.stored_to = from_ms;
                        let written = if self.pending.is_empty() && self.end() == from_ms {
                            Ok(())
                        } else {
                            store.record(&id, &self.pending, self.end()).await
                        };
                        self.id = Some(id);
                        written
                    }
                    Err(problem) => Err(problem),
                }
            }
        };
        match written {
            Ok(()) => {
                self.stored_to = self.end();
                std::mem::take(&mut self.pending).len()
            }
            Err(problem) => {
                tracing::warn!(event = "proxy_observation_store_failed", call_id = %self.start.provider_session, %problem, pending = self.pending.len());
                if self.pending.len() > MAX_PENDING {
                    self.pending.clear();
                    self.broken = true;
                    if let Some(id) = &self.id {
                        let _ = store.close(id, self.stored_to, WindowEnd::Lost).await;
                    }
                }
                0
            }
        }
    }

    /// Writes what is pending and ends the window (at what was stored); the fragments stored.
    async fn close(&mut self, store: &dyn Observations, reason: WindowEnd) -> usize {
        let stored = self.flush(store).await;
        if let Some(id) = &self.id
            && !self.broken
        {
            // If the last write failed, the window ends where its record does.
            let reason = if self.pending.is_empty() {
                reason
            } else {
                WindowEnd::Lost
            };
            if let Err(problem) = store.close(id, self.stored_to, reason).await {
                tracing::warn!(event = "proxy_observation_store_failed", call_id = %self.start.provider_session, %problem);
            }
        }
        stored
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn fragment(window_text: &str, start_ms: u64) -> ObservedFragment {
        ObservedFragment {
            provider_session: "live_a".into(),
            speaker: Speaker::Candidate,
            text: window_text.into(),
            start_ms,
            end_ms: start_ms + 100,
            item_id: None,
        }
    }

    #[test]
    fn a_fragment_stored_by_two_windows_is_kept_once_but_repeats_in_one_window_stay() {
        let rows = vec![
            ("w1", fragment(" I", 0)),
            ("w1", fragment(" I", 0)),
            ("w2", fragment(" I", 0)),
            ("w2", fragment(" did", 200)),
        ];
        let kept = without_repeats(rows);
        assert_eq!(kept.len(), 3);
        assert_eq!(kept[2].text, " did");
    }

    #[tokio::test]
    async fn a_window_checkpoints_with_its_fragments_and_ends_at_what_was_stored() {
        let store = MemoryObservations::default();
        let common = WindowStart {
            tenant_id: "t".into(),
            session_id: "s".into(),
            provider_session: "live_a".into(),
            api: "live".into(),
            instance: "i".into(),
            from_ms: 0,
        };
        // Joined under way: nothing is stored before the first fragment, which starts it.
        let mut window = Window::new(&common, None);
        assert_eq!(window.flush(&store).await, 0);
        assert!(store.windows().is_empty());
        window.push(
            Speaker::Interviewer,
            viva_realtime::live::TranscriptFragment {
                delta: "Hello".into(),
                start_ms: 10_000,
                end_ms: 10_400,
            },
        );
        assert_eq!(window.flush(&store).await, 1);
        let windows = store.windows();
        assert_eq!(windows.len(), 1);
        assert_eq!(windows[0].start.from_ms, 10_000 + DELIVERY_MARGIN_MS);
        // Never ends before it starts.
        assert_eq!(windows[0].to_ms, 10_000 + DELIVERY_MARGIN_MS);
        window.push(
            Speaker::Candidate,
            viva_realtime::live::TranscriptFragment {
                delta: " Hi".into(),
                start_ms: 12_000,
                end_ms: 13_000,
            },
        );
        window.close(&store, WindowEnd::Closed).await;
        let windows = store.windows();
        assert_eq!(windows[0].to_ms, 13_000);
        assert_eq!(windows[0].end, Some(WindowEnd::Closed));
        let (fragments, observed) = store.record_of("s");
        assert_eq!(fragments.len(), 2);
        assert_eq!(
            observed,
            vec![ObservedWindow {
                provider_session: "live_a".into(),
                from_ms: 11_500,
                to_ms: 13_000
            }]
        );
    }
}
