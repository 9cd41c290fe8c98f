//! The checker and the lowering: an [`Ast`] becomes a flat table of
//! [`Node`]s addressed by [`NodeId`], with functions resolved, arities and
//! fixed argument kinds checked, attribute names resolved to slots, macros
//! substituted, regexes translated and compiled once, and calls on constants
//! folded. Evaluation runs on this table, never on the AST.

use std::sync::Arc;

use regex::Regex;

use super::datetime::DateTime;
use super::error::{ExprError, ExprErrorKind, Span};
use super::syntax::{Ast, AstKind, CmpOp};
use super::text;
use super::{CompileOptions, ExprLimits};
use crate::object::{AttrName, AttrTable, Slot, Value};

/// The index of a node in a compiled expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NodeId(pub(crate) u32);

/// A run of argument ids in the compiled expression's argument table.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Args {
    pub(crate) start: u32,
    pub(crate) len: u32,
}

/// A constant item: a value, or a date-time (which has no [`Value`] form).
#[derive(Debug, Clone)]
pub(crate) enum CItem {
    Value(Value),
    Date(DateTime),
}

/// A folded constant.
#[derive(Debug, Clone)]
pub(crate) enum Const {
    Null,
    One(CItem),
    Many(Vec<CItem>),
}

/// How a Replace call works, decided from which arguments are present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReplaceMode {
    /// oldValue + replacementValue: literal, all occurrences.
    Literal,
    /// oldValue + template: oldValue in the template becomes the source.
    Template,
    /// regexPattern + replacementValue (with `${name}` substitutions).
    Regex,
    /// regexPattern + regexGroupName + replacementValue: only the group's
    /// text is replaced.
    RegexGroup,
    /// regexPattern + regexGroupName + replacementAttributeName: the source
    /// if it has a value, else the group matched in the other value.
    RegexFromOther,
}

/// Compile-time extras of a call.
#[derive(Debug, Clone)]
pub(crate) enum Aux {
    None,
    /// Switch whose keys are all constants: their text, in order.
    SwitchKeys(Box<[Box<str>]>),
    Replace {
        mode: ReplaceMode,
        /// The compiled pattern when it is a constant.
        regex: Option<Arc<Regex>>,
        /// The translated replacement when it is a constant.
        replacement: Option<Arc<str>>,
    },
}

/// One node of the compiled form.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    Const(Const),
    Attr(Slot),
    Concat(Args),
    Compare(CmpOp, NodeId, NodeId),
    Call { func: Func, args: Args, aux: Aux },
}

macro_rules! funcs {
    ($($v:ident = $name:literal, $min:expr, $max:expr;)*) => {
        /// Every function of the library.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub(crate) enum Func { $($v,)* }

        /// (function, documented name, min args, max args)
        pub(crate) const FUNCS: &[(Func, &str, usize, usize)] = &[$((Func::$v, $name, $min, $max),)*];

        impl Func {
            /// The documented name.
            pub(crate) fn name(self) -> &'static str {
                match self { $(Func::$v => $name,)* }
            }
        }
    };
}

const MANY: usize = usize::MAX;

funcs! {
    Append = "Append", 2, 2;
    BitAnd = "BitAnd", 2, 2;
    CBool = "CBool", 1, 1;
    CDate = "CDate", 1, 1;
    Coalesce = "Coalesce", 1, MANY;
    Contains = "Contains", 2, 3;
    ConvertFromBase64 = "ConvertFromBase64", 1, 2;
    ConvertToBase64 = "ConvertToBase64", 1, 1;
    ConvertToUtf8Hex = "ConvertToUTF8Hex", 1, 1;
    Count = "Count", 1, 1;
    CRef = "CRef", 1, 1;
    CStr = "CStr", 1, 1;
    DateAdd = "DateAdd", 3, 3;
    DateDiff = "DateDiff", 3, 3;
    DateFromNum = "DateFromNum", 1, 1;
    DefaultDomain = "DefaultDomain", 0, 0;
    DnComponent = "DNComponent", 2, 2;
    Error = "Error", 1, 1;
    FormatDateTime = "FormatDateTime", 3, 4;
    Guid = "Guid", 0, 0;
    IgnoreFlowIfNullOrEmpty = "IgnoreFlowIfNullOrEmpty", 1, 1;
    Iif = "IIF", 3, 3;
    InStr = "InStr", 2, 4;
    IsNull = "IsNull", 1, 1;
    IsNullOrEmpty = "IsNullOrEmpty", 1, 1;
    IsPresent = "IsPresent", 1, 1;
    IsString = "IsString", 1, 1;
    Item = "Item", 2, 2;
    Join = "Join", 2, MANY;
    Left = "Left", 2, 2;
    Len = "Len", 1, 1;
    Mid = "Mid", 3, 3;
    NormalizeDiacritics = "NormalizeDiacritics", 1, 1;
    Not = "Not", 1, 1;
    Now = "Now", 0, 0;
    NumFromDate = "NumFromDate", 1, 1;
    PCase = "PCase", 1, 2;
    RandomString = "RandomString", 5, 6;
    Redact = "Redact", 1, 1;
    RemoveDuplicates = "RemoveDuplicates", 1, 1;
    Replace = "Replace", 2, 7;
    SelectUniqueValue = "SelectUniqueValue", 2, MANY;
    Split = "Split", 2, 2;
    StringFromSid = "StringFromSid", 1, 1;
    StripSpaces = "StripSpaces", 1, 1;
    Switch = "Switch", 4, MANY;
    ToLower = "ToLower", 1, 2;
    ToUpper = "ToUpper", 1, 2;
    Trim = "Trim", 1, 1;
    Word = "Word", 3, 3;
}

/// Functions the checker knows and refuses, with the reason.
const REFUSED: &[(&str, &str)] = &[
    (
        "AppRoleAssignmentsComplex",
        "app role assignments exist only when provisioning to SaaS applications; objects synchronized from Active Directory have none",
    ),
    (
        "AssertiveAppRoleAssignmentsComplex",
        "app role assignments exist only when provisioning to SaaS applications; objects synchronized from Active Directory have none",
    ),
    (
        "SingleAppRoleAssignment",
        "app role assignments exist only when provisioning to SaaS applications; objects synchronized from Active Directory have none",
    ),
    (
        "AppRoleAssignments",
        "app role assignments exist only when provisioning to SaaS applications; objects synchronized from Active Directory have none",
    ),
];

impl Func {
    /// Same arguments, same result, no context read.
    fn is_pure(self) -> bool {
        !(self.reads_context() || matches!(self, Func::Error | Func::IgnoreFlowIfNullOrEmpty))
    }

    /// Reads or changes the evaluation context: the clock, the generator,
    /// the default domain, the oracle or the redaction flag.
    fn reads_context(self) -> bool {
        matches!(
            self,
            Func::DefaultDomain
                | Func::Guid
                | Func::Now
                | Func::RandomString
                | Func::SelectUniqueValue
                | Func::Redact
        )
    }

    /// Bare words a function accepts at a 1-based position.
    fn enum_words(self, position: usize) -> Option<&'static [&'static str]> {
        match (self, position) {
            (Func::InStr, 4) => Some(&["vbBinaryCompare", "vbTextCompare"]),
            (Func::ConvertFromBase64, 2) => Some(&["Unicode", "UTF8", "ASCII"]),
            (Func::Contains, 3) => Some(&["IgnoreCase", "CaseSensitive"]),
            _ => None,
        }
    }
}

/// Resolves a function name, case-insensitively.
pub(crate) fn lookup(name: &str) -> Option<(Func, &'static str, usize, usize)> {
    FUNCS
        .iter()
        .find(|f| f.1.eq_ignore_ascii_case(name))
        .copied()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.to_lowercase().chars().collect();
    let b: Vec<char> = b.to_lowercase().chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

fn suggest(name: &str) -> Option<&'static str> {
    FUNCS
        .iter()
        .map(|f| (edit_distance(name, f.1), f.1))
        .min()
        .filter(|(d, n)| *d <= (n.len() / 3).max(2))
        .map(|(_, n)| n)
}

/// The compiled form under construction.
#[derive(Clone)]
pub(crate) struct Program {
    pub(crate) nodes: Vec<Node>,
    pub(crate) args: Vec<NodeId>,
    pub(crate) root: NodeId,
    /// Every attribute read, with its slot, in first-read order.
    pub(crate) attrs: Vec<(Slot, AttrName)>,
    /// A root shape evaluated without walking the node table.
    pub(crate) fast: Fast,
    /// Whether no node reads or changes the evaluation context (clock,
    /// generator, default domain, oracle, redaction flag): the result then
    /// depends on the attribute values alone.
    pub(crate) context_free: bool,
}

/// Root shapes common enough in mappings to be evaluated directly: the
/// same result as the node walk, without its intermediate values.
#[derive(Debug, Clone)]
pub(crate) enum Fast {
    /// Anything else: walk the nodes.
    None,
    /// `[a]`.
    Attr(Slot),
    /// `Trim([a])`.
    Trim(Slot),
    /// `IIF(IsPresent([a]), [a], otherwise)`: the values of `a` when it
    /// has a non-empty one, else the node walk from `otherwise`.
    PresentOr { slot: Slot, otherwise: NodeId },
    /// `Join(sep, ...)` whose parts are attributes and constants.
    Join {
        /// The separator's text.
        sep: Box<str>,
        /// The parts in order; constants as their non-empty texts.
        parts: Box<[JoinPart]>,
    },
}

/// One part of a [`Fast::Join`].
#[derive(Debug, Clone)]
pub(crate) enum JoinPart {
    Attr(Slot),
    Text(Box<str>),
}

/// The texts a constant contributes to a join (empty ones dropped, as
/// `Join` skips them).
fn const_texts(c: &Const) -> Vec<Box<str>> {
    let items: &[CItem] = match c {
        Const::Null => &[],
        Const::One(i) => std::slice::from_ref(i),
        Const::Many(v) => v,
    };
    items
        .iter()
        .map(|i| match i {
            CItem::Value(v) => v.to_string(),
            CItem::Date(d) => d.render_us(),
        })
        .filter(|t| !t.is_empty())
        .map(String::into_boxed_str)
        .collect()
}

impl Program {
    fn node(&self, id: NodeId) -> Option<&Node> {
        self.nodes.get(id.0 as usize)
    }

    fn arg_ids(&self, a: Args) -> &[NodeId] {
        self.args
            .get(a.start as usize..(a.start + a.len) as usize)
            .unwrap_or(&[])
    }

    /// Recognises the root shapes of [`Fast`].
    fn fast_shape(&self) -> Fast {
        match self.node(self.root) {
            Some(Node::Attr(slot)) => Fast::Attr(*slot),
            Some(Node::Call {
                func: Func::Trim,
                args,
                ..
            }) => match self.arg_ids(*args) {
                [a] => match self.node(*a) {
                    Some(Node::Attr(slot)) => Fast::Trim(*slot),
                    _ => Fast::None,
                },
                _ => Fast::None,
            },
            Some(Node::Call {
                func: Func::Iif,
                args,
                ..
            }) => match self.arg_ids(*args) {
                [cond, then, otherwise] => match (self.node(*cond), self.node(*then)) {
                    (
                        Some(Node::Call {
                            func: Func::IsPresent,
                            args: present_args,
                            ..
                        }),
                        Some(Node::Attr(slot)),
                    ) if matches!(
                        self.arg_ids(*present_args),
                        [a] if matches!(self.node(*a), Some(Node::Attr(s)) if s == slot)
                    ) =>
                    {
                        Fast::PresentOr {
                            slot: *slot,
                            otherwise: *otherwise,
                        }
                    }
                    _ => Fast::None,
                },
                _ => Fast::None,
            },
            Some(Node::Call {
                func: Func::Join,
                args,
                ..
            }) => {
                let ids = self.arg_ids(*args);
                let Some((first, rest)) = ids.split_first() else {
                    return Fast::None;
                };
                let sep: Box<str> = match self.node(*first) {
                    Some(Node::Const(Const::Null)) => Box::from(""),
                    Some(Node::Const(Const::One(CItem::Value(v)))) => Box::from(v.to_string()),
                    Some(Node::Const(Const::One(CItem::Date(d)))) => Box::from(d.render_us()),
                    _ => return Fast::None,
                };
                let mut parts = Vec::with_capacity(rest.len());
                for id in rest {
                    match self.node(*id) {
                        Some(Node::Attr(slot)) => parts.push(JoinPart::Attr(*slot)),
                        Some(Node::Const(c)) => {
                            parts.extend(const_texts(c).into_iter().map(JoinPart::Text))
                        }
                        _ => return Fast::None,
                    }
                }
                Fast::Join {
                    sep,
                    parts: parts.into_boxed_slice(),
                }
            }
            _ => Fast::None,
        }
    }
}

pub(crate) struct Compiler<'a> {
    src: &'a str,
    options: &'a CompileOptions,
    table: &'a mut AttrTable,
    prog: Program,
}

impl<'a> Compiler<'a> {
    pub(crate) fn new(src: &'a str, options: &'a CompileOptions, table: &'a mut AttrTable) -> Self {
        Compiler {
            src,
            options,
            table,
            prog: Program {
                nodes: Vec::new(),
                args: Vec::new(),
                root: NodeId(0),
                attrs: Vec::new(),
                fast: Fast::None,
                context_free: false,
            },
        }
    }

    fn err(&self, span: Span, kind: ExprErrorKind) -> ExprError {
        ExprError::new(self.src, span, kind)
    }

    fn push(&mut self, node: Node) -> NodeId {
        let id = NodeId(self.prog.nodes.len() as u32);
        self.prog.nodes.push(node);
        id
    }

    fn konst(&mut self, c: Const) -> NodeId {
        self.push(Node::Const(c))
    }

    pub(crate) fn finish(mut self, ast: &Ast) -> Result<Program, ExprError> {
        let root = self.lower(ast, 0)?;
        self.prog.root = root;
        self.prog.fast = self.prog.fast_shape();
        self.prog.context_free = self.prog.nodes.iter().all(|n| match n {
            Node::Call { func, .. } => !func.reads_context(),
            _ => true,
        });
        Ok(self.prog)
    }

    fn push_args(&mut self, ids: &[NodeId]) -> Args {
        let start = self.prog.args.len() as u32;
        self.prog.args.extend_from_slice(ids);
        Args {
            start,
            len: ids.len() as u32,
        }
    }

    fn lower(&mut self, ast: &Ast, depth: usize) -> Result<NodeId, ExprError> {
        Ok(match &ast.kind {
            AstKind::Str(s) => self.konst(Const::One(CItem::Value(Value::str(s)))),
            AstKind::Num(n) => self.konst(Const::One(CItem::Value(Value::str(n)))),
            AstKind::Hex(h) => match i64::from_str_radix(h, 16) {
                Ok(v) => self.konst(Const::One(CItem::Value(Value::Int(v)))),
                Err(_) => {
                    return Err(self.err(
                        ast.span,
                        ExprErrorKind::BadNumber {
                            text: format!("&H{h}"),
                        },
                    ));
                }
            },
            AstKind::Attr(name) => {
                let slot = self.table.intern(name).map_err(|e| {
                    self.err(ast.span, ExprErrorKind::TooManyAttributes(e.to_string()))
                })?;
                if !self.prog.attrs.iter().any(|(s, _)| *s == slot) {
                    self.prog.attrs.push((slot, AttrName::new(name)));
                }
                self.push(Node::Attr(slot))
            }
            AstKind::Macro(m) => {
                let value = self
                    .options
                    .macros
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(m))
                    .map(|(_, v)| v.clone());
                match value {
                    Some(v) => self.konst(Const::One(CItem::Value(Value::str(&v)))),
                    None => {
                        return Err(
                            self.err(ast.span, ExprErrorKind::UnknownMacro { name: m.clone() })
                        );
                    }
                }
            }
            AstKind::Ident(word) => {
                if word.eq_ignore_ascii_case("true") || word.eq_ignore_ascii_case("false") {
                    let b = word.eq_ignore_ascii_case("true");
                    self.konst(Const::One(CItem::Value(Value::Bool(b))))
                } else {
                    return Err(self.err(ast.span, ExprErrorKind::BareWord { word: word.clone() }));
                }
            }
            AstKind::Concat(parts) => {
                let mut ids = Vec::with_capacity(parts.len());
                for p in parts {
                    ids.push(self.lower(p, depth + 1)?);
                }
                let args = self.push_args(&ids);
                let id = self.push(Node::Concat(args));
                self.fold(id)
            }
            AstKind::Compare { op, lhs, rhs } => {
                let l = self.lower(lhs, depth + 1)?;
                let r = self.lower(rhs, depth + 1)?;
                let id = self.push(Node::Compare(*op, l, r));
                self.fold(id)
            }
            AstKind::Call {
                name,
                name_span,
                args,
            } => self.call(ast, name, *name_span, args, depth)?,
        })
    }

    fn call(
        &mut self,
        ast: &Ast,
        name: &str,
        name_span: Span,
        args: &[Option<Ast>],
        depth: usize,
    ) -> Result<NodeId, ExprError> {
        if let Some((refused, reason)) = REFUSED.iter().find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            return Err(self.err(
                name_span,
                ExprErrorKind::Unsupported {
                    name: refused,
                    reason,
                },
            ));
        }
        let Some((func, fname, min, max)) = lookup(name) else {
            return Err(self.err(
                name_span,
                ExprErrorKind::UnknownFunction {
                    name: name.to_owned(),
                    suggestion: suggest(name),
                },
            ));
        };
        let n = args.len();
        let arity_ok = match func {
            Func::Switch => n >= 4 && n % 2 == 0,
            _ => n >= min && n <= max,
        };
        if !arity_ok {
            let expected = match func {
                Func::Switch => "an even number (at least 4) of".to_owned(),
                _ if max == MANY => format!("at least {min}"),
                _ if min == max => min.to_string(),
                _ => format!("{min} to {max}"),
            };
            return Err(self.err(
                ast.span,
                ExprErrorKind::Arity {
                    function: fname,
                    expected,
                    found: n,
                },
            ));
        }
        if func == Func::SelectUniqueValue && depth > 0 {
            return Err(self.err(name_span, ExprErrorKind::NestedSelectUniqueValue));
        }
        let mut ids = Vec::with_capacity(n);
        for (i, a) in args.iter().enumerate() {
            let id = match a {
                None => self.konst(Const::Null),
                Some(Ast {
                    kind: AstKind::Ident(word),
                    span,
                }) if func.enum_words(i + 1).is_some() => {
                    let words = func.enum_words(i + 1).unwrap_or(&[]);
                    match words.iter().find(|w| w.eq_ignore_ascii_case(word)) {
                        Some(w) => self.konst(Const::One(CItem::Value(Value::str(w)))),
                        None => {
                            return Err(self.err(
                                *span,
                                ExprErrorKind::BadArgument {
                                    function: fname,
                                    position: i + 1,
                                    message: format!("{word:?} is not one of {}", words.join(", ")),
                                },
                            ));
                        }
                    }
                }
                Some(a) => self.lower(a, depth + 1)?,
            };
            ids.push(id);
        }
        let aux = match func {
            Func::Replace => self.replace_aux(ast.span, args, &ids)?,
            _ => {
                self.check_constant_args(func, fname, args, &ids)?;
                Aux::None
            }
        };
        let aux = match (func, aux) {
            (Func::Switch, Aux::None) => {
                let keys: Option<Vec<Box<str>>> = ids
                    .iter()
                    .skip(2)
                    .step_by(2)
                    .map(|id| match self.prog.nodes.get(id.0 as usize) {
                        Some(Node::Const(Const::Null)) => Some(Box::from("")),
                        _ => self.const_str(*id).map(Box::from),
                    })
                    .collect();
                keys.map_or(Aux::None, |k| Aux::SwitchKeys(k.into_boxed_slice()))
            }
            (_, aux) => aux,
        };
        let args = self.push_args(&ids);
        let id = self.push(Node::Call { func, args, aux });
        Ok(if func.is_pure() { self.fold(id) } else { id })
    }

    fn const_str(&self, id: NodeId) -> Option<String> {
        match self.prog.nodes.get(id.0 as usize) {
            Some(Node::Const(Const::One(CItem::Value(v)))) => Some(v.to_string()),
            _ => None,
        }
    }

    fn bad_arg(
        &self,
        span: Span,
        function: &'static str,
        position: usize,
        message: String,
    ) -> ExprError {
        self.err(
            span,
            ExprErrorKind::BadArgument {
                function,
                position,
                message,
            },
        )
    }

    /// Arguments whose constant value can be checked now: date intervals,
    /// date formats, enum strings, integer positions.
    fn check_constant_args(
        &self,
        func: Func,
        fname: &'static str,
        args: &[Option<Ast>],
        ids: &[NodeId],
    ) -> Result<(), ExprError> {
        let span_of = |i: usize| {
            args.get(i)
                .and_then(|a| a.as_ref())
                .map_or(Span::default(), |a| a.span)
        };
        let check = |i: usize, f: &dyn Fn(&str) -> Result<(), String>| -> Result<(), ExprError> {
            if let Some(s) = ids.get(i).and_then(|id| self.const_str(*id)) {
                f(&s).map_err(|m| self.bad_arg(span_of(i), fname, i + 1, m))?;
            }
            Ok(())
        };
        let int = |s: &str| {
            super::eval::parse_int(s)
                .map(|_| ())
                .ok_or_else(|| format!("{s:?} is not a whole number"))
        };
        let fmt = |s: &str| DateTime::from_ticks(0).map_or(Ok(()), |d| d.format(s).map(|_| ()));
        match func {
            Func::DateAdd | Func::DateDiff => {
                check(0, &|s| {
                    super::datetime::Interval::parse(s)
                        .map(|_| ())
                        .ok_or_else(|| {
                            format!("{s:?} is not an interval (yyyy, q, m, y, d, w, ww, h, n, s)")
                        })
                })?;
                if func == Func::DateAdd {
                    check(1, &|s| {
                        super::eval::parse_number(s)
                            .map(|_| ())
                            .ok_or_else(|| format!("{s:?} is not a number"))
                    })?;
                }
            }
            Func::FormatDateTime => {
                let last = ids.len() - 1;
                check(last, &fmt)?;
                check(last - 1, &fmt)?;
            }
            Func::Left | Func::Item | Func::DnComponent => check(1, &int)?,
            Func::Mid => {
                check(1, &int)?;
                check(2, &int)?;
            }
            Func::Word => check(1, &int)?,
            Func::InStr => {
                check(2, &int)?;
                check(3, &|s| match s.to_ascii_lowercase().as_str() {
                    "vbbinarycompare" | "vbtextcompare" | "0" | "1" => Ok(()),
                    _ => Err(format!("{s:?} is not vbBinaryCompare or vbTextCompare")),
                })?;
            }
            Func::ConvertFromBase64 => check(1, &|s| match s.to_ascii_lowercase().as_str() {
                "unicode" | "utf8" | "ascii" => Ok(()),
                _ => Err(format!("{s:?} is not Unicode, UTF8 or ASCII")),
            })?,
            Func::RandomString => {
                for i in 0..5 {
                    check(i, &int)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn replace_aux(
        &self,
        span: Span,
        args: &[Option<Ast>],
        ids: &[NodeId],
    ) -> Result<Aux, ExprError> {
        let has = |k: usize| matches!(args.get(k - 1), Some(Some(_)));
        let mode = if has(2) && has(7) {
            ReplaceMode::Template
        } else if has(2) && has(5) {
            ReplaceMode::Literal
        } else if has(3) && has(4) && has(6) {
            ReplaceMode::RegexFromOther
        } else if has(3) && has(4) && has(5) {
            ReplaceMode::RegexGroup
        } else if has(3) && has(5) {
            ReplaceMode::Regex
        } else {
            return Err(self.bad_arg(
                span,
                "Replace",
                1,
                "Replace needs oldValue with replacementValue or template, or regexPattern with \
                 replacementValue (and optionally regexGroupName), or regexPattern with regexGroupName \
                 and replacementAttributeName"
                    .to_owned(),
            ));
        };
        let span_of = |k: usize| {
            args.get(k - 1)
                .and_then(|a| a.as_ref())
                .map_or(span, |a| a.span)
        };
        let mut regex = None;
        if mode != ReplaceMode::Literal && mode != ReplaceMode::Template {
            if let Some(p) = ids.get(2).and_then(|id| self.const_str(*id)) {
                let re = compile_regex(&p, &self.options.limits)
                    .map_err(|m| self.bad_arg(span_of(3), "Replace", 3, m))?;
                if mode != ReplaceMode::Regex {
                    if let Some(g) = ids.get(3).and_then(|id| self.const_str(*id)) {
                        if !re.capture_names().flatten().any(|n| n == g)
                            && g.parse::<usize>().map_or(true, |i| i >= re.captures_len())
                        {
                            return Err(self.bad_arg(
                                span_of(4),
                                "Replace",
                                4,
                                format!("the pattern has no group named {g:?}"),
                            ));
                        }
                    }
                }
                regex = Some(Arc::new(re));
            }
        }
        let mut replacement = None;
        if matches!(mode, ReplaceMode::Regex | ReplaceMode::RegexGroup) {
            if let Some(r) = ids.get(4).and_then(|id| self.const_str(*id)) {
                let t = text::translate_replacement(&r)
                    .map_err(|m| self.bad_arg(span_of(5), "Replace", 5, m))?;
                replacement = Some(Arc::from(t));
            }
        }
        Ok(Aux::Replace {
            mode,
            regex,
            replacement,
        })
    }

    /// Evaluates a node whose inputs are all constants and replaces it with
    /// the result; a node that fails (or reads the context) stays as it is,
    /// so its error surfaces when evaluated.
    fn fold(&mut self, id: NodeId) -> NodeId {
        let all_const = match self.prog.nodes.get(id.0 as usize) {
            Some(Node::Concat(a)) | Some(Node::Call { args: a, .. }) => {
                let r = a.start as usize..(a.start + a.len) as usize;
                self.prog
                    .args
                    .get(r)
                    .unwrap_or(&[])
                    .iter()
                    .all(|x| self.is_const(*x))
            }
            Some(Node::Compare(_, l, r)) => self.is_const(*l) && self.is_const(*r),
            _ => false,
        };
        if !all_const {
            return id;
        }
        if let Some(c) = super::eval::fold(&self.prog, id, &self.options.limits) {
            if let Some(slot) = self.prog.nodes.get_mut(id.0 as usize) {
                *slot = Node::Const(c);
            }
        }
        id
    }

    fn is_const(&self, id: NodeId) -> bool {
        matches!(self.prog.nodes.get(id.0 as usize), Some(Node::Const(_)))
    }
}

/// Translates and compiles a .NET pattern within the size limit.
pub(crate) fn compile_regex(pattern: &str, limits: &ExprLimits) -> Result<Regex, String> {
    let translated = text::translate_regex(pattern)?;
    regex::RegexBuilder::new(&translated)
        .size_limit(limits.regex_size_limit)
        .dfa_size_limit(limits.regex_size_limit)
        .nest_limit(limits.max_depth() as u32 * 4)
        .build()
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(n) => {
                format!("regex is too large (over {n} bytes compiled)")
            }
            other => format!(
                "invalid regex: {}",
                other.to_string().lines().last().unwrap_or("").trim()
            ),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        assert_eq!(suggest("Jion"), Some("Join"));
        assert_eq!(suggest("tolowr"), Some("ToLower"));
        assert_eq!(suggest("Frobnicate"), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn names_are_unique() {
        for (i, f) in FUNCS.iter().enumerate() {
            assert!(
                FUNCS[i + 1..]
                    .iter()
                    .all(|g| !g.1.eq_ignore_ascii_case(f.1))
            );
            assert_eq!(f.0.name(), f.1);
        }
    }
}
