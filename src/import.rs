//! Import of a Microsoft Entra cloud sync job's synchronization schema (the
//! JSON Microsoft Graph returns for
//! `/servicePrincipals/{id}/synchronization/jobs/{jobId}/schema`) into an
//! idsync [`SyncConfig`].
//!
//! It owns the translation and its honesty: every attribute mapping becomes a
//! custom mapping (`use_defaults: false`, so the imported set is exactly the
//! schema's), the `scope` filter groups become the kind's attribute filter,
//! and everything idsync cannot express is listed in
//! [`ImportReport::unsupported`] with its JSON path, never dropped silently.
//! Input that is not a synchronization schema at all is an [`ImportError`]
//! with the path of the offending field. The imported configuration always
//! compiles: a mapping that idsync would refuse (an unknown target
//! attribute, an expression it cannot parse) is reported and left out.
//!
//! Expressions: Graph stores each function mapping twice, as display text
//! (`source.expression`) and as a parse tree (`source.parameters`). The text
//! is used verbatim unless the tree holds a constant the text does not show
//! (the template's `Join("@", [sAMAccountName], )` stores `%DomainFQDN%` as
//! its hidden third argument); such a node is rebuilt from the tree. A
//! function without display text is rendered from its tree.
//!
//! This module never does I/O: the caller reads the file and passes the text.
//!
//! ```
//! use idsync::import::import_schema;
//! let json = r#"{"synchronizationRules": [{"name": "AD2AADProvisioning", "objectMappings": [{
//!   "enabled": true, "flowTypes": "Add, Update, Delete", "name": "users",
//!   "sourceObjectName": "user", "targetObjectName": "User",
//!   "attributeMappings": [
//!     {"targetAttributeName": "DisplayName", "flowType": "Always", "matchingPriority": 0,
//!      "defaultValue": null, "source": {"type": "Function", "name": "Trim",
//!      "expression": "Trim([displayName])", "parameters": []}},
//!     {"targetAttributeName": "Department", "flowType": "ObjectAddOnly", "matchingPriority": 0,
//!      "defaultValue": "none", "source": {"type": "Attribute", "name": "department"}}
//!   ],
//!   "scope": {"inputFilterGroups": [{"name": "g", "clauses": [
//!     {"sourceOperandName": "department", "operatorName": "EQUALS",
//!      "targetOperand": {"values": ["Sales"]}}]}], "groups": [], "categoryFilterGroups": []}
//! }]}]}"#;
//! let report = import_schema(json, "corp")?;
//! assert_eq!(report.config.mappings.user.custom.len(), 2);
//! assert!(!report.config.mappings.user.use_defaults);
//! // The filter lacks the template's default exclusions, which idsync's
//! // built-in exclusions apply anyway: each one is reported.
//! assert_eq!(report.unsupported.len(), 11);
//! assert!(report.unsupported[0].what.contains("isCriticalSystemObject IS FALSE"));
//! report.config.compile("imported")?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;

use serde::Serialize;
use serde_json::Value as Json;

use crate::config::{ConfigError, SyncConfig};
use crate::mapping::{ApplyWhen, AttributeMapping, MappingConfig, MappingSource};
use crate::object::ObjectKind;
use crate::scope::{AttributeFilter, Clause, FilterValue, MAX_FILTER_GROUPS, Operator};

/// The deepest expression tree rendered (Graph's own trees are a few levels).
const MAX_TREE_DEPTH: usize = 64;

/// Something in the schema idsync does not express, and where it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unsupported {
    /// The JSON path (`synchronizationRules[0].objectMappings[1]`).
    pub path: String,
    /// What is not imported, and what that means for the configuration.
    pub what: String,
}

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.what)
    }
}

/// The result of an import: the configuration and what it leaves out.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportReport {
    /// The imported configuration (it compiles).
    pub config: SyncConfig,
    /// Everything not imported, by JSON path, in document order.
    pub unsupported: Vec<Unsupported>,
}

/// Input that is not a synchronization schema idsync can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The text is not JSON.
    #[error("schema json {line}:{column}: {message}")]
    Json {
        /// The line (from 1).
        line: usize,
        /// The column (from 1).
        column: usize,
        /// What the JSON parser said.
        message: String,
    },
    /// A required field is missing.
    #[error("{path}: missing field {field}")]
    Missing {
        /// The object that lacks it.
        path: String,
        /// The field.
        field: &'static str,
    },
    /// A field has the wrong JSON type.
    #[error("{path}: expected {expected}")]
    WrongType {
        /// The field.
        path: String,
        /// What was expected.
        expected: &'static str,
    },
    /// A mapping source of a type Graph does not define.
    #[error(
        "{path}: unknown mapping source type {found:?}; expected Attribute, Constant or Function"
    )]
    UnknownSourceType {
        /// The `type` field.
        path: String,
        /// What it says.
        found: String,
    },
    /// Two enabled object mappings for one object kind.
    #[error("{path}: a second enabled object mapping for {kind} objects (the first is {first})")]
    DuplicateKind {
        /// The second object mapping.
        path: String,
        /// The kind.
        kind: ObjectKind,
        /// The first one's path.
        first: String,
    },
    /// No enabled object mapping for users, groups or contacts: the
    /// configuration would sync nothing.
    #[error("{path}: no enabled object mapping for users, groups or contacts")]
    NothingToImport {
        /// Where the object mappings are.
        path: String,
    },
    /// The configuration built from the schema does not compile (a bug of
    /// the importer: single mappings are checked as they are imported).
    #[error("the imported configuration does not compile: {0}")]
    Compile(#[from] ConfigError),
}

/// Imports a synchronization schema as configuration `name`.
///
/// The first synchronization rule is imported (a cloud sync job has one);
/// further rules are reported. Each enabled object mapping whose source
/// object is `user`, `group` or `contact` gives that kind's mappings and
/// attribute filter; the configuration syncs exactly those kinds. The
/// template's default user exclusions (`DefaultUserExclusions`) are left to
/// idsync's built-in exclusions, which treat an absent attribute as Entra
/// does for them; one the schema lacks is reported, since idsync applies
/// it anyway.
pub fn import_schema(json: &str, name: &str) -> Result<ImportReport, ImportError> {
    let root: Json = serde_json::from_str(json).map_err(|e| ImportError::Json {
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    let mut importer = Importer {
        unsupported: Vec::new(),
    };
    let config = importer.schema(&root, name)?;
    config.compile("imported")?;
    Ok(ImportReport {
        config,
        unsupported: importer.unsupported,
    })
}

struct Importer {
    unsupported: Vec<Unsupported>,
}

fn object<'a>(v: &'a Json, path: &str) -> Result<&'a serde_json::Map<String, Json>, ImportError> {
    v.as_object().ok_or_else(|| ImportError::WrongType {
        path: path.to_owned(),
        expected: "an object",
    })
}

fn field<'a>(
    obj: &'a serde_json::Map<String, Json>,
    path: &str,
    name: &'static str,
) -> Result<&'a Json, ImportError> {
    match obj.get(name) {
        Some(v) if !v.is_null() => Ok(v),
        _ => Err(ImportError::Missing {
            path: path.to_owned(),
            field: name,
        }),
    }
}

fn array<'a>(v: &'a Json, path: &str) -> Result<&'a [Json], ImportError> {
    v.as_array()
        .map(Vec::as_slice)
        .ok_or_else(|| ImportError::WrongType {
            path: path.to_owned(),
            expected: "an array",
        })
}

fn string<'a>(v: &'a Json, path: &str) -> Result<&'a str, ImportError> {
    v.as_str().ok_or_else(|| ImportError::WrongType {
        path: path.to_owned(),
        expected: "a string",
    })
}

/// An optional string field: absent and null are `None`.
fn opt_string<'a>(
    obj: &'a serde_json::Map<String, Json>,
    path: &str,
    name: &str,
) -> Result<Option<&'a str>, ImportError> {
    match obj.get(name) {
        None | Some(Json::Null) => Ok(None),
        Some(v) => string(v, &format!("{path}.{name}")).map(Some),
    }
}

/// An optional array field: absent and null are empty.
fn opt_array<'a>(
    obj: &'a serde_json::Map<String, Json>,
    path: &str,
    name: &str,
) -> Result<&'a [Json], ImportError> {
    match obj.get(name) {
        None | Some(Json::Null) => Ok(&[]),
        Some(v) => array(v, &format!("{path}.{name}")),
    }
}

fn kind_of(source_object: &str) -> Option<ObjectKind> {
    match source_object.to_ascii_lowercase().as_str() {
        "user" | "inetorgperson" => Some(ObjectKind::User),
        "group" => Some(ObjectKind::Group),
        "contact" => Some(ObjectKind::Contact),
        _ => None,
    }
}

impl Importer {
    fn report(&mut self, path: String, what: impl Into<String>) {
        self.unsupported.push(Unsupported {
            path,
            what: what.into(),
        });
    }

    fn schema(&mut self, root: &Json, name: &str) -> Result<SyncConfig, ImportError> {
        let root = object(root, "$")?;
        let rules = array(
            field(root, "$", "synchronizationRules")?,
            "synchronizationRules",
        )?;
        let mut config = SyncConfig::new(name);
        config.scope.kinds.clear();
        let Some(rule) = rules.first() else {
            return Err(ImportError::NothingToImport {
                path: "synchronizationRules".to_owned(),
            });
        };
        let path = "synchronizationRules[0]";
        let rule = object(rule, path)?;
        let mappings = array(
            field(rule, path, "objectMappings")?,
            &format!("{path}.objectMappings"),
        )?;
        let mut seen: Vec<(ObjectKind, String)> = Vec::new();
        for (i, om) in mappings.iter().enumerate() {
            let om_path = format!("{path}.objectMappings[{i}]");
            self.object_mapping(om, &om_path, &mut config, &mut seen)?;
        }
        if config.scope.kinds.is_empty() {
            return Err(ImportError::NothingToImport {
                path: format!("{path}.objectMappings"),
            });
        }
        for i in 1..rules.len() {
            self.report(
                format!("synchronizationRules[{i}]"),
                "only the first synchronization rule is imported (a cloud sync job has one)",
            );
        }
        ou_filters_as_ou_scope(&mut config);
        Ok(config)
    }

    fn object_mapping(
        &mut self,
        om: &Json,
        path: &str,
        config: &mut SyncConfig,
        seen: &mut Vec<(ObjectKind, String)>,
    ) -> Result<(), ImportError> {
        let om = object(om, path)?;
        let enabled = om.get("enabled").and_then(Json::as_bool).unwrap_or(true);
        let source_object = opt_string(om, path, "sourceObjectName")?.unwrap_or("");
        let target_object = opt_string(om, path, "targetObjectName")?.unwrap_or("");
        let label = [
            opt_string(om, path, "name")?,
            Some(source_object),
            Some(target_object),
        ]
        .into_iter()
        .flatten()
        .find(|s| !s.is_empty())
        .unwrap_or("(unnamed)");
        if !enabled {
            self.report(
                path.to_owned(),
                format!("object mapping {label:?} is disabled and not imported"),
            );
            return Ok(());
        }
        let Some(kind) = kind_of(source_object) else {
            self.report(
                format!("{path}.sourceObjectName"),
                format!(
                    "source object {source_object:?} is not a user, group or contact: its mapping is not imported"
                ),
            );
            return Ok(());
        };
        if let Some((_, first)) = seen.iter().find(|(k, _)| *k == kind) {
            return Err(ImportError::DuplicateKind {
                path: path.to_owned(),
                kind,
                first: first.clone(),
            });
        }
        seen.push((kind, path.to_owned()));
        config.scope.kinds.push(kind);
        if let Some(flows) = opt_string(om, path, "flowTypes")? {
            let has = |f: &str| flows.split(',').any(|x| x.trim().eq_ignore_ascii_case(f));
            let missing: Vec<&str> = ["Add", "Update", "Delete"]
                .into_iter()
                .filter(|f| !has(f))
                .collect();
            if !missing.is_empty() {
                self.report(
                    format!("{path}.flowTypes"),
                    format!(
                        "flow types {flows:?} leave out {}: idsync always adds, updates and deletes (deletions follow the deletion policy)",
                        missing.join(", ")
                    ),
                );
            }
        }
        let mut mapping = MappingConfig {
            use_defaults: false,
            custom: Vec::new(),
            remove: Vec::new(),
        };
        for (j, am) in opt_array(om, path, "attributeMappings")?.iter().enumerate() {
            let am_path = format!("{path}.attributeMappings[{j}]");
            if let Some(m) = self.attribute_mapping(am, &am_path, kind, &mapping)? {
                mapping.custom.push(m);
            }
        }
        *kind_mappings(config, kind) = mapping;
        if let Some(scope) = om.get("scope").filter(|s| !s.is_null()) {
            let filter = self.scope(scope, &format!("{path}.scope"), kind)?;
            if let Some(f) = filter {
                match kind {
                    ObjectKind::User => config.scope.filters.user = Some(f),
                    ObjectKind::Group => config.scope.filters.group = Some(f),
                    _ => config.scope.filters.contact = Some(f),
                }
            }
        }
        Ok(())
    }

    fn attribute_mapping(
        &mut self,
        am: &Json,
        path: &str,
        kind: ObjectKind,
        so_far: &MappingConfig,
    ) -> Result<Option<AttributeMapping>, ImportError> {
        let am = object(am, path)?;
        let target = string(
            field(am, path, "targetAttributeName")?,
            &format!("{path}.targetAttributeName"),
        )?;
        let source_path = format!("{path}.source");
        let source = object(field(am, path, "source")?, &source_path)?;
        let ty = string(
            field(source, &source_path, "type")?,
            &format!("{source_path}.type"),
        )?;
        let source = match ty {
            "Attribute" => MappingSource::Attribute {
                name: string(
                    field(source, &source_path, "name")?,
                    &format!("{source_path}.name"),
                )?
                .to_owned(),
            },
            "Constant" => MappingSource::Constant {
                value: string(
                    field(source, &source_path, "name")?,
                    &format!("{source_path}.name"),
                )?
                .to_owned(),
            },
            "Function" => {
                let node = Json::Object(source.clone());
                match render(&node, 0) {
                    Ok(expression) => MappingSource::Expression { expression },
                    Err(why) => {
                        self.report(
                            source_path,
                            format!("mapping into {target} not imported: {why}"),
                        );
                        return Ok(None);
                    }
                }
            }
            other => {
                return Err(ImportError::UnknownSourceType {
                    path: format!("{source_path}.type"),
                    found: other.to_owned(),
                });
            }
        };
        let apply = match opt_string(am, path, "flowType")?.unwrap_or("Always") {
            "Always" => ApplyWhen::Always,
            "ObjectAddOnly" => ApplyWhen::OnCreate,
            other => {
                self.report(
                    format!("{path}.flowType"),
                    format!(
                        "mapping into {target} not imported: flow type {other:?} (idsync has Always and ObjectAddOnly)"
                    ),
                );
                return Ok(None);
            }
        };
        if let Some(b) = opt_string(am, path, "flowBehavior")? {
            if b != "FlowWhenChanged" {
                self.report(
                    format!("{path}.flowBehavior"),
                    format!(
                        "flow behavior {b:?} is not imported: idsync writes an attribute when its value changes"
                    ),
                );
            }
        }
        if am.get("exportMissingReferences").and_then(Json::as_bool) == Some(true) {
            self.report(
                format!("{path}.exportMissingReferences"),
                "exporting missing references is not imported: idsync leaves a reference to an object not in the target unset",
            );
        }
        let priority = am
            .get("matchingPriority")
            .and_then(Json::as_i64)
            .unwrap_or(0);
        if priority > 0 && !is_anchor_match(target, &source) {
            self.report(
                format!("{path}.matchingPriority"),
                format!(
                    "matching on {target} is not imported: idsync matches by source anchor, then by the soft-match settings"
                ),
            );
        }
        let default_value = match am.get("defaultValue") {
            None | Some(Json::Null) => None,
            Some(Json::String(s)) if s.is_empty() => None,
            Some(v) => Some(string(v, &format!("{path}.defaultValue"))?.to_owned()),
        };
        let mapping = AttributeMapping {
            target: target.to_owned(),
            source,
            apply,
            default_value,
        };
        if let Some(other) = so_far
            .custom
            .iter()
            .find(|m| m.target.eq_ignore_ascii_case(target))
        {
            self.report(
                path.to_owned(),
                format!(
                    "a second mapping into {target} is not imported (the first maps {})",
                    describe(&other.source)
                ),
            );
            return Ok(None);
        }
        // Check the mapping alone so a refusal names this path and the rest
        // of the schema still imports.
        let mut probe = SyncConfig::new("probe");
        *kind_mappings(&mut probe, kind) = MappingConfig {
            use_defaults: false,
            custom: vec![mapping.clone()],
            remove: Vec::new(),
        };
        if let Err(e) = probe.compile(path) {
            self.report(
                path.to_owned(),
                format!(
                    "mapping into {target} not imported: {}",
                    strip_path(&e.to_string(), path)
                ),
            );
            return Ok(None);
        }
        Ok(Some(mapping))
    }

    fn scope(
        &mut self,
        scope: &Json,
        path: &str,
        kind: ObjectKind,
    ) -> Result<Option<AttributeFilter>, ImportError> {
        let scope = object(scope, path)?;
        let categories = opt_array(scope, path, "categoryFilterGroups")?;
        if !categories.is_empty() {
            self.report(
                format!("{path}.categoryFilterGroups"),
                "category filter groups are not imported: the scope is wider than in Entra",
            );
        }
        let mut sets: Vec<Vec<Vec<Clause>>> = Vec::new();
        for name in ["inputFilterGroups", "groups"] {
            let groups = opt_array(scope, path, name)?;
            if groups.is_empty() {
                continue;
            }
            let mut set = Vec::new();
            for (g, group) in groups.iter().enumerate() {
                let g_path = format!("{path}.{name}[{g}]");
                let group = object(group, &g_path)?;
                let mut clauses = Vec::new();
                for (c, clause) in opt_array(group, &g_path, "clauses")?.iter().enumerate() {
                    let c_path = format!("{g_path}.clauses[{c}]");
                    if let Some(clause) = self.clause(clause, &c_path)? {
                        clauses.push(clause);
                    }
                }
                if !clauses.is_empty() {
                    set.push(clauses);
                }
            }
            if !set.is_empty() {
                sets.push(set);
            }
        }
        // Each filter list is an OR of ANDed clauses and Entra requires all
        // of them; one OR-of-ANDs is their cross product.
        let mut product: Vec<Vec<Clause>> = match sets.first() {
            Some(first) => first.clone(),
            None => {
                self.missing_builtins(path, kind, &[]);
                return Ok(None);
            }
        };
        for set in sets.iter().skip(1) {
            let mut next = Vec::new();
            for a in &product {
                for b in set {
                    let mut both = a.clone();
                    both.extend(b.iter().cloned());
                    next.push(both);
                }
            }
            product = next;
        }
        // The template's default exclusions are idsync's built-in
        // exclusions, whose rule for an absent attribute differs (absent
        // passes; in a user filter absent fails, which would leave out every
        // user without isCriticalSystemObject). A clause every group has is
        // factored out and left to the built-in rule.
        let mut covered = Vec::new();
        for (i, rule) in BUILTIN_CLAUSES.iter().enumerate() {
            // Only the critical-system and replication-conflict rules apply
            // to every kind; the rest are user rules.
            if kind != ObjectKind::User && i != 0 && i + 1 != BUILTIN_CLAUSES.len() {
                continue;
            }
            if product
                .iter()
                .all(|g| g.iter().any(|c| is_builtin(c, rule)))
            {
                for g in &mut product {
                    g.retain(|c| !is_builtin(c, rule));
                }
                covered.push(i);
            }
        }
        if kind == ObjectKind::User {
            self.missing_builtins(path, kind, &covered);
        }
        product.retain(|g| !g.is_empty());
        if product.is_empty() {
            return Ok(None);
        }
        if product.len() > MAX_FILTER_GROUPS {
            self.report(
                path.to_owned(),
                format!(
                    "the {kind} scoping filter needs {} clause groups (idsync allows {MAX_FILTER_GROUPS}): not imported, the scope is wider than in Entra",
                    product.len()
                ),
            );
            return Ok(None);
        }
        Ok(Some(AttributeFilter {
            groups: product,
            multivalued: Default::default(),
        }))
    }

    fn missing_builtins(&mut self, path: &str, kind: ObjectKind, covered: &[usize]) {
        if kind != ObjectKind::User {
            return;
        }
        for (i, (attribute, operator, value)) in BUILTIN_CLAUSES.iter().enumerate() {
            if !covered.contains(&i) {
                self.report(
                    path.to_owned(),
                    format!(
                        "the schema's user filter lacks the default exclusion {attribute} {operator} {}: idsync's built-in exclusions apply it anyway",
                        value.unwrap_or("")
                    )
                    .trim_end()
                    .to_owned(),
                );
            }
        }
    }

    fn clause(&mut self, clause: &Json, path: &str) -> Result<Option<Clause>, ImportError> {
        let obj = object(clause, path)?;
        let attribute = string(
            field(obj, path, "sourceOperandName")?,
            &format!("{path}.sourceOperandName"),
        )?;
        let operator = string(
            field(obj, path, "operatorName")?,
            &format!("{path}.operatorName"),
        )?;
        let mut values = Vec::new();
        if let Some(target) = obj.get("targetOperand").filter(|t| !t.is_null()) {
            let t_path = format!("{path}.targetOperand");
            let t = object(target, &t_path)?;
            for (k, v) in opt_array(t, &t_path, "values")?.iter().enumerate() {
                let v_path = format!("{t_path}.values[{k}]");
                let text = match v {
                    Json::String(s) => s.clone(),
                    Json::Number(n) => n.to_string(),
                    Json::Bool(b) => b.to_string(),
                    _ => {
                        return Err(ImportError::WrongType {
                            path: v_path,
                            expected: "a string, a number or a boolean",
                        });
                    }
                };
                values.push(FilterValue(text));
            }
        }
        let Some(op) = Operator::parse(operator) else {
            self.report(
                format!("{path}.operatorName"),
                format!(
                    "clause {attribute} {operator:?} not imported: idsync has no such operator; the scope is wider than in Entra"
                ),
            );
            return Ok(None);
        };
        if !op.is_unary() && values.len() != 1 {
            self.report(
                format!("{path}.targetOperand"),
                format!(
                    "clause {attribute} {operator} with {} values not imported: the operator takes one; the scope is wider than in Entra",
                    values.len()
                ),
            );
            return Ok(None);
        }
        if matches!(op, Operator::RegexMatch | Operator::NotRegexMatch) {
            for v in &mut values {
                v.0 = dotnet_regex(&v.0);
            }
        }
        Ok(Some(Clause {
            attribute: attribute.to_owned(),
            operator: operator.to_owned(),
            values: if op.is_unary() { Vec::new() } else { values },
        }))
    }
}

/// Rewrites the .NET regex forms Entra's filters use into the `regex`
/// crate's syntax: a `{` that does not start a quantifier is a literal in
/// .NET (`^SystemMailbox{`) and an error here, so it is escaped; `\0` is
/// the escaped line feed of a DN's canonical text (`\0ACNF`, how idsync's
/// built-in conflict exclusion reads the same pattern), so it matches the
/// backslash literally.
fn dotnet_regex(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 4);
    let mut in_class = false;
    let mut chars = pattern.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                let Some((_, next)) = chars.next() else {
                    out.push('\\');
                    break;
                };
                if next == '0' && !in_class {
                    out.push_str("\\\\0");
                } else {
                    out.push('\\');
                    out.push(next);
                }
            }
            '[' if !in_class => {
                in_class = true;
                out.push(c);
                // A `]` first in a class is a literal.
                if let Some(&(_, ']')) = chars.peek() {
                    out.push_str("\\]");
                    chars.next();
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            '{' if !in_class && !starts_quantifier(pattern.get(i + 1..).unwrap_or_default()) => {
                out.push_str("\\{");
            }
            _ => out.push(c),
        }
    }
    out
}

/// Whether `rest` (the text after a `{`) is `n}`, `n,}` or `n,m}`.
fn starts_quantifier(rest: &str) -> bool {
    let Some(end) = rest.find('}') else {
        return false;
    };
    let body = rest.get(..end).unwrap_or_default();
    let (low, high) = match body.split_once(',') {
        Some((l, h)) => (l, Some(h)),
        None => (body, None),
    };
    !low.is_empty()
        && low.bytes().all(|b| b.is_ascii_digit())
        && high.is_none_or(|h| h.bytes().all(|b| b.is_ascii_digit()))
}

/// The OUs of a filter that is only OU scoping as the portal writes it: each
/// group is one `distinguishedName ENDS_WITH <OU DN>` clause (the groups
/// named `...UX-OrganizationalGroup-Scope`), once the default exclusions
/// are factored out.
fn ou_filter(filter: &AttributeFilter) -> Option<Vec<String>> {
    let mut ous = Vec::new();
    for group in &filter.groups {
        let [clause] = group.as_slice() else {
            return None;
        };
        let [value] = clause.values.as_slice() else {
            return None;
        };
        if !clause.attribute.eq_ignore_ascii_case("distinguishedName")
            || clause.operator != "ENDS_WITH"
            || crate::dn::Dn::parse(&value.0).map_or(true, |d| d.is_empty())
        {
            return None;
        }
        ous.push(value.0.clone());
    }
    (!ous.is_empty()).then_some(ous)
}

/// Turns the portal's OU scoping into idsync's OU scope when every imported
/// kind is scoped to the same OUs (idsync's OU scope is one for all kinds).
/// The OU scope compares DNs by their normalized form and follows an OU
/// through renames, where `ENDS_WITH` compared the text; that is what the
/// portal's "selected organizational units" means.
fn ou_filters_as_ou_scope(config: &mut SyncConfig) {
    let kinds = config.scope.kinds.clone();
    let mut common: Option<Vec<String>> = None;
    for kind in &kinds {
        let Some(ous) = config.scope.filters.get(*kind).and_then(ou_filter) else {
            return;
        };
        match &common {
            Some(c) if *c != ous => return,
            _ => common = Some(ous),
        }
    }
    let Some(ous) = common else {
        return;
    };
    config.scope.ous = ous.iter().map(|dn| crate::scope::OuScope::dn(dn)).collect();
    config.scope.filters = Default::default();
}

/// The clauses of the cloud sync template's default user exclusions
/// (`DefaultUserExclusions`), which idsync applies as built-in exclusions
/// ([`crate::scope::BuiltinExclusion`]); as Graph writes them. The first
/// (critical system objects) and the last (replication conflicts) apply to
/// every kind.
const BUILTIN_CLAUSES: &[(&str, &str, Option<&str>)] = &[
    ("isCriticalSystemObject", "IS FALSE", None),
    ("adminDescription", "NOT REGEX MATCH", Some("^User_")),
    ("sAMAccountName", "IS NOT NULL", None),
    ("sAMAccountName", "NOT EQUALS", Some("SUPPORT_388945a0")),
    ("mailNickname", "NOT REGEX MATCH", Some("^SystemMailbox{")),
    ("sAMAccountName", "NOT REGEX MATCH", Some("^AAD_")),
    ("mailNickname", "NOT REGEX MATCH", Some("^CAS_([^{]*){")),
    ("sAMAccountName", "NOT REGEX MATCH", Some("^CAS_([^{]*){")),
    ("sAMAccountName", "NOT REGEX MATCH", Some("^MSOL_")),
    ("msExchRecipientTypeDetails", "!&", Some("566259712")),
    (
        "distinguishedName",
        "NOT REGEX MATCH",
        Some(r"^CN\s*=\s*([^\,]*)\0ACNF"),
    ),
];

fn is_builtin(clause: &Clause, rule: &(&str, &str, Option<&str>)) -> bool {
    let (attribute, operator, value) = *rule;
    let expected: Vec<String> = match value {
        Some(v) if operator.contains("REGEX") => vec![dotnet_regex(v)],
        Some(v) => vec![v.to_owned()],
        None => Vec::new(),
    };
    clause.attribute.eq_ignore_ascii_case(attribute)
        && clause.operator == operator
        && clause
            .values
            .iter()
            .map(|v| v.0.as_str())
            .eq(expected.iter().map(String::as_str))
}

fn kind_mappings(config: &mut SyncConfig, kind: ObjectKind) -> &mut MappingConfig {
    match kind {
        ObjectKind::Group => &mut config.mappings.group,
        ObjectKind::Contact => &mut config.mappings.contact,
        _ => &mut config.mappings.user,
    }
}

/// Whether a matching attribute is the one idsync matches on anyway (the
/// objectGUID join of the template).
fn is_anchor_match(target: &str, source: &MappingSource) -> bool {
    let source_is_anchor = match source {
        MappingSource::Attribute { name } => {
            name.eq_ignore_ascii_case("objectGUID")
                || name.eq_ignore_ascii_case("mS-DS-ConsistencyGuid")
        }
        _ => false,
    };
    source_is_anchor
        && (target.eq_ignore_ascii_case("onPremisesObjectIdentifier")
            || target.eq_ignore_ascii_case("SourceAnchor"))
}

fn describe(source: &MappingSource) -> String {
    match source {
        MappingSource::Attribute { name } => format!("[{name}]"),
        MappingSource::Constant { value } => format!("the constant {value:?}"),
        MappingSource::Expression { expression } => expression.clone(),
    }
}

/// Drops a leading `path` (and the field path after it) from a compile error,
/// which the report already carries.
fn strip_path(message: &str, path: &str) -> String {
    match message.strip_prefix(path) {
        Some(rest) => match rest.split_once(": ") {
            Some((_, tail)) => tail.to_owned(),
            None => rest.to_owned(),
        },
        None => message.to_owned(),
    }
}

// ---------------------------------------------------------------------------
// Expression text from Graph's attributeMappingSource tree
// ---------------------------------------------------------------------------

fn node_text(node: &Json) -> Option<&str> {
    node.get("expression").and_then(Json::as_str)
}

fn node_name(node: &Json) -> Result<&str, String> {
    node.get("name")
        .and_then(Json::as_str)
        .ok_or_else(|| "a tree node has no name".to_owned())
}

fn params(node: &Json) -> Vec<&Json> {
    node.get("parameters")
        .and_then(Json::as_array)
        .map(|ps| ps.iter().filter_map(|p| p.get("value")).collect())
        .unwrap_or_default()
}

fn param_keys(node: &Json) -> Vec<&str> {
    node.get("parameters")
        .and_then(Json::as_array)
        .map(|ps| {
            ps.iter()
                .filter_map(|p| p.get("key").and_then(Json::as_str))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether the tree under `node` holds a node without display text.
fn has_hidden(node: &Json, depth: usize) -> bool {
    if depth > MAX_TREE_DEPTH {
        return true;
    }
    node_text(node).is_none() || params(node).iter().any(|p| has_hidden(p, depth + 1))
}

fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

fn is_macro(name: &str) -> bool {
    name.len() > 2 && name.starts_with('%') && name.ends_with('%')
}

/// The expression text of a tree node.
fn render(node: &Json, depth: usize) -> Result<String, String> {
    if depth > MAX_TREE_DEPTH {
        return Err(format!(
            "the expression tree is deeper than {MAX_TREE_DEPTH} levels"
        ));
    }
    if let Some(text) = node_text(node) {
        if !params(node).iter().any(|p| has_hidden(p, depth + 1)) {
            return Ok(text.to_owned());
        }
    }
    let ty = node.get("type").and_then(Json::as_str).unwrap_or("");
    match ty {
        "Attribute" => Ok(format!("[{}]", node_name(node)?)),
        "Constant" => {
            let name = node_name(node)?;
            Ok(if is_macro(name) {
                name.to_owned()
            } else {
                quote(name)
            })
        }
        // IIF's comparison form has five tree parameters for three shown
        // arguments: splicing cannot pair them, rebuilding can.
        "Function" => match node_text(node) {
            Some(text) if !is_comparison_iif(node) => splice(node, text, depth),
            _ => rebuild(node, depth),
        },
        other => Err(format!("unknown tree node type {other:?}")),
    }
}

fn is_comparison_iif(node: &Json) -> bool {
    node.get("name")
        .and_then(Json::as_str)
        .is_some_and(|n| n.eq_ignore_ascii_case("IIF"))
        && param_keys(node) == ["one", "two", "three", "four", "five"]
}

/// Rebuilds a function call from the tree alone: arguments in parameter
/// order; IIF's five-parameter form is the comparison form
/// `IIF(a op b, c, d)`.
fn rebuild(node: &Json, depth: usize) -> Result<String, String> {
    let name = node_name(node)?;
    let args: Vec<&Json> = params(node);
    let mut rendered = Vec::with_capacity(args.len());
    for a in &args {
        rendered.push(render(a, depth + 1)?);
    }
    if is_comparison_iif(node) {
        let op = args
            .get(1)
            .and_then(|a| a.get("name"))
            .and_then(Json::as_str)
            .ok_or_else(|| "IIF without its comparison operator".to_owned())?;
        if let [a, _, b, c, d] = rendered.as_slice() {
            return Ok(format!("IIF({a}{op}{b}, {c}, {d})"));
        }
    }
    Ok(format!("{name}({})", rendered.join(", ")))
}

/// Fills the hidden arguments of a displayed call: the display text's empty
/// arguments take the tree's parameters that have no text, in order;
/// arguments that do show are replaced by their own (possibly fixed) text.
fn splice(node: &Json, text: &str, depth: usize) -> Result<String, String> {
    let open = text
        .find('(')
        .ok_or_else(|| format!("cannot read the call {text:?}"))?;
    let inner = text
        .get(open + 1..text.len().saturating_sub(1))
        .filter(|_| text.ends_with(')'))
        .ok_or_else(|| format!("cannot read the call {text:?}"))?;
    let shown = split_args(inner);
    let children = params(node);
    let mut next = 0usize;
    let mut out = Vec::with_capacity(shown.len());
    for arg in &shown {
        let arg = arg.trim();
        let child = children.get(next);
        match child {
            Some(c) if arg.is_empty() && node_text(c).is_none() => {
                out.push(render(c, depth + 1)?);
                next += 1;
            }
            Some(c) if !arg.is_empty() => {
                if node_text(c).map(str::trim) != Some(arg) {
                    return Err(format!(
                        "the display text {text:?} does not match its parse tree"
                    ));
                }
                out.push(render(c, depth + 1)?);
                next += 1;
            }
            _ => out.push(String::new()),
        }
    }
    if next != children.len() {
        return Err(format!(
            "the display text {text:?} does not match its parse tree"
        ));
    }
    let head = text.get(..open).unwrap_or_default();
    let body: Vec<String> = out;
    Ok(format!("{head}({})", body.join(", ")))
}

/// Splits a call's argument text at top-level commas (outside strings,
/// brackets and parentheses).
fn split_args(inner: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut in_string = false;
    let mut in_attr = false;
    let mut escaped = false;
    let mut start = 0;
    for (i, c) in inner.char_indices() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        if in_attr {
            in_attr = c != ']';
            continue;
        }
        match c {
            '"' => in_string = true,
            '[' => in_attr = true,
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(inner.get(start..i).unwrap_or_default());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(inner.get(start..).unwrap_or_default());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotnet_regex_forms_are_rewritten() {
        assert_eq!(dotnet_regex("^SystemMailbox{"), r"^SystemMailbox\{");
        assert_eq!(dotnet_regex("^CAS_([^{]*){"), r"^CAS_([^{]*)\{");
        assert_eq!(dotnet_regex("^a{2,3}b{4}c{5,}$"), "^a{2,3}b{4}c{5,}$");
        assert_eq!(
            dotnet_regex(r"^CN\s*=\s*([^\,]*)\0ACNF"),
            r"^CN\s*=\s*([^\,]*)\\0ACNF"
        );
        for p in [
            "^SystemMailbox{",
            "^CAS_([^{]*){",
            r"^CN\s*=\s*([^\,]*)\0ACNF",
            "[]a]{",
        ] {
            regex::Regex::new(&dotnet_regex(p)).unwrap();
        }
        assert!(
            regex::Regex::new(&dotnet_regex(r"^CN\s*=\s*([^\,]*)\0ACNF"))
                .unwrap()
                .is_match(r"CN=Bob\0ACNF:1234,OU=Staff,DC=corp")
        );
    }

    #[test]
    fn split_args_respects_strings_brackets_and_calls() {
        assert_eq!(
            split_args(r#""@", [a,b], Join(",", [x]), "\",", "#),
            vec![r#""@""#, " [a,b]", r#" Join(",", [x])"#, r#" "\",""#, " "]
        );
    }

    #[test]
    fn hidden_macro_is_spliced_into_the_empty_argument() {
        let node: Json = serde_json::from_str(
            r#"{"type":"Function","name":"Join","expression":"Join(\"@\", [sAMAccountName], )",
               "parameters":[
                 {"key":"separator","value":{"type":"Constant","name":"@","expression":"\"@\""}},
                 {"key":"source","value":{"type":"Attribute","name":"sAMAccountName","expression":"[sAMAccountName]"}},
                 {"key":"source","value":{"type":"Constant","name":"%DomainFQDN%","expression":null}}]}"#,
        )
        .unwrap();
        assert_eq!(
            render(&node, 0).unwrap(),
            r#"Join("@", [sAMAccountName], %DomainFQDN%)"#
        );
    }

    #[test]
    fn tree_without_text_is_rebuilt_including_the_comparison_form() {
        let node: Json = serde_json::from_str(
            r#"{"type":"Function","name":"IIF","parameters":[
                 {"key":"one","value":{"type":"Attribute","name":"c"}},
                 {"key":"two","value":{"type":"Constant","name":"="}},
                 {"key":"three","value":{"type":"Constant","name":"US"}},
                 {"key":"four","value":{"type":"Constant","name":"a \"b\""}},
                 {"key":"five","value":{"type":"Function","name":"Trim","parameters":[
                    {"key":"source","value":{"type":"Attribute","name":"x"}}]}}]}"#,
        )
        .unwrap();
        assert_eq!(
            render(&node, 0).unwrap(),
            r#"IIF([c]="US", "a \"b\"", Trim([x]))"#
        );
    }

    #[test]
    fn comparison_iif_with_a_hidden_macro_below_is_rebuilt() {
        let node: Json = serde_json::from_str(
            r#"{"type":"Function","name":"IIF","expression":"IIF([c]=\"US\", Join(\"@\", [s], ), [x])",
               "parameters":[
                 {"key":"one","value":{"type":"Attribute","name":"c","expression":"[c]"}},
                 {"key":"two","value":{"type":"Constant","name":"=","expression":"\"=\""}},
                 {"key":"three","value":{"type":"Constant","name":"US","expression":"\"US\""}},
                 {"key":"four","value":{"type":"Function","name":"Join","expression":"Join(\"@\", [s], )",
                   "parameters":[
                     {"key":"separator","value":{"type":"Constant","name":"@","expression":"\"@\""}},
                     {"key":"source","value":{"type":"Attribute","name":"s","expression":"[s]"}},
                     {"key":"source","value":{"type":"Constant","name":"%DomainFQDN%","expression":null}}]}},
                 {"key":"five","value":{"type":"Attribute","name":"x","expression":"[x]"}}]}"#,
        )
        .unwrap();
        assert_eq!(
            render(&node, 0).unwrap(),
            r#"IIF([c]="US", Join("@", [s], %DomainFQDN%), [x])"#
        );
    }

    #[test]
    fn text_that_disagrees_with_its_tree_is_refused() {
        let node: Json = serde_json::from_str(
            r#"{"type":"Function","name":"Join","expression":"Join(\"@\", [mail], )",
               "parameters":[
                 {"key":"separator","value":{"type":"Constant","name":"@","expression":"\"@\""}},
                 {"key":"source","value":{"type":"Attribute","name":"upn","expression":"[upn]"}},
                 {"key":"source","value":{"type":"Constant","name":"%DomainFQDN%","expression":null}}]}"#,
        )
        .unwrap();
        assert!(render(&node, 0).unwrap_err().contains("does not match"));
    }

    #[test]
    fn deep_trees_are_refused_not_overflowed() {
        let mut node = serde_json::json!({"type": "Attribute", "name": "a"});
        for _ in 0..200 {
            node = serde_json::json!({"type": "Function", "name": "Trim",
                "parameters": [{"key": "source", "value": node}]});
        }
        assert!(render(&node, 0).unwrap_err().contains("deeper"));
    }
}
