//! The call's run loop: the I/O around the conversation core. See the module documentation
//! of `call` for the loop's shape.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, watch};
use viva_contract::grant::VoiceApi;
use viva_contract::proxy::{HistoryLine, HistorySpeaker, fit_history};
use viva_realtime::conversation::AnyDialect;
use viva_realtime::conversation::{Output, Renewal};
use viva_realtime::live::CloseReason;
use viva_realtime::{Conversation, Cost, LineStatus, Speaker, TranscriptChange};

use super::config::CallConfig;
use super::connect::{Connection, connect, drop_connection, hang_up, proxy_notice};
use super::link::{Reopened, Reopening, reopen, reopened};
use super::reconnect::{
    AttemptFailed, Retry, attempt_failed, grace_expired, grace_left, next_attempt, resession_failed,
};
use super::typed::{Outbox, Typed};
use super::uplink::UplinkTarget;
use super::{CallEvent, Command, Summary, VoiceSink, stats};
use crate::backoff::Backoff;
use crate::grant::{AnswerMode, Grant, GrantSource, SignalingMode};
use crate::signaling::{ProxyLink, ProxyNotice};
use crate::{CallError, ErrorReport};

/// Why a live connection stopped being used.
pub(super) enum Outcome {
    Lost(String),
    Ended(String),
    Failed(CallError),
    Resession,
}

pub(super) struct Call {
    pub grant: Grant,
    pub grants: Option<Arc<dyn GrantSource>>,
    pub config: CallConfig,
    pub downlink: Option<Arc<dyn VoiceSink>>,
    pub uplink_target: watch::Sender<Option<UplinkTarget>>,
    /// Moves microphone frames to the connection; `None` under a text grant.
    pub uplink_task: Option<tokio::task::JoinHandle<()>>,
    pub events: mpsc::Sender<CallEvent>,
    pub commands: mpsc::Receiver<Command>,
    pub started: Instant,
    pub conversation: Conversation<AnyDialect>,
    pub levels: (Option<f32>, Option<f32>),
    pub http: reqwest::Client,
    /// Who asked for the end, to be given the summary.
    pub ended_by: Option<oneshot::Sender<Summary>>,
    /// The provider confirmed its session is closed (nothing more to ask it before hanging up).
    pub provider_closed: bool,
    /// Typed answers (GPT-Live) the SDP proxy has not acknowledged yet, across links and
    /// connections.
    pub typed: Outbox,
}

/// How long an ending call waits for the provider to confirm it closed the session (GPT-Live's
/// `session.closed`), which carries the session's final usage.
const CLOSE_WAIT: Duration = Duration::from_secs(2);
/// How long an ending call waits for the SDP proxy to acknowledge the typed answers just sent
/// (an answer typed right before hanging up is usually on its way, not lost).
const ACK_WAIT: Duration = Duration::from_secs(2);

impl Call {
    pub(super) fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// The moment `at_ms` after the call started, for a timer.
    fn instant(&self, at_ms: u64) -> tokio::time::Instant {
        tokio::time::Instant::from_std(self.started + Duration::from_millis(at_ms))
    }

    pub(super) async fn publish(&self, event: CallEvent) {
        // A closed receiver means nobody listens; the call itself goes on.
        let _ = self.events.send(event).await;
    }

    /// Carries out the conversation core's outputs, in order. `live`: the connection they
    /// are for, if one is up. Returns an outcome when the core asks for a re-session.
    pub(super) async fn drain(&mut self, mut live: Option<&mut Connection>) -> Option<Outcome> {
        let mut outcome = None;
        while let Some(output) = self.conversation.poll_output() {
            match output {
                Output::Send {
                    event,
                    requeue_if_unsent,
                } => {
                    let Some(live) = live.as_deref_mut() else {
                        tracing::warn!(event = "client_event_not_sent", "no connection");
                        continue;
                    };
                    if let Err(e) = live.peer.channel.send_text(&event.to_json()).await {
                        tracing::warn!(event = "client_event_not_sent", error = %e);
                        if requeue_if_unsent {
                            self.conversation.unsent(event);
                        }
                    }
                }
                Output::Opened => {
                    if let Some(live) = live.as_deref_mut() {
                        self.uplink_target.send_replace(Some(live.target.clone()));
                    }
                }
                // One wake-up per connection: the earliest of the core's deadlines.
                Output::Timer { at_ms, .. } => {
                    if let Some(live) = live.as_deref_mut() {
                        live.cap_at = Some(self.instant(at_ms));
                    }
                }
                Output::Transcript(change) => {
                    if let TranscriptChange::LineFinal(line) = &change {
                        tracing::debug!(event = "line_final", seq = line.seq, speaker = ?line.speaker, text = %line.text);
                    }
                    self.publish(CallEvent::Transcript { change }).await;
                }
                Output::State(state) => self.publish(CallEvent::State { state }).await,
                Output::StateRefused(invalid) => {
                    tracing::warn!(event = "call_state_refused", error = %invalid);
                }
                Output::Problem { code, message } => {
                    self.publish(CallEvent::Problem { code, message }).await;
                }
                Output::Cost(cost) => tracing::debug!(event = "call_cost", cost = ?cost),
                Output::Dropped(_) => tracing::warn!(
                    event = "client_event_dropped",
                    "too many events queued before the channel opened"
                ),
                // Live's typed answers go to the outbox before the core (`on_command`); one the
                // core gives back all the same goes the same way.
                Output::SendViaSignalling { text } => {
                    self.typed_answer(text, live.as_deref_mut()).await;
                }
                Output::Resession => outcome = Some(Outcome::Resession),
                Output::ProviderEnded { reason } => {
                    self.provider_closed = true;
                    outcome = Some(match reason {
                        CloseReason::Content => Outcome::Failed(CallError::ContentStopped),
                        _ => Outcome::Ended("the interview session was closed".into()),
                    });
                }
            }
        }
        outcome
    }

    pub(super) async fn run(mut self) {
        self.conversation.connect();
        self.drain(None).await;
        let mut connection = match self.connect_or_command().await {
            Some(Ok(connection)) => Some(connection),
            Some(Err(error)) => {
                self.fail(&error).await;
                None
            }
            None => None,
        };
        while let Some(mut live) = connection.take() {
            // Typed answers not acknowledged on this connection stay in the outbox: the next
            // connection's link is given them.
            let outcome = self.live(&mut live).await;
            match outcome {
                Outcome::Ended(reason) => {
                    self.settle_typed(&mut live).await;
                    self.close_session(&mut live).await;
                    self.hang_up(live).await;
                    self.conversation.end(reason);
                    self.drain(None).await;
                }
                Outcome::Failed(error) => {
                    self.hang_up(live).await;
                    self.fail(&error).await;
                }
                Outcome::Resession => {
                    // The new session hears an answer its predecessor took only if the
                    // transcript carries it: one acknowledged now is not sent to it again.
                    self.settle_typed(&mut live).await;
                    connection = self.resession(live).await;
                }
                Outcome::Lost(reason) => {
                    self.uplink_target.send_replace(None);
                    drop_connection(live);
                    connection = self.reconnect(reason).await;
                }
            }
        }
        if !self.conversation.state().is_final() {
            self.conversation.end("the call was ended".into());
            self.drain(None).await;
        }
        for typed in self.typed.take_all() {
            tracing::warn!(event = "typed_answer_unconfirmed", id = %typed.id);
            self.typed_lost(
                "typed_answer_unconfirmed",
                &typed,
                "the call ended before the interviewer confirmed it".into(),
            )
            .await;
        }
        let summary = self.summary();
        self.publish(CallEvent::Ended {
            summary: summary.clone(),
        })
        .await;
        if let Some(reply) = self.ended_by.take() {
            let _ = reply.send(summary);
        }
    }

    /// Asks the provider to end its session (GPT-Live: `session.close`; Realtime needs
    /// nothing) and waits, at most [`CLOSE_WAIT`], for it to confirm, so the session is closed
    /// upstream with its last usage counted. Words that arrive meanwhile are kept.
    async fn close_session(&mut self, live: &mut Connection) {
        let closing = self.conversation.closing_events();
        if self.provider_closed || closing.is_empty() {
            return;
        }
        for event in closing {
            if let Err(error) = live.peer.channel.send_text(&event.to_json()).await {
                tracing::info!(event = "session_close_not_sent", %error);
                return;
            }
        }
        let deadline = tokio::time::sleep(CLOSE_WAIT);
        tokio::pin!(deadline);
        while !self.provider_closed {
            tokio::select! {
                () = &mut deadline => {
                    tracing::info!(event = "session_close_unconfirmed");
                    break;
                }
                event = live.peer.events.recv() => {
                    let Some(event) = event else { break };
                    if self.on_peer_event(live, event).await.is_some() && !self.provider_closed {
                        break;
                    }
                }
            }
        }
        let now = self.now_ms();
        self.conversation.close_lines(now);
        self.drain(None).await;
    }

    /// Takes a typed answer for the SDP proxy (GPT-Live) and sends it now if a link is up;
    /// else it waits in the outbox for the next one. One that cannot be taken is told.
    async fn typed_answer(&mut self, text: String, live: Option<&mut Connection>) {
        match self.typed.push(text) {
            Ok(None) => {}
            Ok(Some(dropped)) => {
                self.typed_lost(
                    "typed_answer_dropped",
                    &dropped,
                    "too many typed answers were waiting for the interview service".into(),
                )
                .await;
            }
            Err(refused) => {
                self.publish(CallEvent::Problem {
                    code: "typed_answer_refused".into(),
                    message: format!("Your typed answer was not sent: {refused}."),
                })
                .await;
                return;
            }
        }
        if let Some(live) = live {
            live.send_typed(&mut self.typed).await;
        }
    }

    /// Tells the owner that `typed` may not have reached the interviewer, and why, quoting
    /// its start so the candidate knows which answer to give again.
    async fn typed_lost(&self, code: &str, typed: &Typed, why: String) {
        let advice = if self.conversation.state().is_final() {
            ""
        } else {
            " Please send it again."
        };
        self.publish(CallEvent::Problem {
            code: code.into(),
            message: format!(
                "Your typed answer {} may not have reached the interviewer: {why}.{advice}",
                typed.excerpt()
            ),
        })
        .await;
    }

    /// What the SDP proxy said about a typed answer: done, or failed (told).
    async fn on_typed_notice(&mut self, notice: ProxyNotice) {
        match notice {
            ProxyNotice::TextOk(id) => self.typed.acknowledged(&id),
            ProxyNotice::TextFailed { id, message } => match self.typed.failed(&id) {
                Some(typed) => {
                    tracing::warn!(event = "typed_answer_failed", id = %typed.id, %message);
                    self.typed_lost("typed_answer_failed", &typed, message)
                        .await;
                }
                None => tracing::warn!(event = "typed_answer_failed", %id, "not one of ours"),
            },
            other => tracing::debug!(event = "sdp_proxy_notice", notice = ?other),
        }
    }

    /// Before hanging up: sends what the link has not had yet and waits, at most [`ACK_WAIT`],
    /// for the proxy to acknowledge the typed answers still out. What stays unacknowledged is
    /// told when the call ends.
    async fn settle_typed(&mut self, live: &mut Connection) {
        if self.typed.is_empty() {
            return;
        }
        live.send_typed(&mut self.typed).await;
        let deadline = tokio::time::sleep(ACK_WAIT);
        tokio::pin!(deadline);
        while !self.typed.is_empty() && live.proxy.is_some() {
            tokio::select! {
                () = &mut deadline => break,
                notice = proxy_notice(&mut live.proxy) => match notice {
                    ProxyNotice::TextOk(_) | ProxyNotice::TextFailed { .. } => {
                        self.on_typed_notice(notice).await;
                    }
                    ProxyNotice::Closed(_) | ProxyNotice::Bye => live.proxy = None,
                    ProxyNotice::Error(message) => {
                        self.publish(CallEvent::Problem { code: "sdp_proxy".into(), message }).await;
                    }
                },
            }
        }
    }

    async fn fail(&mut self, error: &CallError) {
        tracing::warn!(event = "call_failed", code = error.code(), error = %error);
        let report = ErrorReport::from(error);
        let now = self.now_ms();
        self.conversation.fail(report.code, report.message, now);
        self.drain(None).await;
    }

    fn summary(&self) -> Summary {
        let lines = self.conversation.lines();
        let count = |speaker| lines.iter().filter(|l| l.speaker == speaker).count();
        let (cost_usd, cost_note) = match self.conversation.cost() {
            Cost::Known { usd } => (Some(usd), None),
            Cost::Unknown { reason } => (None, Some(reason)),
        };
        Summary {
            session_id: self.grant.session_id.clone(),
            duration_ms: self.now_ms(),
            lines: lines.len(),
            candidate_lines: count(Speaker::Candidate),
            interviewer_lines: count(Speaker::Interviewer),
            reconnects: self.conversation.reconnects(),
            resessions: self.conversation.resessions(),
            cost_usd,
            cost_note,
            ended: self.conversation.state().clone(),
        }
    }

    /// The one command handler, live or not. A client event goes to the core (sent at once
    /// on an open channel, else queued). `Some(reason)`: the call is to end; an explicit `End`
    /// first finalises the open lines, a dropped handle does not.
    async fn on_command(
        &mut self,
        command: Option<Command>,
        live: Option<&mut Connection>,
    ) -> Option<String> {
        match command {
            Some(Command::Send(event)) => {
                self.conversation.client_event(event);
                self.drain(live).await;
                None
            }
            // GPT-Live takes typed answers through the SDP proxy only: they go straight to
            // the outbox, which keeps each until the proxy acknowledges it, across connections
            // (the core would hold one only until it is written, and lose it at the end).
            Some(Command::Text(text)) if self.conversation.api() == VoiceApi::Live => {
                self.typed_answer(text, live).await;
                None
            }
            Some(Command::Text(text)) => {
                self.conversation.typed_answer(&text);
                self.drain(live).await;
                None
            }
            Some(Command::SetLevels(mic, speaker)) => {
                self.levels = (mic, speaker);
                None
            }
            Some(Command::End(reply)) => {
                self.ended_by = Some(reply);
                let now = self.now_ms();
                self.conversation.close_lines(now);
                self.drain(None).await;
                Some("the call was ended".into())
            }
            None => Some("the app closed the call".into()),
        }
    }

    /// A command while no connection is live; `false` when the call was ended.
    async fn command_while_offline(&mut self, command: Option<Command>) -> bool {
        let Some(reason) = self.on_command(command, None).await else {
            return true;
        };
        self.conversation.end(reason);
        self.drain(None).await;
        false
    }

    /// What a new GPT-Live session must hear of the call so far: the proxy builds the session,
    /// so the final lines travel with the offer (a Realtime session is told by the client
    /// itself once its channel opens).
    fn history_for_proxy(&self) -> Vec<HistoryLine> {
        if self.grant.realtime.api != VoiceApi::Live {
            return Vec::new();
        }
        let lines: Vec<HistoryLine> = self
            .conversation
            .lines()
            .into_iter()
            .filter(|l| l.status == LineStatus::Final)
            .map(|l| HistoryLine {
                item_id: l.item_id.clone(),
                speaker: match l.speaker {
                    Speaker::Candidate => HistorySpeaker::Candidate,
                    Speaker::Interviewer => HistorySpeaker::Interviewer,
                },
                text: l.text.clone(),
            })
            .collect();
        fit_history(&lines)
    }

    /// Connects while still answering commands: `End` abandons the attempt (`None`).
    async fn connect_or_command(&mut self) -> Option<Result<Connection, CallError>> {
        let grant = self.grant.clone();
        let (grants, config, http) = (self.grants.clone(), self.config.clone(), self.http.clone());
        let history = self.history_for_proxy();
        let attempt = connect(grant, grants, config, http, history);
        tokio::pin!(attempt);
        loop {
            tokio::select! {
                result = &mut attempt => {
                    return Some(match result {
                        Ok((connection, grant)) => {
                            self.granted(grant).await;
                            Ok(connection)
                        }
                        Err(error) => Err(error),
                    });
                }
                command = self.commands.recv() => {
                    if !self.command_while_offline(command).await {
                        return None;
                    }
                }
            }
        }
    }

    /// Takes the grant a connection was made with. When it changes how answers are given, the
    /// owner is told; from voice to text the microphone's frames stop going out at once.
    async fn granted(&mut self, grant: Grant) {
        let (before, after) = (self.grant.mode, grant.mode);
        self.grant = grant;
        if before == after {
            return;
        }
        tracing::info!(event = "answers_changed", from = %before, to = %after);
        if after == AnswerMode::Text
            && let Some(uplink) = self.uplink_task.take()
        {
            self.uplink_target.send_replace(None);
            uplink.abort();
        }
        self.publish(CallEvent::Answers { mode: after }).await;
    }

    /// Sleeps while answering commands; `false` when the call was ended meanwhile.
    async fn wait_or_command(&mut self, delay: Duration) -> bool {
        let deadline = tokio::time::sleep(delay);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                () = &mut deadline => return true,
                command = self.commands.recv() => {
                    if !self.command_while_offline(command).await {
                        return false;
                    }
                }
            }
        }
    }

    /// A new connection after `reason`, with backoff, until one works or it is time to give up.
    async fn reconnect(&mut self, reason: String) -> Option<Connection> {
        tracing::info!(event = "call_reconnecting", %reason);
        let lost_at = Instant::now();
        let mut backoff = Backoff::new(self.config.reconnect);
        let mut last_reason = reason.clone();
        self.conversation.connection_lost(reason);
        self.drain(None).await;
        loop {
            let delay = match next_attempt(
                &mut backoff,
                lost_at.elapsed(),
                fastrand::f64(),
                &last_reason,
            ) {
                Retry::After(delay) => delay,
                Retry::GiveUp(error) => {
                    self.fail(&error).await;
                    return None;
                }
            };
            if !self.wait_or_command(delay).await {
                return None;
            }
            match self.connect_or_command().await {
                None => return None,
                Some(Ok(connection)) => {
                    self.renewed(Renewal::Reconnect).await;
                    tracing::info!(event = "call_reconnected", attempts = backoff.attempts());
                    return Some(connection);
                }
                Some(Err(error)) => match attempt_failed(error) {
                    AttemptFailed::Retry(reason) => {
                        last_reason = reason.clone();
                        self.conversation.connection_lost(reason);
                        self.drain(None).await;
                    }
                    AttemptFailed::Fail(error) => {
                        self.fail(&error).await;
                        return None;
                    }
                },
            }
        }
    }

    async fn renewed(&mut self, how: Renewal) {
        let now = self.now_ms();
        self.conversation.renewed(how, now);
        self.drain(None).await;
    }

    /// A planned new connection before the provider's cap: made at a quiet moment, so no
    /// words are in flight, after the old one is closed.
    async fn resession(&mut self, old: Connection) -> Option<Connection> {
        tracing::info!(event = "call_resession");
        self.conversation.resession_started();
        self.hang_up(old).await;
        match self.connect_or_command().await {
            None => None,
            Some(Ok(connection)) => {
                tracing::info!(event = "call_resessioned");
                self.renewed(Renewal::Resession).await;
                Some(connection)
            }
            Some(Err(error)) => self.reconnect(resession_failed(&error)).await,
        }
    }

    /// Ends a connection on purpose: the uplink stops using it, the far side is told.
    async fn hang_up(&self, connection: Connection) {
        self.uplink_target.send_replace(None);
        hang_up(connection, &self.http, &self.grant.realtime.url).await;
    }

    /// The event channel of `live` is open: the core says what to send first.
    pub(super) async fn on_open(&mut self, live: &mut Connection) -> Option<Outcome> {
        live.channel_open = true;
        let now = self.now_ms();
        self.conversation
            .channel_opened(now, &self.grant.realtime.session);
        self.drain(Some(live)).await
    }

    /// The connection's life, until it is lost, replaced or ended.
    async fn live(&mut self, live: &mut Connection) -> Outcome {
        if let Some(outcome) = self.on_open(live).await {
            return outcome;
        }
        for event in std::mem::take(&mut live.early) {
            if let Some(outcome) = self.on_peer_event(live, event).await {
                return outcome;
            }
        }
        // Typed answers from before this connection (typed while offline, or never
        // acknowledged on the last one) go first, in order.
        live.send_typed(&mut self.typed).await;
        let mut health = tokio::time::interval(self.config.health_every);
        health.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The SDP proxy link being opened again, while it is down. Owned by this loop, so it
        // can never outlive this connection and take the interview from the next one.
        let mut reopening: Option<Reopening> = None;
        loop {
            if live.proxy.is_none()
                && reopening.is_none()
                && self.grant.realtime.signaling == SignalingMode::Websocket
            {
                tracing::info!(event = "sdp_proxy_reopening");
                reopening = Some(reopen(&self.grant, self.grants.clone(), &self.config));
            }
            let down_for = live.disconnected_since.map(|since| since.elapsed());
            let grace = grace_left(down_for, self.config.disconnected_grace);
            let quiet_for = live.proxy.as_ref().and_then(ProxyLink::quiet_for);
            let quiet = grace_left(quiet_for, self.config.proxy_quiet_limit);
            tokio::select! {
                event = live.peer.events.recv() => {
                    let Some(event) = event else {
                        return Outcome::Lost("the connection stopped reporting".into());
                    };
                    if let Some(outcome) = self.on_peer_event(live, event).await {
                        return outcome;
                    }
                }
                command = self.commands.recv() => {
                    if let Some(reason) = self.on_command(command, Some(live)).await {
                        return Outcome::Ended(reason);
                    }
                }
                notice = proxy_notice(&mut live.proxy) => match notice {
                    ProxyNotice::Bye => {
                        let now = self.now_ms();
                        self.conversation.close_lines(now);
                        self.drain(None).await;
                        return Outcome::Ended("the interviewer hung up".into());
                    }
                    ProxyNotice::Closed(error) if !error.is_retryable() => {
                        live.proxy = None;
                        return Outcome::Failed(error);
                    }
                    ProxyNotice::Closed(error) => {
                        // Media flows without the proxy: the link is opened again (above).
                        tracing::info!(event = "sdp_proxy_closed", error = %error);
                        live.proxy = None;
                    }
                    ProxyNotice::Error(message) => {
                        self.publish(CallEvent::Problem { code: "sdp_proxy".into(), message }).await;
                    }
                    notice @ (ProxyNotice::TextOk(_) | ProxyNotice::TextFailed { .. }) => {
                        self.on_typed_notice(notice).await;
                    }
                },
                result = reopened(&mut reopening) => {
                    reopening = None;
                    match result {
                        Ok(Reopened { link, grant }) => {
                            tracing::info!(event = "sdp_proxy_reopened");
                            live.use_link(link);
                            if let Some(grant) = grant {
                                self.granted(grant).await;
                            }
                            // Every answer not acknowledged yet, sent or not on the old link:
                            // a write into a dead socket succeeds too.
                            live.send_typed(&mut self.typed).await;
                        }
                        Err(error) => return Outcome::Failed(error),
                    }
                }
                () = sleep_opt(quiet) => {
                    // Heard from meanwhile (its pings are read above), or gone quiet for good.
                    let quiet_for = live.proxy.as_ref().and_then(ProxyLink::quiet_for);
                    if quiet_for.is_some_and(|quiet| quiet >= self.config.proxy_quiet_limit) {
                        tracing::info!(event = "sdp_proxy_quiet", "the SDP proxy stopped pinging; opening the link again");
                        live.proxy = None;
                    }
                }
                () = sleep_opt(grace) => {
                    return Outcome::Lost(grace_expired(self.config.disconnected_grace));
                }
                () = sleep_until_opt(live.cap_at) => {
                    let now = self.now_ms();
                    self.conversation.handle_timeout(now);
                    // Still armed if the wake-up came early; `None` once it fired.
                    live.cap_at = self.conversation.poll_timeout().map(|at| self.instant(at));
                    if let Some(outcome) = self.drain(Some(live)).await {
                        return outcome;
                    }
                }
                _ = health.tick() => {
                    let context = stats::Context {
                        at_ms: self.now_ms(),
                        levels: self.levels,
                        reconnects: self.conversation.reconnects(),
                        voice_api: self.grant.realtime.api.as_str(),
                        model: self.grant.realtime.model.clone(),
                    };
                    let sample = stats::sample(live, context).await;
                    // Health is a stream of snapshots: a slow reader skips some.
                    let _ = self.events.try_send(CallEvent::Health { health: sample });
                }
            }
        }
    }
}

async fn sleep_opt(duration: Option<Duration>) {
    match duration {
        Some(duration) => tokio::time::sleep(duration).await,
        None => std::future::pending().await,
    }
}

async fn sleep_until_opt(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
