//! rayon work items run in copies of the caller's context, and leave nothing
//! on the pool's threads.
#![cfg(feature = "rayon")]

use std::collections::HashSet;
use std::sync::Mutex;

use contextvars::rayon::ParallelIteratorExt;
use contextvars::{Context, ContextVar};
use rayon::prelude::*;

static REQUEST: ContextVar<u64> = ContextVar::new("request");
static SECRET: ContextVar<u64> = ContextVar::builder("secret").not_inherited().build();

#[test]
fn every_item_sees_the_caller_and_none_sees_another_item() {
    Context::new().run(|| {
        REQUEST.set(7);
        let leaks: usize = (0..10_000u64)
            .into_par_iter()
            .map_in_context(|i| {
                let inherited = REQUEST.get();
                REQUEST.set(1_000_000 + i);
                // Runs other items on this thread, nested inside this one:
                // each enters and exits its own copy on top of this one's.
                if i % 64 == 0 {
                    rayon::yield_local();
                }
                usize::from(inherited != 7 || REQUEST.get() != 1_000_000 + i)
            })
            .sum();
        assert_eq!(leaks, 0);
        assert_eq!(REQUEST.get(), 7);
    });
}

#[test]
fn pool_threads_keep_no_residue() {
    // A pool of its own: on the global pool, other tests' items can run this
    // test's plain closures nested inside their own contexts (work stealing),
    // which is not residue.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    pool.install(|| {
        Context::new().run(|| {
            REQUEST.set(1);
            (0..1_000u64).into_par_iter().for_each_in_context(|i| {
                REQUEST.set(i);
            });
        });
        // Plain rayon closures run in the pool threads' own contexts, which
        // no wrapped item wrote to.
        let residue: usize = (0..1_000u64)
            .into_par_iter()
            .map(|_| usize::from(REQUEST.try_get().is_ok()))
            .sum();
        assert_eq!(residue, 0);
    });
}

#[test]
fn join_and_scope_nest_and_copy_at_submission() {
    Context::new().run(|| {
        REQUEST.set(1);
        let (a, (b, c)) = contextvars::rayon::join(
            || REQUEST.get(),
            || {
                REQUEST.set(2);
                contextvars::rayon::join(|| REQUEST.get(), || REQUEST.get())
            },
        );
        assert_eq!((a, b, c), (1, 2, 2));

        let seen = Mutex::new(HashSet::new());
        contextvars::rayon::scope(|s| {
            for job in 10..20u64 {
                REQUEST.set(job);
                s.spawn(|s| {
                    let mine = REQUEST.get();
                    // A nested spawn copies the spawning item's context.
                    s.spawn(move |_| assert_eq!(REQUEST.get(), mine));
                    seen.lock().unwrap().insert(mine);
                });
            }
        });
        let seen = seen.into_inner().unwrap();
        assert_eq!(seen, (10..20).collect());
        // The scope closure ran in a copy too: its sets stayed there.
        assert_eq!(REQUEST.get(), 1);
    });
}

#[test]
fn not_inherited_variables_stay_with_the_caller() {
    Context::new().run(|| {
        SECRET.set(42);
        let seen: Vec<Option<u64>> = (0..4u64)
            .into_par_iter()
            .map_in_context(|_| SECRET.get_opt())
            .collect();
        assert_eq!(seen, [None; 4]);
        let (a, _) = contextvars::rayon::join(|| SECRET.get_opt(), || ());
        assert_eq!(a, None);
        assert_eq!(SECRET.get(), 42);
    });
}
