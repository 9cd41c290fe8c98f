//! Bytes of engine state per synced object, counted by a global allocator
//! in this bench binary only (the library never counts).
//!
//! `cargo bench --bench memory` reads 20,000 default-mapped users (every one
//! in scope, the attribute set a real directory gives them), plans their
//! creation into an empty target, acknowledges every op and commits, and
//! prints the live heap bytes the engine holds per user: the mirror alone
//! (after ingest), and mirror plus export state (after commit). It also
//! prints the size of the persisted snapshot as JSON. The target is at most
//! 1 KiB (1,024 bytes) per default-mapped user.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use idsync::engine::Engine;
use idsync::target::TargetView;

mod support;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; the
// counter only observes sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same layout contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same layout contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: `ptr` came from this allocator with `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

const USERS: u64 = 20_000;

fn main() {
    // `cargo bench` passes `--bench`; a filter that is not ours means another
    // bench was asked for.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args
        .iter()
        .any(|a| !a.starts_with('-') && !"memory".contains(a.as_str()))
    {
        return;
    }
    let config = support::config();
    let before = live();
    let mut engine = Engine::new(&config).expect("compiles");
    let empty = live();
    // Values and DNs are shared (reference counted) between the batch and
    // the mirror, so the state is measured after the batch is dropped.
    let (batch, dir) = support::full_read_with(0x3e3, USERS, 0, 0, false);
    drop(dir);
    engine.ingest(&batch).expect("ingests");
    drop(batch);
    let mirrored = live();
    let target = TargetView::default();
    let plan = engine.plan(support::now(), &target);
    let results = support::ack(&plan);
    engine
        .commit(&plan, &results, support::now())
        .expect("commits");
    drop(results);
    drop(plan);
    let synced = live();
    let exported = engine.exports().count() as isize;
    let snapshot = serde_json::to_vec(&engine.snapshot()).expect("serializes");
    let users = USERS as isize;
    println!("memory: {USERS} default-mapped users, {exported} exported");
    println!("memory/engine_empty: {} bytes", empty - before);
    println!(
        "memory/after_ingest_per_user (mirror + due marks): {} bytes",
        (mirrored - empty) / users
    );
    println!(
        "memory/state_per_user (mirror + export state): {} bytes (target <= 1024)",
        (synced - empty) / users
    );
    println!(
        "memory/snapshot_json_per_user: {} bytes",
        snapshot.len() as isize / users
    );
}
