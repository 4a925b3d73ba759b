//! Loom models of the state that threads share (`sync.rs`).
//!
//! Run with:
//!
//! ```text
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 \
//!     cargo test -p contextvars --lib --release loom_tests
//! ```
//!
//! Only the primitives are modelled, not `Context::run`: the current context
//! lives in a `std` thread-local, and loom runs all of its threads on one OS
//! thread, so they would share it.
//!
//! Bookkeeping atomics of the models use `Relaxed` so that they add no
//! happens-before edges of their own: every ordering the assertions rely on
//! must come from the code under test.

use loom::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use loom::sync::Arc;
use loom::thread;

use crate::sync::{Exclusive, IdCounter, LazyId};
use crate::ContextVar;

/// The value guarded by an [`Exclusive`]: a history of the entries that
/// modified it. `count == entries.len()` always; two holders at once would
/// lose an entry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Log {
    count: u64,
    entries: Vec<u8>,
}

impl Log {
    fn assert_consistent(&self) {
        assert_eq!(
            self.count,
            self.entries.len() as u64,
            "torn value: {self:?}"
        );
    }
}

/// State shared by the threads of an `Exclusive` model.
struct Shared {
    state: Exclusive<Log>,
    /// How many threads currently hold `state` (must never exceed one).
    holders: AtomicUsize,
    /// Hands each entry its rank among all successful entries (including
    /// cancelled ones). A read-modify-write always reads the latest value, so
    /// ranks follow the real order of entries even with `Relaxed`.
    ranks: AtomicU64,
    /// Set to `rank + 1` by each holder, outside of `state`, just before it
    /// exits or cancels: the next holder must see the write.
    side: AtomicU64,
}

impl Shared {
    fn new() -> Arc<Self> {
        Arc::new(Shared {
            state: Exclusive::new(Log::default()),
            holders: AtomicUsize::new(0),
            ranks: AtomicU64::new(0),
            side: AtomicU64::new(0),
        })
    }

    /// Checks, right after a successful `try_enter`, that the caller is alone
    /// and sees everything its predecessors did. Returns the entry's rank.
    fn arrive(&self, log: &Log) -> u64 {
        assert_eq!(
            self.holders.fetch_add(1, Relaxed),
            0,
            "two threads hold the value at once"
        );
        log.assert_consistent();
        assert!(self.state.is_entered());
        let rank = self.ranks.fetch_add(1, Relaxed);
        // The previous holder's exit (or cancel) happens-before this entry.
        assert_eq!(
            self.side.load(Relaxed),
            rank,
            "the previous holder's writes are not visible"
        );
        // Nobody can store into the value while we hold it.
        assert_eq!(self.state.read(), *log);
        rank
    }

    /// Undoes [`arrive`](Shared::arrive)'s bookkeeping before leaving.
    fn depart(&self, rank: u64) {
        self.side.store(rank + 1, Relaxed);
        assert_eq!(self.holders.fetch_sub(1, Relaxed), 1);
    }

    /// Tries to enter once; on success appends `me` to the log and exits.
    /// Returns whether it entered.
    fn enter_once(&self, me: u8) -> bool {
        let Some(mut log) = self.state.try_enter() else {
            return false;
        };
        let rank = self.arrive(&log);
        let expected_old = log.clone();
        log.entries.push(me);
        log.count += 1;
        self.depart(rank);
        let old = self.state.exit(log);
        assert_eq!(old, expected_old, "the value changed while it was held");
        true
    }

    /// Tries to enter once; on success modifies its snapshot, then abandons
    /// it with `cancel_enter`. Returns whether it entered.
    fn cancel_once(&self, me: u8) -> bool {
        let Some(mut log) = self.state.try_enter() else {
            return false;
        };
        let rank = self.arrive(&log);
        log.entries.push(me);
        log.count += 1;
        self.depart(rank);
        self.state.cancel_enter();
        true
    }

    /// Checks the final state once every thread has been joined.
    fn check_final(&self, successes: usize) -> Log {
        let log = self.state.read();
        log.assert_consistent();
        assert_eq!(log.count, successes as u64, "lost or phantom entries");
        assert_eq!(self.side.load(Relaxed), self.ranks.load(Relaxed));
        assert!(!self.state.is_entered());
        assert_eq!(self.holders.load(Relaxed), 0);
        log
    }
}

fn spawn_entrant(shared: &Arc<Shared>, me: u8) -> thread::JoinHandle<bool> {
    let shared = shared.clone();
    thread::spawn(move || shared.enter_once(me))
}

/// Two threads race to enter while a third (the main thread) reads.
#[test]
fn exclusive_two_entrants_and_a_reader() {
    loom::model(|| {
        let shared = Shared::new();
        let a = spawn_entrant(&shared, 1);
        let b = spawn_entrant(&shared, 2);

        // A reader never sees a torn value, only one of the stored ones.
        let seen = shared.state.read();
        seen.assert_consistent();

        let successes = [a.join().unwrap(), b.join().unwrap()];
        // Two attempts, one each: at least the first to try succeeds.
        let n = successes.iter().filter(|&&s| s).count();
        assert!(n >= 1);
        let log = shared.check_final(n);
        // Each successful thread appears exactly once, and what the reader
        // saw is a prefix of the final history.
        for (me, ok) in [(1, successes[0]), (2, successes[1])] {
            let times = log.entries.iter().filter(|&&e| e == me).count();
            assert_eq!(times, usize::from(ok));
        }
        assert!(
            log.entries.starts_with(&seen.entries),
            "{seen:?} vs {log:?}"
        );
    });
}

/// Three threads race to enter.
#[test]
fn exclusive_three_entrants() {
    loom::model(|| {
        let shared = Shared::new();
        let handles: Vec<_> = (1..=3).map(|me| spawn_entrant(&shared, me)).collect();
        let n = handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|&s| s)
            .count();
        assert!(n >= 1);
        shared.check_final(n);
    });
}

/// A thread that retries until it gets in sees the complete work of a
/// thread that got in before it.
#[test]
fn exclusive_retry_until_entered() {
    loom::model(|| {
        let shared = Shared::new();
        let a = spawn_entrant(&shared, 1);
        let b = {
            let shared = shared.clone();
            thread::spawn(move || {
                while !shared.enter_once(2) {
                    thread::yield_now();
                }
            })
        };
        let a_entered = a.join().unwrap();
        b.join().unwrap();
        let log = shared.check_final(1 + usize::from(a_entered));
        assert!(log.entries.contains(&2));
        assert_eq!(log.entries.contains(&1), a_entered);
    });
}

/// An abandoned entry (`cancel_enter`) stores nothing and releases the flag.
#[test]
fn exclusive_cancel_enter() {
    loom::model(|| {
        let shared = Shared::new();
        let canceller = {
            let shared = shared.clone();
            thread::spawn(move || shared.cancel_once(9))
        };
        let b = spawn_entrant(&shared, 2);
        canceller.join().unwrap();
        let b_entered = b.join().unwrap();
        let log = shared.check_final(usize::from(b_entered));
        assert!(!log.entries.contains(&9), "a cancelled entry was stored");
        // The flag is free again.
        assert!(shared.enter_once(3));
    });
}

/// Once the value is owned again, `get_mut` sees every stored change and a
/// cleared flag.
#[test]
fn exclusive_get_mut_after_join() {
    loom::model(|| {
        let shared = Shared::new();
        let a = spawn_entrant(&shared, 1);
        let b_entered = shared.enter_once(2);
        let a_entered = a.join().unwrap();
        let n = usize::from(a_entered) + usize::from(b_entered);
        let Ok(mut shared) = Arc::try_unwrap(shared) else {
            panic!("the spawned thread was joined");
        };
        let (log, entered) = shared.state.get_mut();
        assert!(!entered);
        assert_eq!(log.count, n as u64);
        log.assert_consistent();
    });
}

/// Two threads race the first use of one `LazyId`: both get the same non-zero
/// id, and other ids are different.
#[test]
fn lazy_id_first_use_race() {
    loom::model(|| {
        let counter = Arc::new(IdCounter::new());
        let lazy = Arc::new(LazyId::new());
        let spawn = || {
            let counter = counter.clone();
            let lazy = lazy.clone();
            thread::spawn(move || {
                let id = lazy.get_with(&counter, 0);
                // Stable for the thread that got it.
                assert_eq!(lazy.get_with(&counter, 0), id);
                id
            })
        };
        let a = spawn();
        let b = spawn();
        // A third id drawn concurrently.
        let other = LazyId::new();
        let other_id = other.get_with(&counter, 0);

        let a = a.join().unwrap();
        let b = b.join().unwrap();
        assert_ne!(a, 0);
        assert_eq!(a, b, "racing first uses disagree");
        assert_ne!(other_id, 0);
        assert_ne!(other_id, a, "two LazyIds share an id");
        assert_eq!(lazy.get_with(&counter, 0), a);
        assert_eq!(other.get_with(&counter, 0), other_id);
        // And one created afterwards differs from both.
        let late = LazyId::new().get_with(&counter, 0);
        assert!(late != a && late != other_id && late != 0);
    });
}

/// Concurrent draws from an `IdCounter` are distinct and non-zero.
#[test]
fn id_counter_distinct() {
    loom::model(|| {
        let counter = Arc::new(IdCounter::new());
        let c = counter.clone();
        let t = thread::spawn(move || [c.next(), c.next()]);
        let mine = counter.next();
        let theirs = t.join().unwrap();
        let mut all = vec![mine, theirs[0], theirs[1]];
        assert!(theirs[0] < theirs[1]);
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 3);
        assert!(all.iter().all(|&id| id != 0));
    });
}

/// The same race through the real variable type: two threads asking a fresh
/// `ContextVar` for its key agree, and another variable's key differs.
#[test]
fn context_var_key_race() {
    loom::model(|| {
        let var = Arc::new(ContextVar::<u32>::new("v"));
        let other = ContextVar::<u32>::new("w");
        let spawn = || {
            let var = var.clone();
            thread::spawn(move || var.key())
        };
        let a = spawn();
        let b = spawn();
        let other_key = other.key();
        let a = a.join().unwrap();
        let b = b.join().unwrap();
        assert_eq!(a, b);
        assert!(a.is(&var));
        assert_ne!(a, other_key);
        assert!(!a.is(&other));
    });
}

/// A context holding one binding, so that a model can tell it from a fresh
/// empty one without entering it (entering uses a `std` thread-local).
fn marked_context() -> crate::Context {
    let var: ContextVar<u32> = ContextVar::new("marker");
    let mut map = crate::map::Map::default();
    map.insert(crate::Binding::new(var.key(), 5u32));
    crate::Context::from_map(map)
}

/// Two workers poll the same task one after the other, racing the hand-over
/// (the second may start before the first checked the context back in), and
/// the task terminates concurrently: the context is never duplicated or
/// replaced by a fresh one, and it is released exactly once.
#[test]
fn task_registry_hand_over_and_terminate() {
    loom::model(|| {
        let registry = Arc::new(crate::runtime::TaskRegistry::<u64>::new());
        registry.spawned(1, marked_context());
        let poll = |registry: Arc<crate::runtime::TaskRegistry<u64>>| {
            thread::spawn(move || {
                if let Some(ctx) = registry.check_out(1) {
                    assert_eq!(ctx.len(), 1, "a fresh context replaced the task's");
                    registry.check_in(1, ctx, false);
                }
            })
        };
        let a = poll(registry.clone());
        let b = poll(registry.clone());
        let terminator = {
            let registry = registry.clone();
            thread::spawn(move || registry.terminated(1))
        };
        a.join().unwrap();
        b.join().unwrap();
        terminator.join().unwrap();
        assert_eq!(registry.live(), 0, "the context outlived its task");
        assert!(registry.check_out(1).is_none());
    });
}

/// Without termination the context survives any interleaving of two polls.
#[test]
fn task_registry_hand_over_keeps_the_context() {
    loom::model(|| {
        let registry = Arc::new(crate::runtime::TaskRegistry::<u64>::new());
        registry.spawned(1, marked_context());
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let registry = registry.clone();
                thread::spawn(move || {
                    let ctx = registry.check_out(1).expect("a live task's context");
                    assert_eq!(ctx.len(), 1);
                    registry.check_in(1, ctx, false);
                })
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
        assert_eq!(registry.live(), 1);
        let ctx = registry.check_out(1).unwrap();
        assert_eq!(ctx.len(), 1);
        registry.check_in(1, ctx, true);
        assert_eq!(registry.live(), 0);
    });
}
