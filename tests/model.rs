//! Model-based state-machine tests: random sequences of AD changes and
//! machinery faults (target failures, crashes before commit and before
//! persist, batches delivered twice) drive the engine through a host loop;
//! after every settled cycle the target must equal what a fresh engine's
//! full sync of the current AD produces (see `model/harness.rs`).
//!
//! Failing sequences shrink (proptest shrinks the `Vec<Op>`) and the
//! minimal one is printed. Case counts: `IDSYNC_MODEL_CASES` per property
//! (default 250; six properties). Each property prints how many generated
//! sequences it ran (`model: <property>: <n> cases passed`; run with
//! `--nocapture` to see the lines), so a CI log shows the total.

#[path = "model/harness.rs"]
mod harness;

use std::fmt::Debug;

use harness::{Op, Sim};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestError, TestRunner};

fn cases(default: u32) -> u32 {
    std::env::var("IDSYNC_MODEL_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn config(default: u32) -> Config {
    Config {
        cases: cases(default),
        // Shrinking replays the whole sequence each time; keep it bounded.
        max_shrink_iters: 2_000,
        failure_persistence: None,
        ..Config::default()
    }
}

/// A weighted union that leaves out zero-weight options.
fn weighted(options: Vec<(u32, BoxedStrategy<Op>)>) -> impl Strategy<Value = Op> {
    proptest::strategy::Union::new_weighted(options.into_iter().filter(|(w, _)| *w > 0).collect())
}

/// AD changes; `restore` includes restores of deleted objects.
fn ad_op_with(restore: bool) -> impl Strategy<Value = Op> {
    weighted(vec![
        (
            3,
            any::<bool>()
                .prop_map(|in_scope| Op::AddUser { in_scope })
                .boxed(),
        ),
        (
            1,
            any::<bool>()
                .prop_map(|in_scope| Op::AddGroup { in_scope })
                .boxed(),
        ),
        (
            2,
            (any::<u8>(), 0u8..4)
                .prop_map(|(obj, v)| Op::SetDisplayName { obj, v })
                .boxed(),
        ),
        (
            1,
            (any::<u8>(), 0u8..4)
                .prop_map(|(user, v)| Op::SetUpn { user, v })
                .boxed(),
        ),
        (
            2,
            any::<u8>()
                .prop_map(|user| Op::ToggleEnabled { user })
                .boxed(),
        ),
        (
            2,
            (any::<u8>(), any::<bool>())
                .prop_map(|(user, on)| Op::SetLeaver { user, on })
                .boxed(),
        ),
        (
            1,
            (any::<u8>(), 0u8..4)
                .prop_map(|(obj, v)| Op::Rename { obj, v })
                .boxed(),
        ),
        (
            3,
            (any::<u8>(), any::<bool>())
                .prop_map(|(obj, to_in)| Op::Move { obj, to_in })
                .boxed(),
        ),
        (2, any::<u8>().prop_map(|obj| Op::Delete { obj }).boxed()),
        (
            if restore { 2 } else { 0 },
            any::<u8>().prop_map(|obj| Op::Restore { obj }).boxed(),
        ),
        (
            3,
            (any::<u8>(), any::<u8>())
                .prop_map(|(group, member)| Op::AddMember { group, member })
                .boxed(),
        ),
        (
            2,
            (any::<u8>(), any::<u8>())
                .prop_map(|(group, member)| Op::RemoveMember { group, member })
                .boxed(),
        ),
        (
            1,
            any::<u8>()
                .prop_map(|obj| Op::SetConsistencyGuid { obj })
                .boxed(),
        ),
    ])
}

fn ad_op() -> impl Strategy<Value = Op> {
    ad_op_with(true)
}

/// Machinery; `crash` includes crashes before commit / before persist.
fn machinery_op_with(crash: bool) -> impl Strategy<Value = Op> {
    let c = if crash { 2 } else { 0 };
    weighted(vec![
        (3, Just(Op::Cycle).boxed()),
        (2, any::<u8>().prop_map(|n| Op::FailNext { n }).boxed()),
        (c, Just(Op::CrashBeforeCommit).boxed()),
        (c, Just(Op::CrashBeforePersist).boxed()),
        (2, Just(Op::DeliverTwice).boxed()),
        (2, Just(Op::Settle).boxed()),
        (
            1,
            (any::<bool>(), any::<bool>())
                .prop_map(|(widen, tag)| Op::ChangeConfig { widen, tag })
                .boxed(),
        ),
        (1, Just(Op::QueueOverflow).boxed()),
        (
            1,
            any::<bool>()
                .prop_map(|changed| Op::DeltaStyle { changed })
                .boxed(),
        ),
    ])
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![3 => ad_op(), 1 => machinery_op_with(false)]
}

/// Everything, crashes included.
fn any_op() -> impl Strategy<Value = Op> {
    prop_oneof![3 => ad_op_with(true), 1 => machinery_op_with(true)]
}

/// Runs a sequence, settling and checking at the end.
fn run(hold: bool, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut sim = Sim::new(hold).map_err(TestCaseError::fail)?;
    for (i, op) in ops.iter().enumerate() {
        sim.step(op)
            .map_err(|e| TestCaseError::fail(format!("step {i} ({op:?}): {e}")))?;
    }
    sim.settle()
        .map_err(|e| TestCaseError::fail(format!("final settle: {e}")))?;
    Ok(())
}

/// Runs one property over `IDSYNC_MODEL_CASES` generated cases (default
/// 250), prints how many passed, and panics with the shrunk input on a
/// failure.
fn property<S: Strategy>(
    name: &str,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S::Value: Debug,
{
    let mut runner = TestRunner::new(config(250));
    let passed = std::cell::Cell::new(0u64);
    let result = runner.run(&strategy, |v| {
        test(v)?;
        passed.set(passed.get() + 1);
        Ok(())
    });
    match result {
        Ok(()) => println!("model: {name}: {} cases passed", passed.get()),
        Err(TestError::Fail(why, input)) => {
            panic!("model: {name} failed: {why}\nminimal failing input: {input:#?}")
        }
        Err(TestError::Abort(why)) => panic!("model: {name} aborted: {why}"),
    }
}

/// AD changes and faults with automatic deletion (a threshold that never
/// holds): the settled target equals the model's.
#[test]
fn converges_to_the_model_under_faults() {
    property(
        "converges_to_the_model_under_faults",
        prop::collection::vec(op(), 0..40),
        |ops| run(false, &ops),
    );
}

/// AD changes only, settling often: every settled state equals the model.
#[test]
fn every_settled_state_equals_the_model() {
    property(
        "every_settled_state_equals_the_model",
        prop::collection::vec(prop_oneof![6 => ad_op(), 1 => Just(Op::Settle)], 0..40),
        |ops| run(false, &ops),
    );
}

/// HoldForApproval: nothing is ever deleted without an approval, and every
/// object the model keeps is in the target with its values.
#[test]
fn held_deletions_are_never_applied() {
    property(
        "held_deletions_are_never_applied",
        prop::collection::vec(op(), 0..40),
        |ops| run(true, &ops),
    );
}

/// Idempotence over random AD states: planning twice gives equal plans and a
/// settled engine plans nothing for a replayed batch (the harness checks
/// both at every cycle; `DeliverTwice` exercises the replay).
#[test]
fn idempotent_plans_and_replays() {
    property(
        "idempotent_plans_and_replays",
        prop::collection::vec(
            prop_oneof![4 => ad_op(), 1 => Just(Op::DeliverTwice)],
            0..30,
        ),
        |ops| {
            let mut sim = Sim::new(false).map_err(TestCaseError::fail)?;
            for op in &ops {
                sim.step(op).map_err(TestCaseError::fail)?;
            }
            sim.settle().map_err(TestCaseError::fail)?;
            // Settled: touching everything changes nothing.
            sim.engine.mark_all_due();
            let plan = sim.engine.plan(sim.now, &sim.target);
            prop_assert!(
                plan.ops.is_empty(),
                "a settled engine re-planned: {:?}",
                plan.ops
            );
            prop_assert_eq!(&plan, &sim.engine.plan(sim.now, &sim.target));
            Ok(())
        },
    );
}

/// Every operation, crashes before commit and before persist and AD
/// restores included, automatic deletion.
#[test]
fn converges_with_crashes_and_restores() {
    property(
        "converges_with_crashes_and_restores",
        prop::collection::vec(any_op(), 0..40),
        |ops| run(false, &ops),
    );
}

/// Every operation with HoldForApproval.
#[test]
fn holds_with_crashes_and_restores() {
    property(
        "holds_with_crashes_and_restores",
        prop::collection::vec(any_op(), 0..40),
        |ops| run(true, &ops),
    );
}

/// Initial state of every run (see `Sim::new`): users [0] "Soft Match"
/// (soft-matched), [1] U1 and [2] U2 in scope, [3] U3 out of scope; group
/// [0] G4 in scope with members U1 and U3. Object operands index users then
/// groups.
#[test]
fn scripted_scope_round_trip_with_failures_and_replays() {
    let ops = [
        Op::AddUser { in_scope: true },
        Op::SetConsistencyGuid { obj: 0 },
        Op::DeliverTwice,
        Op::Move {
            obj: 4,
            to_in: false,
        },
        Op::FailNext { n: 1 },
        Op::Cycle,
        Op::Move {
            obj: 4,
            to_in: true,
        },
        Op::DeliverTwice,
        Op::Delete { obj: 4 },
        Op::Settle,
        Op::AddUser { in_scope: false },
        Op::AddMember {
            group: 0,
            member: 5,
        },
        Op::Move {
            obj: 5,
            to_in: true,
        },
        Op::ToggleEnabled { user: 5 },
        Op::Settle,
    ];
    run(false, &ops).unwrap();
    run(true, &ops).unwrap();
}

// Scripted repros of the bugs these tests found (RELIABILITY.md numbers
// them); each failed before its fix.

/// Bug 1: an object created by a plan that crashed before its commit, which
/// leaves scope before the next cycle, stayed in the target for good (the
/// restored engine had never exported it). Fixed by the write-ahead
/// `Engine::begin`: the object is found by its anchor and deleted.
#[test]
fn crash_before_commit_then_leave_scope_orphans_the_object() {
    let ops = [
        Op::AddUser { in_scope: true }, // users[4]
        Op::CrashBeforeCommit,          // created in the target, not committed
        Op::Move {
            obj: 4,
            to_in: false,
        },
        Op::Settle,
    ];
    run(false, &ops).unwrap();
}

/// Bug 2: a change applied by a plan that crashed before its commit and then
/// reverted in the source was never re-exported (the restored engine's
/// export record held the old value, equal to the source again). Fixed by
/// `Engine::begin`: after a crash the object's attributes are all written.
#[test]
fn crash_before_commit_then_revert_keeps_the_stale_value() {
    let ops = [
        Op::ToggleEnabled { user: 0 }, // disabled
        Op::CrashBeforeCommit,         // AccountEnabled=false applied, not committed
        Op::ToggleEnabled { user: 0 }, // enabled again
        Op::Settle,
    ];
    run(false, &ops).unwrap();
}

/// Bug 2 with the other crash: the commit happened but the snapshot was not
/// persisted; the restarted engine's export record is the older one.
#[test]
fn crash_before_persist_then_revert_keeps_the_stale_value() {
    let ops = [
        Op::ToggleEnabled { user: 0 },
        Op::CrashBeforePersist,
        Op::ToggleEnabled { user: 0 },
        Op::Settle,
    ];
    run(false, &ops).unwrap();
}

/// Bug 3: AD drops a deleted object's memberships and does not bring them
/// back on restore; the target keeps a soft-deleted member's memberships
/// and brings them back on restore (as Entra does). The engine forgot the
/// links at the delete, so after the restore the target group listed a
/// member the AD group no longer has. Fixed: the links stay recorded
/// (dormant) and are diffed when the member is restored.
#[test]
fn restored_member_keeps_a_removed_membership() {
    let ops = [
        Op::Delete { obj: 1 }, // U1, a member of G4
        Op::Cycle,             // U1 soft-deleted in the target
        Op::Restore { obj: 1 },
        Op::Settle, // the target G4 lists U1 again until the engine removes it
    ];
    run(false, &ops).unwrap();
}

/// Bug 3 from the group's side: a group soft-deleted in the target (it left
/// scope) comes back with the members it had; one the AD group lost
/// meanwhile must be removed.
#[test]
fn restored_group_keeps_a_removed_member() {
    let ops = [
        Op::Move {
            obj: 4,
            to_in: false,
        }, // G4 (members U1, U3) leaves scope
        Op::Cycle, // G4 soft-deleted in the target with U1
        Op::RemoveMember {
            group: 0,
            member: 0,
        }, // U1 leaves G4 in the AD
        Op::Move {
            obj: 4,
            to_in: true,
        },
        Op::Settle, // G4 restored in the target, still with U1
    ];
    run(false, &ops).unwrap();
}

/// Bug 5: a membership added by a plan that crashed before its commit and
/// removed in the source before the next cycle stayed in the target (the
/// export record never had it). Fixed: `Engine::begin` records the links
/// the plan touches; until an op for a link commits, the next plans add it
/// when the source has it and remove it otherwise.
#[test]
fn crash_before_commit_then_membership_revert() {
    let ops = [
        Op::AddMember {
            group: 0,
            member: 0,
        }, // Soft Match into G4
        Op::CrashBeforeCommit,
        Op::RemoveMember {
            group: 0,
            member: 2,
        }, // G4's members are U1, U3, Soft Match
        Op::Settle,
    ];
    run(false, &ops).unwrap();
}

/// Bug 5 with the group deleted meanwhile: the crashed link goes dormant
/// with the group and is settled when the group is restored.
#[test]
fn crash_before_commit_then_group_deleted_and_restored() {
    let ops = [
        Op::AddMember {
            group: 0,
            member: 0,
        },
        Op::CrashBeforeCommit,
        Op::Delete { obj: 4 }, // G4
        Op::Cycle,
        Op::Restore { obj: 4 }, // G4 back with Soft Match in the AD too
        Op::RemoveMember {
            group: 0,
            member: 0,
        },
        Op::RemoveMember {
            group: 0,
            member: 0,
        },
        Op::RemoveMember {
            group: 0,
            member: 0,
        },
        Op::Settle,
    ];
    run(false, &ops).unwrap();
}

/// Bug 5 with the member deleted meanwhile: the crashed link goes dormant
/// with the member and is settled when the member is restored.
#[test]
fn crash_before_commit_then_member_deleted_and_restored() {
    let ops = [
        Op::AddMember {
            group: 0,
            member: 2,
        }, // U2 into G4
        Op::CrashBeforeCommit,
        Op::Delete { obj: 2 }, // U2 gone: AD drops it from G4
        Op::Cycle,
        Op::Restore { obj: 2 }, // U2 back without the membership
        Op::Settle,
    ];
    run(false, &ops).unwrap();
}

/// Bug 5 with a member the crashed plan created: after the crash the member
/// is matched by its anchor, and the link added in that same plan (which
/// crashed too) must still be known as unsure.
#[test]
fn crash_twice_then_membership_of_a_matched_member_reverts() {
    let ops = [
        Op::AddUser { in_scope: true }, // users[4]
        Op::CrashBeforeCommit,          // created, not committed
        Op::AddMember {
            group: 0,
            member: 4,
        },
        Op::CrashBeforeCommit, // matched by anchor and added to G4, not committed
        Op::RemoveMember {
            group: 0,
            member: 2,
        }, // G4's members are U1, U3, users[4]
        Op::Settle,
    ];
    run(false, &ops).unwrap();
}

/// Bug 6: a delete applied by a plan that crashed before its commit, then a
/// restore in the AD: the restored engine forgot the tombstone (its export
/// record said live, the target said deleted, so nothing was planned) and
/// never restored the object. Fixed: after a crash the target is asked, and
/// a delete it may have missed is planned again.
#[test]
fn crash_before_commit_then_deleted_object_restored() {
    let ops = [
        Op::Delete { obj: 1 },
        Op::CrashBeforeCommit, // U1 soft-deleted, not committed
        Op::Cycle,
        Op::Restore { obj: 1 },
        Op::Settle,
    ];
    run(false, &ops).unwrap();
}

/// Bug 6 the other way: a target restore lost in a crash, then the object is
/// deleted in the AD again: the engine's record still said deleted, so the
/// live target object was never deleted again.
#[test]
fn crash_before_commit_then_restored_object_deleted() {
    let ops = [
        Op::Delete { obj: 1 },
        Op::Cycle,
        Op::Restore { obj: 1 },
        Op::CrashBeforeCommit, // U1 restored in the target, not committed
        Op::Delete { obj: 1 },
        Op::Settle,
    ];
    run(false, &ops).unwrap();
}

/// Bug 7 (HoldForApproval): after a crash, an object whose deletion the gate
/// then held lost its "target state unknown" mark, so when it came back
/// with the crashed plan's change reverted, the stale value stayed. Fixed:
/// the mark stays while the object's op is held or rejected.
#[test]
fn crash_then_held_deletion_keeps_the_object_unsure() {
    let ops = [
        Op::ToggleEnabled { user: 0 }, // disabled
        Op::CrashBeforeCommit,         // applied, not committed
        Op::Move {
            obj: 0,
            to_in: false,
        }, // deletion held
        Op::ToggleEnabled { user: 0 }, // enabled again
        Op::Cycle,
        Op::Move {
            obj: 0,
            to_in: true,
        },
        Op::Settle,
    ];
    run(true, &ops).unwrap();
}

/// Bug 8 (the in-memory AD): a recycled group's member links kept the old
/// DN of a member moved or renamed while the group was deleted, so the
/// restored group named a DN that no longer exists, and the engine and the
/// model disagreed about it. Fixed in `InMemoryAd`: links kept for a
/// restore follow moves and renames, as AD's links (by reference) do.
#[test]
fn tombstone_links_follow_a_moved_member() {
    let ops = [
        Op::Delete { obj: 4 }, // G4 (members U1, U3)
        Op::Move {
            obj: 3,
            to_in: true,
        },
        Op::Restore { obj: 4 },
        Op::Rename { obj: 3, v: 0 },
        Op::Settle,
    ];
    run(false, &ops).unwrap();
}

/// Found by the CI run of `held_deletions_are_never_applied` (2,000 cases):
/// with deletions held, a member of an in-scope group leaves scope (its
/// deletion held, so its target object and the link stay), then comes back.
#[test]
fn held_member_back_in_scope_keeps_its_membership() {
    let ops = [
        Op::Move {
            obj: 132,
            to_in: false,
        },
        Op::AddMember {
            group: 0,
            member: 127,
        },
        Op::AddUser { in_scope: false },
        Op::AddUser { in_scope: false },
        Op::AddUser { in_scope: false },
        Op::Cycle,
        Op::Move {
            obj: 42,
            to_in: true,
        },
        Op::Settle,
    ];
    run(true, &ops).unwrap();
}

/// Found by the model when a modification re-evaluated only the mappings
/// of the attributes it changed: with deletions held, a user is disabled,
/// leaves scope by an attribute (its deletion held) and comes back by
/// clearing it. Its export was last written before it left, so the change
/// made while it was out (AccountEnabled) must flow when it returns: an
/// export counts as in sync only after a plan that updated it in full.
#[test]
fn held_user_back_in_scope_by_attribute_gets_changes_made_while_out() {
    let ops = [
        Op::AddUser { in_scope: false },
        Op::ToggleEnabled { user: 131 },
        Op::SetLeaver {
            user: 166,
            on: true,
        },
        Op::AddUser { in_scope: false },
        Op::AddUser { in_scope: false },
        Op::DeliverTwice,
        Op::SetLeaver {
            user: 36,
            on: false,
        },
    ];
    run(true, &ops).unwrap();
}
