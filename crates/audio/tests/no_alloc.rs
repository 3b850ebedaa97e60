//! The device callbacks allocate nothing: a counting allocator watches this thread while the
//! capture and playback callbacks and the echo reference tap run through their normal,
//! full-ring and empty-ring paths.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use viva_audio::echo_reference;
use viva_audio::rt::{CaptureCallback, Counters, PlaybackCallback};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static WATCHING: Cell<bool> = const { Cell::new(false) };
}

#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if WATCHING.with(Cell::get) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if WATCHING.with(Cell::get) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if WATCHING.with(Cell::get) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made on this thread while `f` runs.
fn allocations_during(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    WATCHING.with(|w| w.set(true));
    f();
    WATCHING.with(|w| w.set(false));
    ALLOCATIONS.load(Ordering::Relaxed) - before
}

#[test]
fn the_capture_callback_never_allocates_even_when_the_ring_is_full() {
    let counters = Arc::new(Counters::default());
    let waker = std::thread::current();
    let (mut callback, mut rings) = CaptureCallback::new(4_800, Arc::clone(&counters), Some(waker));
    let f32_block = vec![0.25f32; 960];
    let i16_block = vec![1_000i16; 960];
    let u8_block = vec![200u8; 960];
    let allocations = allocations_during(|| {
        for _ in 0..2 {
            callback.on_data(&f32_block, Instant::now());
            callback.on_data(&i16_block, Instant::now());
        }
        callback.on_data(&u8_block, Instant::now());
        // The ring (4,800 samples) is full now: these are dropped and counted.
        callback.on_data(&f32_block, Instant::now());
        callback.on_data(&i16_block, Instant::now());
    });
    assert_eq!(allocations, 0, "the capture callback allocated");
    // The counter does see allocations on this thread.
    assert!(allocations_during(|| drop(std::hint::black_box(vec![0u8; 64]))) > 0);
    assert_eq!(counters.overflowed.load(Ordering::Relaxed), 2 * 960);
    // What did fit arrived in order and converted to f32.
    let stamp = rings.stamps.pop().unwrap();
    assert_eq!(stamp.samples, 960);
    assert_eq!(rings.samples.pop().unwrap(), 0.25);
    rings.samples.read_chunk(959).unwrap().commit_all();
    assert!((rings.samples.pop().unwrap() - 1_000.0 / 32_768.0).abs() < 1e-6);
}

#[test]
fn the_playback_callback_never_allocates_even_when_the_ring_runs_dry() {
    let counters = Arc::new(Counters::default());
    let active = Arc::new(AtomicBool::new(true));
    let waker = std::thread::current();
    let (callback, mut producer) =
        PlaybackCallback::new(4_800, Arc::clone(&counters), active, Some(waker));
    // The echo canceller's tap rides in the same callback.
    let (tap, reference) = echo_reference(4_800);
    let mut callback = callback.with_reference(tap, 1, 48_000);
    for _ in 0..1_500 {
        producer.push(0.5).unwrap();
    }
    let mut f32_out = vec![0.0f32; 1_000];
    let mut i16_out = vec![0i16; 1_000];
    let allocations = allocations_during(|| {
        callback.on_data(&mut f32_out);
        // Only 500 samples are left: the rest is silence and an underrun.
        callback.on_data(&mut i16_out);
    });
    assert_eq!(allocations, 0, "the playback callback allocated");
    assert!(f32_out.iter().all(|&s| s == 0.5));
    assert!(i16_out[..500].iter().all(|&s| s == 16_384));
    assert!(i16_out[500..].iter().all(|&s| s == 0));
    assert_eq!(counters.underruns.load(Ordering::Relaxed), 1);
    // The tap heard exactly what the device was given, silence padding included.
    let mut canceller = viva_audio::EchoCanceller::new(reference);
    let mut frame = vec![0.0f32; 960];
    viva_audio::VoiceProcessor::process(&mut canceller, &mut frame);
    let stats = canceller.control().stats();
    assert_eq!(stats.reference_rate, Some(48_000));
    assert_eq!(stats.reference_dropped, 0);
    // 2,000 samples played; whole 10 ms chunks of them reached AEC3 (the rest waits).
    assert_eq!(stats.reference_samples, 1_920);
}

#[test]
fn the_echo_reference_tap_never_allocates_even_when_the_ring_is_full() {
    let (mut tap, feed) = echo_reference(4_800);
    let canceller = viva_audio::EchoCanceller::new(feed);
    let stereo = vec![0.25f32; 1_764];
    let i16_block = vec![1_000i16; 960];
    let allocations = allocations_during(|| {
        tap.push_played(&stereo, 2, 44_100);
        // A device change: the new format rides along without allocating.
        tap.push_played(&i16_block, 1, 48_000);
        tap.push_played(&stereo, 2, 44_100);
        // The ring (4,800 samples) is full now: this one is dropped and counted.
        tap.push_played(&stereo, 2, 44_100);
    });
    assert_eq!(allocations, 0, "the reference tap allocated");
    assert_eq!(canceller.control().stats().reference_dropped, 1_764);
}
