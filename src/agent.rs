//! Agents: the [`Registry`] of a tenant's agents (registration, heartbeats,
//! health, assignment to domains, one active agent per configuration,
//! failover), the agent's bounded local [`ChangeQueue`], and the agent's
//! [`Schedule`] of delta cycles, full syncs and heartbeats.
//!
//! All three are pure state machines in the sans-IO style: every input
//! takes `now` as a [`Timestamp`](crate::time::Timestamp), outputs are
//! returned as values (events, what is due and when), and nothing here
//! reads a clock, sleeps, or sends anything. A host calls
//! [`Registry::tick`] whenever time has passed (at the latest at
//! [`Registry::next_deadline`]) and before it handles a batch received at
//! that time; an agent host sleeps until [`Schedule::next_due`].
//!
//! This module never applies changes (the engine does) and never decides
//! what a change means; it decides who may send them and when.

mod queue;
mod registry;
mod schedule;

pub use queue::{ChangeQueue, Pushed, QueueOverflow};
pub use registry::{AgentError, AgentId, AgentStatus, Registry, RegistryEvent};
pub use schedule::{CycleKind, CycleOutcome, Due, FullReason, Schedule, ScheduleError, Work};
