#![doc = include_str!("../README.md")]
#![deny(unsafe_code)]

pub mod audio_util;
pub mod cascaded_biquad_filter;
pub mod channel_buffer;
pub mod push_resampler;
pub mod push_sinc_resampler;
pub mod sinc_resampler;
