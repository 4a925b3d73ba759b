//! Synchronization primitives: `std` normally, `loom` under `--cfg loom`.
//!
//! Crate code imports atomics and locks from here, never from `std::sync`
//! directly, so that the loom models in `tests` exercise the real code.

#[cfg(not(loom))]
pub(crate) use std::hint::spin_loop;
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::Mutex;
#[cfg(not(loom))]
pub(crate) use std::thread::yield_now;

#[cfg(loom)]
pub(crate) use loom::hint::spin_loop;
#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
#[cfg(loom)]
pub(crate) use loom::sync::Mutex;
#[cfg(loom)]
pub(crate) use loom::thread::yield_now;

/// Declares a `const fn` that is a plain `fn` under loom, whose atomics
/// cannot be built in a constant.
macro_rules! const_fn_unless_loom {
    ($(#[$meta:meta])* $vis:vis fn $name:ident $($rest:tt)*) => {
        #[cfg(not(loom))]
        $(#[$meta])* $vis const fn $name $($rest)*
        #[cfg(loom)]
        $(#[$meta])* $vis fn $name $($rest)*
    };
}
pub(crate) use const_fn_unless_loom;

/// A process-wide counter handing out unique, non-zero ids.
#[derive(Debug)]
pub(crate) struct IdCounter(AtomicU64);

impl IdCounter {
    const_fn_unless_loom! {
        pub(crate) fn new() -> Self {
            IdCounter(AtomicU64::new(1))
        }
    }

    /// Returns a fresh id. Ids are never reused: at a billion ids per second
    /// a `u64` lasts for centuries.
    pub(crate) fn next(&self) -> u64 {
        self.0.fetch_add(1, Ordering::Relaxed)
    }

    /// Reserves `n` consecutive ids and returns the first.
    #[cfg(not(loom))]
    pub(crate) fn next_block(&self, n: u64) -> u64 {
        self.0.fetch_add(n, Ordering::Relaxed)
    }
}

/// An id assigned on first use, so that its owner can be built in a `const`.
///
/// Racing first uses agree on one id: the loser of the `compare_exchange`
/// adopts the winner's id (the id it drew from the counter is simply skipped).
#[derive(Debug)]
pub(crate) struct LazyId(AtomicU64);

impl LazyId {
    const_fn_unless_loom! {
        pub(crate) fn new() -> Self {
            LazyId(AtomicU64::new(0))
        }
    }

    /// Returns the id, drawing it from `counter` on first use and storing it
    /// with the bits of `flags` set (which the counter's ids never have).
    #[inline]
    pub(crate) fn get_with(&self, counter: &IdCounter, flags: u64) -> u64 {
        // `Acquire` (a plain load on x86): whatever was announced before the
        // id was published (see `get_announced`) is visible to code that
        // reads the id here, and to what that code hands on.
        let id = self.0.load(Ordering::Acquire);
        if id != 0 {
            return id;
        }
        self.assign(counter, flags)
    }

    /// The id, or 0 if none is assigned yet.
    #[inline]
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }

    /// Returns the id as [`get_with`](LazyId::get_with) does, calling
    /// `announce(id, true)` with a fresh id *before* it can be stored (so
    /// before any other thread can see it), and `announce(id, false)` if
    /// another thread's id was stored first.
    #[cold]
    pub(crate) fn get_announced(
        &self,
        counter: &IdCounter,
        flags: u64,
        announce: impl Fn(u64, bool),
    ) -> u64 {
        let id = self.get();
        if id != 0 {
            return id;
        }
        let fresh = counter.next() | flags;
        announce(fresh, true);
        // `Release`: the announcement happens before any use of the id by a
        // thread that reads it (with `Acquire`); `Acquire` on failure, for
        // the winner's announcement.
        match self
            .0
            .compare_exchange(0, fresh, Ordering::Release, Ordering::Acquire)
        {
            Ok(_) => fresh,
            Err(winner) => {
                announce(fresh, false);
                winner
            }
        }
    }

    #[cold]
    fn assign(&self, counter: &IdCounter, flags: u64) -> u64 {
        let fresh = counter.next() | flags;
        match self
            .0
            .compare_exchange(0, fresh, Ordering::Release, Ordering::Acquire)
        {
            Ok(_) => fresh,
            Err(winner) => winner,
        }
    }
}

/// A value that at most one thread may hold ("enter") at a time.
///
/// This is the state a [`Context`](crate::Context) shares between threads:
/// `entered` is CPython's `ctx_entered` flag, and the lock keeps the value
/// readable by other threads while the context is not entered. Entering takes
/// a snapshot of the value; exiting stores the updated value back and then
/// clears the flag with `Release`, so the next thread to enter (`Acquire`)
/// sees every change.
#[derive(Debug)]
pub(crate) struct Exclusive<T> {
    entered: AtomicBool,
    value: Mutex<T>,
}

impl<T: Clone> Exclusive<T> {
    pub(crate) fn new(value: T) -> Self {
        Exclusive {
            entered: AtomicBool::new(false),
            value: Mutex::new(value),
        }
    }

    /// Marks the value as entered and returns a snapshot of it, or `None` if
    /// it is already entered.
    pub(crate) fn try_enter(&self) -> Option<T> {
        self.entered
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .ok()?;
        Some(self.read())
    }

    /// Stores the value back and clears the entered flag. Returns the value
    /// it replaced, for the caller to drop outside of the lock.
    pub(crate) fn exit(&self, value: T) -> T {
        let old = std::mem::replace(&mut *self.lock(), value);
        self.entered.store(false, Ordering::Release);
        old
    }

    /// Ends an entry without storing anything back: the snapshot is
    /// abandoned, or it was not changed.
    pub(crate) fn cancel_enter(&self) {
        self.entered.store(false, Ordering::Release);
    }

    /// Whether some thread has entered the value.
    pub(crate) fn is_entered(&self) -> bool {
        self.entered.load(Ordering::Acquire)
    }

    /// A clone of the stored value.
    pub(crate) fn read(&self) -> T {
        self.read_with(T::clone)
    }

    /// Applies `f` to the stored value, under the lock: `f` must not run
    /// user code, nor drop a value whose `Drop` could.
    #[inline]
    pub(crate) fn read_with<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        f(&self.lock())
    }

    /// Exclusive access, when the caller owns the value.
    pub(crate) fn get_mut(&mut self) -> (&mut T, bool) {
        #[cfg(not(loom))]
        let entered = *self.entered.get_mut();
        #[cfg(loom)]
        let entered = self.entered.load(Ordering::Relaxed);
        let value = self
            .value
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (value, entered)
    }

    fn lock(&self) -> impl std::ops::DerefMut<Target = T> + '_ {
        // The lock is only ever held for a clone or a `mem::replace`, neither of
        // which can panic for our map type, so poisoning cannot happen; if it
        // somehow did, the data is still consistent.
        self.value
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
