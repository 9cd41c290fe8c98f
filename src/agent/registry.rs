//! The tenant's agents, their health, and which one serves each
//! configuration.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::change::{BatchHeader, Committed, ConfigId, Resume, ResumeError, Watermark};
use crate::limits::Limits;
use crate::time::Timestamp;

/// An agent's identifier (the service's name for one installed agent).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AgentId(Arc<str>);

impl AgentId {
    /// An agent id.
    pub fn new(id: &str) -> AgentId {
        AgentId(Arc::from(id))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for AgentId {
    fn from(s: &str) -> AgentId {
        AgentId::new(s)
    }
}

/// Something the registry decided that the host should log or act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum RegistryEvent {
    /// No heartbeat for [`Limits::unhealthy_after`].
    AgentUnhealthy {
        /// The agent.
        agent: AgentId,
        /// Its last heartbeat.
        last_heartbeat: Timestamp,
    },
    /// An unhealthy agent sent a heartbeat again.
    AgentRecovered {
        /// The agent.
        agent: AgentId,
    },
    /// The active agent of a configuration became unhealthy (or left) and
    /// another healthy agent of the same domain took over, resuming from
    /// the last committed watermark.
    Failover {
        /// The configuration.
        config: ConfigId,
        /// The agent that lost it.
        from: AgentId,
        /// The agent that serves it now.
        to: AgentId,
        /// Where the new agent resumes.
        resume_from: Watermark,
    },
    /// A configuration without an active agent got one.
    Activated {
        /// The configuration.
        config: ConfigId,
        /// The agent that serves it now.
        agent: AgentId,
        /// Where it resumes.
        resume_from: Watermark,
    },
    /// A configuration lost its active agent and no healthy agent of its
    /// domain can take over: it is not synchronized until one can.
    NoHealthyAgent {
        /// The configuration.
        config: ConfigId,
        /// The agent that lost it.
        last_active: AgentId,
    },
}

/// A refused registry operation or batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    /// The tenant already has the most agents allowed.
    #[error("agent {agent}: the tenant already has {max} agents, the most allowed")]
    TooManyAgents {
        /// The agent refused.
        agent: AgentId,
        /// The limit.
        max: usize,
    },
    /// The agent is registered already.
    #[error("agent {agent}: already registered")]
    AlreadyRegistered {
        /// The agent.
        agent: AgentId,
    },
    /// No such agent.
    #[error("agent {agent}: not registered")]
    UnknownAgent {
        /// The agent.
        agent: AgentId,
    },
    /// No such configuration.
    #[error("configuration {config}: not known")]
    UnknownConfiguration {
        /// The configuration.
        config: ConfigId,
    },
    /// The configuration exists already.
    #[error("configuration {config}: already added")]
    DuplicateConfiguration {
        /// The configuration.
        config: ConfigId,
    },
    /// A batch or commit from an agent that does not serve the
    /// configuration (a stale agent after a failover): refused so nothing
    /// is applied twice.
    #[error("configuration {config}: agent {agent} is not its active agent (active: {})", active.as_ref().map_or("none", |a| a.as_str()))]
    NotActive {
        /// The configuration.
        config: ConfigId,
        /// The agent that sent.
        agent: AgentId,
        /// The agent that serves the configuration, if any.
        active: Option<AgentId>,
    },
    /// A batch from an agent whose heartbeats stopped long enough to make
    /// it unhealthy (even if no tick has noticed yet).
    #[error("agent {agent}: unhealthy, no heartbeat since {last_heartbeat}")]
    Unhealthy {
        /// The agent.
        agent: AgentId,
        /// Its last heartbeat.
        last_heartbeat: Timestamp,
    },
    /// The batch does not continue what was committed.
    #[error("configuration {config}: {error}")]
    Watermark {
        /// The configuration.
        config: ConfigId,
        /// Why.
        error: ResumeError,
    },
}

/// What the registry knows about one agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentStatus {
    /// The agent.
    pub id: AgentId,
    /// The domains it is assigned to (lowercase DNS names).
    pub domains: Vec<String>,
    /// When it registered.
    pub registered_at: Timestamp,
    /// Its last heartbeat (registration counts as one).
    pub last_heartbeat: Timestamp,
    /// Whether it is healthy as of the last tick.
    pub healthy: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct ConfigState {
    id: ConfigId,
    domain: String,
    active: Option<AgentId>,
    committed: Committed,
}

/// One tenant's agents and configurations.
///
/// - registration (at most [`Limits::max_agents_per_tenant`]) and
///   assignment of agents to domains;
/// - heartbeats and health: an agent without a heartbeat for
///   [`Limits::unhealthy_after`] is unhealthy;
/// - one active agent per configuration (the first healthy agent assigned
///   to its domain); when it becomes unhealthy the next healthy agent of
///   that domain takes over from the configuration's committed watermark;
/// - the committed watermark per configuration, checked against every batch
///   ([`Registry::check_batch`]) and advanced by [`Registry::commit`], which
///   also refuses an agent that is no longer active (fencing).
///
/// A host drives it like this: call [`Registry::tick`] when time passed (at
/// the latest at [`Registry::next_deadline`]) and log or act on its events;
/// for each batch received, `check_batch`, apply it to a staged mirror, then
/// `commit` and only on success commit the mirror. The whole registry
/// serializes (serde) for the host to persist.
///
/// ```
/// use idsync::agent::{Registry, RegistryEvent};
/// use idsync::limits::Limits;
/// use idsync::time::Timestamp;
/// let t0 = Timestamp::from_secs(1_700_000_000);
/// let mut r = Registry::new(Limits::default());
/// r.register(t0, "agent-a".into())?;
/// r.register(t0, "agent-b".into())?;
/// r.assign("agent-a".into(), "corp.example.com")?;
/// r.assign("agent-b".into(), "corp.example.com")?;
/// r.add_configuration("corp".into(), "corp.example.com")?;
/// assert_eq!(r.active_agent(&"corp".into()).map(|a| a.as_str()), Some("agent-a"));
/// // agent-b keeps sending heartbeats, agent-a stops.
/// r.heartbeat(t0.add_secs(29 * 60), &"agent-b".into())?;
/// let events = r.tick(t0.add_secs(31 * 60));
/// assert!(events.iter().any(|e| matches!(e, RegistryEvent::Failover { to, .. } if to.as_str() == "agent-b")));
/// # Ok::<(), idsync::agent::AgentError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registry {
    limits: Limits,
    agents: Vec<AgentStatus>,
    configs: Vec<ConfigState>,
}

impl Registry {
    /// An empty registry for one tenant.
    pub fn new(limits: Limits) -> Registry {
        Registry {
            limits,
            agents: Vec::new(),
            configs: Vec::new(),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Registers an agent at `now` (which counts as its first heartbeat).
    pub fn register(&mut self, now: Timestamp, agent: AgentId) -> Result<(), AgentError> {
        if self.agents.iter().any(|a| a.id == agent) {
            return Err(AgentError::AlreadyRegistered { agent });
        }
        if self.agents.len() >= self.limits.max_agents_per_tenant {
            return Err(AgentError::TooManyAgents {
                agent,
                max: self.limits.max_agents_per_tenant,
            });
        }
        self.agents.push(AgentStatus {
            id: agent,
            domains: Vec::new(),
            registered_at: now,
            last_heartbeat: now,
            healthy: true,
        });
        Ok(())
    }

    /// Removes an agent; configurations it served fail over at once.
    pub fn unregister(&mut self, agent: &AgentId) -> Result<Vec<RegistryEvent>, AgentError> {
        let i = self.agent_index(agent)?;
        self.agents.remove(i);
        let mut events = Vec::new();
        for c in 0..self.configs.len() {
            if self.configs[c].active.as_ref() == Some(agent) {
                self.fail_over(c, agent, &mut events);
            }
        }
        Ok(events)
    }

    /// Assigns an agent to a domain (case-insensitive DNS name). A
    /// configuration of that domain without an active agent gets this one
    /// if it is healthy.
    pub fn assign(
        &mut self,
        agent: AgentId,
        domain: &str,
    ) -> Result<Vec<RegistryEvent>, AgentError> {
        let i = self.agent_index(&agent)?;
        let domain = domain.to_ascii_lowercase();
        if !self.agents[i].domains.contains(&domain) {
            self.agents[i].domains.push(domain);
        }
        Ok(self.activate_idle())
    }

    /// Adds a configuration reading `domain`; its first healthy assigned
    /// agent becomes active.
    pub fn add_configuration(
        &mut self,
        config: ConfigId,
        domain: &str,
    ) -> Result<Vec<RegistryEvent>, AgentError> {
        if self.configs.iter().any(|c| c.id == config) {
            return Err(AgentError::DuplicateConfiguration { config });
        }
        self.configs.push(ConfigState {
            id: config,
            domain: domain.to_ascii_lowercase(),
            active: None,
            committed: Committed::default(),
        });
        Ok(self.activate_idle())
    }

    /// A heartbeat from `agent` at `now`. An unhealthy agent recovers (it
    /// does not take back configurations another agent serves now).
    pub fn heartbeat(
        &mut self,
        now: Timestamp,
        agent: &AgentId,
    ) -> Result<Vec<RegistryEvent>, AgentError> {
        let i = self.agent_index(agent)?;
        let a = &mut self.agents[i];
        a.last_heartbeat = a.last_heartbeat.max(now);
        let mut events = Vec::new();
        if !a.healthy && !self.is_stale(&self.agents[i], now) {
            self.agents[i].healthy = true;
            events.push(RegistryEvent::AgentRecovered {
                agent: agent.clone(),
            });
            events.extend(self.activate_idle());
        }
        Ok(events)
    }

    /// Advances health to `now`: agents without a heartbeat for
    /// [`Limits::unhealthy_after`] become unhealthy, and the configurations
    /// they served fail over.
    pub fn tick(&mut self, now: Timestamp) -> Vec<RegistryEvent> {
        let mut events = Vec::new();
        let mut fallen = Vec::new();
        for a in &mut self.agents {
            if a.healthy && now.since(a.last_heartbeat) >= self.limits.unhealthy_after {
                a.healthy = false;
                events.push(RegistryEvent::AgentUnhealthy {
                    agent: a.id.clone(),
                    last_heartbeat: a.last_heartbeat,
                });
                fallen.push(a.id.clone());
            }
        }
        for agent in &fallen {
            for c in 0..self.configs.len() {
                if self.configs[c].active.as_ref() == Some(agent) {
                    self.fail_over(c, agent, &mut events);
                }
            }
        }
        events
    }

    /// The next time a tick could change something: the earliest moment a
    /// healthy agent becomes unhealthy without a heartbeat.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        self.agents
            .iter()
            .filter(|a| a.healthy)
            .map(|a| a.last_heartbeat + self.limits.unhealthy_after)
            .min()
    }

    /// Whether the batch with `header`, sent by `agent` at `now`, may be
    /// applied: the agent must be the configuration's active agent and
    /// healthy, and the batch must continue the committed watermark
    /// ([`Committed::check`]). [`Resume::AlreadyApplied`] means skip it.
    pub fn check_batch(
        &self,
        now: Timestamp,
        agent: &AgentId,
        header: &BatchHeader,
    ) -> Result<Resume, AgentError> {
        let c = self.serving(now, agent, &header.source)?;
        self.configs[c]
            .committed
            .check(header)
            .map_err(|error| AgentError::Watermark {
                config: header.source.clone(),
                error,
            })
    }

    /// Records that the engine committed the batch with `header` from
    /// `agent`: the committed watermark advances. Refused (and nothing
    /// changes) when the agent is no longer the active one or the batch no
    /// longer continues the committed state, so the engine must then
    /// discard the staged batch. A batch that was already applied commits
    /// as a no-op.
    pub fn commit(
        &mut self,
        now: Timestamp,
        agent: &AgentId,
        header: &BatchHeader,
    ) -> Result<Resume, AgentError> {
        let resume = self.check_batch(now, agent, header)?;
        if resume == Resume::Apply {
            let c = self.config_index(&header.source)?;
            self.configs[c].committed.advance(header);
        }
        Ok(resume)
    }

    /// What is committed for a configuration: where an agent resumes.
    pub fn committed(&self, config: &ConfigId) -> Option<&Committed> {
        self.configs
            .iter()
            .find(|c| &c.id == config)
            .map(|c| &c.committed)
    }

    /// The configuration's active agent.
    pub fn active_agent(&self, config: &ConfigId) -> Option<&AgentId> {
        self.configs
            .iter()
            .find(|c| &c.id == config)
            .and_then(|c| c.active.as_ref())
    }

    /// An agent's status.
    pub fn agent(&self, agent: &AgentId) -> Option<&AgentStatus> {
        self.agents.iter().find(|a| &a.id == agent)
    }

    /// All agents, in registration order.
    pub fn agents(&self) -> &[AgentStatus] {
        &self.agents
    }

    /// The configurations and their domains.
    pub fn configurations(&self) -> impl Iterator<Item = (&ConfigId, &str)> {
        self.configs.iter().map(|c| (&c.id, c.domain.as_str()))
    }

    fn agent_index(&self, agent: &AgentId) -> Result<usize, AgentError> {
        self.agents
            .iter()
            .position(|a| &a.id == agent)
            .ok_or_else(|| AgentError::UnknownAgent {
                agent: agent.clone(),
            })
    }

    fn config_index(&self, config: &ConfigId) -> Result<usize, AgentError> {
        self.configs
            .iter()
            .position(|c| &c.id == config)
            .ok_or_else(|| AgentError::UnknownConfiguration {
                config: config.clone(),
            })
    }

    fn is_stale(&self, a: &AgentStatus, now: Timestamp) -> bool {
        now.since(a.last_heartbeat) >= self.limits.unhealthy_after
    }

    /// The index of `config` if `agent` serves it and is healthy at `now`.
    fn serving(
        &self,
        now: Timestamp,
        agent: &AgentId,
        config: &ConfigId,
    ) -> Result<usize, AgentError> {
        let a = &self.agents[self.agent_index(agent)?];
        let c = self.config_index(config)?;
        let active = self.configs[c].active.as_ref();
        if active != Some(agent) {
            return Err(AgentError::NotActive {
                config: config.clone(),
                agent: agent.clone(),
                active: active.cloned(),
            });
        }
        if !a.healthy || self.is_stale(a, now) {
            return Err(AgentError::Unhealthy {
                agent: agent.clone(),
                last_heartbeat: a.last_heartbeat,
            });
        }
        Ok(c)
    }

    /// Candidates for a domain: healthy agents assigned to it, in
    /// registration order.
    fn candidates<'a>(&'a self, domain: &'a str) -> impl Iterator<Item = (usize, &'a AgentStatus)> {
        self.agents
            .iter()
            .enumerate()
            .filter(move |(_, a)| a.healthy && a.domains.iter().any(|d| d == domain))
    }

    fn fail_over(&mut self, c: usize, from: &AgentId, events: &mut Vec<RegistryEvent>) {
        let domain = self.configs[c].domain.clone();
        // The next healthy agent after the one that failed, wrapping, so
        // work spreads instead of always landing on the first agent.
        let from_pos = self.agents.iter().position(|a| &a.id == from);
        let mut list: Vec<(usize, AgentId)> = self
            .candidates(&domain)
            .filter(|(_, a)| &a.id != from)
            .map(|(i, a)| (i, a.id.clone()))
            .collect();
        if let Some(p) = from_pos {
            list.sort_by_key(|(i, _)| if *i > p { (0, *i) } else { (1, *i) });
        }
        let config = self.configs[c].id.clone();
        match list.into_iter().next() {
            Some((_, to)) => {
                self.configs[c].active = Some(to.clone());
                events.push(RegistryEvent::Failover {
                    config,
                    from: from.clone(),
                    to,
                    resume_from: self.configs[c].committed.watermark.clone(),
                });
            }
            None => {
                self.configs[c].active = None;
                events.push(RegistryEvent::NoHealthyAgent {
                    config,
                    last_active: from.clone(),
                });
            }
        }
    }

    fn activate_idle(&mut self) -> Vec<RegistryEvent> {
        let mut events = Vec::new();
        for c in 0..self.configs.len() {
            if self.configs[c].active.is_some() {
                continue;
            }
            let pick = self
                .candidates(&self.configs[c].domain)
                .map(|(_, a)| a.id.clone())
                .next();
            if let Some(agent) = pick {
                self.configs[c].active = Some(agent.clone());
                events.push(RegistryEvent::Activated {
                    config: self.configs[c].id.clone(),
                    agent,
                    resume_from: self.configs[c].committed.watermark.clone(),
                });
            }
        }
        events
    }
}
