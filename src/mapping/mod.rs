//! Attribute mappings: what each target attribute must be.
//!
//! A mapping sets one target attribute from a source attribute (direct), a
//! constant, or an expression in the provisioning expression language
//! ([`crate::expr`]); it applies always or only when the object is created,
//! and may have a default value used when the source gives nothing. Values
//! are converted to the target attribute's type with a typed error when they
//! do not fit (a string too long, a non-boolean into a boolean).
//!
//! The default mapping sets for users, groups and contacts ship as data
//! (`defaults.rs`): the user set is cloud sync's AD2AADProvisioning template;
//! the group and contact sets are idsync's choice, built from the attributes
//! Microsoft lists as synchronized for groups and contacts. Custom mappings
//! (including directory extensions `extension_<appid>_<name>`) add to or
//! override them.
//!
//! One deliberate difference from the displayed template: the UPN fallback
//! `Join("@", [sAMAccountName], )` is shipped as
//! `Join("@", [sAMAccountName], %DomainFQDN%)`, because the template's stored
//! schema carries `%DomainFQDN%` as that hidden third parameter (see
//! `reference/expressions.md`, "Hidden macro constants").
//!
//! A mapping set is validated as a whole and compiled once per configuration
//! against the configuration's [`AttrTable`]: evaluation reads source values
//! by slot and never looks a name up. Compiling also computes, for every
//! mapping whose result depends on attribute values alone, its flow when
//! all its source attributes are absent (most of the 136 default user
//! mappings read attributes a given user lacks), so evaluation only checks
//! presence for those; direct values and already-trimmed values pass on
//! shared. These shortcuts never change a flow or a failure (a proptest
//! holds them to the full evaluation). This module never does I/O.

mod defaults;

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::expr::{self, EvalContext, Expression, Output};
use crate::object::{AttrLookup, AttrName, AttrTable, ObjectKind, Slot, SlotSet, Value, Values};

/// The type of a target attribute (the provisioning schema's types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TargetType {
    /// Text.
    String,
    /// `True` / `False`.
    Boolean,
    /// A 64-bit integer.
    Integer,
    /// Bytes.
    Binary,
    /// A date-time (carried as its text).
    DateTime,
    /// A reference to another object (a DN in the source).
    Reference,
}

/// One target attribute of a kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetAttr {
    /// Its name in the provisioning schema.
    pub name: AttrName,
    /// Its type.
    pub ty: TargetType,
    /// Whether it holds several values.
    pub multi_valued: bool,
    /// Whether mappings may not write it.
    pub read_only: bool,
    /// The longest string it accepts, in characters, where known.
    pub max_len: Option<usize>,
}

/// The target attributes of one kind of object.
#[derive(Debug, Clone)]
pub struct TargetSchema {
    kind: ObjectKind,
    attrs: Vec<TargetAttr>,
}

/// Lengths Entra enforces on well-known properties (Microsoft Graph's user
/// and group resource documentation).
const MAX_LENGTHS: &[(&str, usize)] = &[
    ("DisplayName", 256),
    ("GivenName", 64),
    ("Surname", 64),
    ("Alias", 64),
    ("UserPrincipalName", 113),
    ("Department", 64),
    ("Title", 128),
    ("Company", 64),
    ("Mail", 256),
    ("Description", 1024),
    ("City", 128),
    ("State", 128),
    ("PostalCode", 40),
    ("TelephoneNumber", 64),
    ("Mobile", 64),
    ("EmployeeId", 16),
];

/// Attributes the target computes or the engine itself writes.
const READ_ONLY: &[&str] = &["Members", "ObjectId", "CreatedDateTime", "DirSyncEnabled"];

impl TargetSchema {
    /// The built-in schema of a kind (`None` for unsupported kinds).
    pub fn builtin(kind: ObjectKind) -> Option<TargetSchema> {
        let table = match kind {
            ObjectKind::User => defaults::USER_TARGET,
            ObjectKind::Group => defaults::GROUP_TARGET,
            ObjectKind::Contact => defaults::CONTACT_TARGET,
            ObjectKind::Unsupported => return None,
        };
        let mut attrs: Vec<TargetAttr> = table
            .iter()
            .map(|&(name, ty, multi_valued)| TargetAttr {
                name: AttrName::new(name),
                ty,
                multi_valued,
                read_only: READ_ONLY.iter().any(|r| r.eq_ignore_ascii_case(name)),
                max_len: MAX_LENGTHS
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(name))
                    .map(|&(_, l)| l),
            })
            .collect();
        for ro in ["ObjectId", "CreatedDateTime", "DirSyncEnabled"] {
            attrs.push(TargetAttr {
                name: AttrName::new(ro),
                ty: TargetType::String,
                multi_valued: false,
                read_only: true,
                max_len: None,
            });
        }
        Some(TargetSchema { kind, attrs })
    }

    /// The kind this schema describes.
    pub fn kind(&self) -> ObjectKind {
        self.kind
    }

    /// The attribute named `name` (case-insensitive). Directory extension
    /// attributes (`extension_<32 hex>_<name>`) are single-valued strings.
    pub fn attr(&self, name: &str) -> Option<TargetAttr> {
        if let Some(a) = self.attrs.iter().find(|a| a.name.is(name)) {
            return Some(a.clone());
        }
        is_extension_name(name).then(|| TargetAttr {
            name: AttrName::new(name),
            ty: TargetType::String,
            multi_valued: false,
            read_only: false,
            max_len: None,
        })
    }

    /// Every attribute of the schema.
    pub fn attrs(&self) -> &[TargetAttr] {
        &self.attrs
    }
}

/// Whether `name` is a directory extension attribute name
/// (`extension_<application id without hyphens>_<name>`).
pub fn is_extension_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("extension_") else {
        return false;
    };
    let Some((app, attr)) = rest.split_once('_') else {
        return false;
    };
    app.len() == 32
        && app.bytes().all(|b| b.is_ascii_hexdigit())
        && !attr.is_empty()
        && attr.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Where a mapping's value comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "type")]
pub enum MappingSource {
    /// A source attribute as it is.
    Attribute {
        /// The source attribute.
        name: String,
    },
    /// A constant (configuration macros such as `%DomainFQDN%` are filled in).
    Constant {
        /// The value.
        value: String,
    },
    /// An expression.
    Expression {
        /// The expression text.
        expression: String,
    },
}

/// When a mapping applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ApplyWhen {
    /// On create and on every update.
    #[default]
    Always,
    /// Only when the target object is created.
    OnCreate,
}

/// One attribute mapping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AttributeMapping {
    /// The target attribute.
    pub target: String,
    /// Where the value comes from.
    pub source: MappingSource,
    /// When it applies.
    #[serde(default)]
    pub apply: ApplyWhen,
    /// Used when the source gives no value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_value: Option<String>,
}

impl AttributeMapping {
    /// A direct mapping `target <- [source]`.
    pub fn direct(target: &str, source: &str) -> AttributeMapping {
        AttributeMapping {
            target: target.to_owned(),
            source: MappingSource::Attribute {
                name: source.to_owned(),
            },
            apply: ApplyWhen::Always,
            default_value: None,
        }
    }

    /// An expression mapping.
    pub fn expression(target: &str, expression: &str) -> AttributeMapping {
        AttributeMapping {
            target: target.to_owned(),
            source: MappingSource::Expression {
                expression: expression.to_owned(),
            },
            apply: ApplyWhen::Always,
            default_value: None,
        }
    }

    /// A constant mapping.
    pub fn constant(target: &str, value: &str) -> AttributeMapping {
        AttributeMapping {
            target: target.to_owned(),
            source: MappingSource::Constant {
                value: value.to_owned(),
            },
            apply: ApplyWhen::Always,
            default_value: None,
        }
    }
}

/// The mappings of one kind: the defaults (unless switched off) plus custom
/// mappings that add to or override them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MappingConfig {
    /// Start from the default set of the kind.
    #[serde(default = "yes")]
    pub use_defaults: bool,
    /// Custom mappings; one into a target a default maps replaces it.
    #[serde(default)]
    pub custom: Vec<AttributeMapping>,
    /// Default mappings to drop, by target attribute.
    #[serde(default)]
    pub remove: Vec<String>,
}

fn yes() -> bool {
    true
}

impl Default for MappingConfig {
    fn default() -> MappingConfig {
        MappingConfig {
            use_defaults: true,
            custom: Vec::new(),
            remove: Vec::new(),
        }
    }
}

/// A source of a default mapping (data form).
#[derive(Debug, Clone, Copy)]
enum Src {
    Attr(&'static str),
    Const(&'static str),
    Expr(&'static str),
}

/// The default mapping set of a kind.
///
/// ```
/// use idsync::mapping::default_mappings;
/// use idsync::object::ObjectKind;
/// let users = default_mappings(ObjectKind::User);
/// assert_eq!(users.len(), 136);
/// assert!(users.iter().any(|m| m.target == "UserPrincipalName"));
/// ```
pub fn default_mappings(kind: ObjectKind) -> Vec<AttributeMapping> {
    let table = match kind {
        ObjectKind::User => defaults::USER_MAPPINGS,
        ObjectKind::Group => defaults::GROUP_MAPPINGS,
        ObjectKind::Contact => defaults::CONTACT_MAPPINGS,
        ObjectKind::Unsupported => &[],
    };
    table
        .iter()
        .map(|&(target, src)| match src {
            Src::Attr(a) => AttributeMapping::direct(target, a),
            Src::Const(c) => AttributeMapping::constant(target, c),
            Src::Expr(e) => AttributeMapping::expression(target, e),
        })
        .collect()
}

/// A mapping configuration that does not validate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MappingError {
    /// Two mappings write one target attribute.
    #[error("{path}: target attribute {target} is already mapped by {other}")]
    Duplicate {
        /// The mapping's path.
        path: String,
        /// The target attribute.
        target: String,
        /// The path of the other mapping.
        other: String,
    },
    /// A target attribute the kind does not have.
    #[error("{path}: unknown target attribute {target} for {kind}")]
    UnknownTarget {
        /// The mapping's path.
        path: String,
        /// The target attribute.
        target: String,
        /// The kind.
        kind: ObjectKind,
    },
    /// A target attribute mappings may not write.
    #[error("{path}: target attribute {target} is read-only")]
    ReadOnly {
        /// The mapping's path.
        path: String,
        /// The target attribute.
        target: String,
    },
    /// An expression that does not parse or check.
    #[error("{path}: expression {message}")]
    Expression {
        /// The mapping's path.
        path: String,
        /// The expression error with its position and caret.
        message: String,
    },
    /// A constant or default value that does not fit the target type, or
    /// an unknown macro.
    #[error("{path}: {message}")]
    Value {
        /// The mapping's path.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// Too many source attributes for one configuration.
    #[error("{path}: {message}")]
    TooManyAttributes {
        /// The mapping's path.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// Configuration values the mappings may use (`%DomainFQDN%`,
/// `%DomainNetBios%`, ...), by macro name without the percent signs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Macros(pub indexmap::IndexMap<String, String>);

impl Macros {
    /// Fills `%Name%` macros in a constant.
    fn expand(&self, text: &str) -> Result<String, String> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find('%') {
            out.push_str(&rest[..start]);
            let after = &rest[start + 1..];
            let Some(end) = after.find('%') else {
                out.push_str(&rest[start..]);
                return Ok(out);
            };
            let name = &after[..end];
            let value = self
                .0
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
                .ok_or_else(|| format!("unknown configuration macro %{name}%"))?;
            out.push_str(value);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

enum Compiled {
    Slot(Slot),
    Const(Values),
    Expr(Box<Expression>),
}

struct CompiledMapping {
    target: TargetAttr,
    path: String,
    source: Compiled,
    apply: ApplyWhen,
    default: Option<Values>,
    /// How the evaluation loop may shortcut this mapping.
    quick: Quick,
    /// The flow when every source attribute is absent, computed once at
    /// compile time, for sources whose result depends on the attribute
    /// values alone (direct, constant, context-free expressions). Most of
    /// the default user mappings read attributes a given user lacks.
    absent: Option<Result<Flow, MappingFailure>>,
    /// The attributes the source reads (empty for a constant).
    slots: Box<[Slot]>,
    /// Whether the expression passes the target attribute's name to the
    /// uniqueness oracle (`SelectUniqueValue`).
    names_target: bool,
}

/// How a mapping is evaluated; every shortcut gives the flow
/// [`CompiledMapping::flow`] gives.
#[derive(Debug, Clone, Copy)]
enum Quick {
    /// Reads nothing that varies: always the absent flow.
    Fixed,
    /// A direct mapping: the absent flow, or the values converted.
    Direct(Slot),
    /// `Trim([a])`: the absent flow, or a single value that is already
    /// trimmed and fits as it is, or the full evaluation.
    Trim(Slot),
    /// Reads one attribute: the absent flow, or the full evaluation.
    One(Slot),
    /// Reads several attributes: the absent flow when all are absent, or
    /// the full evaluation.
    Many,
    /// Reads the context: always the full evaluation.
    Eval,
}

/// An object with no values at all.
struct NoValues;

impl AttrLookup for NoValues {
    fn values(&self, _: Slot) -> &[Value] {
        &[]
    }
}

impl CompiledMapping {
    fn fail(&self, message: String, format: bool) -> MappingFailure {
        MappingFailure {
            target: self.target.name.as_str().to_owned(),
            message,
            format,
        }
    }

    /// The flow for one object, leaving the apply-on-create rule to the
    /// caller.
    fn flow<A: AttrLookup>(
        &self,
        row: &A,
        ctx: &mut EvalContext<'_>,
    ) -> Result<Flow, MappingFailure> {
        let raw: Option<Values> = match &self.source {
            Compiled::Slot(slot) => {
                let v = row.values(*slot);
                // An empty string flows as no value (the product's rule).
                if v.is_empty() || (v.len() == 1 && v[0].is_empty()) {
                    None
                } else {
                    return convert_slice(&self.target, v)
                        .map(Flow::Set)
                        .map_err(|e| self.fail(e, true));
                }
            }
            Compiled::Const(v) => Some(v.clone()),
            Compiled::Expr(e) => {
                if self.names_target {
                    ctx.target_attribute = Some(self.target.name.clone());
                }
                match e
                    .evaluate(row, ctx)
                    .map_err(|e| self.fail(e.to_string(), false))?
                {
                    Output::Null => None,
                    Output::One(v) => Some(std::iter::once(v).collect()),
                    Output::Many(vs) => (!vs.is_empty()).then(|| vs.into_iter().collect()),
                    Output::IgnoreFlow => return Ok(Flow::Ignore),
                }
            }
        };
        // An empty string flows as no value (the product's rule).
        let raw = raw.filter(|v| !(v.len() == 1 && v[0].is_empty()));
        Ok(match raw.or_else(|| self.default.clone()) {
            None => Flow::Unset,
            Some(v) => match &self.source {
                Compiled::Const(_) => Flow::Set(v),
                _ => Flow::Set(convert(&self.target, v).map_err(|e| self.fail(e, true))?),
            },
        })
    }
}

/// A kind's mappings, validated and compiled against an [`AttrTable`].
pub struct CompiledMappings {
    kind: ObjectKind,
    mappings: Vec<CompiledMapping>,
}

impl fmt::Debug for CompiledMappings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompiledMappings")
            .field("kind", &self.kind)
            .field(
                "targets",
                &self
                    .mappings
                    .iter()
                    .map(|m| &m.target.name)
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// What one mapping gives for one object.
#[derive(Debug, Clone, PartialEq)]
pub enum Flow {
    /// Set the attribute to these values.
    Set(Values),
    /// The attribute has no value (clear it if it was set).
    Unset,
    /// Leave the attribute as it is (apply-on-create mapping on an update,
    /// or `IgnoreFlowIfNullOrEmpty`).
    Ignore,
}

/// A mapping that failed for one object: the object fails alone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("mapping {target}: {message}")]
pub struct MappingFailure {
    /// The target attribute.
    pub target: String,
    /// What went wrong (an expression's error, a value that does not fit).
    pub message: String,
    /// Whether the failure is a value that does not fit the target type
    /// (as opposed to an expression that failed).
    pub format: bool,
}

impl CompiledMappings {
    /// Validates and compiles a kind's mappings. `path` prefixes error paths
    /// (`configurations[0].mappings.user`).
    pub fn compile(
        kind: ObjectKind,
        config: &MappingConfig,
        macros: &Macros,
        table: &mut AttrTable,
        path: &str,
    ) -> Result<CompiledMappings, MappingError> {
        let schema = TargetSchema::builtin(kind).ok_or_else(|| MappingError::UnknownTarget {
            path: path.to_owned(),
            target: "*".to_owned(),
            kind,
        })?;
        // Defaults first, then custom ones replacing a default of the same target.
        let mut list: Vec<(String, AttributeMapping)> = Vec::new();
        if config.use_defaults {
            for (i, m) in default_mappings(kind).into_iter().enumerate() {
                if config
                    .remove
                    .iter()
                    .any(|r| r.eq_ignore_ascii_case(&m.target))
                {
                    continue;
                }
                list.push((format!("{path}.defaults[{i}]"), m));
            }
        }
        let mut seen_custom: Vec<(String, String)> = Vec::new();
        for (i, m) in config.custom.iter().enumerate() {
            let p = format!("{path}.custom[{i}]");
            if let Some((other, _)) = seen_custom
                .iter()
                .find(|(_, t)| t.eq_ignore_ascii_case(&m.target))
            {
                return Err(MappingError::Duplicate {
                    path: p,
                    target: m.target.clone(),
                    other: other.clone(),
                });
            }
            seen_custom.push((p.clone(), m.target.clone()));
            list.retain(|(_, d)| !d.target.eq_ignore_ascii_case(&m.target));
            list.push((p, m.clone()));
        }
        let expr_options = macros
            .0
            .iter()
            .fold(expr::CompileOptions::new(), |o, (k, v)| o.with_macro(k, v));
        let mut mappings = Vec::with_capacity(list.len());
        for (p, m) in list {
            let target = schema
                .attr(&m.target)
                .ok_or_else(|| MappingError::UnknownTarget {
                    path: p.clone(),
                    target: m.target.clone(),
                    kind,
                })?;
            if target.read_only {
                return Err(MappingError::ReadOnly {
                    path: p,
                    target: m.target.clone(),
                });
            }
            let value_err = |message: String| MappingError::Value {
                path: p.clone(),
                message,
            };
            let source = match &m.source {
                MappingSource::Attribute { name } => {
                    Compiled::Slot(table.intern(name).map_err(|e| {
                        MappingError::TooManyAttributes {
                            path: p.clone(),
                            message: e.to_string(),
                        }
                    })?)
                }
                MappingSource::Constant { value } => {
                    let text = macros.expand(value).map_err(value_err)?;
                    let v = convert(&target, [Value::from(text)].into_iter().collect())
                        .map_err(|e| value_err(format!("constant: {e}")))?;
                    Compiled::Const(v)
                }
                MappingSource::Expression { expression } => {
                    let e = Expression::compile(expression, &expr_options, table).map_err(|e| {
                        MappingError::Expression {
                            path: p.clone(),
                            message: e.render(expression),
                        }
                    })?;
                    Compiled::Expr(Box::new(e))
                }
            };
            let default = match &m.default_value {
                None => None,
                Some(d) => {
                    let text = macros.expand(d).map_err(value_err)?;
                    Some(
                        convert(&target, [Value::from(text)].into_iter().collect())
                            .map_err(|e| value_err(format!("default value: {e}")))?,
                    )
                }
            };
            let (slots, context_free, names_target): (Box<[Slot]>, bool, bool) = match &source {
                Compiled::Slot(s) => (Box::from([*s]), true, false),
                Compiled::Const(_) => (Box::from([]), true, false),
                Compiled::Expr(e) => (
                    e.attributes().map(|(s, _)| s).collect(),
                    e.is_context_free(),
                    e.selects_unique_value(),
                ),
            };
            let quick = match (&source, &*slots) {
                _ if !context_free => Quick::Eval,
                (Compiled::Slot(s), _) => Quick::Direct(*s),
                (Compiled::Expr(e), [s]) if e.trimmed_attribute() == Some(*s) => Quick::Trim(*s),
                (_, []) => Quick::Fixed,
                (_, [s]) => Quick::One(*s),
                _ => Quick::Many,
            };
            let mut mapping = CompiledMapping {
                target,
                path: p,
                source,
                apply: m.apply,
                default,
                quick,
                absent: None,
                slots,
                names_target,
            };
            if context_free {
                // The context is never read, so a blank one gives the same flow.
                let mut ctx = EvalContext::new(crate::time::Timestamp::EPOCH);
                mapping.absent = Some(mapping.flow(&NoValues, &mut ctx));
            }
            mappings.push(mapping);
        }
        Ok(CompiledMappings { kind, mappings })
    }

    /// The kind these mappings are for.
    pub fn kind(&self) -> ObjectKind {
        self.kind
    }

    /// How many mappings there are.
    pub fn len(&self) -> usize {
        self.mappings.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.mappings.is_empty()
    }

    /// The target attribute of mapping `i`.
    pub fn target(&self, i: usize) -> Option<&TargetAttr> {
        self.mappings.get(i).map(|m| &m.target)
    }

    /// The index of the mapping into `target`.
    pub fn index_of(&self, target: &str) -> Option<usize> {
        self.mappings.iter().position(|m| m.target.name.is(target))
    }

    /// Where mapping `i` came from (`...defaults[14]`, `...custom[0]`) and its
    /// source, for explain.
    pub fn describe(&self, i: usize) -> Option<String> {
        let m = self.mappings.get(i)?;
        let src = match &m.source {
            Compiled::Slot(_) => "direct".to_owned(),
            Compiled::Const(v) => format!("constant {:?}", v.as_slice()),
            Compiled::Expr(e) => format!("expression {}", e.source()),
        };
        Some(format!("{} ({src})", m.path))
    }

    /// Evaluates every mapping for one object into `out` (cleared first;
    /// `out[i]` is mapping `i`'s flow). `creating` says whether the object
    /// is being created (apply-on-create mappings only then). The first
    /// failure stops the object: it fails alone.
    pub fn evaluate<A: AttrLookup>(
        &self,
        row: &A,
        ctx: &mut EvalContext<'_>,
        creating: bool,
        out: &mut Vec<Flow>,
    ) -> Result<(), MappingFailure> {
        self.evaluate_in(row, ctx, creating, None, out)
    }

    /// [`CompiledMappings::evaluate`] for an update of an object whose
    /// last export holds every mapping's flow and of which only the
    /// `changed` attributes changed since: a mapping that reads none of
    /// them gives what it gave then and flows [`Flow::Ignore`]. Mappings
    /// whose result depends on more than the object's values (the clock,
    /// random values, the target, references to other objects) are always
    /// evaluated.
    pub fn evaluate_changed<A: AttrLookup>(
        &self,
        row: &A,
        ctx: &mut EvalContext<'_>,
        changed: &SlotSet,
        out: &mut Vec<Flow>,
    ) -> Result<(), MappingFailure> {
        self.evaluate_in(row, ctx, false, Some(changed), out)
    }

    fn evaluate_in<A: AttrLookup>(
        &self,
        row: &A,
        ctx: &mut EvalContext<'_>,
        creating: bool,
        changed: Option<&SlotSet>,
        out: &mut Vec<Flow>,
    ) -> Result<(), MappingFailure> {
        out.clear();
        out.reserve(self.mappings.len());
        let presence = Presence::of(row);
        for m in &self.mappings {
            if changed.is_some_and(|c| !m.may_change(c)) {
                out.push(Flow::Ignore);
                continue;
            }
            let flow = match m.step(row, &presence, creating) {
                Step::Ignore => Flow::Ignore,
                Step::Known(Ok(flow)) => flow.clone(),
                Step::Known(Err(e)) => return Err(e.clone()),
                Step::Present(v) => m.present_flow(v, row, ctx)?,
                Step::Full => m.flow(row, ctx)?,
            };
            out.push(flow);
        }
        Ok(())
    }
}

/// What one mapping needs for one object, decided without evaluating it.
enum Step<'m, 'r> {
    /// An apply-on-create mapping of an object that is not created.
    Ignore,
    /// Every source attribute is absent: the flow computed at compile time.
    Known(&'m Result<Flow, MappingFailure>),
    /// The values of the mapping's one source attribute (not empty).
    Present(&'r [Value]),
    /// Evaluate in full.
    Full,
}

/// Which slots of one object hold values, learnt in one pass over the
/// object when its lookup can list them (a mapping set reads about 130
/// attributes of which a user has about 20), else by one search per slot.
/// Slots past the bitmap (configurations with over 256 attributes) are
/// searched.
struct Presence {
    listed: bool,
    bits: [u64; 4],
}

impl Presence {
    fn of<A: AttrLookup>(row: &A) -> Presence {
        let mut bits = [0u64; 4];
        let listed = row.for_each_present(&mut |slot| {
            if let Some(w) = bits.get_mut(usize::from(slot.0) / 64) {
                *w |= 1 << (slot.0 % 64);
            }
        });
        Presence { listed, bits }
    }

    #[inline]
    fn absent<A: AttrLookup>(&self, row: &A, slot: Slot) -> bool {
        match self.bits.get(usize::from(slot.0) / 64) {
            Some(w) if self.listed => w & (1 << (slot.0 % 64)) == 0,
            _ => row.values(slot).is_empty(),
        }
    }
}

impl CompiledMapping {
    /// Whether this mapping's flow may differ from the last one when only
    /// the `changed` attributes changed.
    fn may_change(&self, changed: &SlotSet) -> bool {
        matches!(self.quick, Quick::Eval)
            || self.target.ty == TargetType::Reference
            || changed.contains_any(&self.slots)
    }

    #[inline]
    fn step<'m, 'r, A: AttrLookup>(
        &'m self,
        row: &'r A,
        presence: &Presence,
        creating: bool,
    ) -> Step<'m, 'r> {
        if self.apply == ApplyWhen::OnCreate && !creating {
            return Step::Ignore;
        }
        let Some(absent) = &self.absent else {
            return Step::Full;
        };
        match self.quick {
            Quick::Fixed => Step::Known(absent),
            Quick::Direct(slot) | Quick::Trim(slot) | Quick::One(slot) => {
                if presence.absent(row, slot) {
                    return Step::Known(absent);
                }
                match row.values(slot) {
                    [] => Step::Known(absent),
                    v => Step::Present(v),
                }
            }
            Quick::Many if self.slots.iter().all(|s| presence.absent(row, *s)) => {
                Step::Known(absent)
            }
            Quick::Many | Quick::Eval => Step::Full,
        }
    }

    /// The flow of a one-attribute mapping whose attribute has `values`.
    fn present_flow<A: AttrLookup>(
        &self,
        values: &[Value],
        row: &A,
        ctx: &mut EvalContext<'_>,
    ) -> Result<Flow, MappingFailure> {
        match (self.quick, values) {
            (Quick::Direct(_), [v]) if v.is_empty() => match &self.absent {
                Some(known) => known.clone(),
                None => self.flow(row, ctx),
            },
            (Quick::Direct(_), v) => convert_slice(&self.target, v)
                .map(Flow::Set)
                .map_err(|e| self.fail(e, true)),
            (Quick::Trim(_), [v @ Value::Str(s)])
                if !s.is_empty() && expr::is_trimmed(s) && fits(&self.target, v) =>
            {
                Ok(Flow::Set(Values::from_buf([v.clone()])))
            }
            _ => self.flow(row, ctx),
        }
    }

    /// [`CompiledMapping::flow`] with the apply-on-create rule, through the
    /// shortcuts [`CompiledMappings::evaluate`] takes.
    #[cfg(test)]
    fn quick_flow<A: AttrLookup>(
        &self,
        row: &A,
        ctx: &mut EvalContext<'_>,
        creating: bool,
    ) -> Result<Flow, MappingFailure> {
        match self.step(row, &Presence::of(row), creating) {
            Step::Ignore => Ok(Flow::Ignore),
            Step::Known(known) => known.clone(),
            Step::Present(v) => self.present_flow(v, row, ctx),
            Step::Full => self.flow(row, ctx),
        }
    }
}

/// Whether a value already has the target attribute's type and fits its
/// length, so that it flows as it is.
fn fits(target: &TargetAttr, v: &Value) -> bool {
    match (target.ty, v) {
        (TargetType::String | TargetType::DateTime, Value::Str(s)) => {
            // a string has at most as many characters as bytes
            target
                .max_len
                .is_none_or(|max| s.len() <= max || s.chars().count() <= max)
        }
        (TargetType::Boolean, Value::Bool(_))
        | (TargetType::Integer, Value::Int(_))
        | (TargetType::Binary, Value::Bytes(_))
        | (TargetType::Reference, Value::Dn(_)) => true,
        _ => false,
    }
}

/// [`convert`] of borrowed values: values that fit are shared, not
/// rebuilt.
fn convert_slice(target: &TargetAttr, values: &[Value]) -> Result<Values, String> {
    if (target.multi_valued || values.len() <= 1) && values.iter().all(|v| fits(target, v)) {
        return Ok(values.iter().cloned().collect());
    }
    convert(target, values.iter().cloned().collect())
}

/// A value as text (its `Display` form) in one allocation: binary values
/// (`objectGUID`, `objectSid`, mapped into string attributes for every
/// object) and integers are rendered on the stack first.
fn text_value(v: &Value) -> Value {
    use base64::Engine as _;
    use std::io::Write as _;
    let mut buf = [0u8; 64];
    let len = match v {
        Value::Bytes(b) => base64::engine::general_purpose::STANDARD
            .encode_slice(b, &mut buf)
            .ok(),
        Value::Int(i) => {
            let mut rest = &mut buf[..];
            write!(rest, "{i}").ok().map(|()| 64 - rest.len())
        }
        _ => None,
    };
    match len.and_then(|n| std::str::from_utf8(buf.get(..n)?).ok()) {
        Some(text) => Value::str(text),
        None => Value::from(v.to_string()),
    }
}

/// Converts values to a target attribute's type.
fn convert(target: &TargetAttr, values: Values) -> Result<Values, String> {
    if (target.multi_valued || values.len() <= 1) && values.iter().all(|v| fits(target, v)) {
        return Ok(values);
    }
    if !target.multi_valued && values.len() > 1 {
        return Err(format!(
            "{} values for single-valued {}",
            values.len(),
            target.name
        ));
    }
    let mut out = Values::with_capacity(values.len());
    for v in values {
        let converted = match (target.ty, v) {
            (TargetType::String | TargetType::DateTime, v @ Value::Str(_)) => v,
            (TargetType::String | TargetType::DateTime, v) => match v {
                Value::Secret(_) => return Err("a secret cannot flow into an attribute".into()),
                other => text_value(&other),
            },
            (TargetType::Boolean, v @ Value::Bool(_)) => v,
            (TargetType::Boolean, Value::Str(s)) if s.eq_ignore_ascii_case("true") => {
                Value::Bool(true)
            }
            (TargetType::Boolean, Value::Str(s)) if s.eq_ignore_ascii_case("false") => {
                Value::Bool(false)
            }
            (TargetType::Integer, v @ Value::Int(_)) => v,
            (TargetType::Integer, Value::Str(s)) => Value::Int(
                s.trim()
                    .parse()
                    .map_err(|_| format!("{s:?} is not an integer"))?,
            ),
            (TargetType::Binary, v @ Value::Bytes(_)) => v,
            (TargetType::Reference, v @ Value::Dn(_)) => v,
            (TargetType::Reference, Value::Str(s)) => {
                Value::Dn(crate::dn::Dn::parse(&s).map_err(|e| format!("reference {s:?}: {e}"))?)
            }
            (ty, v) => {
                return Err(format!(
                    "a {} value does not fit {ty:?} attribute {}",
                    v.kind_name(),
                    target.name
                ));
            }
        };
        if let (Some(max), Value::Str(s)) = (target.max_len, &converted) {
            let n = s.chars().count();
            if n > max {
                return Err(format!(
                    "value of {n} characters is longer than {max} allowed for {}",
                    target.name
                ));
            }
        }
        out.push(converted);
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
