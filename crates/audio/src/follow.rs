//! Keeping a stream on the right device: open the chosen one (or the default standing in for it),
//! notice when it fails or disappears, fall back, and move back when it returns. Shared by the
//! capture and playback workers.
//!
//! Opening a device can block for seconds (a sound server waiting on a sink), so every reopen
//! runs on a short-lived thread while the worker keeps the frame stream going; a switch between
//! two working devices keeps the old stream until the new one runs.

use std::sync::Arc;
use std::sync::mpsc::{self as std_mpsc, TryRecvError};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::Sender;

use crate::AudioError;
use crate::device::{self, DeviceInfo, DeviceSelection, Direction, Opened, WatchDecision};
use crate::events::{AudioEvent, OpenReason, emit};
use crate::stream::StreamHealth;

/// How often the device list is checked (PulseAudio only; ALSA reports through the stream).
const WATCH_EVERY: Duration = Duration::from_millis(500);
/// How often opening is retried while no device works.
const RETRY_EVERY: Duration = Duration::from_millis(250);

/// A running stream with what its error callback reports.
pub(crate) trait LiveStream: Send + 'static {
    fn health(&self) -> &Arc<StreamHealth>;
}

/// Builds a running stream on an opened device.
pub(crate) type Starter<L> = Arc<dyn Fn(&Opened) -> Result<L, AudioError> + Send + Sync>;

/// What an opener thread hands back: the stream, its device, and whether the default stood in
/// for the chosen device.
type Opening<L> = Result<(L, DeviceInfo, bool), AudioError>;

pub(crate) struct Follower<L> {
    direction: Direction,
    /// Used only to watch the device list.
    host: cpal::Host,
    selection: DeviceSelection,
    current: Option<DeviceInfo>,
    reason: OpenReason,
    next_retry: Instant,
    next_watch: Instant,
    unavailable_announced: bool,
    opening: Option<std_mpsc::Receiver<Opening<L>>>,
    /// A working stream should be replaced by a newly opened one, for this reason.
    replace: Option<OpenReason>,
    starter: Starter<L>,
}

/// Opens the selected device; a chosen device that is missing or broken is stood in for by the
/// default. Returns whether that happened.
fn open(direction: Direction, selection: &DeviceSelection) -> Result<(Opened, bool), AudioError> {
    let host = device::host();
    match device::open(&host, direction, selection) {
        Ok(opened) => Ok((opened, false)),
        Err(error) if *selection == DeviceSelection::SystemDefault => Err(error),
        Err(_) => Ok((
            device::open(&host, direction, &DeviceSelection::SystemDefault)?,
            true,
        )),
    }
}

fn open_and_start<L>(
    direction: Direction,
    selection: &DeviceSelection,
    starter: &Starter<L>,
) -> Opening<L> {
    let (opened, fell_back) = open(direction, selection)?;
    let live = starter(&opened)?;
    Ok((live, opened.info, fell_back))
}

impl<L: LiveStream> Follower<L> {
    /// Opens the first stream, on the calling thread: its failure is the caller's to report.
    pub fn start(
        direction: Direction,
        selection: DeviceSelection,
        starter: Starter<L>,
    ) -> Result<(Self, L, DeviceInfo), AudioError> {
        let (live, info, _) = open_and_start(direction, &selection, &starter)?;
        let now = Instant::now();
        let follower = Self {
            direction,
            host: device::host(),
            selection,
            current: Some(info.clone()),
            reason: OpenReason::Started,
            next_retry: now,
            next_watch: now + WATCH_EVERY,
            unavailable_announced: false,
            opening: None,
            replace: None,
            starter,
        };
        Ok((follower, live, info))
    }

    pub fn current(&self) -> Option<&DeviceInfo> {
        self.current.as_ref()
    }

    /// Moves to another device; the current stream runs until the new one does.
    pub fn select(&mut self, selection: DeviceSelection) {
        self.selection = selection;
        self.replace = Some(OpenReason::Selected);
        self.next_retry = Instant::now();
    }

    fn lose(&mut self, live: &mut Option<L>, reason: String, events: &Sender<AudioEvent>) {
        *live = None;
        self.replace = None;
        if let Some(lost) = self.current.take() {
            tracing::warn!(direction = ?self.direction, device = %lost.id, %reason, "audio_device_lost");
            emit(
                events,
                AudioEvent::DeviceLost {
                    direction: self.direction,
                    device_id: lost.id,
                    reason,
                },
            );
        }
        self.reason = OpenReason::Fallback;
        self.next_retry = Instant::now();
    }

    /// Checks the live stream and the device list, and takes in or starts a reopen. Returns true
    /// when a new stream replaced the old one (or the lack of one).
    pub fn maintain(&mut self, live: &mut Option<L>, events: &Sender<AudioEvent>) -> bool {
        let now = Instant::now();
        let reopened = self.take_opened(live, events, now);
        if let Some(stream) = live.as_ref() {
            if let Some(reason) = stream.health().failure() {
                self.lose(live, reason, events);
            } else if device::is_pulse(&self.host) && now >= self.next_watch {
                self.next_watch = now + WATCH_EVERY;
                self.watch(live, events);
            }
        }
        let wanted = live.is_none() || self.replace.is_some();
        if wanted && self.opening.is_none() && now >= self.next_retry {
            let (sender, receiver) = std_mpsc::channel();
            let (direction, selection, starter) = (
                self.direction,
                self.selection.clone(),
                Arc::clone(&self.starter),
            );
            let spawned = std::thread::Builder::new()
                .name("viva-audio-open".into())
                .spawn(move || {
                    let _ = sender.send(open_and_start(direction, &selection, &starter));
                });
            match spawned {
                Ok(_) => self.opening = Some(receiver),
                Err(error) => {
                    tracing::warn!(%error, "audio_open_thread_failed");
                    self.next_retry = now + RETRY_EVERY;
                }
            }
        }
        reopened
    }

    fn take_opened(
        &mut self,
        live: &mut Option<L>,
        events: &Sender<AudioEvent>,
        now: Instant,
    ) -> bool {
        let Some(receiver) = &self.opening else {
            return false;
        };
        let result = match receiver.try_recv() {
            Err(TryRecvError::Empty) => return false,
            Ok(result) => result,
            Err(TryRecvError::Disconnected) => {
                Err(AudioError::Worker("the device opener stopped".into()))
            }
        };
        self.opening = None;
        match result {
            // A switch that only found the default again changes nothing: keep what runs.
            Ok((_, _, true)) if live.is_some() => {
                self.replace = None;
                false
            }
            Ok((stream, info, fell_back)) => {
                let reason = match (self.replace.take(), fell_back) {
                    (Some(reason), _) => reason,
                    (None, true) => OpenReason::Fallback,
                    (None, false)
                        if self.reason == OpenReason::Fallback
                            && matches!(self.selection, DeviceSelection::Id(_)) =>
                    {
                        OpenReason::Restored
                    }
                    (None, false) => self.reason,
                };
                tracing::info!(direction = ?self.direction, device = %info.id, ?reason, "audio_device_opened");
                emit(
                    events,
                    AudioEvent::DeviceOpened {
                        device: info.clone(),
                        reason,
                    },
                );
                *live = Some(stream);
                self.current = Some(info);
                self.reason = reason;
                self.unavailable_announced = false;
                true
            }
            Err(error) => {
                if live.is_none() && !self.unavailable_announced {
                    self.unavailable_announced = true;
                    emit(
                        events,
                        AudioEvent::DeviceUnavailable {
                            direction: self.direction,
                            message: error.to_string(),
                        },
                    );
                }
                self.replace = None;
                // The sound server may have restarted: reconnect the watcher too.
                self.host = device::host();
                self.next_retry = now + RETRY_EVERY;
                false
            }
        }
    }

    fn watch(&mut self, live: &mut Option<L>, events: &Sender<AudioEvent>) {
        let Some(current) = self.current.as_ref().map(|c| c.id.clone()) else {
            return;
        };
        let Some((listed, default)) = device::listed_ids(&self.host, self.direction) else {
            return;
        };
        match device::watch(&self.selection, &current, &listed, default.as_deref()) {
            WatchDecision::Keep => {}
            WatchDecision::Lost => self.lose(live, "the device was disconnected".into(), events),
            WatchDecision::Restore => self.replace = self.replace.or(Some(OpenReason::Restored)),
            WatchDecision::DefaultChanged => {
                self.replace = self.replace.or(Some(OpenReason::DefaultChanged))
            }
        }
    }
}
