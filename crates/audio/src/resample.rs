//! Streaming sample-rate conversion of mono audio fed in chunks of any size (rubato's FFT
//! resampler; a no-op when the rates match).

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

use crate::AudioError;

/// Converts a mono stream from one rate to another, keeping state between calls.
pub struct StreamResampler {
    inner: Option<Fft<f32>>,
    from: u32,
    to: u32,
    pending: Vec<f32>,
    scratch: Vec<f32>,
}

impl std::fmt::Debug for StreamResampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamResampler")
            .field("from", &self.from)
            .field("to", &self.to)
            .finish_non_exhaustive()
    }
}

impl StreamResampler {
    /// A resampler from `from` Hz to `to` Hz working in 10 ms input chunks.
    ///
    /// # Errors
    /// [`AudioError::Resample`] for a zero rate or one rubato cannot handle.
    pub fn new(from: u32, to: u32) -> Result<Self, AudioError> {
        let fail = |detail: String| AudioError::Resample { from, to, detail };
        if from == 0 || to == 0 {
            return Err(fail("a sample rate of zero".into()));
        }
        let inner = if from == to {
            None
        } else {
            let chunk = (from as usize / 100).max(1);
            let fft = Fft::<f32>::new(from as usize, to as usize, chunk, 1, FixedSync::Input)
                .map_err(|e| fail(e.to_string()))?;
            Some(fft)
        };
        let scratch = vec![0.0; inner.as_ref().map_or(0, Resampler::output_frames_max)];
        Ok(Self {
            inner,
            from,
            to,
            pending: Vec::new(),
            scratch,
        })
    }

    /// Appends the converted form of `input` to `out`. Input that does not fill a chunk waits
    /// for the next call.
    ///
    /// # Errors
    /// [`AudioError::Resample`] if rubato rejects a buffer (a bug, not bad input).
    pub fn process(&mut self, input: &[f32], out: &mut Vec<f32>) -> Result<(), AudioError> {
        let Some(inner) = self.inner.as_mut() else {
            out.extend_from_slice(input);
            return Ok(());
        };
        let (from, to) = (self.from, self.to);
        let fail = |detail: String| AudioError::Resample { from, to, detail };
        self.pending.extend_from_slice(input);
        let mut consumed = 0;
        loop {
            let needed = inner.input_frames_next();
            if self.pending.len() - consumed < needed {
                break;
            }
            let chunk = &self.pending[consumed..consumed + needed];
            let input = InterleavedSlice::new(chunk, 1, needed).map_err(|e| fail(e.to_string()))?;
            let capacity = self.scratch.len();
            let mut output = InterleavedSlice::new_mut(&mut self.scratch, 1, capacity)
                .map_err(|e| fail(e.to_string()))?;
            let (_, written) = inner
                .process_into_buffer(&input, &mut output, None)
                .map_err(|e| fail(e.to_string()))?;
            out.extend_from_slice(&self.scratch[..written]);
            consumed += needed;
        }
        self.pending.drain(..consumed);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(rate: u32, hz: f32, seconds: f32) -> Vec<f32> {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let n = (rate as f32 * seconds) as usize;
        #[allow(clippy::cast_precision_loss)]
        (0..n)
            .map(|i| (2.0 * std::f32::consts::PI * hz * i as f32 / rate as f32).sin())
            .collect()
    }

    #[test]
    fn matching_rates_pass_through() {
        let mut r = StreamResampler::new(48_000, 48_000).unwrap();
        let mut out = Vec::new();
        r.process(&[0.1, 0.2, 0.3], &mut out).unwrap();
        assert_eq!(out, vec![0.1, 0.2, 0.3]);
    }

    #[test]
    fn converts_44_1_khz_in_odd_chunks_to_the_right_length_and_pitch() {
        let mut r = StreamResampler::new(44_100, 48_000).unwrap();
        let input = sine(44_100, 1_000.0, 1.0);
        let mut out = Vec::new();
        for chunk in input.chunks(333) {
            r.process(chunk, &mut out).unwrap();
        }
        // All but the last partial chunk come out, scaled to the new rate.
        assert!(
            (47_400..=48_000).contains(&out.len()),
            "{} samples",
            out.len()
        );
        // A 1 kHz tone crosses zero 2,000 times a second at any sample rate.
        let tail = &out[4_800..43_200]; // 0.8 s away from the edges
        let crossings = tail
            .windows(2)
            .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
            .count();
        assert!(
            (1_590..=1_610).contains(&crossings),
            "{crossings} zero crossings"
        );
    }

    #[test]
    fn zero_rates_are_refused() {
        assert_eq!(
            StreamResampler::new(0, 48_000).unwrap_err().code(),
            "resample_failed"
        );
    }
}
