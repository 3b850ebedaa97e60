//! Level metering (RMS and peak in dBFS over fixed windows) and the "no signal" watch. Pure logic.

use serde::Serialize;

/// The quietest level we report; digital silence would be minus infinity.
pub const FLOOR_DBFS: f32 = -100.0;

/// Peaks below this count as "no signal" (about the noise floor of a muted cheap microphone).
pub const NO_SIGNAL_DBFS: f32 = -70.0;

/// One metering window's result.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Level {
    /// Root-mean-square level in dBFS (0 is a full-scale square wave), floored at [`FLOOR_DBFS`].
    pub rms_dbfs: f32,
    /// Largest absolute sample in dBFS, floored at [`FLOOR_DBFS`].
    pub peak_dbfs: f32,
}

impl Level {
    /// The level of digital silence.
    pub const SILENT: Level = Level {
        rms_dbfs: FLOOR_DBFS,
        peak_dbfs: FLOOR_DBFS,
    };
}

/// Converts a linear amplitude (1.0 = full scale) to dBFS, floored.
#[must_use]
pub fn to_dbfs(amplitude: f32) -> f32 {
    if amplitude <= 0.0 || !amplitude.is_finite() {
        return FLOOR_DBFS;
    }
    (20.0 * amplitude.log10()).max(FLOOR_DBFS)
}

/// Accumulates samples and yields one [`Level`] per full window.
#[derive(Debug, Clone)]
pub struct LevelMeter {
    window: usize,
    count: usize,
    sum_squares: f64,
    peak: f32,
}

impl LevelMeter {
    /// A meter over windows of `window` samples (2,400 = 50 ms at 48 kHz).
    #[must_use]
    pub fn new(window: usize) -> Self {
        Self {
            window: window.max(1),
            count: 0,
            sum_squares: 0.0,
            peak: 0.0,
        }
    }

    /// Feeds samples; calls `on_level` once for each window completed by them.
    pub fn feed(&mut self, samples: &[f32], mut on_level: impl FnMut(Level)) {
        for &sample in samples {
            let sample = if sample.is_finite() { sample } else { 0.0 };
            self.sum_squares += f64::from(sample) * f64::from(sample);
            self.peak = self.peak.max(sample.abs());
            self.count += 1;
            if self.count == self.window {
                #[allow(clippy::cast_possible_truncation)] // A mean of squares of f32 values.
                let rms = (self.sum_squares / self.window as f64).sqrt() as f32;
                on_level(Level {
                    rms_dbfs: to_dbfs(rms),
                    peak_dbfs: to_dbfs(self.peak),
                });
                self.count = 0;
                self.sum_squares = 0.0;
                self.peak = 0.0;
            }
        }
    }
}

/// What the silence watch noticed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalChange {
    /// No signal for the whole timeout while unmuted.
    Lost,
    /// Signal again after a `Lost`.
    Restored,
}

/// Warns once when an unmuted microphone has delivered nothing above [`NO_SIGNAL_DBFS`] for a
/// while (a muted headset, a dead cable, the wrong device), and once when signal returns.
#[derive(Debug, Clone)]
pub struct SilenceWatch {
    timeout_windows: u32,
    quiet_windows: u32,
    warned: bool,
}

impl SilenceWatch {
    /// Warns after `timeout_windows` consecutive quiet windows (100 × 50 ms = 5 s).
    #[must_use]
    pub fn new(timeout_windows: u32) -> Self {
        Self {
            timeout_windows: timeout_windows.max(1),
            quiet_windows: 0,
            warned: false,
        }
    }

    /// Observes one metered window. Muted windows neither count as quiet nor end a warning
    /// (the user chose the silence); they restart the count.
    pub fn observe(&mut self, level: Level, muted: bool) -> Option<SignalChange> {
        if muted {
            self.quiet_windows = 0;
            return None;
        }
        if level.peak_dbfs > NO_SIGNAL_DBFS {
            self.quiet_windows = 0;
            if self.warned {
                self.warned = false;
                return Some(SignalChange::Restored);
            }
            return None;
        }
        self.quiet_windows = self.quiet_windows.saturating_add(1);
        if !self.warned && self.quiet_windows >= self.timeout_windows {
            self.warned = true;
            return Some(SignalChange::Lost);
        }
        None
    }

    /// Forgets the count, e.g. after the device changed.
    pub fn reset(&mut self) {
        self.quiet_windows = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_scale_square_is_zero_dbfs_and_half_scale_is_minus_six() {
        let mut meter = LevelMeter::new(4);
        let mut levels = Vec::new();
        meter.feed(&[1.0, -1.0, 1.0, -1.0, 0.5, -0.5, 0.5, -0.5], |l| {
            levels.push(l);
        });
        assert_eq!(levels.len(), 2);
        assert!(levels[0].rms_dbfs.abs() < 0.01);
        assert!((levels[1].peak_dbfs + 6.02).abs() < 0.01);
    }

    #[test]
    fn silence_and_garbage_are_floored_not_infinite() {
        let mut meter = LevelMeter::new(3);
        let mut levels = Vec::new();
        meter.feed(&[0.0, f32::NAN, f32::INFINITY], |l| levels.push(l));
        assert_eq!(levels, vec![Level::SILENT]);
    }

    #[test]
    fn windows_span_feed_calls() {
        let mut meter = LevelMeter::new(5);
        let mut n = 0;
        for _ in 0..7 {
            meter.feed(&[0.1, 0.1, 0.1], |_| n += 1);
        }
        assert_eq!(n, 21 / 5);
    }

    #[test]
    fn silence_watch_warns_once_after_timeout_and_reports_return() {
        let mut watch = SilenceWatch::new(3);
        let loud = Level {
            rms_dbfs: -20.0,
            peak_dbfs: -10.0,
        };
        assert_eq!(watch.observe(Level::SILENT, false), None);
        assert_eq!(watch.observe(Level::SILENT, false), None);
        assert_eq!(
            watch.observe(Level::SILENT, false),
            Some(SignalChange::Lost)
        );
        assert_eq!(watch.observe(Level::SILENT, false), None);
        assert_eq!(watch.observe(loud, false), Some(SignalChange::Restored));
        assert_eq!(watch.observe(loud, false), None);
    }

    #[test]
    fn muted_silence_never_warns() {
        let mut watch = SilenceWatch::new(2);
        for _ in 0..10 {
            assert_eq!(watch.observe(Level::SILENT, true), None);
        }
        assert_eq!(watch.observe(Level::SILENT, false), None);
    }
}
