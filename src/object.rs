//! Source objects as the engine sees them: [`SourceObject`], [`ObjectKind`],
//! [`Value`], case-insensitive [`AttrName`]s, and the resolved attribute
//! slots ([`AttrTable`], [`Slot`], [`AttrLookup`]) that the hot path reads.
//!
//! Two ways to read an attribute:
//! - by name ([`Attributes::get`]): convenient, a case-insensitive scan; for
//!   configuration-time work, tests and explain;
//! - by slot ([`AttrLookup::values`]): the configuration interns every
//!   attribute it needs into an [`AttrTable`] once, mappings and filters are
//!   compiled against slots, and the mirror stores [`Row`]s keyed by slot, so
//!   evaluating an object never compares a name.
//!
//! Values are cheap to clone (strings and bytes behind `Arc`), and a secret
//! (a password hash) is a [`Secret`] whose `Debug`, `Display` and default
//! serialized forms are redacted.

use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use smallvec::SmallVec;

use crate::anchor::Guid;
use crate::dn::Dn;

/// An LDAP attribute name; equality and hashing ignore ASCII case
/// (`userPrincipalName` == `userprincipalname`). Keeps the spelling it was
/// created with for display.
///
/// ```
/// use idsync::object::AttrName;
/// assert_eq!(AttrName::new("userPrincipalName"), AttrName::new("USERPRINCIPALNAME"));
/// ```
#[derive(Clone)]
pub struct AttrName(Arc<str>);

impl AttrName {
    /// A name as spelled.
    pub fn new(name: &str) -> AttrName {
        AttrName(Arc::from(name))
    }

    /// The name as first spelled.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this name equals `other`, ignoring ASCII case.
    pub fn is(&self, other: &str) -> bool {
        self.0.eq_ignore_ascii_case(other)
    }
}

impl PartialEq for AttrName {
    fn eq(&self, other: &AttrName) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0.eq_ignore_ascii_case(&other.0)
    }
}

impl Eq for AttrName {}

impl Hash for AttrName {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for b in self.0.bytes() {
            state.write_u8(b.to_ascii_lowercase());
        }
        state.write_u8(0xff);
    }
}

impl PartialOrd for AttrName {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for AttrName {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let a = self.0.bytes().map(|b| b.to_ascii_lowercase());
        let b = other.0.bytes().map(|b| b.to_ascii_lowercase());
        a.cmp(b)
    }
}

impl fmt::Display for AttrName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for AttrName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl From<&str> for AttrName {
    fn from(s: &str) -> AttrName {
        AttrName::new(s)
    }
}

impl Serialize for AttrName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for AttrName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<AttrName, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Ok(AttrName::new(&s))
    }
}

/// An opaque secret (a password hash). Its `Debug` and `Display` say
/// `<redacted>`, and so does its default `Serialize`; the one place that needs
/// the bytes reads them with [`Secret::expose`] (or serializes with
/// [`secret_base64`]).
///
/// ```
/// use idsync::object::Secret;
/// let s = Secret::new(b"hunter2".to_vec());
/// assert_eq!(format!("{s:?} {s}"), "Secret(<redacted>) <redacted>");
/// assert_eq!(serde_json::to_string(&s)?, "\"<redacted>\"");
/// assert_eq!(s.expose(), b"hunter2");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Secret(Arc<[u8]>);

impl Secret {
    /// Wraps secret bytes.
    pub fn new(bytes: Vec<u8>) -> Secret {
        Secret(Arc::from(bytes))
    }

    /// The secret bytes. Call only where the secret must leave the engine.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<redacted>")
    }
}

/// A secret never rests in a serialized form: deserializing one (from the
/// redacted text its `Serialize` writes) is an error. Read secrets from the
/// forms that carry them on purpose ([`secret_base64`]).
impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
        let _ = serde::de::IgnoredAny::deserialize(d)?;
        Err(serde::de::Error::custom(
            "a secret cannot be read from its redacted form",
        ))
    }
}

/// Serde helpers that carry a [`Secret`] as standard base64 (for the change
/// record an agent sends and the one target operation that needs it).
pub mod secret_base64 {
    use super::Secret;
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serializes the secret's bytes as base64.
    pub fn serialize<S: Serializer>(secret: &Secret, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(secret.expose()))
    }

    /// Deserializes base64 into a secret. The error never repeats the input.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        STANDARD
            .decode(s.as_bytes())
            .map(Secret::new)
            .map_err(|_| serde::de::Error::custom("secret is not valid base64"))
    }
}

/// One attribute value.
#[derive(Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Value {
    /// A string (Unicode).
    Str(Arc<str>),
    /// Binary (objectGUID, ms-DS-ConsistencyGuid, objectSid, certificates).
    Bytes(Arc<[u8]>),
    /// An integer (userAccountControl, pwdLastSet).
    Int(i64),
    /// A boolean (isCriticalSystemObject).
    Bool(bool),
    /// A reference to another object by DN (member, manager).
    Dn(Dn),
    /// An opaque secret (a password hash).
    Secret(Secret),
}

impl Value {
    /// A string value.
    pub fn str(s: &str) -> Value {
        Value::Str(Arc::from(s))
    }

    /// A binary value.
    pub fn bytes(b: &[u8]) -> Value {
        Value::Bytes(Arc::from(b))
    }

    /// The string, when this is a string value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The bytes, when this is a binary value.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// Whether this is a string of length zero or empty bytes.
    pub fn is_empty(&self) -> bool {
        match self {
            Value::Str(s) => s.is_empty(),
            Value::Bytes(b) => b.is_empty(),
            _ => false,
        }
    }

    /// The value's kind, for error messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::Bytes(_) => "binary",
            Value::Int(_) => "integer",
            Value::Bool(_) => "boolean",
            Value::Dn(_) => "dn",
            Value::Secret(_) => "secret",
        }
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) => fmt::Debug::fmt(&**s, f),
            Value::Bytes(b) => {
                f.write_str("0x")?;
                for x in b.iter() {
                    write!(f, "{x:02x}")?;
                }
                Ok(())
            }
            Value::Int(i) => write!(f, "{i}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Dn(d) => fmt::Debug::fmt(d, f),
            Value::Secret(s) => fmt::Debug::fmt(s, f),
        }
    }
}

/// The text form used where a value must be a string: strings as they are,
/// integers in decimal, booleans `True` / `False` (the product's rendering),
/// DNs in canonical text, binary as base64, secrets redacted.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use base64::Engine as _;
        match self {
            Value::Str(s) => f.write_str(s),
            Value::Bytes(b) => f.write_str(&base64::engine::general_purpose::STANDARD.encode(b)),
            Value::Int(i) => write!(f, "{i}"),
            Value::Bool(true) => f.write_str("True"),
            Value::Bool(false) => f.write_str("False"),
            Value::Dn(d) => fmt::Display::fmt(d, f),
            Value::Secret(s) => fmt::Display::fmt(s, f),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::str(s)
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Str(Arc::from(s))
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Int(i)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl From<Dn> for Value {
    fn from(d: Dn) -> Value {
        Value::Dn(d)
    }
}

/// The serialized form of a value: `{"str": ..}`, `{"bytes": base64}`,
/// `{"int": n}`, `{"bool": b}`, `{"dn": ..}`; a secret serializes redacted
/// and cannot be read back from this form (the change record carries
/// secrets in a field of their own).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ValueRepr<'a> {
    Str(std::borrow::Cow<'a, str>),
    Bytes(std::borrow::Cow<'a, str>),
    Int(i64),
    Bool(bool),
    Dn(Dn),
    Secret(std::borrow::Cow<'a, str>),
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use base64::Engine as _;
        let repr = match self {
            Value::Str(v) => ValueRepr::Str(std::borrow::Cow::Borrowed(v)),
            Value::Bytes(b) => ValueRepr::Bytes(std::borrow::Cow::Owned(
                base64::engine::general_purpose::STANDARD.encode(b),
            )),
            Value::Int(i) => ValueRepr::Int(*i),
            Value::Bool(b) => ValueRepr::Bool(*b),
            Value::Dn(d) => ValueRepr::Dn(d.clone()),
            Value::Secret(_) => ValueRepr::Secret(std::borrow::Cow::Borrowed("<redacted>")),
        };
        repr.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        use base64::Engine as _;
        Ok(match ValueRepr::deserialize(d)? {
            ValueRepr::Str(s) => Value::Str(Arc::from(&*s)),
            ValueRepr::Bytes(b) => Value::Bytes(Arc::from(
                base64::engine::general_purpose::STANDARD
                    .decode(b.as_bytes())
                    .map_err(|e| serde::de::Error::custom(format!("bytes: invalid base64: {e}")))?,
            )),
            ValueRepr::Int(i) => Value::Int(i),
            ValueRepr::Bool(b) => Value::Bool(b),
            ValueRepr::Dn(d) => Value::Dn(d),
            ValueRepr::Secret(_) => {
                return Err(serde::de::Error::custom(
                    "a secret value cannot be read from its redacted form",
                ));
            }
        })
    }
}

/// The values of one attribute (most attributes hold one value, stored
/// inline).
pub type Values = SmallVec<[Value; 1]>;

/// The kinds of object idsync synchronizes, plus the typed "anything else".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjectKind {
    /// A user (objectClass `user` or `inetOrgPerson`, not `computer`).
    User,
    /// A group.
    Group,
    /// A contact.
    Contact,
    /// Anything else (computers, printers, OUs): never synchronized; the
    /// engine skips it with the reason instead of failing the cycle.
    Unsupported,
}

impl ObjectKind {
    /// Classifies an object by its objectClass values (case-insensitive).
    ///
    /// ```
    /// use idsync::object::ObjectKind;
    /// assert_eq!(ObjectKind::classify(["top", "person", "user"]), ObjectKind::User);
    /// assert_eq!(ObjectKind::classify(["top", "user", "computer"]), ObjectKind::Unsupported);
    /// ```
    pub fn classify<'a>(object_classes: impl IntoIterator<Item = &'a str>) -> ObjectKind {
        let mut kind = ObjectKind::Unsupported;
        for c in object_classes {
            if c.eq_ignore_ascii_case("computer") {
                return ObjectKind::Unsupported;
            }
            if c.eq_ignore_ascii_case("user") || c.eq_ignore_ascii_case("inetOrgPerson") {
                kind = ObjectKind::User;
            } else if c.eq_ignore_ascii_case("group") {
                kind = ObjectKind::Group;
            } else if c.eq_ignore_ascii_case("contact") && kind == ObjectKind::Unsupported {
                kind = ObjectKind::Contact;
            }
        }
        kind
    }

    /// The lowercase name (`user`, `group`, `contact`, `unsupported`).
    pub fn as_str(&self) -> &'static str {
        match self {
            ObjectKind::User => "user",
            ObjectKind::Group => "group",
            ObjectKind::Contact => "contact",
            ObjectKind::Unsupported => "unsupported",
        }
    }
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The attributes of an object by name: case-insensitive, each multi-valued,
/// in insertion order.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Attributes(Vec<(AttrName, Values)>);

impl Attributes {
    /// No attributes.
    pub fn new() -> Attributes {
        Attributes(Vec::new())
    }

    /// The values of `name` (empty when absent).
    pub fn get(&self, name: &str) -> &[Value] {
        self.0
            .iter()
            .find(|(n, _)| n.is(name))
            .map(|(_, v)| v.as_slice())
            .unwrap_or(&[])
    }

    /// The first value of `name`.
    pub fn first(&self, name: &str) -> Option<&Value> {
        self.get(name).first()
    }

    /// Whether `name` has at least one value.
    pub fn contains(&self, name: &str) -> bool {
        !self.get(name).is_empty()
    }

    /// Attributes from pairs the caller already checked: names distinct
    /// without case, every value list non-empty. The change decoder checks
    /// both while it reads, so building does not scan again.
    pub(crate) fn from_checked(pairs: Vec<(AttrName, Values)>) -> Attributes {
        debug_assert!(pairs.iter().all(|(_, v)| !v.is_empty()));
        debug_assert!(
            pairs
                .iter()
                .enumerate()
                .all(|(i, (n, _))| pairs.iter().take(i).all(|(m, _)| m != n))
        );
        Attributes(pairs)
    }

    /// Replaces the values of `name` (removes it when `values` is empty).
    pub fn set(&mut self, name: impl Into<AttrName>, values: impl IntoIterator<Item = Value>) {
        let name = name.into();
        let values: Values = values.into_iter().collect();
        match self.0.iter().position(|(n, _)| *n == name) {
            Some(i) if values.is_empty() => {
                self.0.remove(i);
            }
            Some(i) => self.0[i].1 = values,
            None if values.is_empty() => {}
            None => self.0.push((name, values)),
        }
    }

    /// Builder form of [`Attributes::set`].
    pub fn with(mut self, name: &str, values: impl IntoIterator<Item = Value>) -> Attributes {
        self.set(name, values);
        self
    }

    /// Removes `name`, returning its values.
    pub fn remove(&mut self, name: &str) -> Option<Values> {
        let i = self.0.iter().position(|(n, _)| n.is(name))?;
        Some(self.0.remove(i).1)
    }

    /// The attributes in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&AttrName, &[Value])> {
        self.0.iter().map(|(n, v)| (n, v.as_slice()))
    }

    /// How many attributes have values.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no attributes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Attributes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(n, v)| (n, v)))
            .finish()
    }
}

/// An object read from the source directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceObject {
    /// objectGUID: the object's identity for life (moves and renames keep it).
    pub guid: Guid,
    /// The object's distinguished name.
    pub dn: Dn,
    /// What kind of object it is.
    pub kind: ObjectKind,
    /// Its attributes.
    pub attributes: Attributes,
}

impl SourceObject {
    /// A new object with no attributes.
    pub fn new(guid: Guid, dn: Dn, kind: ObjectKind) -> SourceObject {
        SourceObject {
            guid,
            dn,
            kind,
            attributes: Attributes::new(),
        }
    }

    /// Builder: sets an attribute.
    pub fn with(mut self, name: &str, values: impl IntoIterator<Item = Value>) -> SourceObject {
        self.attributes.set(name, values);
        self
    }
}

/// The index of an attribute in an [`AttrTable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Slot(pub u16);

/// A set of [`Slot`]s: which attributes of an object changed since it was
/// last exported. A bitmap of the first 256 slots; a slot past those makes
/// the set hold every slot (never a missed change).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlotSet {
    bits: [u64; 4],
    every: bool,
}

impl SlotSet {
    /// The empty set.
    pub fn new() -> SlotSet {
        SlotSet::default()
    }

    /// Adds a slot.
    pub fn insert(&mut self, slot: Slot) {
        match self.bits.get_mut(usize::from(slot.0) / 64) {
            Some(w) => *w |= 1 << (slot.0 % 64),
            None => self.every = true,
        }
    }

    /// Adds every slot of `other`.
    pub fn extend(&mut self, other: &SlotSet) {
        for (w, o) in self.bits.iter_mut().zip(other.bits) {
            *w |= o;
        }
        self.every |= other.every;
    }

    /// Whether the set holds `slot`.
    pub fn contains(&self, slot: Slot) -> bool {
        self.every
            || self
                .bits
                .get(usize::from(slot.0) / 64)
                .is_some_and(|w| w & (1 << (slot.0 % 64)) != 0)
    }

    /// Whether the set holds any of `slots`.
    pub fn contains_any(&self, slots: &[Slot]) -> bool {
        slots.iter().any(|s| self.contains(*s))
    }
}

/// Too many distinct attributes for one configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("attribute {name}: more than {max} distinct attributes in one configuration")]
pub struct TooManyAttributes {
    /// The attribute that did not fit.
    pub name: String,
    /// The limit.
    pub max: usize,
}

/// The attributes one configuration needs, each with a [`Slot`]. Built once
/// when a configuration is compiled; slots never change afterwards.
#[derive(Clone, Default)]
pub struct AttrTable {
    names: Vec<AttrName>,
    index: HashMap<AttrName, Slot>,
}

impl AttrTable {
    /// An empty table.
    pub fn new() -> AttrTable {
        AttrTable::default()
    }

    /// The slot of `name`, adding it if new.
    pub fn intern(&mut self, name: &str) -> Result<Slot, TooManyAttributes> {
        let key = AttrName::new(name);
        if let Some(&slot) = self.index.get(&key) {
            return Ok(slot);
        }
        let n = self.names.len();
        let id = u16::try_from(n).map_err(|_| TooManyAttributes {
            name: name.to_owned(),
            max: u16::MAX as usize,
        })?;
        self.names.push(key.clone());
        self.index.insert(key, Slot(id));
        Ok(Slot(id))
    }

    /// The slot of `name`, if interned.
    pub fn get(&self, name: &str) -> Option<Slot> {
        self.index.get(&AttrName::new(name)).copied()
    }

    /// The name of a slot.
    pub fn name(&self, slot: Slot) -> Option<&AttrName> {
        self.names.get(slot.0 as usize)
    }

    /// How many attributes are interned.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// All names in slot order.
    pub fn names(&self) -> &[AttrName] {
        &self.names
    }

    /// Projects an object's attributes onto this table: only the attributes
    /// the configuration needs are kept.
    pub fn project(&self, attrs: &Attributes) -> Row {
        let mut row = Row::default();
        for (name, values) in attrs.iter() {
            if let Some(slot) = self.index.get(name) {
                row.set(*slot, values.iter().cloned().collect());
            }
        }
        row
    }
}

impl fmt::Debug for AttrTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.names.iter()).finish()
    }
}

/// Read access to an object's values by slot. An absent attribute reads as
/// an empty slice.
pub trait AttrLookup {
    /// The values in `slot` (empty when absent).
    fn values(&self, slot: Slot) -> &[Value];

    /// Calls `f` once for every slot that holds values (in any order) and
    /// returns `true`, or returns `false` without calling it when the
    /// lookup cannot list its slots. Lets a reader of many mostly absent
    /// slots (a mapping set) learn which are present in one pass instead of
    /// one search per slot.
    fn for_each_present(&self, f: &mut dyn FnMut(Slot)) -> bool {
        let _ = f;
        false
    }
}

/// An object's values by slot, sparse: only present attributes take room.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Row(Vec<(Slot, Values)>);

impl Row {
    /// Sets (or with no values, removes) a slot.
    pub fn set(&mut self, slot: Slot, values: Values) {
        match self.0.binary_search_by_key(&slot, |(s, _)| *s) {
            Ok(i) if values.is_empty() => {
                self.0.remove(i);
            }
            Ok(i) => self.0[i].1 = values,
            Err(_) if values.is_empty() => {}
            Err(i) => self.0.insert(i, (slot, values)),
        }
    }

    /// The present slots and their values, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (Slot, &[Value])> {
        self.0.iter().map(|(s, v)| (*s, v.as_slice()))
    }

    /// How many slots hold values.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no slot holds a value.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Replaces every value equal to `from` with `to`, in every slot.
    pub fn replace_value(&mut self, from: &Value, to: &Value) {
        for (_, values) in &mut self.0 {
            for v in values.iter_mut() {
                if v == from {
                    *v = to.clone();
                }
            }
        }
    }

    /// Frees spare capacity (the mirror keeps rows for a long time).
    pub fn shrink_to_fit(&mut self) {
        self.0.shrink_to_fit();
    }
}

impl AttrLookup for Row {
    fn values(&self, slot: Slot) -> &[Value] {
        match self.0.binary_search_by_key(&slot, |(s, _)| *s) {
            Ok(i) => &self.0[i].1,
            Err(_) => &[],
        }
    }

    fn for_each_present(&self, f: &mut dyn FnMut(Slot)) -> bool {
        for (slot, _) in &self.0 {
            f(*slot);
        }
        true
    }
}

impl fmt::Debug for Row {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(s, v)| (s.0, v)))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_case_insensitive() {
        let a = Attributes::new().with("userPrincipalName", [Value::str("a@b")]);
        assert_eq!(a.get("USERPRINCIPALNAME"), &[Value::str("a@b")]);
        assert!(a.get("mail").is_empty());
        let mut t = AttrTable::new();
        let s = t.intern("givenName").unwrap();
        assert_eq!(t.intern("GIVENNAME").unwrap(), s);
        assert_eq!(t.get("givenname"), Some(s));
    }

    #[test]
    fn rows_are_sparse_and_sorted() {
        let mut t = AttrTable::new();
        let gn = t.intern("givenName").unwrap();
        let sn = t.intern("sn").unwrap();
        let attrs = Attributes::new()
            .with("SN", [Value::str("Smith")])
            .with("other", [Value::str("x")]);
        let mut row = t.project(&attrs);
        assert_eq!(row.len(), 1);
        assert_eq!(row.values(sn), &[Value::str("Smith")]);
        assert!(row.values(gn).is_empty());
        row.set(gn, [Value::str("Ann")].into_iter().collect());
        assert_eq!(row.iter().map(|(s, _)| s).collect::<Vec<_>>(), vec![gn, sn]);
        row.set(sn, Values::new());
        assert_eq!(row.len(), 1);
    }

    #[test]
    fn value_serde_round_trip_and_secret_redaction() {
        let vals = vec![
            Value::str("x"),
            Value::bytes(&[1, 2, 3]),
            Value::Int(-5),
            Value::Bool(true),
            Value::Dn(Dn::parse("CN=a,DC=b").unwrap()),
        ];
        let json = serde_json::to_string(&vals).unwrap();
        let back: Vec<Value> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, vals);
        let s = Value::Secret(Secret::new(b"topsecret".to_vec()));
        let json = serde_json::to_string(&s).unwrap();
        assert!(!json.contains("topsecret"));
        assert!(!format!("{s:?}{s}").contains("topsecret"));
        assert!(serde_json::from_str::<Value>(&json).is_err());
    }
}
