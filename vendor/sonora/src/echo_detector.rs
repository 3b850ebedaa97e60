//! Echo detector utilities for residual echo detection.

pub(crate) mod circular_buffer;
pub(crate) mod mean_variance_estimator;
pub(crate) mod moving_max;
pub(crate) mod normalized_covariance_estimator;
