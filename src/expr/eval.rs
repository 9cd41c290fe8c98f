//! The evaluator: runs a compiled node table against one object's values
//! and an [`EvalContext`]. Attribute values and constants pass through by
//! reference; only functions that build text allocate. Recursion follows the
//! node tree, whose depth the parser already bounded.

use std::borrow::Cow;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use regex::Regex;

use super::compile::{
    Args, Aux, CItem, Const, Fast, Func, JoinPart, Node, NodeId, Program, ReplaceMode,
    compile_regex,
};
use super::datetime::{DateTime, Interval};
use super::error::EvalError;
use super::syntax::CmpOp;
use super::text;
use super::{EvalContext, ExprLimits, Output};
use crate::dn::Dn;
use crate::object::{AttrLookup, Slot, Value};

/// One value during evaluation.
#[derive(Debug, Clone)]
pub(crate) enum Item<'a> {
    /// An attribute value or a constant, borrowed.
    Ref(&'a Value),
    Str(String),
    Int(i64),
    Bool(bool),
    Date(DateTime),
}

/// What a node evaluates to.
#[derive(Debug, Clone)]
pub(crate) enum Val<'a> {
    /// No value (absent attribute, omitted argument, no match).
    Null,
    /// IgnoreFlowIfNullOrEmpty dropped the attribute from the flow.
    Ignore,
    One(Item<'a>),
    Many(Vec<Item<'a>>),
}

impl<'a> Item<'a> {
    pub(crate) fn text(&self) -> Cow<'_, str> {
        match self {
            Item::Ref(Value::Str(s)) => Cow::Borrowed(s),
            Item::Ref(v) => Cow::Owned(v.to_string()),
            Item::Str(s) => Cow::Borrowed(s),
            Item::Int(i) => Cow::Owned(i.to_string()),
            Item::Bool(true) => Cow::Borrowed("True"),
            Item::Bool(false) => Cow::Borrowed("False"),
            Item::Date(d) => Cow::Owned(d.render_us()),
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Item::Ref(v) => v.is_empty(),
            Item::Str(s) => s.is_empty(),
            _ => false,
        }
    }

    pub(crate) fn into_value(self) -> Value {
        match self {
            Item::Ref(v) => v.clone(),
            Item::Str(s) => Value::from(s),
            Item::Int(i) => Value::Int(i),
            Item::Bool(b) => Value::Bool(b),
            Item::Date(d) => Value::from(d.render_us()),
        }
    }

    fn to_const(&self) -> CItem {
        match self {
            Item::Date(d) => CItem::Date(*d),
            other => CItem::Value(other.clone().into_value()),
        }
    }
}

impl<'a> Val<'a> {
    fn items(&self) -> &[Item<'a>] {
        match self {
            Val::One(i) => std::slice::from_ref(i),
            Val::Many(v) => v,
            Val::Null | Val::Ignore => &[],
        }
    }

    fn is_null(&self) -> bool {
        matches!(self, Val::Null | Val::Ignore)
    }

    /// Null, or every value empty.
    fn is_null_or_empty(&self) -> bool {
        self.items().iter().all(Item::is_empty)
    }
}

fn citem(c: &CItem) -> Item<'_> {
    match c {
        CItem::Value(v) => Item::Ref(v),
        CItem::Date(d) => Item::Date(*d),
    }
}

fn cval(c: &Const) -> Val<'_> {
    let item = citem;
    match c {
        Const::Null => Val::Null,
        Const::One(c) => Val::One(item(c)),
        Const::Many(cs) => Val::Many(cs.iter().map(item).collect()),
    }
}

/// Parses a whole number the way arguments carry them: decimal text,
/// `&H` hex; a decimal fraction is truncated.
pub(crate) fn parse_int(s: &str) -> Option<i64> {
    let t = s.trim();
    if let Some(h) = t.strip_prefix("&H").or_else(|| t.strip_prefix("&h")) {
        return i64::from_str_radix(h, 16).ok();
    }
    if let Ok(v) = t.parse::<i64>() {
        return Some(v);
    }
    parse_number(t)
        .filter(|f| f.is_finite() && f.abs() < 9.2e18)
        .map(|f| f.trunc() as i64)
}

/// A decimal number (`-12`, `3.5`); no exponents, no words.
pub(crate) fn parse_number(s: &str) -> Option<f64> {
    let t = s.trim();
    let body = t
        .strip_prefix('-')
        .or_else(|| t.strip_prefix('+'))
        .unwrap_or(t);
    let ok = !body.is_empty()
        && body.chars().all(|c| c.is_ascii_digit() || c == '.')
        && body.chars().filter(|&c| c == '.').count() <= 1
        && body.chars().any(|c| c.is_ascii_digit());
    if ok { t.parse().ok() } else { None }
}

struct Eval<'p, 'a, 'c, 'o, A: AttrLookup + ?Sized> {
    prog: &'p Program,
    attrs: &'a A,
    ctx: &'c mut EvalContext<'o>,
    limits: &'p ExprLimits,
}

/// Evaluates node `start` (the root, or where [`fast`] hands over).
pub(crate) fn run<'p, A: AttrLookup + ?Sized>(
    prog: &'p Program,
    limits: &'p ExprLimits,
    attrs: &'p A,
    ctx: &mut EvalContext<'_>,
    start: NodeId,
) -> Result<Val<'p>, EvalError> {
    let mut ev = Eval {
        prog,
        attrs,
        ctx,
        limits,
    };
    ev.node(start)
}

/// What [`fast`] did.
pub(crate) enum Shortcut {
    /// The expression's output.
    Done(Result<Output, EvalError>),
    /// Evaluate from this node: the root, or the part of the shape that is
    /// not fast.
    Walk(NodeId),
}

/// Evaluates a [`Fast`] root shape straight into an [`Output`]: the same
/// result as the node walk (the same values, the same errors), with at most
/// one allocation per produced text. `Join` writes its text into `scratch`
/// (a buffer the caller's context keeps between evaluations) and copies it
/// once into the result's `Arc<str>`; a join of a single string value shares
/// that value.
pub(crate) fn fast<A: AttrLookup + ?Sized>(
    prog: &Program,
    limits: &ExprLimits,
    attrs: &A,
    scratch: &mut String,
) -> Shortcut {
    Shortcut::Done(match &prog.fast {
        Fast::None => return Shortcut::Walk(prog.root),
        Fast::Attr(slot) => Ok(values_output(attrs.values(*slot))),
        Fast::PresentOr { slot, otherwise } => {
            let v = attrs.values(*slot);
            if v.iter().all(Value::is_empty) {
                return Shortcut::Walk(*otherwise);
            }
            Ok(values_output(v))
        }
        Fast::Trim(slot) => fast_trim(attrs.values(*slot), limits.max_value_length),
        Fast::Join { sep, parts } => fast_join(sep, parts, attrs, limits.max_value_length, scratch),
    })
}

fn values_output(values: &[Value]) -> Output {
    match values {
        [] => Output::Null,
        [one] => Output::One(one.clone()),
        many => Output::Many(many.to_vec()),
    }
}

/// `Trim([a])`: a value that is already trimmed passes through as it is.
fn fast_trim(values: &[Value], max: usize) -> Result<Output, EvalError> {
    let one = |v: &Value| -> Result<Value, EvalError> {
        let owned;
        let text: &str = match v {
            Value::Str(s) => s,
            other => {
                owned = other.to_string();
                &owned
            }
        };
        let t = text.trim();
        if t.len() == text.len() {
            Ok(v.clone())
        } else if t.len() > max {
            Err(too_long(Func::Trim.name(), t.len(), max))
        } else {
            Ok(Value::str(t))
        }
    };
    Ok(match values {
        [] => Output::Null,
        [v] => Output::One(one(v)?),
        many => Output::Many(many.iter().map(one).collect::<Result<_, _>>()?),
    })
}

fn fast_join<A: AttrLookup + ?Sized>(
    sep: &str,
    parts: &[JoinPart],
    attrs: &A,
    max: usize,
    out: &mut String,
) -> Result<Output, EvalError> {
    out.clear();
    let mut pieces = 0usize;
    // the source of the only piece so far, when it is a string value
    let mut only: Option<&Value> = None;
    let mut push = |out: &mut String, t: &str| {
        if pieces > 0 {
            out.push_str(sep);
        }
        out.push_str(t);
        pieces += 1;
    };
    for part in parts {
        match part {
            JoinPart::Attr(slot) => {
                for v in attrs.values(*slot) {
                    match v {
                        Value::Str(t) if t.is_empty() => {}
                        Value::Str(t) => {
                            push(out, t);
                            only = Some(v);
                        }
                        other => {
                            let t = other.to_string();
                            if !t.is_empty() {
                                push(out, &t);
                                only = None;
                            }
                        }
                    }
                }
            }
            JoinPart::Text(t) => {
                push(out, t);
                only = None;
            }
        }
        if out.len() > max {
            return Err(too_long(Func::Join.name(), out.len(), max));
        }
    }
    Ok(Output::One(match (pieces, only) {
        (1, Some(v)) => v.clone(),
        _ => Value::str(out),
    }))
}

struct NoAttrs;

impl AttrLookup for NoAttrs {
    fn values(&self, _: Slot) -> &[Value] {
        &[]
    }
}

/// Constant folding: evaluates a node with no attributes and a blank
/// context; `None` when it fails or yields something a constant cannot
/// hold.
pub(crate) fn fold(prog: &Program, id: NodeId, limits: &ExprLimits) -> Option<Const> {
    let mut ctx = EvalContext::new(crate::time::Timestamp::EPOCH);
    let mut ev = Eval {
        prog,
        attrs: &NoAttrs,
        ctx: &mut ctx,
        limits,
    };
    match ev.node(id).ok()? {
        Val::Null => Some(Const::Null),
        Val::Ignore => None,
        Val::One(i) => Some(Const::One(i.to_const())),
        Val::Many(v) => Some(Const::Many(v.iter().map(Item::to_const).collect())),
    }
}

type R<'a> = Result<Val<'a>, EvalError>;

impl<'p, 'c, 'o, A: AttrLookup + ?Sized> Eval<'p, 'p, 'c, 'o, A> {
    fn arg_ids(&self, a: Args) -> &'p [NodeId] {
        let prog: &'p Program = self.prog;
        prog.args
            .get(a.start as usize..(a.start + a.len) as usize)
            .unwrap_or(&[])
    }

    fn node(&mut self, id: NodeId) -> R<'p> {
        let prog: &'p Program = self.prog;
        let Some(node) = prog.nodes.get(id.0 as usize) else {
            return Ok(Val::Null);
        };
        match node {
            Node::Const(c) => Ok(cval(c)),
            Node::Attr(slot) => {
                let attrs: &'p A = self.attrs;
                let vals = attrs.values(*slot);
                Ok(match vals {
                    [] => Val::Null,
                    [one] => Val::One(Item::Ref(one)),
                    many => Val::Many(many.iter().map(Item::Ref).collect()),
                })
            }
            Node::Concat(a) => {
                let mut out = String::new();
                for (i, &x) in self.arg_ids(*a).iter().enumerate() {
                    let v = self.node(x)?;
                    if let Some(t) = single_text(&v, "&", i + 1)? {
                        out.push_str(&t);
                        if out.len() > self.limits.max_value_length {
                            return Err(too_long("&", out.len(), self.limits.max_value_length));
                        }
                    }
                }
                Ok(Val::One(Item::Str(out)))
            }
            Node::Compare(op, l, r) => {
                let lv = self.node(*l)?;
                let rv = self.node(*r)?;
                // two numbers compare without rendering either as text
                if let (Some(a), Some(b)) = (number_of(&lv), number_of(&rv)) {
                    return Ok(Val::One(Item::Bool(ordered(
                        *op,
                        a.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Equal),
                    ))));
                }
                let lt = single_text(&lv, op.as_str(), 1)?.unwrap_or(Cow::Borrowed(""));
                let rt = single_text(&rv, op.as_str(), 2)?.unwrap_or(Cow::Borrowed(""));
                Ok(Val::One(Item::Bool(compare(*op, &lt, &rt))))
            }
            Node::Call { func, args, aux } => self.call(*func, self.arg_ids(*args), aux),
        }
    }

    fn arg(&mut self, ids: &[NodeId], i: usize) -> R<'p> {
        match ids.get(i) {
            Some(&id) => self.node(id),
            None => Ok(Val::Null),
        }
    }

    /// Dispatches to one small method per function: debug builds give a
    /// function's frame room for every local of every branch, so one big
    /// match would cost tens of kilobytes of stack per nesting level.
    fn call(&mut self, func: Func, ids: &'p [NodeId], aux: &'p Aux) -> R<'p> {
        let v = self.dispatch(func, ids, aux)?;
        // Functions grow text by a bounded factor at most, so checking each
        // result keeps nested calls from growing it exponentially; the
        // functions that could grow it without bound check as they go.
        let max = self.limits.max_value_length;
        if let Some(len) = v
            .items()
            .iter()
            .map(|i| if let Item::Str(s) = i { s.len() } else { 0 })
            .find(|&l| l > max)
        {
            return Err(too_long(func.name(), len, max));
        }
        Ok(v)
    }

    fn dispatch(&mut self, func: Func, ids: &'p [NodeId], aux: &'p Aux) -> R<'p> {
        match func {
            Func::Iif => self.f_iif(func, ids, aux),
            Func::Switch => self.f_switch(func, ids, aux),
            Func::Coalesce => self.f_coalesce(func, ids, aux),
            Func::SelectUniqueValue => self.f_select_unique_value(func, ids, aux),
            Func::IgnoreFlowIfNullOrEmpty => self.f_ignore_flow_if_null_or_empty(func, ids, aux),
            Func::Error => self.f_error(func, ids, aux),
            Func::IsNull => self.f_is_null(func, ids, aux),
            Func::IsNullOrEmpty => self.f_is_null_or_empty(func, ids, aux),
            Func::IsPresent => self.f_is_present(func, ids, aux),
            Func::IsString => self.f_is_string(func, ids, aux),
            Func::Now => self.f_now(func, ids, aux),
            Func::Guid => self.f_guid(func, ids, aux),
            Func::DefaultDomain => self.f_default_domain(func, ids, aux),
            Func::RandomString => self.f_random_string(func, ids, aux),
            Func::Redact => self.f_redact(func, ids, aux),
            Func::Join => self.f_join(func, ids, aux),
            Func::Append => self.f_append(func, ids, aux),
            Func::Trim => self.f_trim(func, ids, aux),
            Func::StripSpaces => self.f_strip_spaces(func, ids, aux),
            Func::NormalizeDiacritics => self.f_normalize_diacritics(func, ids, aux),
            Func::ToLower | Func::ToUpper => self.f_to_lower(func, ids, aux),
            Func::PCase => self.f_p_case(func, ids, aux),
            Func::Left => self.f_left(func, ids, aux),
            Func::Mid => self.f_mid(func, ids, aux),
            Func::Len => self.f_len(func, ids, aux),
            Func::Word => self.f_word(func, ids, aux),
            Func::InStr => self.f_in_str(func, ids, aux),
            Func::Replace => self.f_replace(func, ids, aux),
            Func::Split => self.f_split(func, ids, aux),
            Func::ConvertToBase64 => self.f_convert_to_base64(func, ids, aux),
            Func::ConvertToUtf8Hex => self.f_convert_to_utf8_hex(func, ids, aux),
            Func::ConvertFromBase64 => self.f_convert_from_base64(func, ids, aux),
            Func::CStr | Func::CRef => self.f_c_str(func, ids, aux),
            Func::StringFromSid => self.f_string_from_sid(func, ids, aux),
            Func::DnComponent => self.f_dn_component(func, ids, aux),
            Func::Contains => self.f_contains(func, ids, aux),
            Func::Count => self.f_count(func, ids, aux),
            Func::Item => self.f_item(func, ids, aux),
            Func::RemoveDuplicates => self.f_remove_duplicates(func, ids, aux),
            Func::BitAnd => self.f_bit_and(func, ids, aux),
            Func::CBool => self.f_c_bool(func, ids, aux),
            Func::Not => self.f_not(func, ids, aux),
            Func::CDate => self.f_c_date(func, ids, aux),
            Func::DateFromNum => self.f_date_from_num(func, ids, aux),
            Func::NumFromDate => self.f_num_from_date(func, ids, aux),
            Func::DateAdd => self.f_date_add(func, ids, aux),
            Func::DateDiff => self.f_date_diff(func, ids, aux),
            Func::FormatDateTime => self.f_format_date_time(func, ids, aux),
        }
    }

    #[inline(never)]
    #[allow(unused_variables)]
    fn f_iif(&mut self, func: Func, ids: &'p [NodeId], aux: &'p Aux) -> R<'p> {
        let name = func.name();
        {
            let c = self.arg(ids, 0)?;
            let pick = if truthy(&c, name, 1)? { 1 } else { 2 };
            self.arg(ids, pick)
        }
    }

    #[inline(never)]
    #[allow(unused_variables)]
    fn f_switch(&mut self, func: Func, ids: &'p [NodeId], aux: &'p Aux) -> R<'p> {
        let name = func.name();
        {
            let src = self.arg(ids, 0)?;
            let s = single_text(&src, name, 1)?.unwrap_or(Cow::Borrowed(""));
            if let Aux::SwitchKeys(keys) = aux {
                // every key is a constant: compare text without evaluating
                if let Some(k) = keys.iter().position(|key| **key == *s) {
                    return self.arg(ids, 2 * k + 3);
                }
                return self.arg(ids, 1);
            }
            let mut k = 2;
            while k + 1 < ids.len() {
                let key = self.arg(ids, k)?;
                let kt = single_text(&key, name, k + 1)?.unwrap_or(Cow::Borrowed(""));
                if kt == s {
                    return self.arg(ids, k + 1);
                }
                k += 2;
            }
            self.arg(ids, 1)
        }
    }

    #[inline(never)]
    #[allow(unused_variables)]
    fn f_coalesce(&mut self, func: Func, ids: &'p [NodeId], aux: &'p Aux) -> R<'p> {
        let name = func.name();
        {
            for i in 0..ids.len() {
                let v = self.arg(ids, i)?;
                if !v.is_null() {
                    return Ok(v);
                }
            }
            Ok(Val::Null)
        }
    }

    #[inline(never)]
    #[allow(unused_variables)]
    fn f_select_unique_value(&mut self, func: Func, ids: &'p [NodeId], aux: &'p Aux) -> R<'p> {
        let name = func.name();
        {
            for i in 0..ids.len() {
                let v = self.arg(ids, i)?;
                let Some(t) = single_text(&v, name, i + 1)? else {
                    continue;
                };
                if t.is_empty() {
                    continue;
                }
                let target = self
                    .ctx
                    .target_attribute
                    .as_ref()
                    .map_or("", |a| a.as_str());
                if !self.ctx.oracle.is_taken(target, &t) {
                    return Ok(v);
                }
            }
            Err(EvalError::failed(
                name,
                "every candidate value is already taken in the target",
            ))
        }
    }

    #[inline(never)]
    #[allow(unused_variables)]
    fn f_ignore_flow_if_null_or_empty(
        &mut self,
        func: Func,
        ids: &'p [NodeId],
        aux: &'p Aux,
    ) -> R<'p> {
        let name = func.name();
        {
            let v = self.arg(ids, 0)?;
            Ok(if v.is_null_or_empty() { Val::Ignore } else { v })
        }
    }

    #[inline(never)]
    #[allow(unused_variables)]
    fn f_error(&mut self, func: Func, ids: &'p [NodeId], aux: &'p Aux) -> R<'p> {
        let name = func.name();
        {
            let v = self.arg(ids, 0)?;
            let message = single_text(&v, name, 1)?
                .map(Cow::into_owned)
                .unwrap_or_default();
            Err(EvalError::Raised { message })
        }
    }

    #[inline(never)]
    #[allow(unused_variables)]
    fn f_is_null(&mut self, func: Func, ids: &'p [NodeId], aux: &'p Aux) -> R<'p> {
        let name = func.name();
        Ok(boolean(self.arg(ids, 0)?.is_null()))
    }

    #[inline(never)]
    #[allow(unused_variables)]
    fn f_is_null_or_empty(&mut self, func: Func, ids: &'p [NodeId], aux: &'p Aux) -> R<'p> {
        let name = func.name();
        Ok(boolean(self.arg(ids, 0)?.is_null_or_empty()))
    }

    #[inline(never)]
    #[allow(unused_variables)]
    fn f_is_present(&mut self, func: Func, ids: &'p [NodeId], aux: &'p Aux) -> R<'p> {
        let name = func.name();
        Ok(boolean(!self.arg(ids, 0)?.is_null_or_empty()))
    }

    #[inline(never)]
    #[allow(unused_variables)]
    fn f_is_string(&mut self, func: Func, ids: &'p [NodeId], aux: &'p Aux) -> R<'p> {
        let name = func.name();
        {
            let v = self.arg(ids, 0)?;
            let yes = !v.is_null()
                && v.items()
                    .iter()
                    .all(|i| !matches!(i, Item::Ref(Value::Bytes(_) | Value::Secret(_))));
            Ok(boolean(yes))
        }
    }

    #[inline(never)]
    #[allow(unused_variables)]
    fn f_now(&mut self, func: Func, ids: &'p [NodeId], aux: &'p Aux) -> R<'p> {
        let name = func.name();
        Ok(Val::One(Item::Date(DateTime::from_timestamp(self.ctx.now))))
    }

    #[inline(never)]
    #[allow(unused_variables)]
    fn f_guid(&mut self, func: Func, ids: &'p [NodeId], aux: &'p Aux) -> R<'p> {
        let name = func.name();
        {
            let hi = self.ctx.next_u64();
            let lo = self.ctx.next_u64();
            let mut b = (u128::from(hi) << 64 | u128::from(lo)).to_be_bytes();
            b[6] = (b[6] & 0x0f) | 0x40;
            b[8] = (b[8] & 0x3f) | 0x80;
            Ok(Val::One(Item::Str(
                uuid::Uuid::from_bytes(b).hyphenated().to_string(),
            )))
        }
    }

    #[inline(never)]
    #[allow(unused_variables)]
    fn f_default_domain(&mut self, func: Func, ids: &'p [NodeId], aux: &'p Aux) -> R<'p> {
        let name = func.name();
        match &self.ctx.default_domain {
            Some(d) => Ok(Val::One(Item::Str(d.to_string()))),
            None => Err(EvalError::failed(
                name,
                "the tenant has no default verified domain",
            )),
        }
    }

    #[inline(never)]
    #[allow(unused_variables)]
    fn f_random_string(&mut self, func: Func, ids: &'p [NodeId], aux: &'p Aux) -> R<'p> {
        let name = func.name();
        self.random_string(ids)
    }

    #[inline(never)]
    #[allow(unused_variables)]
    fn f_redact(&mut self, func: Func, ids: &'p [NodeId], aux: &'p Aux) -> R<'p> {
        let name = func.name();
        {
            self.ctx.redacted = true;
            self.arg(ids, 0)
        }
    }

    #[inline(never)]
    #[allow(unused_variables)]
    fn f_join(&mut self, func: Func, ids: &'p [NodeId], aux: &'p Aux) -> R<'p> {
        let name = func.name();
        let max = self.limits.max_value_length;
        let sep_v = self.arg(ids, 0)?;
        let sep = single_text(&sep_v, name, 1)?.unwrap_or(Cow::Borrowed(""));
        // most joined values are short names: one allocation, no regrowth
        let mut out = String::with_capacity(64);
        let mut first = true;
        let push = |out: &mut String, first: &mut bool, t: &str| {
            if !t.is_empty() {
                if !*first {
                    out.push_str(&sep);
                }
                out.push_str(t);
                *first = false;
            }
        };
        let prog: &'p Program = self.prog;
        for &id in ids.iter().skip(1) {
            // the common sources (attributes, constants) are read in place;
            // anything else is evaluated
            match prog.nodes.get(id.0 as usize) {
                Some(Node::Attr(slot)) => {
                    let attrs: &'p A = self.attrs;
                    for v in attrs.values(*slot) {
                        match v {
                            Value::Str(t) => push(&mut out, &mut first, t),
                            other => push(&mut out, &mut first, &other.to_string()),
                        }
                    }
                }
                Some(Node::Const(Const::One(CItem::Value(Value::Str(t))))) => {
                    push(&mut out, &mut first, t)
                }
                _ => {
                    let v = self.node(id)?;
                    for item in v.items() {
                        push(&mut out, &mut first, &item.text());
                        if out.len() > max {
                            return Err(too_long(name, out.len(), max));
                        }
                    }
                }
            }
            if out.len() > max {
                return Err(too_long(name, out.len(), max));
            }
        }
        Ok(Val::One(Item::Str(out)))
    }

    #[inline(never)]
    #[allow(unused_variables)]
    fn f_append(&mut self, func: Func, ids: &'p [NodeId], aux: &'p Aux) -> R<'p> {
        let name = func.name();
        {
            let src = self.arg(ids, 0)?;
            let suf = self.arg(ids, 1)?;
            let Some(suffix) = single_text(&suf, name, 2)? else {
                return Ok(Val::Null);
            };
            map(src, |s| {
                let mut o = String::with_capacity(s.len() + suffix.len());
                o.push_str(s);
                o.push_str(&suffix);
                Ok(Some(o))
            })
        }
    }

    #[inline(never)]
    #[allow(unused_variables)]
    fn f_trim(&mut self, func: Func, ids: &'p [NodeId], aux: &'p Aux) -> R<'p> {
        let name = func.name();
        map(self.arg(ids, 0)?, |s| {
            Ok((!super::text::is_trimmed(s)).then(|| s.trim().to_owned()))
        })
    }

    #[inline(never)]
    #[allow(unused_variables)]
    fn f_strip_spaces(&mut self, func: Func, ids: &'p [NodeId], aux: &'p Aux) -> R<'p> {
        let name = func.name();
        map(self.arg(ids, 0)?, |s| {
            Ok(s.contains(' ').then(|| s.replace(' ', "")))
        })
    }

    #[inline(never)]
    #[allow(unused_variables)]
    fn f_normalize_diacritics(&mut self, func: Func, ids: &'p [NodeId], aux: &'p Aux) -> R<'p> {
        let name = func.name();
        map(self.arg(ids, 0)?, |s| Ok(text::normalize_diacritics(s)))
    }

    #[inline(never)]
    #[allow(unused_variables)]
    fn f_to_lower(&mut self, func: Func, ids: &'p [NodeId], aux: &'p Aux) -> R<'p> {
        let name = func.name();
        {
            let v = self.arg(ids, 0)?;
            let culture = self.arg(ids, 1)?;
            let turkic = single_text(&culture, name, 2)?
                .is_some_and(|c| c.starts_with("tr") || c.starts_with("az"));
            let upper = func == Func::ToUpper;
            map(v, |s| Ok(Some(text::map_case(s, upper, turkic))))
        }
    }

    #[inline(never)]
    #[allow(unused_variables)]
    fn f_p_case(&mut self, func: Func, ids: &'p [NodeId], aux: &'p Aux) -> R<'p> {
        let name = func.name();
        {
            let v = self.arg(ids, 0)?;
            let seps = self.arg(ids, 1)?;
            let seps = single_text(&seps, name, 2)?;
            map(v, |s| Ok(Some(text::pcase(s, seps.as_deref()))))
        }
    }

    #[inline(never)]
    #[allow(unused_variables)]
    fn f_left(&mut self, func: Func, ids: &'p [NodeId], aux: &'p Aux) -> R<'p> {
        let name = func.name();
        {
            let v = self.arg(ids, 0)?;
            let n = self.int_arg(ids, 1, name)?;
            if v.is_null() {
                return Ok(Val::One(Item::Str(String::new())));
            }
            let Some(n) = n else { return Ok(v) };
            map(v, |s| {
                Ok(if n < 0 {
                    None
                } else {
                    let end = s.char_indices().nth(n as usize).map_or(s.len(), |(i, _)| i);
                    (end != s.len()).then(|| s[..end].to_owned())
                })
            })
        }
    }

    #[inline(never)]
    #[allow(unused_variables)]
    fn f_mid(&mut self, func: Func, ids: &'p [NodeId], aux: &'p Aux) -> R<'p> {
        let name = func.name();
        {
            let v = self.arg(ids, 0)?;
            let start = self.int_arg(ids, 1, name)?;
            let len = self.int_arg(ids, 2, name)?;
            let (Some(start), Some(len)) = (start, len) else {
                return Ok(Val::Null);
            };
            if start < 1 {
                return Err(EvalError::arg(
                    name,
                    2,
                    format!("start {start} is below 1 (the first character is 1)"),
                ));
            }
            if len < 0 {
                return Err(EvalError::arg(name, 3, format!("length {len} is negative")));
            }
            map(v, |s| {
                let from = s
                    .char_indices()
                    .nth(start as usize - 1)
                    .map_or(s.len(), |(i, _)| i);
                let rest = &s[from..];
                let to = rest
                    .char_indices()
                    .nth(len as usize)
                    .map_or(rest.len(), |(i, _)| i);
                Ok(Some(rest[..to].to_owned()))
            })
        }
    }

    #[inline(never)]
    #[allow(unused_variables)]
    fn f_len(&mut self, func: Func, ids: &'p [NodeId], aux: &'p Aux) -> R<'p> {
        let name = func.name();
        {
            let v = self.arg(ids, 0)?;
            let n = single_text(&v, name, 1)?.map_or(0, |t| t.chars().count());
            Ok(Val::One(Item::Int(n as i64)))
        }
    }

    #[inline(never)]
    #[allow(unused_variables)]
    fn f_word(&mut self, func: Func, ids: &'p [NodeId], aux: &'p Aux) -> R<'p> {
        let name = func.name();
        {
            let v = self.arg(ids, 0)?;
            let n = self.int_arg(ids, 1, name)?.unwrap_or(0);
            let d = self.arg(ids, 2)?;
            let delims = single_text(&d, name, 3)?.unwrap_or(Cow::Borrowed(""));
            let Some(s) = single_text(&v, name, 1)? else {
                return Ok(Val::One(Item::Str(String::new())));
            };
            let word = if n < 1 {
                ""
            } else {
                s.split(|c| delims.contains(c))
                    .filter(|w| !w.is_empty())
                    .nth(n as usize - 1)
                    .unwrap_or("")
            };
            Ok(Val::One(Item::Str(word.to_owned())))
        }
    }

    #[inline(never)]
    #[allow(unused_variables)]
    fn f_in_str(&mut self, func: Func, ids: &'p [NodeId], aux: &'p Aux) -> R<'p> {
        let name = func.name();
        {
            let hay = self.arg(ids, 0)?;
            let needle = self.arg(ids, 1)?;
            let start = self.int_arg(ids, 2, name)?.unwrap_or(1);
            let cmp = self.arg(ids, 3)?;
            let text_compare = single_text(&cmp, name, 4)?
                .is_some_and(|c| c.eq_ignore_ascii_case("vbTextCompare") || c.trim() == "1");
            let (Some(h), Some(n)) = (single_text(&hay, name, 1)?, single_text(&needle, name, 2)?)
            else {
                return Ok(Val::Null);
            };
            if start < 1 {
                return Err(EvalError::arg(name, 3, format!("start {start} is below 1")));
            }
            Ok(Val::One(Item::Int(instr(
                &h,
                &n,
                start as usize,
                text_compare,
            ))))
        }
    }

    #[inline(never)]
    #[allow(unused_variables)]
    fn f_replace(&mut self, func: Func, ids: &'p [NodeId], aux: &'p Aux) -> R<'p> {
        let name = func.name();
        self.replace(ids, aux)
    }

    #[inline(never)]
    #[allow(unused_variables)]
    fn f_split(&mut self, func: Func, ids: &'p [NodeId], aux: &'p Aux) -> R<'p> {
        let name = func.name();
        {
            let v = self.arg(ids, 0)?;
            let d = self.arg(ids, 1)?;
            let Some(delim) = single_text(&d, name, 2)? else {
                return Ok(v);
            };
            if v.is_null() {
                return Ok(Val::Null);
            }
            let mut out = Vec::new();
            for item in v.items() {
                let t = item.text();
                if delim.is_empty() {
                    out.push(Item::Str(t.into_owned()));
                } else {
                    out.extend(t.split(&*delim).map(|p| Item::Str(p.to_owned())));
                }
            }
            Ok(Val::Many(out))
        }
    }

    #[inline(never)]
    #[allow(unused_variables)]
    fn f_convert_to_base64(&mut self, func: Func, ids: &'p [NodeId], aux: &'p Aux) -> R<'p> {
        let name = func.name();
        map(self.arg(ids, 0)?, |s| {
            let bytes: Vec<u8> = s.encode_utf16().flat_map(u16::to_le_bytes).collect();
            Ok(Some(STANDARD.encode(bytes)))
        })
    }

    #[inline(never)]
    #[allow(unused_variables)]
    fn f_convert_to_utf8_hex(&mut self, func: Func, ids: &'p [NodeId], aux: &'p Aux) -> R<'p> {
        let name = func.name();
        map(self.arg(ids, 0)?, |s| {
            Ok(Some(s.bytes().map(|b| format!("{b:02X}")).collect()))
        })
    }

    #[inline(never)]
    #[allow(unused_variables)]
    fn f_convert_from_base64(&mut self, func: Func, ids: &'p [NodeId], aux: &'p Aux) -> R<'p> {
        let name = func.name();
        {
            let v = self.arg(ids, 0)?;
            let e = self.arg(ids, 1)?;
            let enc = single_text(&e, name, 2)?.map(|s| s.to_ascii_lowercase());
            map(v, |s| {
                let bytes = STANDARD
                    .decode(s.trim())
                    .map_err(|_| EvalError::arg(name, 1, "not valid base64"))?;
                let out = match enc.as_deref() {
                    Some("utf8") => String::from_utf8(bytes)
                        .map_err(|_| EvalError::arg(name, 1, "not valid UTF-8"))?,
                    Some("ascii") => bytes
                        .iter()
                        .map(|&b| if b.is_ascii() { b as char } else { '?' })
                        .collect(),
                    _ => {
                        if bytes.len() % 2 != 0 {
                            return Err(EvalError::arg(
                                name,
                                1,
                                "UTF-16 data has an odd number of bytes",
                            ));
                        }
                        let units: Vec<u16> = bytes
                            .chunks_exact(2)
                            .map(|c| u16::from_le_bytes([c[0], c[1]]))
                            .collect();
                        String::from_utf16(&units)
                            .map_err(|_| EvalError::arg(name, 1, "not valid UTF-16"))?
                    }
                };
                Ok(Some(out))
            })
        }
    }

    #[inline(never)]
    #[allow(unused_variables)]
    fn f_c_str(&mut self, func: Func, ids: &'p [NodeId], aux: &'p Aux) -> R<'p> {
        let name = func.name();
        {
            let v = self.arg(ids, 0)?;
            Ok(v)
        }
    }

    #[inline(never)]
    #[allow(unused_variables)]
    fn f_string_from_sid(&mut self, func: Func, ids: &'p [NodeId], aux: &'p Aux) -> R<'p> {
        let name = func.name();
        map(self.arg(ids, 0)?, |s| {
            sid_from_text(s)
                .map(Some)
                .map_err(|m| EvalError::arg(name, 1, m))
        })
    }

    #[inline(never)]
    #[allow(unused_variables)]
    fn f_dn_component(&mut self, func: Func, ids: &'p [NodeId], aux: &'p Aux) -> R<'p> {
        let name = func.name();
        {
            let v = self.arg(ids, 0)?;
            let n = self.int_arg(ids, 1, name)?;
            let (Some(s), Some(n)) = (single_text(&v, name, 1)?, n) else {
                return Ok(Val::Null);
            };
            let dn = Dn::parse(&s).map_err(|e| EvalError::arg(name, 1, e))?;
            if n < 1 {
                return Err(EvalError::arg(name, 2, format!("component {n} is below 1")));
            }
            Ok(
                match dn
                    .rdn_avas(n as usize - 1)
                    .and_then(|a| a.into_iter().next())
                {
                    Some(ava) => Val::One(Item::Str(ava.value)),
                    None => Val::Null,
                },
            )
        }
    }

    #[inline(never)]
    #[allow(unused_variables)]
    fn f_contains(&mut self, func: Func, ids: &'p [NodeId], aux: &'p Aux) -> R<'p> {
        let name = func.name();
        {
            let v = self.arg(ids, 0)?;
            let s = self.arg(ids, 1)?;
            let c = self.arg(ids, 2)?;
            let case_sensitive =
                single_text(&c, name, 3)?.is_some_and(|c| c.eq_ignore_ascii_case("CaseSensitive"));
            let Some(needle) = single_text(&s, name, 2)? else {
                return Ok(Val::Null);
            };
            let found = v.items().iter().position(|i| {
                let t = i.text();
                if case_sensitive {
                    t.contains(&*needle)
                } else {
                    t.to_lowercase().contains(&needle.to_lowercase())
                }
            });
            Ok(Val::One(Item::Int(found.map_or(0, |p| p as i64 + 1))))
        }
    }

    #[inline(never)]
    #[allow(unused_variables)]
    fn f_count(&mut self, func: Func, ids: &'p [NodeId], aux: &'p Aux) -> R<'p> {
        let name = func.name();
        Ok(Val::One(Item::Int(self.arg(ids, 0)?.items().len() as i64)))
    }

    #[inline(never)]
    #[allow(unused_variables)]
    fn f_item(&mut self, func: Func, ids: &'p [NodeId], aux: &'p Aux) -> R<'p> {
        let name = func.name();
        {
            let v = self.arg(ids, 0)?;
            let idx = self.int_arg(ids, 1, name)?;
            let Some(idx) = idx else { return Ok(Val::Null) };
            if v.is_null() {
                return Ok(Val::Null);
            }
            let n = v.items().len();
            if idx < 1 || idx as u64 > n as u64 {
                return Err(EvalError::arg(
                    name,
                    2,
                    format!("index {idx} is out of bounds (1 to {n})"),
                ));
            }
            Ok(match v {
                Val::Many(mut items) => Val::One(items.swap_remove(idx as usize - 1)),
                other => other,
            })
        }
    }

    #[inline(never)]
    #[allow(unused_variables)]
    fn f_remove_duplicates(&mut self, func: Func, ids: &'p [NodeId], aux: &'p Aux) -> R<'p> {
        let name = func.name();
        {
            let v = self.arg(ids, 0)?;
            match v {
                Val::Many(items) => {
                    let mut out: Vec<Item<'p>> = Vec::with_capacity(items.len());
                    for it in items {
                        if !out.iter().any(|o| o.text() == it.text()) {
                            out.push(it);
                        }
                    }
                    Ok(Val::Many(out))
                }
                other => Ok(other),
            }
        }
    }

    #[inline(never)]
    #[allow(unused_variables)]
    fn f_bit_and(&mut self, func: Func, ids: &'p [NodeId], aux: &'p Aux) -> R<'p> {
        let name = func.name();
        {
            let a = self.int_arg(ids, 0, name)?;
            let b = self.int_arg(ids, 1, name)?;
            Ok(match (a, b) {
                (Some(a), Some(b)) => Val::One(Item::Int(a & b)),
                _ => Val::Null,
            })
        }
    }

    #[inline(never)]
    #[allow(unused_variables)]
    fn f_c_bool(&mut self, func: Func, ids: &'p [NodeId], aux: &'p Aux) -> R<'p> {
        let name = func.name();
        {
            let v = self.arg(ids, 0)?;
            Ok(boolean(truthy(&v, name, 1)?))
        }
    }

    #[inline(never)]
    #[allow(unused_variables)]
    fn f_not(&mut self, func: Func, ids: &'p [NodeId], aux: &'p Aux) -> R<'p> {
        let name = func.name();
        {
            let v = self.arg(ids, 0)?;
            let t = single_text(&v, name, 1)?;
            Ok(boolean(
                !t.is_some_and(|t| t.trim().eq_ignore_ascii_case("true")),
            ))
        }
    }

    #[inline(never)]
    #[allow(unused_variables)]
    fn f_c_date(&mut self, func: Func, ids: &'p [NodeId], aux: &'p Aux) -> R<'p> {
        let name = func.name();
        {
            let v = self.arg(ids, 0)?;
            match self.date_of(&v, name, 1)? {
                Some(d) => Ok(Val::One(Item::Date(d))),
                None => Ok(Val::Null),
            }
        }
    }

    #[inline(never)]
    #[allow(unused_variables)]
    fn f_date_from_num(&mut self, func: Func, ids: &'p [NodeId], aux: &'p Aux) -> R<'p> {
        let name = func.name();
        {
            let v = self.int_arg(ids, 0, name)?;
            let Some(n) = v else { return Ok(Val::Null) };
            let d = DateTime::from_filetime(n)
                .ok_or_else(|| EvalError::arg(name, 1, format!("{n} is outside the date range")))?;
            Ok(Val::One(Item::Date(d)))
        }
    }

    #[inline(never)]
    #[allow(unused_variables)]
    fn f_num_from_date(&mut self, func: Func, ids: &'p [NodeId], aux: &'p Aux) -> R<'p> {
        let name = func.name();
        {
            let v = self.arg(ids, 0)?;
            Ok(match self.date_of(&v, name, 1)? {
                Some(d) => Val::One(Item::Int(d.to_filetime())),
                None => Val::Null,
            })
        }
    }

    #[inline(never)]
    #[allow(unused_variables)]
    fn f_date_add(&mut self, func: Func, ids: &'p [NodeId], aux: &'p Aux) -> R<'p> {
        let name = func.name();
        {
            let iv = self.arg(ids, 0)?;
            let interval = self.interval(&iv, name)?;
            let n = self.arg(ids, 1)?;
            let n = match single_text(&n, name, 2)? {
                Some(t) => parse_number(&t)
                    .ok_or_else(|| EvalError::arg(name, 2, format!("{t:?} is not a number")))?,
                None => return Ok(Val::Null),
            };
            let dv = self.arg(ids, 2)?;
            let Some(d) = self.date_of(&dv, name, 3)? else {
                return Ok(Val::Null);
            };
            let (Some(interval), true) = (interval, n.is_finite()) else {
                return Ok(Val::Null);
            };
            let r = d
                .add(interval, n.trunc() as i64)
                .ok_or_else(|| EvalError::arg(name, 2, "the result is outside the date range"))?;
            Ok(Val::One(Item::Date(r)))
        }
    }

    #[inline(never)]
    #[allow(unused_variables)]
    fn f_date_diff(&mut self, func: Func, ids: &'p [NodeId], aux: &'p Aux) -> R<'p> {
        let name = func.name();
        {
            let iv = self.arg(ids, 0)?;
            let interval = self.interval(&iv, name)?;
            let a = self.arg(ids, 1)?;
            let b = self.arg(ids, 2)?;
            let (Some(interval), Some(a), Some(b)) = (
                interval,
                self.date_of(&a, name, 2)?,
                self.date_of(&b, name, 3)?,
            ) else {
                return Ok(Val::Null);
            };
            Ok(Val::One(Item::Int(a.diff(interval, b))))
        }
    }

    #[inline(never)]
    #[allow(unused_variables)]
    fn f_format_date_time(&mut self, func: Func, ids: &'p [NodeId], aux: &'p Aux) -> R<'p> {
        let name = func.name();
        {
            let v = self.arg(ids, 0)?;
            let (in_pos, out_pos) = if ids.len() == 4 { (2, 3) } else { (1, 2) };
            let inf = self.arg(ids, in_pos)?;
            let outf = self.arg(ids, out_pos)?;
            let Some(out_fmt) = single_text(&outf, name, out_pos + 1)? else {
                return Err(EvalError::arg(
                    name,
                    out_pos + 1,
                    "the output format is missing",
                ));
            };
            let in_fmt = single_text(&inf, name, in_pos + 1)?;
            let d = match (v.items(), in_fmt) {
                ([], _) => return Ok(Val::Null),
                ([Item::Date(d)], _) => *d,
                (_, Some(f)) => {
                    let s = single_text(&v, name, 1)?.unwrap_or(Cow::Borrowed(""));
                    DateTime::parse_exact(&s, &f).map_err(|m| EvalError::arg(name, 1, m))?
                }
                (_, None) => match self.date_of(&v, name, 1)? {
                    Some(d) => d,
                    None => return Ok(Val::Null),
                },
            };
            let s = d
                .format(&out_fmt)
                .map_err(|m| EvalError::arg(name, out_pos + 1, m))?;
            Ok(Val::One(Item::Str(s)))
        }
    }

    fn int_arg(
        &mut self,
        ids: &[NodeId],
        i: usize,
        name: &'static str,
    ) -> Result<Option<i64>, EvalError> {
        let v = self.arg(ids, i)?;
        match v.items() {
            [] => Ok(None),
            [Item::Int(n)] => Ok(Some(*n)),
            [Item::Ref(Value::Int(n))] => Ok(Some(*n)),
            [one] => {
                let t = one.text();
                parse_int(&t).map(Some).ok_or_else(|| {
                    EvalError::arg(name, i + 1, format!("{t:?} is not a whole number"))
                })
            }
            many => Err(EvalError::arg(
                name,
                i + 1,
                format!("expects one value, got {}", many.len()),
            )),
        }
    }

    fn interval(&self, v: &Val<'_>, name: &'static str) -> Result<Option<Interval>, EvalError> {
        match single_text(v, name, 1)? {
            None => Ok(None),
            Some(t) => Interval::parse(&t)
                .map(Some)
                .ok_or_else(|| EvalError::arg(name, 1, format!("{t:?} is not an interval"))),
        }
    }

    fn date_of(
        &self,
        v: &Val<'_>,
        name: &'static str,
        pos: usize,
    ) -> Result<Option<DateTime>, EvalError> {
        match v.items() {
            [] => Ok(None),
            [Item::Date(d)] => Ok(Some(*d)),
            [one] => DateTime::parse_loose(&one.text())
                .map(Some)
                .map_err(|m| EvalError::arg(name, pos, m)),
            many => Err(EvalError::arg(
                name,
                pos,
                format!("expects one value, got {}", many.len()),
            )),
        }
    }

    fn random_string(&mut self, ids: &[NodeId]) -> R<'p> {
        const NAME: &str = "RandomString";
        let mut nums = [0i64; 5];
        for (i, n) in nums.iter_mut().enumerate() {
            *n = self
                .int_arg(ids, i, NAME)?
                .ok_or_else(|| EvalError::arg(NAME, i + 1, "a number is required"))?;
            if *n < 0 {
                return Err(EvalError::arg(NAME, i + 1, format!("{n} is negative")));
            }
        }
        let avoid_v = self.arg(ids, 5)?;
        let avoid = single_text(&avoid_v, NAME, 6)?
            .map(Cow::into_owned)
            .unwrap_or_default();
        let [len, digits, special, upper, lower] = nums;
        if len > 256 {
            return Err(EvalError::arg(NAME, 1, format!("length {len} is over 256")));
        }
        if digits + special + upper + lower > len {
            return Err(EvalError::arg(
                NAME,
                1,
                format!("length {len} is below the sum of the minimums"),
            ));
        }
        let classes: [Vec<char>; 4] = [
            ('0'..='9').filter(|c| !avoid.contains(*c)).collect(),
            r##"~!@#$%^&*_-+=`|\(){}[]:;"'<>,.?/"##
                .chars()
                .filter(|c| !avoid.contains(*c))
                .collect(),
            ('A'..='Z').filter(|c| !avoid.contains(*c)).collect(),
            ('a'..='z').filter(|c| !avoid.contains(*c)).collect(),
        ];
        let mins = [digits, special, upper, lower];
        let mut out: Vec<char> = Vec::with_capacity(len as usize);
        for (class, &min) in classes.iter().zip(&mins) {
            if min > 0 && class.is_empty() {
                return Err(EvalError::arg(
                    NAME,
                    6,
                    "every character of a required class is excluded",
                ));
            }
            for _ in 0..min {
                out.push(class[self.ctx.below(class.len())]);
            }
        }
        let all: Vec<char> = classes.concat();
        if all.is_empty() && (out.len() as i64) < len {
            return Err(EvalError::arg(NAME, 6, "every character is excluded"));
        }
        while (out.len() as i64) < len {
            out.push(all[self.ctx.below(all.len())]);
        }
        for i in (1..out.len()).rev() {
            let j = self.ctx.below(i + 1);
            out.swap(i, j);
        }
        Ok(Val::One(Item::Str(out.into_iter().collect())))
    }

    fn regex_for(
        &self,
        aux_regex: &Option<Arc<Regex>>,
        pattern: &Val<'_>,
    ) -> Result<Option<Arc<Regex>>, EvalError> {
        if let Some(r) = aux_regex {
            return Ok(Some(r.clone()));
        }
        match single_text(pattern, "Replace", 3)? {
            None => Ok(None),
            Some(p) => compile_regex(&p, self.limits)
                .map(|r| Some(Arc::new(r)))
                .map_err(|m| EvalError::arg("Replace", 3, m)),
        }
    }

    fn replace(&mut self, ids: &[NodeId], aux: &Aux) -> R<'p> {
        const NAME: &str = "Replace";
        let Aux::Replace {
            mode,
            regex,
            replacement,
        } = aux
        else {
            return Err(EvalError::failed(
                NAME,
                "internal: Replace without its mode",
            ));
        };
        let src = self.arg(ids, 0)?;
        let max = self.limits.max_value_length;
        match mode {
            ReplaceMode::Literal => {
                let old = self.arg(ids, 1)?;
                let new = self.arg(ids, 4)?;
                let (Some(old), new) = (single_text(&old, NAME, 2)?, single_text(&new, NAME, 5)?)
                else {
                    return Ok(src);
                };
                let new = new.unwrap_or(Cow::Borrowed(""));
                if old.is_empty() {
                    return Ok(src);
                }
                map(src, |s| {
                    Ok(s.contains(&*old).then(|| s.replace(&*old, &new)))
                })
            }
            ReplaceMode::Template => {
                let old = self.arg(ids, 1)?;
                let tpl = self.arg(ids, 6)?;
                let (Some(old), Some(tpl)) =
                    (single_text(&old, NAME, 2)?, single_text(&tpl, NAME, 7)?)
                else {
                    return Ok(Val::Null);
                };
                if old.is_empty() {
                    return Ok(Val::One(Item::Str(tpl.into_owned())));
                }
                map(src, |s| {
                    replace_literal_bounded(&tpl, &old, s, max).map(Some)
                })
            }
            ReplaceMode::Regex | ReplaceMode::RegexGroup => {
                let pat = self.arg(ids, 2)?;
                let Some(re) = self.regex_for(regex, &pat)? else {
                    return Ok(src);
                };
                let rep_v = self.arg(ids, 4)?;
                let rep: Cow<'_, str> = match replacement {
                    Some(r) => Cow::Borrowed(r),
                    None => match single_text(&rep_v, NAME, 5)? {
                        Some(r) => Cow::Owned(
                            text::translate_replacement(&r)
                                .map_err(|m| EvalError::arg(NAME, 5, m))?,
                        ),
                        None => Cow::Borrowed(""),
                    },
                };
                if *mode == ReplaceMode::Regex {
                    return map(src, |s| replace_all_bounded(&re, s, &rep, max).map(Some));
                }
                let g = self.arg(ids, 3)?;
                let group = single_text(&g, NAME, 4)?
                    .map(Cow::into_owned)
                    .unwrap_or_default();
                map(src, |s| replace_group(&re, s, &group, &rep, max).map(Some))
            }
            ReplaceMode::RegexFromOther => {
                if !src.is_null_or_empty() {
                    return Ok(src);
                }
                let pat = self.arg(ids, 2)?;
                let Some(re) = self.regex_for(regex, &pat)? else {
                    return Ok(Val::Null);
                };
                let g = self.arg(ids, 3)?;
                let group = single_text(&g, NAME, 4)?
                    .map(Cow::into_owned)
                    .unwrap_or_default();
                let other = self.arg(ids, 5)?;
                let Some(o) = single_text(&other, NAME, 6)? else {
                    return Ok(Val::Null);
                };
                let found = re
                    .captures(&o)
                    .and_then(|c| group_match(&re, &c, &group))
                    .map(|m| m.as_str().to_owned());
                Ok(found.map_or(Val::Null, |s| Val::One(Item::Str(s))))
            }
        }
    }
}

#[cold]
fn too_long(function: &'static str, len: usize, max: usize) -> EvalError {
    EvalError::failed(
        function,
        format!("the result would be {len} bytes long; the limit is {max}"),
    )
}

/// `Regex::replace_all` that stops once the output passes `max` bytes.
fn replace_all_bounded(re: &Regex, s: &str, rep: &str, max: usize) -> Result<String, EvalError> {
    let mut out = String::with_capacity(s.len());
    let mut last = 0;
    for caps in re.captures_iter(s) {
        let Some(m) = caps.get(0) else { continue };
        out.push_str(&s[last..m.start()]);
        caps.expand(rep, &mut out);
        last = m.end();
        if out.len() > max {
            return Err(too_long("Replace", out.len(), max));
        }
    }
    out.push_str(&s[last..]);
    Ok(out)
}

/// Literal replace-all, refused up front when the result would pass `max`.
fn replace_literal_bounded(s: &str, old: &str, new: &str, max: usize) -> Result<String, EvalError> {
    let count = s.matches(old).count();
    let len = (s.len() - count * old.len()).saturating_add(count.saturating_mul(new.len()));
    if len > max {
        return Err(too_long("Replace", len, max));
    }
    Ok(s.replace(old, new))
}

fn group_match<'h>(
    re: &Regex,
    caps: &regex::Captures<'h>,
    group: &str,
) -> Option<regex::Match<'h>> {
    caps.name(group).or_else(|| {
        group
            .parse::<usize>()
            .ok()
            .filter(|&i| i < re.captures_len())
            .and_then(|i| caps.get(i))
    })
}

/// Replaces only the text of `group` in every match, keeping the rest of
/// the match.
fn replace_group(
    re: &Regex,
    s: &str,
    group: &str,
    rep: &str,
    max: usize,
) -> Result<String, EvalError> {
    let mut out = String::with_capacity(s.len());
    let mut last = 0;
    for caps in re.captures_iter(s) {
        let Some(m) = group_match(re, &caps, group) else {
            continue;
        };
        if m.start() < last {
            continue;
        }
        out.push_str(&s[last..m.start()]);
        caps.expand(rep, &mut out);
        last = m.end();
        if out.len() > max {
            return Err(too_long("Replace", out.len(), max));
        }
    }
    out.push_str(&s[last..]);
    Ok(out)
}

/// The text of a value that must be single: `None` for no value.
fn single_text<'v>(
    v: &'v Val<'_>,
    func: &'static str,
    pos: usize,
) -> Result<Option<Cow<'v, str>>, EvalError> {
    match v {
        Val::Null | Val::Ignore => Ok(None),
        Val::One(i) => Ok(Some(i.text())),
        Val::Many(items) => Err(EvalError::arg(
            func,
            pos,
            format!("expects one value, got {}", items.len()),
        )),
    }
}

/// Applies a string function to every value; `Ok(None)` from `f` keeps the
/// value as it was (no copy).
fn map<'a>(v: Val<'a>, mut f: impl FnMut(&str) -> Result<Option<String>, EvalError>) -> R<'a> {
    let mut one = |item: Item<'a>| -> Result<Item<'a>, EvalError> {
        let r = f(&item.text())?;
        Ok(match r {
            Some(s) => Item::Str(s),
            None => match item {
                Item::Ref(_) | Item::Str(_) => item,
                other => Item::Str(other.text().into_owned()),
            },
        })
    };
    Ok(match v {
        Val::Null => Val::Null,
        Val::Ignore => Val::Ignore,
        Val::One(i) => Val::One(one(i)?),
        Val::Many(items) => Val::Many(items.into_iter().map(&mut one).collect::<Result<_, _>>()?),
    })
}

fn boolean<'a>(b: bool) -> Val<'a> {
    Val::One(Item::Bool(b))
}

/// A condition's truth: booleans, `True`/`False` in any case, numbers
/// (non-zero is true); no value is false. Any other text is an error.
fn truthy(v: &Val<'_>, func: &'static str, pos: usize) -> Result<bool, EvalError> {
    match v.items() {
        [] => Ok(false),
        [Item::Bool(b)] | [Item::Ref(Value::Bool(b))] => Ok(*b),
        [Item::Int(i)] | [Item::Ref(Value::Int(i))] => Ok(*i != 0),
        [one] => {
            let t = one.text();
            let t = t.trim();
            if t.eq_ignore_ascii_case("true") {
                Ok(true)
            } else if t.eq_ignore_ascii_case("false") || t.is_empty() {
                Ok(false)
            } else if let Some(n) = parse_number(t) {
                Ok(n != 0.0)
            } else {
                Err(EvalError::arg(func, pos, format!("{t:?} is not a boolean")))
            }
        }
        many => Err(EvalError::arg(
            func,
            pos,
            format!("expects one value, got {}", many.len()),
        )),
    }
}

/// The number a single value's text parses as ([`parse_number`] of
/// [`Item::text`]), without rendering integers: an `i64` converts to the
/// same nearest `f64` its decimal text parses to.
fn number_of(v: &Val<'_>) -> Option<f64> {
    match v {
        Val::One(Item::Int(i)) | Val::One(Item::Ref(Value::Int(i))) => Some(*i as f64),
        Val::One(Item::Ref(Value::Str(s))) => parse_number(s),
        Val::One(Item::Str(s)) => parse_number(s),
        _ => None,
    }
}

/// Numbers compare as numbers when both sides are numeric; anything else
/// compares as ordinal, case-sensitive text.
fn compare(op: CmpOp, l: &str, r: &str) -> bool {
    use std::cmp::Ordering;
    let ord = match (parse_number(l), parse_number(r)) {
        (Some(a), Some(b)) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
        _ => l.cmp(r),
    };
    ordered(op, ord)
}

fn ordered(op: CmpOp, ord: std::cmp::Ordering) -> bool {
    use std::cmp::Ordering;
    match op {
        CmpOp::Eq => ord == Ordering::Equal,
        CmpOp::Ne => ord != Ordering::Equal,
        CmpOp::Lt => ord == Ordering::Less,
        CmpOp::Le => ord != Ordering::Greater,
        CmpOp::Gt => ord == Ordering::Greater,
        CmpOp::Ge => ord != Ordering::Less,
    }
}

/// VB InStr: 1-based character position of `needle` in `hay` at or after
/// `start`; 0 when not found; an empty needle is found at `start`.
fn instr(hay: &str, needle: &str, start: usize, text_compare: bool) -> i64 {
    let (h, n): (Cow<'_, str>, Cow<'_, str>) = if text_compare {
        (
            Cow::Owned(text::map_case(hay, false, false)),
            Cow::Owned(text::map_case(needle, false, false)),
        )
    } else {
        (Cow::Borrowed(hay), Cow::Borrowed(needle))
    };
    let count = h.chars().count();
    if start > count + usize::from(n.is_empty()) {
        return 0;
    }
    if n.is_empty() {
        return start as i64;
    }
    let Some((from, _)) = h.char_indices().nth(start - 1) else {
        return 0;
    };
    match h[from..].find(&*n) {
        Some(b) => (h[..from + b].chars().count() + 1) as i64,
        None => 0,
    }
}

/// A binary SID (as base64 text, the form binary values take as strings),
/// or an already textual `S-1-...`, to its `S-R-I-S-S...` form.
fn sid_from_text(s: &str) -> Result<String, String> {
    if s.starts_with("S-") || s.starts_with("s-") {
        return Ok(s.to_owned());
    }
    let b = STANDARD
        .decode(s.trim())
        .map_err(|_| "not a binary SID".to_owned())?;
    sid_to_string(&b)
}

pub(crate) fn sid_to_string(b: &[u8]) -> Result<String, String> {
    if b.len() < 8 {
        return Err("a SID has at least 8 bytes".into());
    }
    let rev = b[0];
    let count = b[1] as usize;
    if b.len() != 8 + 4 * count {
        return Err(format!(
            "a SID with {count} sub-authorities has {} bytes, not {}",
            8 + 4 * count,
            b.len()
        ));
    }
    let auth = b[2..8].iter().fold(0u64, |a, &x| a << 8 | u64::from(x));
    let mut out = format!("S-{rev}-{auth}");
    for c in b[8..].chunks_exact(4) {
        out.push_str(&format!(
            "-{}",
            u32::from_le_bytes([c[0], c[1], c[2], c[3]])
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_comparison() {
        assert_eq!(parse_int("&HF7"), Some(247));
        assert_eq!(parse_int(" 12 "), Some(12));
        assert_eq!(parse_int("3.9"), Some(3));
        assert_eq!(parse_int("x"), None);
        assert_eq!(parse_number("1e5"), None);
        assert!(compare(CmpOp::Eq, "0", "0.0"));
        assert!(compare(CmpOp::Lt, "9", "10"));
        assert!(compare(CmpOp::Gt, "9", "10a"));
        assert!(compare(CmpOp::Ne, "a", "A"));
    }

    #[test]
    fn instr_positions() {
        assert_eq!(instr("The quick brown fox", "quick", 1, false), 5);
        assert_eq!(instr("repEated", "e", 3, false), 7);
        assert_eq!(instr("repEated", "e", 3, true), 4);
        assert_eq!(instr("abc", "", 2, false), 2);
        assert_eq!(instr("abc", "c", 9, false), 0);
        assert_eq!(instr("ééx", "x", 1, false), 3);
    }

    #[test]
    fn sids() {
        let b = [1u8, 2, 0, 0, 0, 0, 0, 5, 32, 0, 0, 0, 32, 2, 0, 0];
        assert_eq!(sid_to_string(&b).unwrap(), "S-1-5-32-544");
        assert!(sid_to_string(&b[..10]).is_err());
    }
}
