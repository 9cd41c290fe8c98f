//! The configuration of one sync engine instance (one forest / domain into
//! one target) as serde data, its validation with field paths, and its
//! compiled form.
//!
//! Compiling a configuration interns every source attribute that scoping,
//! mappings, anchors and memberships read into one [`AttrTable`]: that set is
//! what the mirror keeps of each object. A configuration that does not
//! validate never starts a cycle.

use serde::{Deserialize, Serialize};

pub use crate::anchor::MatchingSettings;
use crate::deletion::{DeletionConfig, DeletionConfigError};
use crate::mapping::{CompiledMappings, Macros, MappingConfig, MappingError};
use crate::object::{AttrTable, ObjectKind, Slot};
use crate::scope::{CompiledScope, ScopeConfig, ScopeConfigError};

/// The domain the configuration reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DomainInfo {
    /// The DNS name (`corp.example.com`), the `%DomainFQDN%` macro.
    #[serde(default)]
    pub fqdn: String,
    /// The NetBIOS name (`CORP`), the `%DomainNetBios%` macro.
    #[serde(default)]
    pub netbios: String,
}

/// Tenant facts the engine needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TenantSettings {
    /// The tenant's default domain (the `DefaultDomain()` function).
    #[serde(default = "default_domain")]
    pub default_domain: String,
}

fn default_domain() -> String {
    "contoso.onmicrosoft.com".to_owned()
}

impl Default for TenantSettings {
    fn default() -> TenantSettings {
        TenantSettings {
            default_domain: default_domain(),
        }
    }
}

/// The mappings of each kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KindMappings {
    /// Users.
    #[serde(default)]
    pub user: MappingConfig,
    /// Groups.
    #[serde(default)]
    pub group: MappingConfig,
    /// Contacts.
    #[serde(default)]
    pub contact: MappingConfig,
}

/// One configuration.
///
/// ```
/// use idsync::config::SyncConfig;
/// let cfg: SyncConfig = serde_json::from_str(r#"{
///   "name": "corp",
///   "domain": {"fqdn": "corp.example.com", "netbios": "CORP"},
///   "scope": {"ous": [{"dn": "OU=Staff,DC=corp,DC=example,DC=com"}]},
///   "deletion": {"policy": {"mode": "automatic", "threshold": 500}}
/// }"#)?;
/// let compiled = cfg.compile("configurations[0]")?;
/// assert!(compiled.table().len() > 100);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SyncConfig {
    /// The configuration's name (unique among those sharing a target).
    pub name: String,
    /// The domain it reads.
    #[serde(default)]
    pub domain: DomainInfo,
    /// What is in scope.
    #[serde(default)]
    pub scope: ScopeConfig,
    /// Attribute mappings per kind.
    #[serde(default)]
    pub mappings: KindMappings,
    /// Deletion policy and thresholds.
    #[serde(default)]
    pub deletion: DeletionConfig,
    /// Matching settings of the tenant.
    #[serde(default)]
    pub matching: MatchingSettings,
    /// Tenant facts.
    #[serde(default)]
    pub tenant: TenantSettings,
    /// Extra configuration macros for mappings (beyond `DomainFQDN` and
    /// `DomainNetBios`, which come from `domain`).
    #[serde(default)]
    pub macros: Macros,
    /// Permanent failures of one object before it is quarantined.
    #[serde(default = "default_quarantine")]
    pub quarantine_after: u32,
}

fn default_quarantine() -> u32 {
    5
}

impl SyncConfig {
    /// A configuration with defaults everywhere: every object of every kind
    /// in scope, default mappings, deletions held for approval.
    pub fn new(name: &str) -> SyncConfig {
        SyncConfig {
            name: name.to_owned(),
            domain: DomainInfo::default(),
            scope: ScopeConfig::default(),
            mappings: KindMappings::default(),
            deletion: DeletionConfig::default(),
            matching: MatchingSettings::default(),
            tenant: TenantSettings::default(),
            macros: Macros::default(),
            quarantine_after: default_quarantine(),
        }
    }

    /// Validates and compiles; `path` prefixes field paths in errors
    /// (`configurations[1]`).
    pub fn compile(&self, path: &str) -> Result<CompiledConfig, ConfigError> {
        if self.name.trim().is_empty() {
            return Err(ConfigError::Field {
                path: format!("{path}.name"),
                message: "a configuration needs a name".into(),
            });
        }
        if self.quarantine_after == 0 {
            return Err(ConfigError::Field {
                path: format!("{path}.quarantineAfter"),
                message: "must be at least 1".into(),
            });
        }
        self.deletion.validate(&format!("{path}.deletion"))?;
        let mut table = AttrTable::new();
        let mut intern = |name: &str| {
            table.intern(name).map_err(|e| ConfigError::Field {
                path: path.to_owned(),
                message: e.to_string(),
            })
        };
        let slots = Slots {
            object_class: intern("objectClass")?,
            consistency_guid: intern("ms-DS-ConsistencyGuid")?,
            member: intern("member")?,
        };
        let scope = self
            .scope
            .compile(&mut table)
            .map_err(|e| ConfigError::Scope(e.prefixed(&format!("{path}."))))?;
        // Protections read attributes too: intern them, and compile filters
        // as scopes (kinds: all, no containers, no built-in exclusions).
        let mut protected_filters = Vec::new();
        for (i, p) in self.deletion.protected.iter().enumerate() {
            match p {
                crate::deletion::Protection::Attribute { attribute, .. } => {
                    table.intern(attribute).map_err(|e| ConfigError::Field {
                        path: format!("{path}.deletion.protected[{i}].attribute"),
                        message: e.to_string(),
                    })?;
                }
                crate::deletion::Protection::Filter { filter } => {
                    let scope = ScopeConfig {
                        filters: crate::scope::KindFilters {
                            user: Some(filter.clone()),
                            group: Some(filter.clone()),
                            contact: Some(filter.clone()),
                        },
                        builtin_exclusions: false,
                        ..ScopeConfig::default()
                    };
                    let compiled = scope.compile(&mut table).map_err(|e| {
                        ConfigError::Scope(e.prefixed(&format!("{path}.deletion.protected[{i}].")))
                    })?;
                    protected_filters.push((i, compiled));
                }
                _ => {}
            }
        }
        let mut macros = self.macros.clone();
        macros
            .0
            .insert("DomainFQDN".to_owned(), self.domain.fqdn.clone());
        macros
            .0
            .insert("DomainNetBios".to_owned(), self.domain.netbios.clone());
        let user = CompiledMappings::compile(
            ObjectKind::User,
            &self.mappings.user,
            &macros,
            &mut table,
            &format!("{path}.mappings.user"),
        )?;
        let group = CompiledMappings::compile(
            ObjectKind::Group,
            &self.mappings.group,
            &macros,
            &mut table,
            &format!("{path}.mappings.group"),
        )?;
        let contact = CompiledMappings::compile(
            ObjectKind::Contact,
            &self.mappings.contact,
            &macros,
            &mut table,
            &format!("{path}.mappings.contact"),
        )?;
        Ok(CompiledConfig {
            source: self.clone(),
            table,
            slots,
            scope,
            user,
            group,
            contact,
            protected_filters,
        })
    }
}

/// Slots the engine itself reads.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Slots {
    pub(crate) object_class: Slot,
    pub(crate) consistency_guid: Slot,
    pub(crate) member: Slot,
}

/// A validated, compiled configuration.
#[derive(Debug)]
pub struct CompiledConfig {
    pub(crate) source: SyncConfig,
    pub(crate) table: AttrTable,
    pub(crate) slots: Slots,
    pub(crate) scope: CompiledScope,
    pub(crate) user: CompiledMappings,
    pub(crate) group: CompiledMappings,
    pub(crate) contact: CompiledMappings,
    /// `deletion.protected[i]` filters, compiled as scopes.
    pub(crate) protected_filters: Vec<(usize, CompiledScope)>,
}

impl CompiledConfig {
    /// The configuration it was compiled from.
    pub fn config(&self) -> &SyncConfig {
        &self.source
    }

    /// Every source attribute the configuration needs (what the mirror keeps).
    pub fn table(&self) -> &AttrTable {
        &self.table
    }

    /// The compiled mappings of a kind.
    pub fn mappings(&self, kind: ObjectKind) -> Option<&CompiledMappings> {
        match kind {
            ObjectKind::User => Some(&self.user),
            ObjectKind::Group => Some(&self.group),
            ObjectKind::Contact => Some(&self.contact),
            ObjectKind::Unsupported => None,
        }
    }

    /// The compiled scope.
    pub fn scope(&self) -> &CompiledScope {
        &self.scope
    }
}

/// A configuration that does not validate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A plain field.
    #[error("{path}: {message}")]
    Field {
        /// The field path.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The deletion settings.
    #[error(transparent)]
    Deletion(#[from] DeletionConfigError),
    /// The mappings.
    #[error(transparent)]
    Mapping(#[from] MappingError),
    /// The scope.
    #[error(transparent)]
    Scope(ScopeConfigError),
}
