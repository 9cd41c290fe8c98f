//! An RFC 2849 LDIF reader, so directory exports can feed the engine.
//!
//! It owns the LDIF grammar: the version line, comments, line folding,
//! `attr: value`, `attr:: base64`, attribute options, content records and
//! change records (`add`, `delete`, `modify`, `modrdn` / `moddn`) with their
//! `control:` lines, and the conversion of an entry into a
//! [`SourceObject`]. It never opens a file and never fetches a URL: the
//! caller hands it any [`BufRead`] (or a `&str`), and `attr:< URL` is an
//! [`LdifErrorKind::UrlValue`] error at the position of the `<`.
//!
//! Streaming: [`LdifReader`] is an iterator over records that holds one
//! record at a time, so memory follows the largest record, not the file.
//! [`MAX_LINE_LEN`] and [`MAX_RECORD_LEN`] bound both (typed errors past
//! them). A record with an error yields one `Err` and the reader goes on with
//! the next record (a bad entry fails alone); only a read error or an
//! unsupported version stops it.
//!
//! Leniency, where real exports differ from the grammar (each documented):
//! the `version: 1` line may be missing; plain values may hold UTF-8 (the
//! grammar allows ASCII only); a file may mix content and change records;
//! the final `-` of a modify record may be missing; keywords and change
//! types are case-insensitive (as ABNF strings are).
//!
//! ```
//! use idsync::ldif::{self, LdifChange, LdifRecord};
//! let text = "version: 1\n\
//!     dn: cn=Bob,ou=Sales,dc=corp,dc=com\n\
//!     objectClass: user\n\
//!     description: a long value fol\n ded over two lines\n\
//!     \n\
//!     dn: cn=Ann,ou=Sales,dc=corp,dc=com\n\
//!     changetype: delete\n";
//! let records = ldif::parse(text)?;
//! match &records[0] {
//!     LdifRecord::Content(entry) => {
//!         assert_eq!(entry.values("description").next(), Some("a long value folded over two lines"));
//!     }
//!     other => panic!("{other:?}"),
//! }
//! assert!(matches!(&records[1], LdifRecord::Change(c) if c.change == LdifChange::Delete));
//! # Ok::<(), idsync::ldif::LdifError>(())
//! ```

use std::fmt;
use std::io::{self, BufRead};
use std::iter::FusedIterator;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::anchor::Guid;
use crate::change::{
    AttrChange, AttrOp, BatchHeader, BatchKind, Change, ChangeBatch, Completeness, Tombstone,
    VoidReason, Watermark,
};
use crate::dn::{Dn, DnError};
use crate::object::{AttrName, Attributes, ObjectKind, Secret, SourceObject, Value, Values};
use crate::source::{DirectorySource, SourceError};

/// The longest physical line accepted, in bytes (without the line end).
pub const MAX_LINE_LEN: usize = 1 << 20;

/// The largest record accepted, in bytes of unfolded lines (comments not
/// counted). A directory entry with a large photo is a few hundred KiB.
pub const MAX_RECORD_LEN: usize = 16 << 20;

/// An error in LDIF input: where (1-based line and column; the column counts
/// characters) and what.
#[derive(Debug, thiserror::Error)]
#[error("ldif {line}:{column}: {kind}")]
pub struct LdifError {
    /// The 1-based physical line.
    pub line: u64,
    /// The 1-based column in characters on that line.
    pub column: usize,
    /// What was wrong.
    pub kind: LdifErrorKind,
}

/// What was wrong with LDIF input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LdifErrorKind {
    /// Reading the input failed; the reader stops.
    #[error("read failed: {0}")]
    Io(#[source] io::Error),
    /// A physical line longer than the limit.
    #[error("line longer than {limit} bytes")]
    LineTooLong {
        /// The limit in bytes.
        limit: usize,
    },
    /// A record larger than the limit.
    #[error("record larger than {limit} bytes")]
    RecordTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// Text that is not UTF-8.
    #[error("text is not valid utf-8 (write binary values as base64 with '::')")]
    NotUtf8,
    /// A `version:` other than 1; the reader stops.
    #[error("ldif version {version} is not supported, expected 1")]
    UnsupportedVersion {
        /// The version found.
        version: String,
    },
    /// Something else was expected here.
    #[error("expected {expected}")]
    Expected {
        /// What was expected.
        expected: &'static str,
    },
    /// A value that the grammar requires to be base64-encoded.
    #[error("{reason}")]
    UnsafeValue {
        /// Why it must be encoded.
        reason: &'static str,
    },
    /// A base64 value that does not decode.
    #[error("invalid base64: {reason}")]
    Base64 {
        /// The decoder's complaint.
        reason: String,
    },
    /// A DN (of the record, `newrdn` or `newsuperior`) that does not parse.
    #[error("invalid dn: {0}")]
    Dn(#[source] DnError),
    /// `newrdn` that is not exactly one RDN.
    #[error("newrdn must be exactly one rdn, found {found}")]
    NewRdn {
        /// How many RDNs it had.
        found: usize,
    },
    /// `attr:< URL`: values by reference are not supported and never fetched.
    #[error(
        "attribute {attribute}: values given by url (':<') are not supported, {url} was not fetched"
    )]
    UrlValue {
        /// The attribute (or `control`).
        attribute: String,
        /// The URL as written.
        url: String,
    },
    /// A `changetype:` this reader does not know.
    #[error("unknown changetype \"{found}\", expected add, delete, modify, modrdn or moddn")]
    UnknownChangeType {
        /// The change type found.
        found: String,
    },
    /// A value line in a modification that names another attribute.
    #[error("attribute \"{found}\" inside the modification of \"{expected}\"")]
    ModifyAttribute {
        /// The attribute the modification names.
        expected: String,
        /// The attribute on the line.
        found: String,
    },
}

impl LdifError {
    /// Whether the reader stops after this error (a read failure or an
    /// unsupported version); any other error spoils one record only.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self.kind,
            LdifErrorKind::Io(_) | LdifErrorKind::UnsupportedVersion { .. }
        )
    }
}

/// An attribute description: a type and its options (`cn;lang-ja;phonetic`).
#[derive(Clone, PartialEq, Eq)]
pub struct AttributeDescription {
    text: String,
    type_len: usize,
}

impl AttributeDescription {
    /// Parses an attribute description (`cn`, `cn;lang-en`, `2.5.4.3`); an
    /// error names the column (on line 1) and what was expected.
    ///
    /// ```
    /// use idsync::ldif::AttributeDescription;
    /// let d = AttributeDescription::parse("givenName;lang-ja;phonetic")?;
    /// assert_eq!(d.attr_type(), "givenName");
    /// assert_eq!(d.options().collect::<Vec<_>>(), ["lang-ja", "phonetic"]);
    /// assert!(d.is("GIVENNAME;LANG-JA;PHONETIC"));
    /// assert_eq!(AttributeDescription::parse("cn;").unwrap_err().column, 4);
    /// # Ok::<(), idsync::ldif::LdifError>(())
    /// ```
    pub fn parse(text: &str) -> Result<AttributeDescription, LdifError> {
        let fail = |at: usize, expected: &'static str| LdifError {
            line: 1,
            column: text.get(..at).map_or(at, |p| p.chars().count()) + 1,
            kind: LdifErrorKind::Expected { expected },
        };
        match scan_description(text.as_bytes()) {
            Ok(end) if end == text.len() => Ok(AttributeDescription::new(text)),
            Ok(end) => Err(fail(end, "the end of the attribute name")),
            Err((at, expected)) => Err(fail(at, expected)),
        }
    }

    fn new(text: &str) -> AttributeDescription {
        let type_len = text.find(';').unwrap_or(text.len());
        AttributeDescription {
            text: text.to_owned(),
            type_len,
        }
    }

    /// The description as written (`cn;lang-en`).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The attribute type (`cn`).
    pub fn attr_type(&self) -> &str {
        self.text.get(..self.type_len).unwrap_or(&self.text)
    }

    /// The options, in order (`lang-en`).
    pub fn options(&self) -> impl Iterator<Item = &str> + '_ {
        self.text
            .get(self.type_len..)
            .unwrap_or("")
            .split(';')
            .filter(|o| !o.is_empty())
    }

    /// Whether this is exactly `description`, ignoring ASCII case.
    pub fn is(&self, description: &str) -> bool {
        self.text.eq_ignore_ascii_case(description)
    }

    fn has_option(&self, option: &str) -> bool {
        self.options().any(|o| o.eq_ignore_ascii_case(option))
    }
}

impl fmt::Display for AttributeDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for AttributeDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.text, f)
    }
}

/// One value as the file wrote it.
#[derive(Clone, PartialEq, Eq)]
pub enum LdifValue {
    /// `attr: text`.
    Text(String),
    /// `attr:: base64`, decoded.
    Base64(Vec<u8>),
}

impl LdifValue {
    /// The value as text: a plain value, or a base64 value that is UTF-8.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            LdifValue::Text(s) => Some(s),
            LdifValue::Base64(b) => std::str::from_utf8(b).ok(),
        }
    }

    /// The value's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            LdifValue::Text(s) => s.as_bytes(),
            LdifValue::Base64(b) => b,
        }
    }
}

impl fmt::Debug for LdifValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LdifValue::Text(s) => write!(f, "Text({s:?})"),
            LdifValue::Base64(b) => match std::str::from_utf8(b) {
                Ok(s) => write!(f, "Base64({s:?})"),
                Err(_) => write!(f, "Base64({})", BASE64.encode(b)),
            },
        }
    }
}

/// Attributes whose values are secrets: redacted in `Debug`, a
/// [`Value::Secret`] in a [`SourceObject`].
const SECRET_ATTRIBUTES: &[&str] = &[
    "userPassword",
    "unicodePwd",
    "dBCSPwd",
    "ntPwdHistory",
    "lmPwdHistory",
    "supplementalCredentials",
];

/// Attributes whose values are binary however they were written.
const BINARY_ATTRIBUTES: &[&str] = &[
    "objectGUID",
    "ms-DS-ConsistencyGuid",
    "objectSid",
    "sIDHistory",
    "mS-DS-CreatorSID",
    "msExchMailboxGuid",
    "thumbnailPhoto",
    "jpegPhoto",
    "userCertificate",
    "userSMIMECertificate",
];

/// Attributes whose values are DNs of other objects.
const DN_ATTRIBUTES: &[&str] = &[
    "member",
    "memberOf",
    "manager",
    "directReports",
    "managedBy",
    "managedObjects",
    "owner",
    "secretary",
    "seeAlso",
    "distinguishedName",
];

fn is_one_of(list: &[&str], attr_type: &str) -> bool {
    list.iter().any(|a| a.eq_ignore_ascii_case(attr_type))
}

fn is_secret(desc: &AttributeDescription) -> bool {
    is_one_of(SECRET_ATTRIBUTES, desc.attr_type())
}

/// One `attr: value` line of a record.
#[derive(Clone, PartialEq, Eq)]
pub struct AttrValue {
    /// The attribute description.
    pub attr: AttributeDescription,
    /// The value.
    pub value: LdifValue,
    /// The line the value starts on.
    pub line: u64,
}

impl fmt::Debug for AttrValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if is_secret(&self.attr) {
            write!(f, "{:?}: <redacted> (line {})", self.attr, self.line)
        } else {
            write!(f, "{:?}: {:?} (line {})", self.attr, self.value, self.line)
        }
    }
}

/// A content record: an entry as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdifEntry {
    /// The entry's DN.
    pub dn: Dn,
    /// The line of its `dn:`.
    pub line: u64,
    /// Its values in file order (at least one).
    pub attributes: Vec<AttrValue>,
}

impl LdifEntry {
    /// The text values of `description` (exact description, case-insensitive;
    /// binary values that are not UTF-8 are skipped).
    pub fn values<'a>(&'a self, description: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.attributes
            .iter()
            .filter(move |a| a.attr.is(description))
            .filter_map(|a| a.value.as_text())
    }

    /// The entry as a [`SourceObject`]: see [`to_source_object`].
    pub fn to_source_object(&self) -> Result<SourceObject, LdifObjectError> {
        to_source_object(&self.dn, self.line, &self.attributes)
    }
}

/// A `control:` line of a change record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdifControl {
    /// The control's OID.
    pub oid: String,
    /// Its criticality (`false` when absent).
    pub critical: bool,
    /// Its value, when it has one.
    pub value: Option<LdifValue>,
    /// The line it is on.
    pub line: u64,
}

/// What a modification does with its attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModOp {
    /// `add:` the values.
    Add,
    /// `delete:` the values, or the whole attribute when there are none.
    Delete,
    /// `replace:` all values with these (none: remove the attribute).
    Replace,
}

/// One modification of a `changetype: modify` record.
#[derive(Clone, PartialEq, Eq)]
pub struct Modification {
    /// What it does.
    pub op: ModOp,
    /// The attribute it changes.
    pub attr: AttributeDescription,
    /// The values (possibly none).
    pub values: Vec<LdifValue>,
    /// The line of its `add:` / `delete:` / `replace:`.
    pub line: u64,
}

impl fmt::Debug for Modification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Modification");
        s.field("op", &self.op).field("attr", &self.attr);
        if is_secret(&self.attr) {
            s.field("values", &format_args!("<{} redacted>", self.values.len()));
        } else {
            s.field("values", &self.values);
        }
        s.field("line", &self.line).finish()
    }
}

/// The change of a change record.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LdifChange {
    /// `changetype: add` with the new entry's values.
    Add(Vec<AttrValue>),
    /// `changetype: delete`.
    Delete,
    /// `changetype: modify` with its modifications in order.
    Modify(Vec<Modification>),
    /// `changetype: modrdn` or `moddn` (the same operation).
    ModDn {
        /// The new RDN (a one-RDN DN).
        new_rdn: Dn,
        /// Whether the old RDN's values are removed from the entry.
        delete_old_rdn: bool,
        /// The new parent, when the entry moves.
        new_superior: Option<Dn>,
    },
}

impl LdifChange {
    /// The change type as LDIF spells it (`add`, `delete`, `modify`, `moddn`).
    pub fn name(&self) -> &'static str {
        match self {
            LdifChange::Add(_) => "add",
            LdifChange::Delete => "delete",
            LdifChange::Modify(_) => "modify",
            LdifChange::ModDn { .. } => "moddn",
        }
    }
}

/// A change record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdifChangeRecord {
    /// The DN of the entry it changes.
    pub dn: Dn,
    /// The line of its `dn:`.
    pub line: u64,
    /// Its controls, in order.
    pub controls: Vec<LdifControl>,
    /// The change.
    pub change: LdifChange,
}

impl LdifChangeRecord {
    /// The entry's DN after this change: for a moddn, the new RDN under the
    /// new superior (or the old parent); otherwise the DN itself.
    ///
    /// ```
    /// use idsync::dn::Dn;
    /// use idsync::ldif::{self, LdifRecord};
    /// let text = "dn: cn=Paul,ou=Dev,dc=x\nchangetype: modrdn\nnewrdn: cn=Paula\n\
    ///             deleteoldrdn: 1\nnewsuperior: ou=Ops,dc=x\n";
    /// let records = ldif::parse(text)?;
    /// let LdifRecord::Change(change) = &records[0] else { panic!() };
    /// assert_eq!(change.new_dn()?, Dn::parse("cn=Paula,ou=Ops,dc=x")?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new_dn(&self) -> Result<Dn, DnError> {
        match &self.change {
            LdifChange::ModDn {
                new_rdn,
                new_superior,
                ..
            } => {
                let parent = match new_superior {
                    Some(p) => p.clone(),
                    None => self.dn.parent().unwrap_or_else(Dn::root),
                };
                parent.child(new_rdn.as_str())
            }
            _ => Ok(self.dn.clone()),
        }
    }
}

/// One LDIF record.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LdifRecord {
    /// A content record (an entry as it is).
    Content(LdifEntry),
    /// A change record.
    Change(LdifChangeRecord),
}

impl LdifRecord {
    /// The record's DN.
    pub fn dn(&self) -> &Dn {
        match self {
            LdifRecord::Content(e) => &e.dn,
            LdifRecord::Change(c) => &c.dn,
        }
    }

    /// The line of the record's `dn:`.
    pub fn line(&self) -> u64 {
        match self {
            LdifRecord::Content(e) => e.line,
            LdifRecord::Change(c) => c.line,
        }
    }

    /// The record as a [`SourceObject`]: a content record, or a
    /// `changetype: add` record (what `ldifde` exports); any other change
    /// record is [`LdifObjectError::NotAnEntry`].
    pub fn to_source_object(&self) -> Result<SourceObject, LdifObjectError> {
        match self {
            LdifRecord::Content(e) => e.to_source_object(),
            LdifRecord::Change(LdifChangeRecord {
                dn,
                line,
                change: LdifChange::Add(attributes),
                ..
            }) => to_source_object(dn, *line, attributes),
            LdifRecord::Change(c) => Err(LdifObjectError::NotAnEntry {
                line: c.line,
                dn: c.dn.clone(),
                change: c.change.name(),
            }),
        }
    }
}

/// Why a record is not a source object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LdifObjectError {
    /// The entry has no objectGUID.
    #[error("ldif record at line {line} ({dn}): no objectGUID")]
    MissingObjectGuid {
        /// The line of the record's `dn:`.
        line: u64,
        /// The record's DN.
        dn: Dn,
    },
    /// objectGUID is not one value of 16 bytes.
    #[error(
        "ldif line {line} ({dn}): objectGUID must be one base64 value of 16 bytes, found {found}"
    )]
    InvalidObjectGuid {
        /// The line of the offending value.
        line: u64,
        /// The record's DN.
        dn: Dn,
        /// What was found instead.
        found: String,
    },
    /// A DN-valued attribute (member, manager, ...) whose value is not a DN.
    #[error("ldif line {line} ({dn}): {attribute} value is not a dn: {source}")]
    InvalidDnValue {
        /// The line of the offending value.
        line: u64,
        /// The record's DN.
        dn: Dn,
        /// The attribute.
        attribute: String,
        /// Why the DN did not parse.
        source: DnError,
    },
    /// A change record other than `add` describes no entry.
    #[error("ldif record at line {line} ({dn}): a {change} change record is not an entry")]
    NotAnEntry {
        /// The line of the record's `dn:`.
        line: u64,
        /// The record's DN.
        dn: Dn,
        /// The change type.
        change: &'static str,
    },
}

/// Builds a [`SourceObject`] from an entry's values.
///
/// - `objectGUID` (16 bytes, base64) becomes the object's GUID via
///   [`Guid::from_ad_bytes`]; missing or invalid is an error naming the line.
/// - The kind comes from `objectClass` ([`ObjectKind::classify`]).
/// - Values of binary attributes (objectGUID, ms-DS-ConsistencyGuid,
///   objectSid, photos, certificates) or with the `;binary` option stay
///   [`Value::Bytes`] (the anchor module reads ms-DS-ConsistencyGuid from
///   them); DN-valued attributes (member, manager, ...) become [`Value::Dn`];
///   password attributes become [`Value::Secret`]; any other value is a
///   [`Value::Str`] (a base64 value that is not UTF-8 stays bytes).
/// - Attribute names are the description as written, except that the
///   `;binary` transfer option is dropped (`userCertificate;binary` is
///   `userCertificate`); other options keep their own name (`cn;lang-en`).
///
/// ```
/// use idsync::ldif;
/// use idsync::object::{ObjectKind, Value};
/// let text = "dn: CN=Bob,OU=Sales,DC=corp,DC=com\n\
///             objectClass: top\nobjectClass: user\n\
///             objectGUID:: /xmWb4aLEdC0LQDAT8lk/w==\n\
///             manager: CN=Ann,OU=Sales,DC=corp,DC=com\n\
///             givenName: Bob\n";
/// let record = ldif::parse(text)?.remove(0);
/// let bob = record.to_source_object()?;
/// assert_eq!(bob.guid.to_string(), "6f9619ff-8b86-d011-b42d-00c04fc964ff");
/// assert_eq!(bob.kind, ObjectKind::User);
/// assert!(matches!(bob.attributes.first("manager"), Some(Value::Dn(_))));
/// assert_eq!(bob.attributes.first("givenname"), Some(&Value::str("Bob")));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn to_source_object(
    dn: &Dn,
    line: u64,
    attributes: &[AttrValue],
) -> Result<SourceObject, LdifObjectError> {
    let mut guid: Option<(Guid, u64)> = None;
    let mut grouped: Vec<(AttrName, Values)> = Vec::new();
    for av in attributes {
        if av.attr.is("objectGUID") {
            if guid.is_some() {
                return Err(LdifObjectError::InvalidObjectGuid {
                    line: av.line,
                    dn: dn.clone(),
                    found: "more than one value".to_owned(),
                });
            }
            let bytes = av.value.as_bytes();
            let g = Guid::from_ad_bytes(bytes).map_err(|_| LdifObjectError::InvalidObjectGuid {
                line: av.line,
                dn: dn.clone(),
                found: format!("{} bytes", bytes.len()),
            })?;
            guid = Some((g, av.line));
        }
        let (name, value) = convert_value(dn, &av.attr, &av.value, av.line)?;
        match grouped.iter_mut().find(|(n, _)| *n == name) {
            Some((_, values)) => values.push(value),
            None => grouped.push((name, std::iter::once(value).collect())),
        }
    }
    let Some((guid, _)) = guid else {
        return Err(LdifObjectError::MissingObjectGuid {
            line,
            dn: dn.clone(),
        });
    };
    let kind = ObjectKind::classify(
        attributes
            .iter()
            .filter(|a| a.attr.is("objectClass"))
            .filter_map(|a| a.value.as_text()),
    );
    let mut attrs = Attributes::new();
    for (name, values) in grouped {
        attrs.set(name, values);
    }
    Ok(SourceObject {
        guid,
        dn: dn.clone(),
        kind,
        attributes: attrs,
    })
}

/// Converts one LDIF value the way [`to_source_object`] does: the attribute
/// name (the `;binary` option dropped) and the typed value.
fn convert_value(
    dn: &Dn,
    attr: &AttributeDescription,
    value: &LdifValue,
    line: u64,
) -> Result<(AttrName, Value), LdifObjectError> {
    let attr_type = attr.attr_type();
    let binary_option = attr.has_option("binary");
    let value = if is_secret(attr) {
        Value::Secret(Secret::new(value.as_bytes().to_vec()))
    } else if binary_option || is_one_of(BINARY_ATTRIBUTES, attr_type) {
        Value::bytes(value.as_bytes())
    } else {
        match value.as_text() {
            None => Value::bytes(value.as_bytes()),
            Some(text) if is_one_of(DN_ATTRIBUTES, attr_type) => Value::Dn(
                Dn::parse(text).map_err(|source| LdifObjectError::InvalidDnValue {
                    line,
                    dn: dn.clone(),
                    attribute: attr.as_str().to_owned(),
                    source,
                })?,
            ),
            Some(text) => Value::str(text),
        }
    };
    let name = if binary_option {
        let mut n = attr_type.to_owned();
        for o in attr.options().filter(|o| !o.eq_ignore_ascii_case("binary")) {
            n.push(';');
            n.push_str(o);
        }
        AttrName::new(&n)
    } else {
        AttrName::new(attr.as_str())
    };
    Ok((name, value))
}

/// Reads every record of `text`, stopping at the first error.
///
/// ```
/// let records = idsync::ldif::parse("dn: cn=a,dc=x\ncn: a\n")?;
/// assert_eq!(records.len(), 1);
/// let err = idsync::ldif::parse("dn: cn=a,dc=x\ncn:< file:///etc/passwd\n").unwrap_err();
/// assert_eq!((err.line, err.column), (2, 4));
/// # Ok::<(), idsync::ldif::LdifError>(())
/// ```
pub fn parse(text: &str) -> Result<Vec<LdifRecord>, LdifError> {
    records(text).collect()
}

/// An iterator over the records of `text` (see [`LdifReader`]).
pub fn records(text: &str) -> LdifReader<&[u8]> {
    LdifReader::new(text.as_bytes())
}

/// Where a piece of an unfolded line came from.
#[derive(Debug, Clone, Copy)]
struct Seg {
    /// Byte offset of the piece in the unfolded line.
    offset: usize,
    /// Its physical line.
    line: u64,
    /// The column of its first byte (2 for a continuation: the space).
    column: usize,
}

/// One unfolded line of the current record: `buf[start..end]`, pieces
/// `segs[seg_start..seg_end]`.
#[derive(Debug, Clone, Copy)]
struct Logical {
    start: usize,
    end: usize,
    seg_start: usize,
    seg_end: usize,
}

enum Physical {
    Eof,
    Line,
    TooLong,
}

/// A streaming LDIF reader over any [`BufRead`]: an iterator of records.
///
/// Holds one physical line and one record at a time. The caller opens the
/// input (a file, a socket, a decompressor); this type only reads it.
///
/// ```
/// use std::io::BufReader;
/// use idsync::ldif::{LdifReader, LdifErrorKind};
/// let input = "dn: cn=a,dc=x\ncn: a\n\ndn: cn=b,dc=x\ncn:< http://example.com/b\n\ndn: cn=c,dc=x\ncn: c\n";
/// let results: Vec<_> = LdifReader::new(BufReader::new(input.as_bytes())).collect();
/// assert_eq!(results.len(), 3);
/// assert!(results[0].is_ok() && results[2].is_ok());
/// let err = results[1].as_ref().unwrap_err();
/// assert!(matches!(err.kind, LdifErrorKind::UrlValue { .. }));
/// assert_eq!(err.to_string(), "ldif 5:4: attribute cn: values given by url (':<') are not supported, http://example.com/b was not fetched");
/// ```
pub struct LdifReader<R> {
    input: R,
    max_line_len: usize,
    max_record_len: usize,
    /// The physical line being read (reused).
    phys: Vec<u8>,
    /// The unfolded lines of the current record (reused).
    buf: Vec<u8>,
    segs: Vec<Seg>,
    lines: Vec<Logical>,
    /// Physical lines read so far.
    line_no: u64,
    eof: bool,
    done: bool,
    first_block: bool,
    version: Option<u32>,
}

impl<R: BufRead> LdifReader<R> {
    /// A reader with the default limits ([`MAX_LINE_LEN`], [`MAX_RECORD_LEN`]).
    pub fn new(input: R) -> LdifReader<R> {
        LdifReader::with_limits(input, MAX_LINE_LEN, MAX_RECORD_LEN)
    }

    /// A reader with other limits (bytes per physical line, per record).
    pub fn with_limits(input: R, max_line_len: usize, max_record_len: usize) -> LdifReader<R> {
        LdifReader {
            input,
            max_line_len,
            max_record_len,
            phys: Vec::new(),
            buf: Vec::new(),
            segs: Vec::new(),
            lines: Vec::new(),
            line_no: 0,
            eof: false,
            done: false,
            first_block: true,
            version: None,
        }
    }

    /// The file's `version:`, once the first record has been read (`None`
    /// when the file has no version line).
    pub fn version(&self) -> Option<u32> {
        self.version
    }

    /// Reads one physical line into `phys`, without its line end, holding at
    /// most the limit (plus two bytes) of it however long it is.
    fn read_physical(&mut self) -> Result<Physical, LdifError> {
        self.phys.clear();
        if self.eof {
            return Ok(Physical::Eof);
        }
        // room for a line of exactly the limit, its '\r', and one byte more
        let cap = self.max_line_len.saturating_add(2);
        let mut truncated = false;
        let mut any = false;
        loop {
            let chunk = match self.input.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(LdifError {
                        line: self.line_no + 1,
                        column: 1,
                        kind: LdifErrorKind::Io(e),
                    });
                }
            };
            if chunk.is_empty() {
                self.eof = true;
                if !any {
                    return Ok(Physical::Eof);
                }
                break;
            }
            any = true;
            let (take, found) = match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => (i, true),
                None => (chunk.len(), false),
            };
            let room = cap.saturating_sub(self.phys.len());
            if take > room {
                truncated = true;
            }
            self.phys
                .extend_from_slice(chunk.get(..take.min(room)).unwrap_or(&[]));
            self.input.consume(if found { take + 1 } else { take });
            if found {
                break;
            }
        }
        self.line_no += 1;
        if !truncated && self.phys.last() == Some(&b'\r') {
            self.phys.pop();
        }
        if self.line_no == 1 && self.phys.starts_with(b"\xEF\xBB\xBF") {
            self.phys.drain(..3);
        }
        if truncated || self.phys.len() > self.max_line_len {
            return Ok(Physical::TooLong);
        }
        Ok(Physical::Line)
    }

    /// Skips the rest of the current record (up to a blank line or the end).
    fn skip_block(&mut self) -> Result<(), LdifError> {
        loop {
            match self.read_physical()? {
                Physical::Eof => return Ok(()),
                Physical::Line if self.phys.is_empty() => return Ok(()),
                Physical::Line | Physical::TooLong => {}
            }
        }
    }

    /// Fails the current record with `err`: skips its remaining lines so the
    /// next call starts at the next record.
    fn fail_block(&mut self, err: LdifError) -> Result<bool, LdifError> {
        self.buf.clear();
        self.segs.clear();
        self.lines.clear();
        self.skip_block()?;
        Err(err)
    }

    /// Reads the next record's lines, unfolded and without comments, into
    /// `lines`; `Ok(false)` at the end of the input.
    fn read_block(&mut self) -> Result<bool, LdifError> {
        self.buf.clear();
        self.segs.clear();
        self.lines.clear();
        let mut in_comment = false;
        loop {
            match self.read_physical()? {
                Physical::Eof => return Ok(!self.lines.is_empty()),
                Physical::TooLong => {
                    let err = LdifError {
                        line: self.line_no,
                        column: self.max_line_len + 1,
                        kind: LdifErrorKind::LineTooLong {
                            limit: self.max_line_len,
                        },
                    };
                    return self.fail_block(err);
                }
                Physical::Line => {}
            }
            match self.phys.first() {
                None => {
                    in_comment = false;
                    if !self.lines.is_empty() {
                        return Ok(true);
                    }
                }
                Some(b' ') => {
                    if in_comment {
                        continue;
                    }
                    match self.lines.last_mut() {
                        Some(l) => {
                            self.segs.push(Seg {
                                offset: l.end - l.start,
                                line: self.line_no,
                                column: 2,
                            });
                            self.buf
                                .extend_from_slice(self.phys.get(1..).unwrap_or(&[]));
                            l.end = self.buf.len();
                            l.seg_end = self.segs.len();
                        }
                        // a line of spaces between records: taken as blank
                        None if self.phys.iter().all(|&b| b == b' ') => {}
                        None => {
                            let err = LdifError {
                                line: self.line_no,
                                column: 1,
                                kind: LdifErrorKind::Expected {
                                    expected: "a line to continue before this line starting with a space",
                                },
                            };
                            return self.fail_block(err);
                        }
                    }
                }
                Some(b'#') => in_comment = true,
                Some(_) => {
                    in_comment = false;
                    let start = self.buf.len();
                    self.segs.push(Seg {
                        offset: 0,
                        line: self.line_no,
                        column: 1,
                    });
                    self.buf.extend_from_slice(&self.phys);
                    self.lines.push(Logical {
                        start,
                        end: self.buf.len(),
                        seg_start: self.segs.len() - 1,
                        seg_end: self.segs.len(),
                    });
                }
            }
            if self.buf.len() > self.max_record_len {
                let err = LdifError {
                    line: self.line_no,
                    column: 1,
                    kind: LdifErrorKind::RecordTooLarge {
                        limit: self.max_record_len,
                    },
                };
                return self.fail_block(err);
            }
        }
    }

    fn logical(&self, i: usize) -> (&[u8], &[Seg]) {
        match self.lines.get(i) {
            Some(l) => (
                self.buf.get(l.start..l.end).unwrap_or(&[]),
                self.segs.get(l.seg_start..l.seg_end).unwrap_or(&[]),
            ),
            None => (&[], &[]),
        }
    }

    /// An error at byte `offset` of unfolded line `i`, placed on its
    /// physical line and column.
    fn err_at(&self, i: usize, offset: usize, kind: LdifErrorKind) -> LdifError {
        let (bytes, segs) = self.logical(i);
        let Some(seg) = segs
            .iter()
            .rev()
            .find(|s| s.offset <= offset)
            .or(segs.first())
        else {
            return LdifError {
                line: self.line_no,
                column: 1,
                kind,
            };
        };
        let to = offset.min(bytes.len());
        let chars = bytes
            .get(seg.offset.min(to)..to)
            .unwrap_or(&[])
            .iter()
            .filter(|&&b| b & 0xC0 != 0x80)
            .count();
        LdifError {
            line: seg.line,
            column: seg.column + chars,
            kind,
        }
    }

    /// An error just past the end of unfolded line `i`.
    fn err_after(&self, i: usize, kind: LdifErrorKind) -> LdifError {
        let len = self.logical(i).0.len();
        self.err_at(i, len, kind)
    }

    fn line_of(&self, i: usize) -> u64 {
        self.logical(i).1.first().map_or(self.line_no, |s| s.line)
    }

    /// Unfolded line `i` as text.
    fn text(&self, i: usize) -> Result<&str, LdifError> {
        let (bytes, _) = self.logical(i);
        std::str::from_utf8(bytes)
            .map_err(|e| self.err_at(i, e.valid_up_to(), LdifErrorKind::NotUtf8))
    }

    /// Splits unfolded line `i` into its attribute description and value.
    fn split(&self, i: usize) -> Result<Spec<'_>, LdifError> {
        let text = self.text(i)?;
        let b = text.as_bytes();
        let end = scan_description(b)
            .map_err(|(at, expected)| self.err_at(i, at, LdifErrorKind::Expected { expected }))?;
        if b.get(end) != Some(&b':') {
            return Err(self.err_at(
                i,
                end,
                LdifErrorKind::Expected {
                    expected: "':' after the attribute name",
                },
            ));
        }
        let desc = text.get(..end).unwrap_or("");
        let after = end + 1;
        let (kind, marker, at) = match b.get(after) {
            Some(b':') => (ValueKind::Base64, after, skip_spaces(b, after + 1)),
            Some(b'<') => (ValueKind::Url, after, skip_spaces(b, after + 1)),
            _ => {
                let at = skip_spaces(b, after);
                if matches!(b.get(at), Some(b':' | b'<')) {
                    return Err(self.err_at(
                        i,
                        at,
                        LdifErrorKind::UnsafeValue {
                            reason: "a value starting with ':' or '<' must be base64-encoded (write 'attr:: base64')",
                        },
                    ));
                }
                if let Some(bad) = b.iter().skip(at).position(|&c| c == 0 || c == b'\r') {
                    return Err(self.err_at(
                        i,
                        at + bad,
                        LdifErrorKind::UnsafeValue {
                            reason: "a value with a nul or carriage return must be base64-encoded (write 'attr:: base64')",
                        },
                    ));
                }
                (ValueKind::Text, end, at)
            }
        };
        Ok(Spec {
            line: i,
            desc,
            kind,
            marker,
            at,
            value: text.get(at..).unwrap_or(""),
        })
    }

    fn decode_base64(&self, spec: &Spec<'_>) -> Result<Vec<u8>, LdifError> {
        BASE64.decode(spec.value.as_bytes()).map_err(|e| {
            let at = match e {
                base64::DecodeError::InvalidByte(off, _)
                | base64::DecodeError::InvalidLastSymbol(off, _) => spec.at + off,
                _ => spec.at,
            };
            self.err_at(
                spec.line,
                at,
                LdifErrorKind::Base64 {
                    reason: e.to_string(),
                },
            )
        })
    }

    fn value(&self, spec: &Spec<'_>) -> Result<LdifValue, LdifError> {
        match spec.kind {
            ValueKind::Text => Ok(LdifValue::Text(spec.value.to_owned())),
            ValueKind::Base64 => Ok(LdifValue::Base64(self.decode_base64(spec)?)),
            ValueKind::Url => Err(self.err_at(
                spec.line,
                spec.marker,
                LdifErrorKind::UrlValue {
                    attribute: spec.desc.to_owned(),
                    url: spec.value.to_owned(),
                },
            )),
        }
    }

    fn dn_value(&self, spec: &Spec<'_>) -> Result<Dn, LdifError> {
        match spec.kind {
            ValueKind::Text => Dn::parse(spec.value)
                .map_err(|e| self.err_at(spec.line, spec.at + e.position, LdifErrorKind::Dn(e))),
            ValueKind::Base64 => {
                let bytes = self.decode_base64(spec)?;
                let text = String::from_utf8(bytes)
                    .map_err(|_| self.err_at(spec.line, spec.at, LdifErrorKind::NotUtf8))?;
                Dn::parse(&text).map_err(|e| self.err_at(spec.line, spec.at, LdifErrorKind::Dn(e)))
            }
            ValueKind::Url => Err(self.err_at(
                spec.line,
                spec.marker,
                LdifErrorKind::Expected {
                    expected: "a dn as text or base64 (a url is not allowed here)",
                },
            )),
        }
    }

    /// A keyword's plain-text value (`changetype: add`), trailing spaces
    /// ignored.
    fn keyword<'a>(&self, spec: &Spec<'a>, expected: &'static str) -> Result<&'a str, LdifError> {
        match spec.kind {
            ValueKind::Text => Ok(spec.value.trim_end_matches(' ')),
            _ => Err(self.err_at(spec.line, spec.marker, LdifErrorKind::Expected { expected })),
        }
    }

    /// Handles a `version:` first line; `Ok(true)` when there was one.
    fn version_line(&mut self) -> Result<bool, LdifError> {
        let (bytes, _) = self.logical(0);
        if !bytes
            .get(..8)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"version:"))
        {
            return Ok(false);
        }
        let spec = self.split(0)?;
        let v = self.keyword(&spec, "a version number")?;
        if v.is_empty() || !v.bytes().all(|c| c.is_ascii_digit()) {
            return Err(self.err_at(
                0,
                spec.at,
                LdifErrorKind::Expected {
                    expected: "a version number",
                },
            ));
        }
        if v != "1" {
            return Err(self.err_at(
                0,
                spec.at,
                LdifErrorKind::UnsupportedVersion {
                    version: v.to_owned(),
                },
            ));
        }
        self.version = Some(1);
        Ok(true)
    }

    fn attr_value(&self, i: usize) -> Result<AttrValue, LdifError> {
        let spec = self.split(i)?;
        if spec.desc.eq_ignore_ascii_case("dn") {
            return Err(self.err_at(
                i,
                0,
                LdifErrorKind::Expected {
                    expected: "a blank line before the next record's 'dn:'",
                },
            ));
        }
        Ok(AttrValue {
            attr: AttributeDescription::new(spec.desc),
            value: self.value(&spec)?,
            line: self.line_of(i),
        })
    }

    fn attr_values(&self, from: usize) -> Result<Vec<AttrValue>, LdifError> {
        (from..self.lines.len())
            .map(|i| self.attr_value(i))
            .collect()
    }

    fn parse_record(&self, start: usize) -> Result<LdifRecord, LdifError> {
        let n = self.lines.len();
        let spec = self.split(start)?;
        if !spec.desc.eq_ignore_ascii_case("dn") {
            return Err(self.err_at(
                start,
                0,
                LdifErrorKind::Expected {
                    expected: "'dn:' at the start of a record",
                },
            ));
        }
        let dn = self.dn_value(&spec)?;
        let line = self.line_of(start);
        let mut i = start + 1;
        let mut controls = Vec::new();
        let mut changetype = None;
        while i < n {
            let spec = self.split(i)?;
            if spec.desc.eq_ignore_ascii_case("control") {
                controls.push(self.control(&spec)?);
                i += 1;
                continue;
            }
            if spec.desc.eq_ignore_ascii_case("changetype") {
                changetype = Some(spec);
            }
            break;
        }
        let Some(ct) = changetype else {
            if !controls.is_empty() {
                return Err(self.err_after(
                    i - 1,
                    LdifErrorKind::Expected {
                        expected: "'changetype:' after 'control:'",
                    },
                ));
            }
            if i >= n {
                return Err(self.err_after(
                    start,
                    LdifErrorKind::Expected {
                        expected: "an attribute line after 'dn:'",
                    },
                ));
            }
            return Ok(LdifRecord::Content(LdifEntry {
                dn,
                line,
                attributes: self.attr_values(i)?,
            }));
        };
        let kind = self.keyword(&ct, "a change type as plain text")?;
        let change = if kind.eq_ignore_ascii_case("add") {
            if i + 1 >= n {
                return Err(self.err_after(
                    i,
                    LdifErrorKind::Expected {
                        expected: "an attribute line after 'changetype: add'",
                    },
                ));
            }
            LdifChange::Add(self.attr_values(i + 1)?)
        } else if kind.eq_ignore_ascii_case("delete") {
            if i + 1 < n {
                return Err(self.err_at(
                    i + 1,
                    0,
                    LdifErrorKind::Expected {
                        expected: "the end of the record after 'changetype: delete'",
                    },
                ));
            }
            LdifChange::Delete
        } else if kind.eq_ignore_ascii_case("modify") {
            LdifChange::Modify(self.modifications(i + 1)?)
        } else if kind.eq_ignore_ascii_case("modrdn") || kind.eq_ignore_ascii_case("moddn") {
            self.moddn(i)?
        } else {
            return Err(self.err_at(
                i,
                ct.at,
                LdifErrorKind::UnknownChangeType {
                    found: kind.to_owned(),
                },
            ));
        };
        Ok(LdifRecord::Change(LdifChangeRecord {
            dn,
            line,
            controls,
            change,
        }))
    }

    /// `control: <oid> [true|false] [value-spec]`.
    fn control(&self, spec: &Spec<'_>) -> Result<LdifControl, LdifError> {
        let i = spec.line;
        let bad = |at: usize, expected: &'static str| {
            self.err_at(i, at, LdifErrorKind::Expected { expected })
        };
        if spec.kind != ValueKind::Text {
            return Err(bad(spec.marker, "a control oid as plain text"));
        }
        let text = self.text(i)?;
        let b = text.as_bytes();
        let oid_start = spec.at;
        let mut k = oid_start;
        loop {
            let d = k;
            while b.get(k).is_some_and(u8::is_ascii_digit) {
                k += 1;
            }
            if k == d {
                return Err(bad(k, "a numeric control oid"));
            }
            if b.get(k) == Some(&b'.') {
                k += 1;
            } else {
                break;
            }
        }
        let oid = text.get(oid_start..k).unwrap_or("").to_owned();
        let mut critical = false;
        let s = skip_spaces(b, k);
        if s > k {
            for (word, crit) in [("true", true), ("false", false)] {
                let end = s + word.len();
                if text
                    .get(s..end)
                    .is_some_and(|w| w.eq_ignore_ascii_case(word))
                    && matches!(b.get(end), None | Some(b':' | b' '))
                {
                    critical = crit;
                    k = end;
                    break;
                }
            }
        }
        k = skip_spaces(b, k);
        let value = match b.get(k) {
            None => None,
            Some(b':') => {
                let (kind, marker, at) = match b.get(k + 1) {
                    Some(b':') => (ValueKind::Base64, k + 1, skip_spaces(b, k + 2)),
                    Some(b'<') => (ValueKind::Url, k + 1, skip_spaces(b, k + 2)),
                    _ => (ValueKind::Text, k, skip_spaces(b, k + 1)),
                };
                let value_spec = Spec {
                    line: i,
                    desc: "control",
                    kind,
                    marker,
                    at,
                    value: text.get(at..).unwrap_or(""),
                };
                Some(self.value(&value_spec)?)
            }
            Some(_) => {
                return Err(bad(
                    k,
                    "'true', 'false' or ':' and a value after the control oid",
                ));
            }
        };
        Ok(LdifControl {
            oid,
            critical,
            value,
            line: self.line_of(i),
        })
    }

    fn is_dash(&self, i: usize) -> bool {
        self.logical(i)
            .0
            .strip_prefix(b"-")
            .is_some_and(|rest| rest.iter().all(|&b| b == b' '))
    }

    /// The mod-specs of a modify record, from unfolded line `from`.
    fn modifications(&self, from: usize) -> Result<Vec<Modification>, LdifError> {
        let n = self.lines.len();
        let mut mods = Vec::new();
        let mut j = from;
        while j < n {
            let spec = self.split(j)?;
            let op = if spec.desc.eq_ignore_ascii_case("add") {
                ModOp::Add
            } else if spec.desc.eq_ignore_ascii_case("delete") {
                ModOp::Delete
            } else if spec.desc.eq_ignore_ascii_case("replace") {
                ModOp::Replace
            } else {
                return Err(self.err_at(
                    j,
                    0,
                    LdifErrorKind::Expected {
                        expected: "'add:', 'delete:' or 'replace:' in a modify record",
                    },
                ));
            };
            let name = self.keyword(&spec, "an attribute name as plain text")?;
            match scan_description(name.as_bytes()) {
                Ok(end) if end == name.len() => {}
                Ok(end) => {
                    return Err(self.err_at(
                        j,
                        spec.at + end,
                        LdifErrorKind::Expected {
                            expected: "the end of the attribute name",
                        },
                    ));
                }
                Err((at, expected)) => {
                    return Err(self.err_at(j, spec.at + at, LdifErrorKind::Expected { expected }));
                }
            }
            let attr = AttributeDescription::new(name);
            let line = self.line_of(j);
            let mut values = Vec::new();
            j += 1;
            // the closing '-' may be missing at the end of the record
            while j < n {
                if self.is_dash(j) {
                    j += 1;
                    break;
                }
                let spec = self.split(j)?;
                if !attr.is(spec.desc) {
                    return Err(self.err_at(
                        j,
                        0,
                        LdifErrorKind::ModifyAttribute {
                            expected: attr.as_str().to_owned(),
                            found: spec.desc.to_owned(),
                        },
                    ));
                }
                values.push(self.value(&spec)?);
                j += 1;
            }
            mods.push(Modification {
                op,
                attr,
                values,
                line,
            });
        }
        Ok(mods)
    }

    /// The fields of a modrdn / moddn record whose `changetype:` is on
    /// unfolded line `ct`.
    fn moddn(&self, ct: usize) -> Result<LdifChange, LdifError> {
        let n = self.lines.len();
        let field = |j: usize, name: &str, expected: &'static str| -> Result<Spec<'_>, LdifError> {
            if j >= n {
                return Err(self.err_after(j - 1, LdifErrorKind::Expected { expected }));
            }
            let spec = self.split(j)?;
            if !spec.desc.eq_ignore_ascii_case(name) {
                return Err(self.err_at(j, 0, LdifErrorKind::Expected { expected }));
            }
            Ok(spec)
        };
        let spec = field(ct + 1, "newrdn", "'newrdn:' after 'changetype: modrdn'")?;
        let new_rdn = self.dn_value(&spec)?;
        if new_rdn.len() != 1 {
            return Err(self.err_at(
                spec.line,
                spec.at,
                LdifErrorKind::NewRdn {
                    found: new_rdn.len(),
                },
            ));
        }
        let spec = field(ct + 2, "deleteoldrdn", "'deleteoldrdn:' after 'newrdn:'")?;
        let delete_old_rdn = match self.keyword(&spec, "'0' or '1'")? {
            "0" => false,
            "1" => true,
            _ => {
                return Err(self.err_at(
                    spec.line,
                    spec.at,
                    LdifErrorKind::Expected {
                        expected: "'0' or '1'",
                    },
                ));
            }
        };
        let mut next = ct + 3;
        let mut new_superior = None;
        if next < n {
            let spec = field(
                next,
                "newsuperior",
                "'newsuperior:' or the end of the record",
            )?;
            new_superior = Some(self.dn_value(&spec)?);
            next += 1;
        }
        if next < n {
            return Err(self.err_at(
                next,
                0,
                LdifErrorKind::Expected {
                    expected: "the end of the record after 'newsuperior:'",
                },
            ));
        }
        Ok(LdifChange::ModDn {
            new_rdn,
            delete_old_rdn,
            new_superior,
        })
    }
}

impl<R: BufRead> Iterator for LdifReader<R> {
    type Item = Result<LdifRecord, LdifError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        loop {
            let block = self.read_block();
            let first = std::mem::replace(&mut self.first_block, false);
            match block {
                Ok(true) => {}
                Ok(false) => {
                    self.done = true;
                    return None;
                }
                Err(e) => {
                    self.done = e.is_fatal();
                    return Some(Err(e));
                }
            }
            let mut start = 0;
            if first {
                match self.version_line() {
                    Ok(true) => start = 1,
                    Ok(false) => {}
                    Err(e) => {
                        self.done = e.is_fatal();
                        return Some(Err(e));
                    }
                }
            }
            if start >= self.lines.len() {
                continue;
            }
            return Some(self.parse_record(start));
        }
    }
}

impl<R: BufRead> FusedIterator for LdifReader<R> {}

impl<R> fmt::Debug for LdifReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LdifReader")
            .field("line", &self.line_no)
            .field("version", &self.version)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ValueKind {
    Text,
    Base64,
    Url,
}

/// An `attr: value` line split up (offsets in the unfolded line).
#[derive(Debug)]
struct Spec<'a> {
    /// The unfolded line's index.
    line: usize,
    desc: &'a str,
    kind: ValueKind,
    /// Offset of the `:` of `::` / `<` of `:<` (the description's `:` for text).
    marker: usize,
    /// Offset of the value.
    at: usize,
    value: &'a str,
}

fn skip_spaces(b: &[u8], mut i: usize) -> usize {
    while b.get(i) == Some(&b' ') {
        i += 1;
    }
    i
}

fn is_name_char(c: &u8) -> bool {
    c.is_ascii_alphanumeric() || *c == b'-'
}

/// Scans an attribute description (`cn;lang-en`, `2.5.4.3`) at the start of
/// `b`; returns where it ends, or where and what was expected.
fn scan_description(b: &[u8]) -> Result<usize, (usize, &'static str)> {
    let mut i = 0;
    match b.first() {
        Some(c) if c.is_ascii_alphabetic() => {
            while b.get(i).is_some_and(is_name_char) {
                i += 1;
            }
        }
        Some(c) if c.is_ascii_digit() => loop {
            let d = i;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            if i == d {
                return Err((i, "a digit in the numeric attribute oid"));
            }
            if b.get(i) == Some(&b'.') {
                i += 1;
            } else {
                break;
            }
        },
        _ => return Err((0, "an attribute name")),
    }
    while b.get(i) == Some(&b';') {
        i += 1;
        let o = i;
        while b.get(i).is_some_and(is_name_char) {
            i += 1;
        }
        if i == o {
            return Err((i, "an attribute option after ';'"));
        }
    }
    Ok(i)
}

// ---------------------------------------------------------------------------
// LDIF as a directory source
// ---------------------------------------------------------------------------

/// Why LDIF text cannot feed the engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LdifSourceError {
    /// The text is not valid LDIF.
    #[error(transparent)]
    Syntax(#[from] LdifError),
    /// A record is not a source object (no objectGUID, a bad value, a change
    /// record where an entry was expected).
    #[error(transparent)]
    Object(#[from] LdifObjectError),
    /// Two entries with one objectGUID.
    #[error("ldif record at line {line} ({dn}): objectGUID {guid} is already used by {other}")]
    DuplicateGuid {
        /// The line of the second record's `dn:`.
        line: u64,
        /// The second record's DN.
        dn: Dn,
        /// The GUID.
        guid: Guid,
        /// The DN of the entry that has it.
        other: Dn,
    },
    /// Two entries at one DN.
    #[error("ldif record at line {line}: an entry {dn} already exists")]
    DuplicateDn {
        /// The line of the second record's `dn:`.
        line: u64,
        /// The DN.
        dn: Dn,
    },
    /// A change record for an entry the source does not hold (its objectGUID
    /// cannot be known).
    #[error("ldif record at line {line}: {change} of {dn}, which is not in the directory")]
    UnknownEntry {
        /// The line of the record's `dn:`.
        line: u64,
        /// The DN.
        dn: Dn,
        /// The change type.
        change: &'static str,
    },
    /// A delete of an entry that still has entries under it (LDAP refuses
    /// it too: notAllowedOnNonLeaf).
    #[error("ldif record at line {line}: {dn} has entries under it and cannot be deleted")]
    NotLeaf {
        /// The line of the record's `dn:`.
        line: u64,
        /// The DN.
        dn: Dn,
    },
    /// A modify that changes objectGUID (the one attribute an entry keeps).
    #[error("ldif line {line} ({dn}): objectGUID cannot be modified")]
    ObjectGuidModified {
        /// The line of the modification.
        line: u64,
        /// The record's DN.
        dn: Dn,
    },
    /// A moddn whose new DN cannot be built.
    #[error("ldif record at line {line} ({dn}): bad new dn: {source}")]
    BadNewDn {
        /// The line of the record's `dn:`.
        line: u64,
        /// The record's DN.
        dn: Dn,
        /// Why.
        source: DnError,
    },
    /// A critical control idsync does not implement: applying the change
    /// without it would not be what the file asks for.
    #[error("ldif line {line}: critical control {oid} is not supported")]
    CriticalControl {
        /// The line of the control.
        line: u64,
        /// Its OID.
        oid: String,
    },
}

/// An LDIF export as a [`DirectorySource`]: content records (or
/// `changetype: add` records, as `ldifde` writes them) are the directory;
/// a full read returns it in pages; change records added with
/// [`LdifSource::apply_changes`] are the deltas.
///
/// The source keeps the directory's current state (so a full read after
/// changes reflects them) and the objectGUID of every DN, because LDIF
/// change records name entries by DN while the engine keys them by
/// objectGUID. Its watermark is the number of change sets applied, as an
/// opaque DirSync-style cookie (`ldif:<n>` from DC `ldif`).
///
/// ```
/// use idsync::ldif::LdifSource;
/// use idsync::change::{BatchKind, Change, Completeness};
/// use idsync::source::DirectorySource;
/// let content = "dn: CN=Ann,OU=Staff,DC=corp,DC=com\n\
///                objectClass: user\nobjectGUID:: /xmWb4aLEdC0LQDAT8lk/w==\ncn: Ann\n";
/// let mut source = LdifSource::new("corp", content)?;
/// let pages = source.full_read()?;
/// assert!(matches!(pages[0].header.kind,
///     BatchKind::Full { completeness: Completeness::Finished, objects: 1, .. }));
/// let since = pages[0].header.watermark.clone();
///
/// source.apply_changes("dn: CN=Ann,OU=Staff,DC=corp,DC=com\nchangetype: modify\n\
///                       replace: title\ntitle: Engineer\n-\n")?;
/// let delta = source.changes_since(&since)?;
/// assert!(matches!(&delta.records[0], Change::Modify { .. }));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct LdifSource {
    config: String,
    page_size: usize,
    objects: Vec<SourceObject>,
    deltas: Vec<Vec<Change>>,
}

/// The DN a `dc=` suffix of `dn` names (the naming context), or the root.
fn naming_context(dn: &Dn) -> Dn {
    let rdns: Vec<&str> = dn.rdns().collect();
    let start = rdns
        .iter()
        .rposition(|r| !r.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("dc=")))
        .map_or(0, |i| i + 1);
    Dn::parse(&rdns.get(start..).unwrap_or_default().join(",")).unwrap_or_else(|_| Dn::root())
}

impl LdifSource {
    /// A source for configuration `config` whose directory is the content
    /// records of `content` (pages of 1,000 objects). Every record needs an
    /// objectGUID; a change record other than `add` is an error.
    pub fn new(config: &str, content: &str) -> Result<LdifSource, LdifSourceError> {
        let mut source = LdifSource {
            config: config.to_owned(),
            page_size: 1000,
            objects: Vec::new(),
            deltas: Vec::new(),
        };
        for record in records(content) {
            let record = record?;
            let object = record.to_source_object()?;
            source.check_new(&object, record.line())?;
            source.objects.push(object);
        }
        Ok(source)
    }

    /// Sets the page size of full reads.
    pub fn with_page_size(mut self, n: usize) -> LdifSource {
        self.page_size = n.max(1);
        self
    }

    /// The directory as it stands, in file order.
    pub fn objects(&self) -> &[SourceObject] {
        &self.objects
    }

    /// The entry at `dn`.
    pub fn get_by_dn(&self, dn: &Dn) -> Option<&SourceObject> {
        self.objects.iter().find(|o| o.dn == *dn)
    }

    /// The number of change sets applied (the watermark's position).
    pub fn position(&self) -> usize {
        self.deltas.len()
    }

    /// Applies the change records of `text` as one change set (the next
    /// delta), converting each to a [`Change`]: `add` to an add, `delete` to
    /// a tombstone, `modify` to attribute changes (`add:` and `delete:` with
    /// values are incremental, `replace:` and a valueless `delete:` replace),
    /// `moddn` to a move carrying the RDN attribute's change. A content
    /// record replaces the whole entry. All or nothing: on an error the
    /// source is unchanged. Returns the number of records.
    pub fn apply_changes(&mut self, text: &str) -> Result<usize, LdifSourceError> {
        let mut next = self.objects.clone();
        let mut changes = Vec::new();
        for record in records(text) {
            let record = record?;
            changes.push(apply_record(&mut next, &record)?);
        }
        let n = changes.len();
        self.objects = next;
        self.deltas.push(changes);
        Ok(n)
    }

    fn check_new(&self, object: &SourceObject, line: u64) -> Result<(), LdifSourceError> {
        check_new(&self.objects, object, line)
    }

    fn watermark_at(n: usize) -> Watermark {
        Watermark::dirsync(format!("ldif:{n}").as_bytes(), "ldif")
    }

    fn position_of(w: &Watermark) -> Option<usize> {
        match w {
            Watermark::DirSync { cookie, .. } => std::str::from_utf8(cookie)
                .ok()?
                .strip_prefix("ldif:")?
                .parse()
                .ok(),
            _ => None,
        }
    }
}

fn check_new(
    objects: &[SourceObject],
    object: &SourceObject,
    line: u64,
) -> Result<(), LdifSourceError> {
    if let Some(other) = objects.iter().find(|o| o.guid == object.guid) {
        return Err(LdifSourceError::DuplicateGuid {
            line,
            dn: object.dn.clone(),
            guid: object.guid,
            other: other.dn.clone(),
        });
    }
    if objects.iter().any(|o| o.dn == object.dn) {
        return Err(LdifSourceError::DuplicateDn {
            line,
            dn: object.dn.clone(),
        });
    }
    Ok(())
}

fn position_by_dn(
    objects: &[SourceObject],
    dn: &Dn,
    line: u64,
    change: &'static str,
) -> Result<usize, LdifSourceError> {
    objects
        .iter()
        .position(|o| o.dn == *dn)
        .ok_or_else(|| LdifSourceError::UnknownEntry {
            line,
            dn: dn.clone(),
            change,
        })
}

fn reclassify(object: &mut SourceObject) {
    object.kind = ObjectKind::classify(
        object
            .attributes
            .get("objectClass")
            .iter()
            .filter_map(Value::as_str),
    );
}

/// Applies one record to `objects` and returns it as a [`Change`].
fn apply_record(
    objects: &mut Vec<SourceObject>,
    record: &LdifRecord,
) -> Result<Change, LdifSourceError> {
    let line = record.line();
    let change = match record {
        LdifRecord::Content(entry) => {
            let object = entry.to_source_object()?;
            match objects.iter().position(|o| o.guid == object.guid) {
                Some(i) => {
                    let rest: Vec<SourceObject> = objects
                        .iter()
                        .enumerate()
                        .filter(|&(j, _)| j != i)
                        .map(|(_, o)| o.clone())
                        .collect();
                    check_new(&rest, &object, line)?;
                    if let Some(slot) = objects.get_mut(i) {
                        *slot = object.clone();
                    }
                }
                None => {
                    check_new(objects, &object, line)?;
                    objects.push(object.clone());
                }
            }
            return Ok(Change::Add {
                guid: object.guid,
                dn: object.dn,
                attributes: object.attributes,
                password_hash: None,
            });
        }
        LdifRecord::Change(c) => c,
    };
    if let Some(control) = change.controls.iter().find(|c| c.critical) {
        return Err(LdifSourceError::CriticalControl {
            line: control.line,
            oid: control.oid.clone(),
        });
    }
    let dn = &change.dn;
    match &change.change {
        LdifChange::Add(_) => {
            let object = record.to_source_object()?;
            check_new(objects, &object, line)?;
            objects.push(object.clone());
            Ok(Change::Add {
                guid: object.guid,
                dn: object.dn,
                attributes: object.attributes,
                password_hash: None,
            })
        }
        LdifChange::Delete => {
            let i = position_by_dn(objects, dn, line, "delete")?;
            if objects.iter().any(|o| o.dn != *dn && o.dn.is_under(dn)) {
                return Err(LdifSourceError::NotLeaf {
                    line,
                    dn: dn.clone(),
                });
            }
            let object = objects.remove(i);
            let name = dn
                .rdn_avas(0)
                .and_then(|avas| avas.into_iter().next())
                .map(|a| a.value)
                .unwrap_or_default();
            let tombstone = Tombstone::new(object.guid, &name, &naming_context(dn), dn.parent())
                .map_err(|source| LdifSourceError::BadNewDn {
                    line,
                    dn: dn.clone(),
                    source,
                })?;
            Ok(Change::Delete(tombstone))
        }
        LdifChange::Modify(mods) => {
            let i = position_by_dn(objects, dn, line, "modify")?;
            let mut attr_changes = Vec::with_capacity(mods.len());
            for m in mods {
                if m.attr.is("objectGUID") {
                    return Err(LdifSourceError::ObjectGuidModified {
                        line: m.line,
                        dn: dn.clone(),
                    });
                }
                let mut name = None;
                let mut values = Values::new();
                for v in &m.values {
                    let (n, value) = convert_value(dn, &m.attr, v, m.line)?;
                    name = Some(n);
                    values.push(value);
                }
                let name = match name {
                    Some(n) => n,
                    None => convert_value(dn, &m.attr, &LdifValue::Text(String::new()), m.line)
                        .map(|(n, _)| n)
                        .unwrap_or_else(|_| AttrName::new(m.attr.as_str())),
                };
                let op = match (m.op, values.is_empty()) {
                    (ModOp::Replace, _) | (ModOp::Delete, true) => AttrOp::Replace(values),
                    (ModOp::Add, _) => AttrOp::Incremental {
                        add: values,
                        remove: Values::new(),
                    },
                    (ModOp::Delete, false) => AttrOp::Incremental {
                        add: Values::new(),
                        remove: values,
                    },
                };
                attr_changes.push(AttrChange { name, op });
            }
            let object = objects
                .get_mut(i)
                .ok_or_else(|| LdifSourceError::UnknownEntry {
                    line,
                    dn: dn.clone(),
                    change: "modify",
                })?;
            apply_attr_changes(object, &attr_changes);
            Ok(Change::Modify {
                guid: object.guid,
                changes: attr_changes,
                password_hash: None,
            })
        }
        LdifChange::ModDn {
            new_rdn,
            delete_old_rdn,
            ..
        } => {
            let i = position_by_dn(objects, dn, line, "moddn")?;
            let new_dn = change
                .new_dn()
                .map_err(|source| LdifSourceError::BadNewDn {
                    line,
                    dn: dn.clone(),
                    source,
                })?;
            if new_dn != *dn && objects.iter().any(|o| o.dn == new_dn) {
                return Err(LdifSourceError::DuplicateDn { line, dn: new_dn });
            }
            let mut attr_changes = Vec::new();
            let new_avas = new_rdn.rdn_avas(0).unwrap_or_default();
            let old_avas = dn.rdn_avas(0).unwrap_or_default();
            for ava in &new_avas {
                let remove: Values = if *delete_old_rdn {
                    old_avas
                        .iter()
                        .filter(|o| {
                            o.attr_type.eq_ignore_ascii_case(&ava.attr_type) && o.value != ava.value
                        })
                        .map(|o| Value::str(&o.value))
                        .collect()
                } else {
                    Values::new()
                };
                attr_changes.push(AttrChange {
                    name: AttrName::new(&ava.attr_type),
                    op: AttrOp::Incremental {
                        add: std::iter::once(Value::str(&ava.value)).collect(),
                        remove,
                    },
                });
            }
            let guid = objects
                .get(i)
                .map(|o| o.guid)
                .unwrap_or_else(|| Guid::from_u128(0));
            if let Some(object) = objects.get_mut(i) {
                if object.attributes.contains("distinguishedName") {
                    attr_changes.push(AttrChange {
                        name: AttrName::new("distinguishedName"),
                        op: AttrOp::Replace(std::iter::once(Value::str(new_dn.as_str())).collect()),
                    });
                }
                apply_attr_changes(object, &attr_changes);
            }
            // Entries under a moved one move with it (the engine's mirror
            // rebases them the same way; LDAP reports only the moved entry).
            for o in objects.iter_mut() {
                if let Some(rebased) = o.dn.rebase(dn, &new_dn) {
                    o.dn = rebased;
                }
            }
            Ok(Change::Move {
                guid,
                dn: new_dn,
                changes: attr_changes,
                password_hash: None,
            })
        }
    }
}

fn apply_attr_changes(object: &mut SourceObject, changes: &[AttrChange]) {
    for c in changes {
        let mut values: Values = object
            .attributes
            .get(c.name.as_str())
            .iter()
            .cloned()
            .collect();
        c.op.apply(&mut values);
        if values.is_empty() {
            object.attributes.remove(c.name.as_str());
        } else {
            object.attributes.set(c.name.clone(), values);
        }
    }
    reclassify(object);
}

impl DirectorySource for LdifSource {
    fn full_read(&mut self) -> Result<Vec<ChangeBatch>, SourceError> {
        let watermark = LdifSource::watermark_at(self.deltas.len());
        let chunks: Vec<&[SourceObject]> = if self.objects.is_empty() {
            vec![&[]]
        } else {
            self.objects.chunks(self.page_size).collect()
        };
        let last = chunks.len().saturating_sub(1);
        let mut since = Watermark::None;
        let mut read = 0u64;
        let mut pages = Vec::with_capacity(chunks.len());
        for (i, chunk) in chunks.into_iter().enumerate() {
            read += chunk.len() as u64;
            let page_mark = if i == last {
                watermark.clone()
            } else {
                Watermark::dirsync(
                    format!("ldif:{}:page-{i}", self.deltas.len()).as_bytes(),
                    "ldif",
                )
            };
            pages.push(ChangeBatch {
                header: BatchHeader {
                    source: self.config.as_str().into(),
                    since: since.clone(),
                    watermark: page_mark.clone(),
                    kind: BatchKind::Full {
                        page: u32::try_from(i).unwrap_or(u32::MAX),
                        completeness: if i == last {
                            Completeness::Finished
                        } else {
                            Completeness::InProgress
                        },
                        objects: read,
                    },
                },
                records: chunk
                    .iter()
                    .map(|o| Change::Add {
                        guid: o.guid,
                        dn: o.dn.clone(),
                        attributes: o.attributes.clone(),
                        password_hash: None,
                    })
                    .collect(),
            });
            since = page_mark;
        }
        Ok(pages)
    }

    fn changes_since(&mut self, since: &Watermark) -> Result<ChangeBatch, SourceError> {
        let from = match LdifSource::position_of(since) {
            Some(n) if n <= self.deltas.len() => n,
            Some(_) => return Err(SourceError::WatermarkVoid(VoidReason::Reset)),
            None => return Err(SourceError::WatermarkVoid(VoidReason::NoBaseline)),
        };
        let records = self
            .deltas
            .get(from..)
            .unwrap_or_default()
            .iter()
            .flatten()
            .cloned()
            .collect();
        Ok(ChangeBatch {
            header: BatchHeader {
                source: self.config.as_str().into(),
                since: since.clone(),
                watermark: LdifSource::watermark_at(self.deltas.len()),
                kind: BatchKind::Delta,
            },
            records,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> LdifRecord {
        let mut all = parse(text).unwrap();
        assert_eq!(all.len(), 1, "{all:?}");
        all.remove(0)
    }

    fn attrs(record: &LdifRecord) -> Vec<(String, LdifValue, u64)> {
        let LdifRecord::Content(e) = record else {
            panic!("{record:?}")
        };
        e.attributes
            .iter()
            .map(|a| (a.attr.as_str().to_owned(), a.value.clone(), a.line))
            .collect()
    }

    #[test]
    fn descriptions() {
        assert_eq!(scan_description(b"cn: x"), Ok(2));
        assert_eq!(scan_description(b"ms-DS-ConsistencyGuid:"), Ok(21));
        assert_eq!(scan_description(b"cn;lang-ja;phonetic:"), Ok(19));
        assert_eq!(scan_description(b"2.5.4.3:"), Ok(7));
        assert!(scan_description(b"2.5.:").is_err());
        assert!(scan_description(b"-cn:").is_err());
        assert!(scan_description(b"cn;:").is_err());
        assert!(scan_description(b"").is_err());
    }

    #[test]
    fn empty_values_root_dn_and_bom() {
        let r = one("\u{feff}version: 1\ndn:\ncn:\nsn::\n");
        assert!(r.dn().is_empty());
        assert_eq!(
            attrs(&r),
            [
                ("cn".to_owned(), LdifValue::Text(String::new()), 3),
                ("sn".to_owned(), LdifValue::Base64(Vec::new()), 4),
            ]
        );
    }

    #[test]
    fn comments_fold_and_sit_anywhere() {
        let text = "# leading comment\n folded into the comment\n\n  \n\
                    dn: cn=a,dc=x\n# inside\n continued\ncn: a\n b\n# trailing\n";
        let r = one(text);
        assert_eq!(r.line(), 5);
        assert_eq!(
            attrs(&r),
            [("cn".to_owned(), LdifValue::Text("ab".to_owned()), 8)]
        );
    }

    #[test]
    fn physical_line_limit_counts_the_line_not_its_end() {
        let text = "dn: a=b\ncn: 1234\r\n";
        // "cn: 1234" is 8 bytes: accepted at a limit of 8, with its CRLF
        assert_eq!(LdifReader::with_limits(text.as_bytes(), 8, 100).count(), 1);
        assert!(LdifReader::with_limits(text.as_bytes(), 8, 100).all(|r| r.is_ok()));
        let e = LdifReader::with_limits(text.as_bytes(), 7, 100)
            .find_map(Result::err)
            .unwrap();
        assert!(matches!(e.kind, LdifErrorKind::LineTooLong { limit: 7 }));
        assert_eq!((e.line, e.column), (2, 8));
    }

    #[test]
    fn errors_map_to_folded_lines() {
        // the bad byte sits on the third physical line of one logical line
        let e = parse("dn: cn=a,dc=x\ncn:: QUJD\n REVG\n R0*=\n").unwrap_err();
        assert_eq!((e.line, e.column), (4, 4));
        assert!(matches!(e.kind, LdifErrorKind::Base64 { .. }));
    }

    #[test]
    fn folding_may_split_a_utf8_character() {
        // "é" is C3 A9; a writer folding by bytes splits it
        let r = one("dn: cn=a,dc=x\ncn: caf\u{e9}\n");
        let bytes = b"dn: cn=a,dc=x\ncn: caf\xc3\n \xa9\n";
        let folded: Vec<_> = LdifReader::new(&bytes[..])
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(folded, vec![r]);
    }

    #[test]
    fn secret_values_are_redacted_in_debug() {
        let text =
            "dn: cn=a,dc=x\nchangetype: modify\nreplace: unicodePwd\nunicodePwd:: c2VjcmV0\n-\n";
        let r = one(text);
        let debug = format!("{r:?}");
        assert!(
            !debug.contains("c2VjcmV0") && !debug.contains("secret"),
            "{debug}"
        );
        assert!(debug.contains("<1 redacted>"));
    }

    #[test]
    fn naming_context_is_the_dc_suffix() {
        let nc = |d: &str| naming_context(&Dn::parse(d).unwrap()).as_str().to_owned();
        assert_eq!(nc("CN=Ann,OU=S,DC=corp,DC=com"), "DC=corp,DC=com");
        assert_eq!(nc("cn=Ann,dc=x"), "dc=x");
        assert_eq!(nc("CN=Ann,O=Org"), "");
        assert_eq!(nc("CN=Ann,DC=inner,OU=S,DC=x"), "DC=x");
    }

    #[test]
    fn watermark_positions_round_trip_and_reject_foreign_cookies() {
        for n in [0, 1, 42] {
            assert_eq!(
                LdifSource::position_of(&LdifSource::watermark_at(n)),
                Some(n)
            );
        }
        assert_eq!(
            LdifSource::position_of(&Watermark::dirsync(b"\x01\x02", "dc1")),
            None
        );
        assert_eq!(LdifSource::position_of(&Watermark::None), None);
    }

    #[test]
    fn an_empty_directory_is_one_finished_empty_page() {
        let mut source = LdifSource::new("x", "version: 1\n").unwrap();
        let pages = source.full_read().unwrap();
        assert_eq!(pages.len(), 1);
        assert!(pages[0].records.is_empty());
        assert!(matches!(
            pages[0].header.kind,
            BatchKind::Full {
                completeness: Completeness::Finished,
                objects: 0,
                ..
            }
        ));
    }

    #[test]
    fn secret_values_in_a_modify_stay_secret() {
        let text = "dn: CN=Ann,DC=x\nobjectClass: user\nobjectGUID:: /xmWb4aLEdC0LQDAT8lk/w==\n";
        let mut source = LdifSource::new("x", text).unwrap();
        source
            .apply_changes("dn: CN=Ann,DC=x\nchangetype: modify\nreplace: unicodePwd\nunicodePwd:: c2VjcmV0\n-\n")
            .unwrap();
        let debug = format!("{:?}", source.objects()[0]);
        assert!(!debug.contains("secret"), "{debug}");
        assert!(matches!(
            source.objects()[0].attributes.first("unicodePwd"),
            Some(Value::Secret(_))
        ));
    }
}
