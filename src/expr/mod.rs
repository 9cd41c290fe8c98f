//! The attribute-mapping expression language of Microsoft Entra provisioning
//! and cloud sync (`Join(".", [givenName], [sn])`,
//! `IIF(IsPresent([mail]), [mail], [userPrincipalName])`).
//!
//! This module owns the whole language: lexer, parser with spans, printer,
//! checker, the lowering to a flat compiled form, the evaluator and the
//! function library. It must never do I/O or read a clock: `Now()` reads
//! [`EvalContext::now`], `Guid()` and `RandomString()` draw from the
//! context's seeded generator, `SelectUniqueValue` asks the
//! [`UniquenessOracle`] the caller passes, and `DefaultDomain()` reads the
//! context's tenant setting.
//!
//! # Pipeline
//! text -> [`parse_ast`] (an [`Ast`] with byte spans; limits on length,
//! nesting and argument count from [`ExprLimits`]) -> checker and lowering
//! (functions resolved, arity and fixed argument kinds checked, attribute
//! names resolved to [`Slot`]s of the caller's [`AttrTable`], `%macros%`
//! substituted, .NET regexes translated and compiled under a size limit,
//! calls on constants folded) -> [`Expression`], a flat node table that
//! [`Expression::evaluate`] runs against any [`AttrLookup`]. The AST is kept
//! only for printing and explaining.
//!
//! # Syntax
//! Function calls (names case-insensitive, white space anywhere between
//! tokens, also before `(`), `[attribute]` references (case-insensitive;
//! any character but `]`), string constants in double quotes where `\"` is a
//! quote and `\\` a backslash (any other backslash is kept with the
//! character after it, so `"\+"` and `"\\+"` both give the regex `\+`),
//! numbers (`-10`, `42568.75`, kept as their text), VB hex `&HF7`, `true` /
//! `false`, enum words where a function takes them (`vbTextCompare`,
//! `UTF8`), `%DomainFQDN%`-style macros, empty arguments (`Join("@", [a], )`:
//! an absent value), `&` concatenation and the comparisons `=`, `<>`, `<`,
//! `<=`, `>`, `>=` (allowed wherever a value is).
//!
//! # Evaluation model
//! Follows `reference/expressions.md` §2.3: an absent attribute is *no
//! value*; `IIF`, `Switch`, `Coalesce` and `SelectUniqueValue` are lazy;
//! `IIF` tolerates no value (a missing condition is false), as the
//! Microsoft-generated cloud sync defaults require; `Switch` matches no value
//! against a `""` key; `Join` skips absent and empty values and flattens
//! multi-valued ones; string functions that transform a value (`Trim`,
//! `ToLower`, `Append`, `Left`, `Mid`, `Replace`, ...) apply to each value of
//! a multi-valued input; other functions given several values where they need
//! one fail with an [`EvalError`]. A function with a required input that has
//! no value gives no value, except where the reference documents otherwise
//! (`Left`/`Word` give `""`, `Len` 0, `Count` 0, `Not` `True`).
//! Comparisons compare numbers as numbers, anything else as ordinal,
//! case-sensitive text; no value compares as `""`.
//!
//! # Decisions against or beyond the reference
//! - Function names are case-insensitive (the issue asks for it; the
//!   reference leans to case-sensitive but no vector depends on it).
//! - Attribute names are case-insensitive (the product's schema check is
//!   case-sensitive, but AD attribute names are not).
//! - `FormatDateTime` takes 3 (cloud sync: source, inputFormat,
//!   outputFormat) or 4 (app provisioning: with dateTimeStyles second)
//!   arguments; the styles argument is accepted and ignored (input is
//!   always trimmed, offsets converted to UTC). When the source is already a
//!   date (`DateFromNum(...)`) the input format is not used.
//! - `Replace` mode 5 follows AP (the source if it has a value, else the
//!   group matched in the sixth argument), as AP's worked example does.
//! - `Mid` with a start below 1 and `InStr` with a start below 1 are
//!   evaluation errors (VB raises them too); a start past the end gives `""`.
//! - `Len`, `Left`, `Mid`, `InStr` count Unicode characters, not UTF-16 code
//!   units (identical for the Basic Multilingual Plane).
//! - `Word` skips empty words between consecutive delimiters.
//! - `RemoveDuplicates` keeps the first of case-sensitively equal values.
//! - `Split` keeps spaces around the parts (the doc's example output drops
//!   a leading space; a literal split cannot).
//! - `Contains` and `CRef` (used in cloud sync examples but not listed) are
//!   provided: `Contains(values, text[, IgnoreCase|CaseSensitive])` is the
//!   1-based index of the first value containing `text` (0 if none),
//!   case-insensitive by default; `CRef` passes its value through.
//! - .NET regex constructs the `regex` crate lacks (lookaround,
//!   backreferences, atomic and conditional groups, class subtraction, `\G`)
//!   are check errors, not silent differences.
//! - The app-role functions are refused by the checker: objects synced from
//!   Active Directory have no app role assignments.
//! - The Workday-guide keywords `IgnoreAttributeFlow`/`IgnoreObjectFlow` and
//!   single-quoted strings are rejected (not in any reference).
//! - `ExprLimits::max_value_length` (1 MiB) bounds the text any function
//!   produces, so nested calls cannot grow a value exponentially (not in
//!   the reference; the product has no documented equivalent).
//! - Results: strings as [`Value::Str`], numbers as [`Value::Int`], booleans
//!   as [`Value::Bool`] (which display as `True`/`False`), dates as strings
//!   in `M/d/yyyy h:mm:ss tt` (UTC); attribute values that pass through keep
//!   their type (binary stays binary).

mod compile;
mod datetime;
mod error;
mod eval;
mod syntax;
mod text;

pub(crate) use text::is_trimmed;
pub use text::translate_regex as translate_dotnet_regex;

use std::fmt;
use std::sync::Arc;

pub use error::{EvalError, ExprError, ExprErrorKind, Span};
pub use syntax::{Ast, AstKind, CmpOp, parse_ast};

use crate::object::{AttrLookup, AttrName, AttrTable, Attributes, Slot, Value};
use crate::time::Timestamp;

/// Limits that keep hostile or runaway expressions cheap; exceeding one is
/// an [`ExprError`] (or, for `max_value_length`, an [`EvalError`]), never a
/// crash.
///
/// ```
/// use idsync::expr::{CompileOptions, ExprErrorKind, ExprLimits, Expression};
/// use idsync::object::AttrTable;
/// let mut limits = ExprLimits::default();
/// limits.max_depth = 2;
/// let opts = CompileOptions::new().with_limits(limits);
/// let err = Expression::compile("Trim(Trim(Trim([a])))", &opts, &mut AttrTable::new()).unwrap_err();
/// assert_eq!(err.kind, ExprErrorKind::TooDeep { max: 2 });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExprLimits {
    /// Longest expression in characters (the product's limit: 10,000).
    pub max_length: usize,
    /// Deepest nesting of calls (capped at [`ExprLimits::HARD_MAX_DEPTH`]).
    pub max_depth: usize,
    /// Most arguments of one call (and parts of one `&` chain).
    pub max_arguments: usize,
    /// Largest compiled regex, in bytes (the `regex` crate's size limit).
    pub regex_size_limit: usize,
    /// Longest text a function may produce, in bytes; nested calls could
    /// otherwise grow a value exponentially. Passing attribute values
    /// through is not limited.
    pub max_value_length: usize,
}

impl ExprLimits {
    /// The nesting depth no configuration can exceed. Parsing, checking and
    /// evaluation recurse once per level; at this depth even an unoptimized
    /// build stays within half of a 2 MiB thread stack (the documented
    /// examples nest fewer than 10 levels).
    pub const HARD_MAX_DEPTH: usize = 100;

    /// The effective nesting limit.
    pub fn max_depth(&self) -> usize {
        self.max_depth.min(Self::HARD_MAX_DEPTH)
    }
}

impl Default for ExprLimits {
    fn default() -> ExprLimits {
        ExprLimits {
            max_length: 10_000,
            max_depth: 32,
            max_arguments: 256,
            regex_size_limit: 256 << 10,
            max_value_length: 1 << 20,
        }
    }
}

/// How to compile: configuration macros and limits.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct CompileOptions {
    /// `%name%` macros and their values (names case-insensitive), e.g.
    /// `DomainFQDN` -> `contoso.com`, `DomainNetBios` -> `CONTOSO`.
    pub macros: Vec<(String, String)>,
    /// The limits.
    pub limits: ExprLimits,
}

impl CompileOptions {
    /// Default limits and no macros.
    pub fn new() -> CompileOptions {
        CompileOptions::default()
    }

    /// Adds a macro.
    pub fn with_macro(mut self, name: &str, value: &str) -> CompileOptions {
        self.macros.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Replaces the limits.
    pub fn with_limits(mut self, limits: ExprLimits) -> CompileOptions {
        self.limits = limits;
        self
    }
}

/// Answers whether a candidate value is already taken in the target, for
/// `SelectUniqueValue`. The engine implements it over its view of the
/// target; evaluation never does I/O. Closures `Fn(&str, &str) -> bool`
/// (attribute, value) implement it.
///
/// ```
/// use idsync::expr::{EvalContext, Expression};
/// use idsync::object::Attributes;
/// use idsync::time::Timestamp;
/// let e = Expression::parse("SelectUniqueValue(\"jsmith\", \"josmith\")")?;
/// let taken = |_attr: &str, v: &str| v == "jsmith";
/// let mut ctx = EvalContext::new(Timestamp::EPOCH).with_target_attribute("sAMAccountName").with_oracle(&taken);
/// let out = e.evaluate_attributes(&Attributes::new(), &mut ctx)?;
/// assert_eq!(out.first_text().as_deref(), Some("josmith"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait UniquenessOracle {
    /// Whether `value` is already used for `attribute` (the target attribute
    /// being mapped, `""` if the context names none).
    fn is_taken(&self, attribute: &str, value: &str) -> bool;
}

/// An oracle for which nothing is taken.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoConflicts;

impl UniquenessOracle for NoConflicts {
    fn is_taken(&self, _: &str, _: &str) -> bool {
        false
    }
}

impl<F: Fn(&str, &str) -> bool> UniquenessOracle for F {
    fn is_taken(&self, attribute: &str, value: &str) -> bool {
        self(attribute, value)
    }
}

/// Everything an evaluation may read besides the object: the time, a
/// seeded generator (splitmix64: same seed, same `Guid()`s and
/// `RandomString()`s), the tenant's default domain, the uniqueness oracle
/// and the target attribute being mapped.
///
/// ```
/// use idsync::expr::{EvalContext, Expression};
/// use idsync::object::Attributes;
/// use idsync::time::Timestamp;
/// let e = Expression::parse("Guid()")?;
/// let a = e.evaluate_attributes(&Attributes::new(), &mut EvalContext::new(Timestamp::EPOCH).with_seed(7))?;
/// let b = e.evaluate_attributes(&Attributes::new(), &mut EvalContext::new(Timestamp::EPOCH).with_seed(7))?;
/// assert_eq!(a, b);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct EvalContext<'o> {
    /// The evaluation's clock (`Now()`).
    pub now: Timestamp,
    /// The tenant's default verified domain (`DefaultDomain()`).
    pub default_domain: Option<Arc<str>>,
    /// The target attribute being mapped (passed to the oracle).
    pub target_attribute: Option<AttrName>,
    oracle: &'o dyn UniquenessOracle,
    rng: u64,
    redacted: bool,
    /// Text built by one evaluation before it is copied into its value;
    /// kept so that evaluations with one context allocate it once.
    scratch: String,
}

impl fmt::Debug for EvalContext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EvalContext")
            .field("now", &self.now)
            .field("default_domain", &self.default_domain)
            .field("target_attribute", &self.target_attribute)
            .finish_non_exhaustive()
    }
}

impl EvalContext<'static> {
    /// A context at `now`, seed 0, no default domain, no conflicts.
    pub fn new(now: Timestamp) -> EvalContext<'static> {
        EvalContext {
            now,
            default_domain: None,
            target_attribute: None,
            oracle: &NoConflicts,
            rng: 0,
            redacted: false,
            scratch: String::new(),
        }
    }
}

impl<'o> EvalContext<'o> {
    /// Reseeds the generator.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.rng = seed;
        self
    }

    /// Sets the default domain.
    pub fn with_default_domain(mut self, domain: &str) -> Self {
        self.default_domain = Some(Arc::from(domain));
        self
    }

    /// Sets the target attribute being mapped.
    pub fn with_target_attribute(mut self, name: &str) -> Self {
        self.target_attribute = Some(AttrName::new(name));
        self
    }

    /// Uses `oracle` for SelectUniqueValue.
    pub fn with_oracle<'p>(self, oracle: &'p dyn UniquenessOracle) -> EvalContext<'p> {
        EvalContext {
            now: self.now,
            default_domain: self.default_domain,
            target_attribute: self.target_attribute,
            oracle,
            rng: self.rng,
            redacted: self.redacted,
            scratch: self.scratch,
        }
    }

    /// Whether the last evaluation passed through `Redact(...)`: its value
    /// flows, but logs must show `[Redact]` instead.
    pub fn redacted(&self) -> bool {
        self.redacted
    }

    /// splitmix64.
    fn next_u64(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0), by rejection.
    fn below(&mut self, n: usize) -> usize {
        let n = n.max(1) as u64;
        let zone = u64::MAX - u64::MAX % n;
        loop {
            let x = self.next_u64();
            if x < zone {
                return (x % n) as usize;
            }
        }
    }
}

/// The result of an evaluation.
///
/// ```
/// use idsync::expr::{EvalContext, Expression, Output};
/// use idsync::object::{Attributes, Value};
/// use idsync::time::Timestamp;
/// let e = Expression::parse("Split([x], \",\")")?;
/// let attrs = Attributes::new().with("x", [Value::str("a,b")]);
/// let out = e.evaluate_attributes(&attrs, &mut EvalContext::new(Timestamp::EPOCH))?;
/// assert_eq!(out, Output::Many(vec![Value::str("a"), Value::str("b")]));
/// assert_eq!(out.values().len(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Output {
    /// No value: the target attribute is not set by this flow.
    Null,
    /// One value.
    One(Value),
    /// Several values, in order (a multi-valued result such as `Split`).
    Many(Vec<Value>),
    /// `IgnoreFlowIfNullOrEmpty` dropped the attribute from the flow: leave
    /// the target as it is.
    IgnoreFlow,
}

impl Output {
    /// The public form of an evaluation's result.
    fn from_val(val: eval::Val) -> Output {
        match val {
            eval::Val::Null => Output::Null,
            eval::Val::Ignore => Output::IgnoreFlow,
            eval::Val::One(i) => Output::One(i.into_value()),
            eval::Val::Many(items) => {
                Output::Many(items.into_iter().map(eval::Item::into_value).collect())
            }
        }
    }

    /// The values (empty for `Null` and `IgnoreFlow`).
    pub fn values(&self) -> &[Value] {
        match self {
            Output::One(v) => std::slice::from_ref(v),
            Output::Many(v) => v,
            Output::Null | Output::IgnoreFlow => &[],
        }
    }

    /// The first value as text, if any.
    pub fn first_text(&self) -> Option<String> {
        self.values().first().map(Value::to_string)
    }
}

/// A compiled expression: parsed, checked and lowered once per
/// configuration, then evaluated per object.
///
/// ```
/// use idsync::expr::{EvalContext, Expression, Output};
/// use idsync::object::{Attributes, Value};
/// use idsync::time::Timestamp;
/// let e = Expression::parse("Join(\" \", [givenName], [sn])")?;
/// let attrs = Attributes::new().with("givenName", [Value::str("Ada")]).with("SN", [Value::str("Lovelace")]);
/// let out = e.evaluate_attributes(&attrs, &mut EvalContext::new(Timestamp::EPOCH))?;
/// assert_eq!(out, Output::One(Value::str("Ada Lovelace")));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// An expression is immutable once compiled, cheap to share across threads
/// (`Send + Sync`) and to clone (regexes are shared).
#[derive(Clone)]
pub struct Expression {
    source: Arc<str>,
    ast: Ast,
    prog: compile::Program,
    limits: ExprLimits,
}

impl fmt::Debug for Expression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Expression")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for Expression {
    /// The canonical printed form of the expression.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.ast, f)
    }
}

impl Expression {
    /// Parses, checks and compiles with default options (no macros) and an
    /// attribute table of its own; for tests, explain and one-off use.
    pub fn parse(src: &str) -> Result<Expression, ExprError> {
        let mut table = AttrTable::new();
        Expression::compile(src, &CompileOptions::default(), &mut table)
    }

    /// Parses, checks and compiles against the configuration's attribute
    /// table (attribute names become slots of `table`).
    ///
    /// ```
    /// use idsync::expr::{CompileOptions, EvalContext, Expression, Output};
    /// use idsync::object::{AttrTable, Row, Value};
    /// use idsync::time::Timestamp;
    /// let mut table = AttrTable::new();
    /// let opts = CompileOptions::new().with_macro("DomainFQDN", "contoso.com");
    /// let e = Expression::compile("Join(\"@\", [sAMAccountName], %DomainFQDN%)", &opts, &mut table)?;
    /// let mut row = Row::default();
    /// row.set(table.get("samaccountname").ok_or("no slot")?, [Value::str("ada")].into_iter().collect());
    /// let out = e.evaluate(&row, &mut EvalContext::new(Timestamp::EPOCH))?;
    /// assert_eq!(out, Output::One(Value::str("ada@contoso.com")));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn compile(
        src: &str,
        options: &CompileOptions,
        table: &mut AttrTable,
    ) -> Result<Expression, ExprError> {
        let ast = parse_ast(src, &options.limits)?;
        let prog = compile::Compiler::new(src, options, table).finish(&ast)?;
        Ok(Expression {
            source: Arc::from(src),
            ast,
            prog,
            limits: options.limits.clone(),
        })
    }

    /// Evaluates against an object's values by slot.
    pub fn evaluate<A: AttrLookup + ?Sized>(
        &self,
        attrs: &A,
        ctx: &mut EvalContext<'_>,
    ) -> Result<Output, EvalError> {
        ctx.redacted = false;
        let start = match eval::fast(&self.prog, &self.limits, attrs, &mut ctx.scratch) {
            eval::Shortcut::Done(out) => return out,
            eval::Shortcut::Walk(start) => start,
        };
        let val = eval::run(&self.prog, &self.limits, attrs, ctx, start)?;
        Ok(Output::from_val(val))
    }

    /// Evaluates against attributes by name (for tests and explain; the
    /// engine uses [`Expression::evaluate`] with slots).
    pub fn evaluate_attributes(
        &self,
        attrs: &Attributes,
        ctx: &mut EvalContext<'_>,
    ) -> Result<Output, EvalError> {
        let by_name = ByName {
            attrs,
            names: &self.prog.attrs,
        };
        self.evaluate(&by_name, ctx)
    }

    /// The attributes the expression reads, with their slots, in first-read
    /// order.
    pub fn attributes(&self) -> impl Iterator<Item = (Slot, &AttrName)> + '_ {
        self.prog.attrs.iter().map(|(s, n)| (*s, n))
    }

    /// The text it was compiled from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The parsed tree (for printing and explaining).
    pub fn ast(&self) -> &Ast {
        &self.ast
    }

    /// Whether the result depends on the attribute values alone: no
    /// function reads the clock, the generator, the default domain or the
    /// uniqueness oracle (or marks the result redacted). Such an expression
    /// gives the same output for every object whose values of
    /// [`Expression::attributes`] are the same.
    pub(crate) fn is_context_free(&self) -> bool {
        self.prog.context_free
    }

    /// The attribute when the whole expression is `Trim([attribute])`.
    pub(crate) fn trimmed_attribute(&self) -> Option<Slot> {
        match self.prog.fast {
            compile::Fast::Trim(slot) => Some(slot),
            _ => None,
        }
    }

    /// Whether the expression calls `SelectUniqueValue` (which passes
    /// [`EvalContext::target_attribute`] to the oracle).
    pub(crate) fn selects_unique_value(&self) -> bool {
        self.prog.nodes.iter().any(|n| {
            matches!(
                n,
                compile::Node::Call {
                    func: compile::Func::SelectUniqueValue,
                    ..
                }
            )
        })
    }

    /// Whether the whole expression is a constant (folded at compile time).
    pub fn is_constant(&self) -> bool {
        matches!(
            self.prog.nodes.get(self.prog.root.0 as usize),
            Some(compile::Node::Const(_))
        )
    }
}

struct ByName<'a> {
    attrs: &'a Attributes,
    names: &'a [(Slot, AttrName)],
}

impl AttrLookup for ByName<'_> {
    fn values(&self, slot: Slot) -> &[Value] {
        match self.names.iter().find(|(s, _)| *s == slot) {
            Some((_, name)) => self.attrs.get(name.as_str()),
            None => &[],
        }
    }
}

/// The documented names of every function the language provides.
pub fn function_names() -> impl Iterator<Item = &'static str> {
    compile::FUNCS.iter().map(|f| f.1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::Row;
    use proptest::prelude::*;

    /// The node walk from the root, bypassing the fast shapes.
    fn walk<A: AttrLookup>(e: &Expression, attrs: &A) -> Result<Output, EvalError> {
        let mut ctx = EvalContext::new(Timestamp::EPOCH);
        let val = eval::run(&e.prog, &e.limits, attrs, &mut ctx, e.prog.root)?;
        Ok(Output::from_val(val))
    }

    const SHAPES: &[&str] = &[
        "[a]",
        "Trim([a])",
        "Join(\" \", [a], [b])",
        "Join(\"\", [a])",
        "Join(\",\", [a], \"k\", , [b], 7, true)",
        "Join(true, [a], [b])",
        "IIF(IsPresent([a]), [a], [b])",
        "IIF(IsPresent([a]), [a], Join(\"@\", [b], \"x\"))",
        "IIF(IsPresent([a]), [a], Error(\"no a\"))",
        "IIF(IsPresent([a]), [a], [a] & [b] & [b])",
        "[a] = [b]",
        "[a] < [b]",
        "BitAnd([a], 2) = \"0\"",
        "Len([a]) >= 3",
    ];

    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![
            prop::sample::select(vec![
                "", " ", "a", " a ", "x y", "10", " 3", "-2.5", "Ab", " abc ", " hello ",
            ])
            .prop_map(Value::str),
            (-5i64..20).prop_map(Value::Int),
            any::<bool>().prop_map(Value::Bool),
            prop::collection::vec(any::<u8>(), 0..3).prop_map(|b| Value::bytes(&b)),
        ]
    }

    proptest! {
        /// Every fast shape gives what the node walk gives (values and
        /// errors), also when a result passes the length limit.
        #[test]
        fn fast_shapes_match_the_node_walk(
            a in prop::collection::vec(value(), 0..3),
            b in prop::collection::vec(value(), 0..3),
            max in prop::sample::select(vec![2usize, 4, 1 << 20]),
        ) {
            let limits = ExprLimits { max_value_length: max, ..ExprLimits::default() };
            let opts = CompileOptions::new().with_limits(limits);
            for src in SHAPES {
                let mut table = AttrTable::new();
                let e = Expression::compile(src, &opts, &mut table).unwrap();
                let mut row = Row::default();
                for (name, vals) in [("a", &a), ("b", &b)] {
                    if let Some(slot) = table.get(name) {
                        row.set(slot, vals.iter().cloned().collect());
                    }
                }
                let mut ctx = EvalContext::new(Timestamp::EPOCH);
                let fast = e.evaluate(&row, &mut ctx);
                prop_assert_eq!(&fast, &walk(&e, &row), "{} with a={:?} b={:?}", src, a, b);
                // the scratch buffer carries nothing from one evaluation to the next
                prop_assert_eq!(fast, e.evaluate(&row, &mut ctx));
            }
        }
    }

    #[test]
    fn the_shapes_are_recognised() {
        let shape = |src: &str| Expression::parse(src).unwrap().prog.fast;
        assert!(matches!(shape("[a]"), compile::Fast::Attr(_)));
        assert!(matches!(shape("Trim([a])"), compile::Fast::Trim(_)));
        assert!(matches!(
            shape("Join(\" \", [a], \"b\")"),
            compile::Fast::Join { .. }
        ));
        assert!(matches!(
            shape("IIF(IsPresent([a]), [a], [b])"),
            compile::Fast::PresentOr { .. }
        ));
        assert!(matches!(
            shape("IIF(IsPresent([a]), [b], [a])"),
            compile::Fast::None
        ));
        assert!(matches!(shape("Join([s], [a])"), compile::Fast::None));
        assert!(matches!(shape("Trim(Trim([a]))"), compile::Fast::None));
    }

    #[test]
    fn a_join_of_one_string_shares_it() {
        let mut table = AttrTable::new();
        let e =
            Expression::compile("Join(\"@\", [a], )", &CompileOptions::new(), &mut table).unwrap();
        let v = Value::str("ann");
        let mut row = Row::default();
        row.set(table.get("a").unwrap(), [v.clone()].into_iter().collect());
        let out = e
            .evaluate(&row, &mut EvalContext::new(Timestamp::EPOCH))
            .unwrap();
        let (Output::One(Value::Str(got)), Value::Str(src)) = (&out, &v) else {
            panic!("{out:?}");
        };
        assert!(Arc::ptr_eq(got, src));
    }

    #[test]
    fn context_reads_are_known() {
        for (src, free) in [
            ("Trim([a])", true),
            ("Error(\"x\")", true),
            ("IIF(IsPresent([a]), Now(), [b])", false),
            ("Guid()", false),
            ("Join(\"@\", [a], DefaultDomain())", false),
            ("SelectUniqueValue([a], [b])", false),
            ("Redact([a])", false),
        ] {
            assert_eq!(
                Expression::parse(src).unwrap().is_context_free(),
                free,
                "{src}"
            );
        }
        assert!(
            Expression::parse("SelectUniqueValue([a], [b])")
                .unwrap()
                .selects_unique_value()
        );
        assert!(
            !Expression::parse("Trim([a])")
                .unwrap()
                .selects_unique_value()
        );
    }
}
