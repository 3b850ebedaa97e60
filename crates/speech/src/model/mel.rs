//! The 80×201 mel filter bank whisper.cpp reads from a ggml file, computed as librosa does it
//! (`librosa.filters.mel(sr=16000, n_fft=400, n_mels=80)`: Slaney mel scale, Slaney area
//! normalisation), so no Python asset is needed.

/// Whisper's sample rate.
pub const SAMPLE_RATE: f64 = 16_000.0;
/// Whisper's FFT size; the bank has `N_FFT / 2 + 1` columns.
pub const N_FFT: usize = 400;

fn hz_to_mel(hz: f64) -> f64 {
    // Slaney: linear below 1 kHz (200/3 Hz per mel), logarithmic above.
    const F_SP: f64 = 200.0 / 3.0;
    const MIN_LOG_HZ: f64 = 1000.0;
    let min_log_mel = MIN_LOG_HZ / F_SP;
    let logstep = 6.4f64.ln() / 27.0;
    if hz >= MIN_LOG_HZ {
        min_log_mel + (hz / MIN_LOG_HZ).ln() / logstep
    } else {
        hz / F_SP
    }
}

fn mel_to_hz(mel: f64) -> f64 {
    const F_SP: f64 = 200.0 / 3.0;
    const MIN_LOG_HZ: f64 = 1000.0;
    let min_log_mel = MIN_LOG_HZ / F_SP;
    let logstep = 6.4f64.ln() / 27.0;
    if mel >= min_log_mel {
        MIN_LOG_HZ * (logstep * (mel - min_log_mel)).exp()
    } else {
        F_SP * mel
    }
}

/// The filter bank, row-major: `n_mels` rows of `N_FFT / 2 + 1` weights.
pub fn filter_bank(n_mels: usize) -> Vec<f32> {
    let bins = N_FFT / 2 + 1;
    let fft_freqs: Vec<f64> = (0..bins)
        .map(|i| i as f64 * (SAMPLE_RATE / 2.0) / (bins - 1) as f64)
        .collect();
    let (low, high) = (hz_to_mel(0.0), hz_to_mel(SAMPLE_RATE / 2.0));
    let mel_points: Vec<f64> = (0..n_mels + 2)
        .map(|i| mel_to_hz(low + (high - low) * i as f64 / (n_mels + 1) as f64))
        .collect();
    let mut bank = Vec::with_capacity(n_mels * bins);
    for m in 0..n_mels {
        let (left, centre, right) = (mel_points[m], mel_points[m + 1], mel_points[m + 2]);
        let norm = 2.0 / (right - left);
        for &f in &fft_freqs {
            let rising = (f - left) / (centre - left);
            let falling = (right - f) / (right - centre);
            bank.push((rising.min(falling).max(0.0) * norm) as f32);
        }
    }
    bank
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values read from OpenAI Whisper's own `assets/mel_filters.npz` (`mel_80`).
    const REFERENCE: &[(usize, usize, f32)] = &[
        (0, 1, 0.024_862_595),
        (5, 5, 0.009_954_109),
        (20, 19, 0.010_972_2),
        (20, 20, 0.013_890_394),
        (40, 43, 0.014_735_566),
        (60, 93, 0.006_591_093),
        (79, 186, 0.000_366_741_67),
        (79, 192, 0.003_164_711_9),
        (79, 199, 0.000_448_759),
        (0, 2, 0.0),
        (79, 200, 0.0),
    ];

    #[test]
    fn matches_whisper_s_own_filter_bank() {
        let bank = filter_bank(80);
        assert_eq!(bank.len(), 80 * 201);
        for &(row, col, want) in REFERENCE {
            let got = bank[row * 201 + col];
            assert!(
                (got - want).abs() <= 1e-6 + want * 1e-4,
                "mel[{row}][{col}] = {got}, Whisper has {want}"
            );
        }
        let total: f32 = bank.iter().sum();
        assert!((total - 1.999_024_2).abs() < 1e-3, "sum {total}");
    }
}
