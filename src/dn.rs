//! RFC 4514 distinguished names as Active Directory uses them.
//!
//! A [`Dn`] is parsed once and then kept in two forms: a canonical text (the
//! names as written, values re-escaped the one RFC 4514 way) for display, and
//! a normalized text (types and values lowercased, escapes decoded and
//! re-escaped, the AVAs of a multi-valued RDN sorted) for equality, hashing
//! and subtree tests. `is_under` is then a suffix comparison that must end on
//! an RDN boundary, so `OU=Sales2` is never under `OU=Sales` and an escaped
//! comma is never a separator. Both forms sit behind one `Arc`, so a clone is
//! a reference-count increment.
//!
//! Leniency: spaces around `,`, `+` and `=` (RFC 1779 style, as admins type
//! them in configurations) are skipped; unescaped trailing spaces of a value
//! are dropped. Everything else RFC 4514 forbids is an error with the byte
//! position.

use std::cmp::Ordering;
use std::fmt::{self, Write as _};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use smallvec::SmallVec;

/// Why a DN did not parse: the byte position and what was expected there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("dn at byte {position}: {message}")]
pub struct DnError {
    /// Byte offset in the input where the problem was found.
    pub position: usize,
    /// What was expected or wrong.
    pub message: &'static str,
}

/// The longest DN accepted, in bytes (Active Directory's own limit on a DN is
/// far below this); a guard against hostile input.
pub const MAX_DN_LEN: usize = 64 * 1024;

/// A parsed distinguished name.
///
/// ```
/// use idsync::dn::Dn;
/// let bob = Dn::parse("CN=Bob\\, Jr.,OU=Sales,DC=corp,DC=example,DC=com")?;
/// let sales = Dn::parse("ou=SALES, dc=corp, dc=example, dc=com")?;
/// assert!(bob.is_under(&sales));
/// assert!(!bob.is_under(&Dn::parse("OU=Sale,DC=corp,DC=example,DC=com")?));
/// assert_eq!(bob.parent().as_ref(), Some(&sales));
/// assert_eq!(bob.to_string(), "CN=Bob\\, Jr.,OU=Sales,DC=corp,DC=example,DC=com");
/// # Ok::<(), idsync::dn::DnError>(())
/// ```
#[derive(Clone)]
pub struct Dn(Arc<DnInner>);

/// The number of RDNs kept inline (deeper DNs spill to the heap).
const INLINE_RDNS: usize = 8;

struct DnInner {
    /// The canonical text followed by the normalized text: one allocation.
    buf: Box<str>,
    /// Where the normalized text starts in `buf`.
    split: u32,
    /// Start offsets of each RDN in the canonical and in the normalized text.
    starts: SmallVec<[(u32, u32); INLINE_RDNS]>,
}

impl DnInner {
    fn text(&self) -> &str {
        self.buf.get(..self.split as usize).unwrap_or("")
    }

    fn norm(&self) -> &str {
        self.buf.get(self.split as usize..).unwrap_or("")
    }
}

/// One attribute type and value of an RDN, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ava {
    /// The attribute type as written (`CN`, `ou`, `1.3.6.1.4.1.1466.0`).
    pub attr_type: String,
    /// The decoded value. For a `#`-hex value this is the `#` form itself.
    pub value: String,
    /// Whether the value was written as `#` followed by hex (BER).
    pub hex: bool,
}

/// Where one AVA landed in the canonical text being built.
#[derive(Clone, Copy)]
struct AvaSpan {
    /// The attribute type, as written.
    ty: (u32, u32),
    /// The value in canonical (escaped) form.
    value: (u32, u32),
    hex: bool,
    /// Whether this AVA ends its RDN.
    last: bool,
}

impl Dn {
    /// Parses a DN. The empty string is the empty (root) DN.
    ///
    /// One pass over the input writes the canonical text (values that need
    /// no re-escaping are copied as they are; only a value with escapes is
    /// decoded, into a scratch buffer), then the normalized text is derived
    /// from the canonical one into the same buffer. A DN of up to eight RDNs
    /// costs two allocations: the shared node and its text.
    pub fn parse(input: &str) -> Result<Dn, DnError> {
        if input.len() > MAX_DN_LEN {
            return Err(DnError {
                position: MAX_DN_LEN,
                message: "dn longer than 65536 bytes",
            });
        }
        // Canonical and normalized text are each usually as long as the input.
        let mut buf = String::with_capacity(2 * input.len());
        let mut avas: SmallVec<[AvaSpan; 16]> = SmallVec::new();
        scan_canonical(input, &mut buf, &mut avas)?;
        Ok(Dn::from_canonical(buf, &avas))
    }

    /// The DN of `input` when it has the plain form agents send: every RDN
    /// one `type=value` with a name-form type, no spaces around separators,
    /// no `#` value, nothing that needs escaping except the `\XX` escape of
    /// a control character in uppercase hex (the `\0ADEL:` of a tombstone).
    /// Such input is already canonical text, so this only checks it and
    /// lowercases a copy: `None` means "take [`Dn::parse`]", and a `Some` is
    /// exactly the DN [`Dn::parse`] gives (a unit test and a proptest hold
    /// the two together).
    pub(crate) fn parse_plain(input: &str) -> Option<Dn> {
        let b = input.as_bytes();
        if b.is_empty() || b.len() > MAX_DN_LEN {
            return None;
        }
        let mut starts: SmallVec<[(u32, u32); INLINE_RDNS]> = SmallVec::new();
        // Where each `\XX` escape starts.
        let mut escapes: SmallVec<[u32; 2]> = SmallVec::new();
        let mut i = 0;
        loop {
            let t0 = i;
            if !b.get(i)?.is_ascii_alphabetic() {
                return None;
            }
            i += 1;
            while b
                .get(i)
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'-')
            {
                i += 1;
            }
            if b.get(i) != Some(&b'=') {
                return None;
            }
            i += 1;
            if matches!(b.get(i), None | Some(b' ' | b'#')) {
                return None;
            }
            let v0 = i;
            loop {
                while b.get(i).is_some_and(|&c| PLAIN_VALUE_BYTE[c as usize]) {
                    i += 1;
                }
                match b.get(i) {
                    None | Some(b',') => break,
                    // Only `\XX` of a control character, as the canonical
                    // form writes it.
                    Some(b'\\') => match (b.get(i + 1), b.get(i + 2)) {
                        (Some(b'0' | b'1'), Some(b'0'..=b'9' | b'A'..=b'F'))
                        | (Some(b'7'), Some(b'F')) => {
                            escapes.push(i as u32);
                            i += 3;
                        }
                        _ => return None,
                    },
                    Some(_) => return None,
                }
            }
            if i == v0 || b.get(i - 1) == Some(&b' ') {
                return None;
            }
            starts.push((t0 as u32, t0 as u32));
            if i == b.len() {
                break;
            }
            i += 1;
        }
        let split = b.len();
        let mut buf = String::with_capacity(2 * split);
        buf.push_str(input);
        // Lowercasing the ASCII bytes of a copy is the whole fold (with the
        // hex digits of escapes put back) unless a non-ASCII character has
        // a lowercase form of its own.
        let per_char = !input.is_ascii()
            && input.chars().any(|c| {
                !c.is_ascii() && {
                    let mut l = c.to_lowercase();
                    l.next() != Some(c) || l.next().is_some()
                }
            });
        if !per_char {
            buf.push_str(input);
            buf.get_mut(split..)?.make_ascii_lowercase();
            for &at in &escapes {
                let at = split + at as usize;
                buf.get_mut(at + 1..at + 3)?.make_ascii_uppercase();
            }
        } else {
            // As `push_key` folds: escapes copied as they are, every other
            // character lowercased on its own.
            let mut next = 0;
            let mut escape = 0u8;
            for (at, c) in input.char_indices() {
                if let Some(s) = starts.get_mut(next).filter(|s| s.0 as usize == at) {
                    s.1 = (buf.len() - split) as u32;
                    next += 1;
                }
                if escape > 0 {
                    escape -= 1;
                    buf.push(c);
                } else if c == '\\' {
                    escape = 2;
                    buf.push(c);
                } else if c.is_ascii() {
                    buf.push(c.to_ascii_lowercase());
                } else {
                    buf.extend(c.to_lowercase());
                }
            }
        }
        Some(Dn(Arc::new(DnInner {
            buf: buf.into_boxed_str(),
            split: split as u32,
            starts,
        })))
    }

    /// The empty DN (the root); every DN is under it.
    pub fn root() -> Dn {
        Dn(Arc::new(DnInner {
            buf: "".into(),
            split: 0,
            starts: SmallVec::new(),
        }))
    }

    /// Appends the normalized text to `buf` (which holds the canonical text
    /// the spans point into) and builds the node.
    fn from_canonical(mut buf: String, avas: &[AvaSpan]) -> Dn {
        let split = buf.len();
        let mut starts: SmallVec<[(u32, u32); INLINE_RDNS]> = SmallVec::new();
        let mut norm: NormBuf = SmallVec::new();
        let text = buf.as_str();
        let mut at = 0usize;
        while at < avas.len() {
            let mut end = at;
            while end + 1 < avas.len() && !avas[end].last {
                end += 1;
            }
            let rdn = &avas[at..=end];
            if !starts.is_empty() {
                norm.push(b',');
            }
            starts.push((rdn[0].ty.0, norm.len() as u32));
            if let [one] = rdn {
                push_key(&mut norm, text, *one);
            } else {
                // A multi-valued RDN: its keys are sorted (rare; allocates).
                let mut keys: Vec<NormBuf> = rdn
                    .iter()
                    .map(|a| {
                        let mut k = NormBuf::new();
                        push_key(&mut k, text, *a);
                        k
                    })
                    .collect();
                keys.sort_unstable();
                for (j, k) in keys.iter().enumerate() {
                    if j > 0 {
                        norm.push(b'+');
                    }
                    norm.extend_from_slice(k);
                }
            }
            at = end + 1;
        }
        // Only whole UTF-8 sequences and ASCII were written: this never
        // replaces anything, it only checks.
        buf.push_str(&String::from_utf8_lossy(&norm));
        Dn(Arc::new(DnInner {
            buf: buf.into_boxed_str(),
            split: split as u32,
            starts,
        }))
    }

    /// The canonical text: names as written, values escaped the RFC 4514 way.
    pub fn as_str(&self) -> &str {
        self.0.text()
    }

    /// The normalized text used for equality, hashing and `is_under`.
    pub fn normalized(&self) -> &str {
        self.0.norm()
    }

    /// How many RDNs the DN has.
    pub fn len(&self) -> usize {
        self.0.starts.len()
    }

    /// Whether this is the empty (root) DN.
    pub fn is_empty(&self) -> bool {
        self.0.starts.is_empty()
    }

    /// The first RDN in canonical text (`CN=Bob\, Jr.`), or `None` for the root.
    pub fn rdn(&self) -> Option<&str> {
        self.rdn_text(0)
    }

    fn rdn_text(&self, i: usize) -> Option<&str> {
        let (start, _) = *self.0.starts.get(i)?;
        let end = match self.0.starts.get(i + 1) {
            Some(&(next, _)) => next as usize - 1,
            None => self.0.split as usize,
        };
        self.0.text().get(start as usize..end)
    }

    /// The RDNs in canonical text, leaf first.
    pub fn rdns(&self) -> impl Iterator<Item = &str> + '_ {
        (0..self.len()).filter_map(move |i| self.rdn_text(i))
    }

    /// The decoded attribute types and values of the `i`-th RDN (0 = leaf).
    pub fn rdn_avas(&self, i: usize) -> Option<Vec<Ava>> {
        let text = self.rdn_text(i)?;
        // The canonical text always re-parses; an error cannot occur here.
        parse_rdns(text).ok()?.into_iter().next()
    }

    /// The parent DN (`None` for the root; the parent of a one-RDN DN is the root).
    pub fn parent(&self) -> Option<Dn> {
        self.suffix(1)
    }

    /// The DN without its first `skip` RDNs.
    fn suffix(&self, skip: usize) -> Option<Dn> {
        if skip > self.len() {
            return None;
        }
        if skip == self.len() {
            return Some(Dn::root());
        }
        let (t0, n0) = *self.0.starts.get(skip)?;
        let starts = self
            .0
            .starts
            .get(skip..)?
            .iter()
            .map(|&(t, n)| (t - t0, n - n0))
            .collect();
        let text = self.0.text().get(t0 as usize..)?;
        let norm = self.0.norm().get(n0 as usize..)?;
        let mut buf = String::with_capacity(text.len() + norm.len());
        buf.push_str(text);
        buf.push_str(norm);
        Some(Dn(Arc::new(DnInner {
            buf: buf.into_boxed_str(),
            split: text.len() as u32,
            starts,
        })))
    }

    /// Whether `self` is `ancestor` or lies in its subtree, compared RDN by RDN.
    pub fn is_under(&self, ancestor: &Dn) -> bool {
        let a = ancestor.0.norm();
        let s = self.0.norm();
        if a.is_empty() {
            return true;
        }
        if a.len() > s.len() || !s.ends_with(a) {
            return false;
        }
        let off = (s.len() - a.len()) as u32;
        self.0
            .starts
            .binary_search_by(|&(_, n)| n.cmp(&off))
            .is_ok()
    }

    /// The DN this one would have if its ancestor `from` were renamed or
    /// moved to `to` (`None` if `self` is not under `from`). Used when a
    /// parent moves: AD does not report the children, their DNs change all
    /// the same.
    pub fn rebase(&self, from: &Dn, to: &Dn) -> Option<Dn> {
        if !self.is_under(from) {
            return None;
        }
        let keep = self.len() - from.len();
        if keep == 0 {
            return Some(to.clone());
        }
        let (t_end, _) = self.0.starts[keep];
        let head = &self.0.text()[..t_end as usize]; // includes trailing ','
        let mut text = String::with_capacity(head.len() + to.as_str().len());
        text.push_str(head);
        if to.is_empty() {
            text.pop();
        } else {
            text.push_str(to.as_str());
        }
        Dn::parse(&text).ok()
    }

    /// A child of this DN with the given RDN text (`CN=New User`).
    pub fn child(&self, rdn: &str) -> Result<Dn, DnError> {
        let rdns = parse_rdns(rdn)?;
        if rdns.len() != 1 {
            return Err(DnError {
                position: 0,
                message: "exactly one RDN",
            });
        }
        let leaf = Dn::parse(rdn)?;
        if self.is_empty() {
            return Ok(leaf);
        }
        let mut text = String::with_capacity(rdn.len() + 1 + self.as_str().len());
        text.push_str(leaf.as_str());
        text.push(',');
        text.push_str(self.as_str());
        Dn::parse(&text)
    }
}

impl PartialEq for Dn {
    fn eq(&self, other: &Dn) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0.norm() == other.0.norm()
    }
}

impl Eq for Dn {}

impl Hash for Dn {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.norm().hash(state);
    }
}

impl PartialOrd for Dn {
    fn partial_cmp(&self, other: &Dn) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Dn {
    fn cmp(&self, other: &Dn) -> Ordering {
        self.0.norm().cmp(other.0.norm())
    }
}

impl fmt::Display for Dn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.text())
    }
}

impl fmt::Debug for Dn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Dn({:?})", self.0.text())
    }
}

impl std::str::FromStr for Dn {
    type Err = DnError;
    fn from_str(s: &str) -> Result<Dn, DnError> {
        Dn::parse(s)
    }
}

impl Serialize for Dn {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.text())
    }
}

impl<'de> Deserialize<'de> for Dn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Dn, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Dn::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Bytes a value in plain form holds as they are: printable ASCII except
/// the specials RFC 4514 escapes, and the bytes of non-ASCII characters.
const PLAIN_VALUE_BYTE: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0x20;
    while c < 256 {
        t[c] = !matches!(
            c as u8,
            b'"' | b'+' | b',' | b';' | b'<' | b'>' | b'\\' | 0x7f
        );
        c += 1;
    }
    t
};

/// The normalized text while it is built (on the stack for usual DNs).
type NormBuf = SmallVec<[u8; 192]>;

/// Appends the normalized key of one AVA (`type=value`, lowercased) taken
/// from its canonical text. Escapes are copied as they are: `\XX` escapes
/// (control characters) keep their uppercase hex digits, the escaped
/// specials do not change case; every other character is lowercased one by
/// one (see [`fold_case`]).
fn push_key(out: &mut NormBuf, text: &str, a: AvaSpan) {
    let ty = text.get(a.ty.0 as usize..a.ty.1 as usize).unwrap_or("");
    out.extend(ty.bytes().map(|b| b.to_ascii_lowercase()));
    out.push(b'=');
    let value = text
        .get(a.value.0 as usize..a.value.1 as usize)
        .unwrap_or("");
    if a.hex {
        out.extend_from_slice(value.as_bytes());
        return;
    }
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            out.push(b'\\');
            if let Some(n) = chars.next() {
                push_char(out, n);
                if n.is_ascii_hexdigit() {
                    if let Some(m) = chars.next() {
                        push_char(out, m);
                    }
                }
            }
        } else if c.is_ascii() {
            out.push(c.to_ascii_lowercase() as u8);
        } else {
            for l in c.to_lowercase() {
                push_char(out, l);
            }
        }
    }
}

fn push_char(out: &mut NormBuf, c: char) {
    let mut tmp = [0u8; 4];
    out.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
}

/// Whether a decoded value is written as it is in canonical form: nothing
/// to escape, no leading `#` or space, no trailing space.
fn needs_no_escape(value: &str) -> bool {
    let b = value.as_bytes();
    match (b.first(), b.last()) {
        (Some(b'#' | b' '), _) | (_, Some(b' ')) => return false,
        _ => {}
    }
    !b.iter().any(|&c| {
        matches!(
            c,
            b'"' | b'+' | b',' | b';' | b'<' | b'>' | b'\\' | 0..=0x1f | 0x7f
        )
    })
}

/// Parses `input` and writes its canonical text to `out`, one span per AVA
/// to `avas`. The same grammar, leniency and error positions as
/// [`parse_rdns`], without building the decoded AVAs.
fn scan_canonical(
    input: &str,
    out: &mut String,
    avas: &mut SmallVec<[AvaSpan; 16]>,
) -> Result<(), DnError> {
    let b = input.as_bytes();
    let mut i = skip_spaces(b, 0);
    if i == b.len() {
        return Ok(());
    }
    let mut scratch: Vec<u8> = Vec::new();
    let mut first_in_rdn = true;
    loop {
        i = skip_spaces(b, i);
        let t0 = i;
        i = scan_attr_type(b, i)?;
        let attr_type = &input[t0..i];
        i = skip_spaces(b, i);
        if i >= b.len() || b[i] != b'=' {
            return Err(err(i, "'=' after attribute type"));
        }
        i = skip_spaces(b, i + 1);
        if !first_in_rdn {
            out.push('+');
        } else if !avas.is_empty() {
            out.push(',');
        }
        let ty_start = out.len() as u32;
        out.push_str(attr_type);
        let ty = (ty_start, out.len() as u32);
        out.push('=');
        let v0 = out.len() as u32;
        let hex;
        if i < b.len() && b[i] == b'#' {
            let h0 = i;
            i += 1;
            while i < b.len() && hex_val(b[i]).is_some() {
                i += 1;
            }
            let n = i - h0 - 1;
            if n == 0 || n % 2 != 0 {
                return Err(err(i, "an even number of hex digits after '#'"));
            }
            out.extend(input[h0..i].chars().map(|c| c.to_ascii_lowercase()));
            hex = true;
            i = skip_spaces(b, i);
        } else {
            let (raw, next) = scan_string_value(input, i, &mut scratch)?;
            let value = match raw {
                Some(v) => v,
                None => std::str::from_utf8(&scratch)
                    .map_err(|_| err(i, "value that is valid UTF-8"))?,
            };
            if needs_no_escape(value) {
                out.push_str(value);
            } else {
                write_value(out, value, false);
            }
            hex = false;
            i = next;
        }
        let value = (v0, out.len() as u32);
        avas.push(AvaSpan {
            ty,
            value,
            hex,
            last: true,
        });
        if i >= b.len() {
            return Ok(());
        }
        match b[i] {
            b'+' => {
                if let Some(a) = avas.last_mut() {
                    a.last = false;
                }
                first_in_rdn = false;
                i += 1;
            }
            b',' => {
                first_in_rdn = true;
                i += 1;
                if skip_spaces(b, i) >= b.len() {
                    return Err(err(i, "another RDN after ','"));
                }
            }
            _ => return Err(err(i, "',' or '+' or end of dn")),
        }
        if skip_spaces(b, i) >= b.len() {
            return Err(err(i, "another attribute after '+'"));
        }
    }
}

/// Scans an attribute type (a name or a numeric OID) at `i`; returns where it ends.
fn scan_attr_type(b: &[u8], mut i: usize) -> Result<usize, DnError> {
    if i < b.len() && b[i].is_ascii_alphabetic() {
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'-') {
            i += 1;
        }
    } else if i < b.len() && b[i].is_ascii_digit() {
        // numericoid: number 1*( "." number )
        let mut dots = 0;
        loop {
            let d0 = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if i == d0 {
                return Err(err(i, "digit in numeric object identifier"));
            }
            if i - d0 > 1 && b[d0] == b'0' {
                return Err(err(d0, "number without a leading zero"));
            }
            if i < b.len() && b[i] == b'.' {
                dots += 1;
                i += 1;
            } else {
                break;
            }
        }
        if dots == 0 {
            return Err(err(i, "'.' in numeric object identifier"));
        }
    } else {
        return Err(err(i, "attribute type"));
    }
    Ok(i)
}

/// Scans a string value starting at `i`. A value without escapes is
/// returned as a slice of the input (`Some`); a value with escapes is
/// decoded into `scratch` (`None`). Also returns the index of the separator
/// (or end) that follows.
fn scan_string_value<'a>(
    input: &'a str,
    mut i: usize,
    scratch: &mut Vec<u8>,
) -> Result<(Option<&'a str>, usize), DnError> {
    let b = input.as_bytes();
    let start = i;
    // Length of the value that must be kept even if followed by spaces.
    let mut keep = 0usize;
    let mut escaped = false;
    scratch.clear();
    while i < b.len() {
        match b[i] {
            b',' | b'+' => break,
            b'\\' => {
                if !escaped {
                    escaped = true;
                    scratch.extend_from_slice(&b[start..i]);
                }
                let c = *b
                    .get(i + 1)
                    .ok_or(err(i + 1, "escaped character after '\\'"))?;
                match c {
                    b' ' | b'"' | b'#' | b'+' | b',' | b';' | b'<' | b'=' | b'>' | b'\\' => {
                        scratch.push(c);
                        i += 2;
                    }
                    _ => {
                        let hi = hex_val(c);
                        let lo = b.get(i + 2).copied().and_then(hex_val);
                        match (hi, lo) {
                            (Some(h), Some(l)) => {
                                scratch.push(h << 4 | l);
                                i += 3;
                            }
                            _ => {
                                return Err(err(
                                    i + 1,
                                    "special character or two hex digits after '\\'",
                                ));
                            }
                        }
                    }
                }
                keep = scratch.len();
            }
            b'"' | b';' | b'<' | b'>' | 0 => {
                return Err(err(i, "this character escaped with '\\'"));
            }
            c => {
                if escaped {
                    scratch.push(c);
                    if c != b' ' {
                        keep = scratch.len();
                    }
                } else if c != b' ' {
                    keep = i + 1 - start;
                }
                i += 1;
            }
        }
    }
    if i == start && (i >= b.len() || b[i] == b',' || b[i] == b'+') {
        // An empty value is allowed by RFC 4514 (`CN=`), as AD allows none;
        // we reject it: no Active Directory object has an empty RDN value.
        return Err(err(i, "attribute value"));
    }
    if keep == 0 {
        return Err(err(start, "attribute value"));
    }
    if escaped {
        scratch.truncate(keep);
        // Validated by the caller (the decoded bytes may not be UTF-8).
        Ok((None, i))
    } else {
        Ok((input.get(start..start + keep), i))
    }
}

/// Lowercases character by character. `str::to_lowercase` is context
/// sensitive (a capital sigma at the end of a word becomes `ς`, elsewhere
/// `σ`), which would make `aΣ0` and `aσ0` different names; per-character
/// lowercasing keeps equality a plain case-insensitive comparison. The
/// parser folds the same way inline ([`push_key`]); this form is the
/// reference the tests check it against.
#[cfg(test)]
fn fold_case(value: &str) -> String {
    if value.is_ascii() {
        return value.to_ascii_lowercase();
    }
    value.chars().flat_map(char::to_lowercase).collect()
}

/// Writes a value escaped the canonical RFC 4514 way.
fn write_value(out: &mut String, value: &str, hex: bool) {
    if hex {
        out.push_str(value);
        return;
    }
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        match c {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            '\0'..='\x1f' | '\x7f' => {
                let _ = write!(out, "\\{:02X}", c as u32);
            }
            _ => out.push(c),
        }
    }
}

fn err(position: usize, message: &'static str) -> DnError {
    DnError { position, message }
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn skip_spaces(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i] == b' ' {
        i += 1;
    }
    i
}

/// Parses the RDN sequence of a DN into decoded AVAs.
fn parse_rdns(input: &str) -> Result<Vec<Vec<Ava>>, DnError> {
    let b = input.as_bytes();
    let mut rdns = Vec::new();
    let mut i = skip_spaces(b, 0);
    if i == b.len() {
        return Ok(rdns);
    }
    let mut rdn = Vec::new();
    loop {
        // attribute type
        i = skip_spaces(b, i);
        let t0 = i;
        if i < b.len() && b[i].is_ascii_alphabetic() {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'-') {
                i += 1;
            }
        } else if i < b.len() && b[i].is_ascii_digit() {
            // numericoid: number 1*( "." number )
            let mut dots = 0;
            loop {
                let d0 = i;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                if i == d0 {
                    return Err(err(i, "digit in numeric object identifier"));
                }
                if i - d0 > 1 && b[d0] == b'0' {
                    return Err(err(d0, "number without a leading zero"));
                }
                if i < b.len() && b[i] == b'.' {
                    dots += 1;
                    i += 1;
                } else {
                    break;
                }
            }
            if dots == 0 {
                return Err(err(i, "'.' in numeric object identifier"));
            }
        } else {
            return Err(err(i, "attribute type"));
        }
        let attr_type = &input[t0..i];
        i = skip_spaces(b, i);
        if i >= b.len() || b[i] != b'=' {
            return Err(err(i, "'=' after attribute type"));
        }
        i = skip_spaces(b, i + 1);
        // attribute value
        let (value, hex, next) = if i < b.len() && b[i] == b'#' {
            let h0 = i;
            i += 1;
            while i < b.len() && hex_val(b[i]).is_some() {
                i += 1;
            }
            let n = i - h0 - 1;
            if n == 0 || n % 2 != 0 {
                return Err(err(i, "an even number of hex digits after '#'"));
            }
            let v = input[h0..i].to_ascii_lowercase();
            (v, true, skip_spaces(b, i))
        } else {
            let (v, next) = parse_string_value(input, i)?;
            (v, false, next)
        };
        i = next;
        rdn.push(Ava {
            attr_type: attr_type.to_owned(),
            value,
            hex,
        });
        if i >= b.len() {
            rdns.push(rdn);
            return Ok(rdns);
        }
        match b[i] {
            b'+' => i += 1,
            b',' => {
                rdns.push(std::mem::take(&mut rdn));
                i += 1;
                if skip_spaces(b, i) >= b.len() {
                    return Err(err(i, "another RDN after ','"));
                }
            }
            _ => return Err(err(i, "',' or '+' or end of dn")),
        }
        if skip_spaces(b, i) >= b.len() {
            return Err(err(i, "another attribute after '+'"));
        }
    }
}

/// Parses a string value starting at `i`; returns the decoded value and the
/// index of the separator (or end) that follows it.
fn parse_string_value(input: &str, mut i: usize) -> Result<(String, usize), DnError> {
    let b = input.as_bytes();
    let mut out: Vec<u8> = Vec::new();
    // Length of `out` that must be kept even if followed by spaces (escaped).
    let mut keep = 0usize;
    let start = i;
    while i < b.len() {
        match b[i] {
            b',' | b'+' => break,
            b'\\' => {
                let c = *b
                    .get(i + 1)
                    .ok_or(err(i + 1, "escaped character after '\\'"))?;
                match c {
                    b' ' | b'"' | b'#' | b'+' | b',' | b';' | b'<' | b'=' | b'>' | b'\\' => {
                        out.push(c);
                        i += 2;
                    }
                    _ => {
                        let hi = hex_val(c);
                        let lo = b.get(i + 2).copied().and_then(hex_val);
                        match (hi, lo) {
                            (Some(h), Some(l)) => {
                                out.push(h << 4 | l);
                                i += 3;
                            }
                            _ => {
                                return Err(err(
                                    i + 1,
                                    "special character or two hex digits after '\\'",
                                ));
                            }
                        }
                    }
                }
                keep = out.len();
            }
            b'"' | b';' | b'<' | b'>' | 0 => {
                return Err(err(i, "this character escaped with '\\'"));
            }
            c => {
                out.push(c);
                if c != b' ' {
                    keep = out.len();
                }
                i += 1;
            }
        }
    }
    if i == start && (i >= b.len() || b[i] == b',' || b[i] == b'+') {
        // An empty value is allowed by RFC 4514 (`CN=`), as AD allows none;
        // we reject it: no Active Directory object has an empty RDN value.
        return Err(err(i, "attribute value"));
    }
    out.truncate(keep);
    if out.is_empty() {
        return Err(err(start, "attribute value"));
    }
    let value = String::from_utf8(out).map_err(|_| err(start, "value that is valid UTF-8"))?;
    Ok((value, i))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dn(s: &str) -> Dn {
        Dn::parse(s).unwrap()
    }

    #[test]
    fn escapes_decode_and_reformat() {
        let d = dn(r#"CN=James \"Jim\" Smith\, III,DC=example,DC=net"#);
        assert_eq!(d.rdn_avas(0).unwrap()[0].value, r#"James "Jim" Smith, III"#);
        assert_eq!(
            d.to_string(),
            r#"CN=James \"Jim\" Smith\, III,DC=example,DC=net"#
        );
        let d = dn(r"CN=Lu\C4\8Di\C4\87");
        assert_eq!(d.rdn_avas(0).unwrap()[0].value, "Lučić");
        assert_eq!(dn(r"CN=\#1\=\<\>\;\\"), dn(r"cn=\231=\3C\3E\3B\5C"));
        let d = dn(r"CN=\ lead and trail\ ,DC=x");
        assert_eq!(d.rdn_avas(0).unwrap()[0].value, " lead and trail ");
        assert_eq!(d.to_string(), r"CN=\ lead and trail\ ,DC=x");
    }

    #[test]
    fn multi_valued_rdn_order_is_ignored() {
        assert_eq!(
            dn("OU=Sales+CN=J. Smith,DC=x"),
            dn("cn=j. smith+ou=sales,dc=X")
        );
        assert_eq!(dn("OU=Sales+CN=J.  Smith,DC=x").len(), 2);
    }

    #[test]
    fn is_under_is_rdn_wise() {
        let sales = dn("OU=Sales,DC=corp");
        assert!(dn("CN=a,OU=Sales,DC=corp").is_under(&sales));
        assert!(sales.is_under(&sales));
        assert!(!dn("CN=a,OU=Sales2,DC=corp").is_under(&sales));
        assert!(!dn("CN=a,OU=XSales,DC=corp").is_under(&sales));
        // an escaped comma is not a boundary
        assert!(!dn(r"CN=a\,OU=Sales,DC=corp").is_under(&dn("DC=corp,DC=x")));
        assert!(!dn(r"OU=x\,OU=Sales,DC=corp").is_under(&sales));
        assert!(dn("CN=a").is_under(&Dn::root()));
        assert!(!sales.is_under(&dn("CN=a,OU=Sales,DC=corp")));
    }

    #[test]
    fn tombstone_names_parse() {
        let d = dn(
            r"CN=bob\0ADEL:5eadd77c-4142-4ff3-8dce-f8b35d8b3956,CN=Deleted Objects,DC=corp,DC=com",
        );
        assert_eq!(
            d.rdn_avas(0).unwrap()[0].value,
            "bob\nDEL:5eadd77c-4142-4ff3-8dce-f8b35d8b3956"
        );
        assert_eq!(dn(&d.to_string()), d);
    }

    #[test]
    fn parent_rebase_child() {
        let d = dn("CN=a,OU=b,DC=c");
        assert_eq!(d.parent().unwrap(), dn("OU=b,DC=c"));
        assert_eq!(dn("DC=c").parent().unwrap(), Dn::root());
        assert_eq!(Dn::root().parent(), None);
        assert_eq!(
            d.rebase(&dn("ou=B,dc=c"), &dn("OU=z,OU=y,DC=c")).unwrap(),
            dn("CN=a,OU=z,OU=y,DC=c")
        );
        assert_eq!(d.rebase(&dn("OU=q,DC=c"), &dn("DC=c")), None);
        assert_eq!(
            dn("OU=b,DC=c").child("CN=new\\, one").unwrap(),
            dn("cn=New\\2C One,ou=b,dc=c")
        );
    }

    #[test]
    fn errors_have_positions() {
        assert_eq!(Dn::parse("CN=foo,").unwrap_err().position, 7);
        assert_eq!(Dn::parse("=foo,DC=com").unwrap_err().position, 0);
        assert_eq!(Dn::parse("CN=a\\").unwrap_err().position, 5);
        assert_eq!(Dn::parse("CN=a\\zz").unwrap_err().position, 5);
        assert_eq!(Dn::parse("CN=a\"b").unwrap_err().position, 4);
        assert!(Dn::parse("CN=#abc").is_err());
        assert!(Dn::parse("CN=\\FF\\FE").is_err());
        assert!(Dn::parse("CN").is_err());
        assert!(Dn::parse("CN=a+").is_err());
        assert!(Dn::parse("01.2=x").is_err());
        assert!(Dn::parse("1=x").is_err());
        assert!(Dn::parse("CN=,DC=x").is_err());
    }

    #[test]
    fn case_folding_is_per_character() {
        // str::to_lowercase turns a word-final capital sigma into a final
        // sigma; found by the proptest `dn_equality_ignores_case`
        assert_eq!(dn("CN=aΣ0"), dn("cn=aσ0"));
        assert_eq!(dn("CN=ΑΣ,DC=x"), dn("cn=ασ,dc=x"));
        assert_eq!(dn("CN=LUČIĆ"), dn("cn=lučić"));
    }

    /// The normalized text as the two-step parser (decode every AVA, then
    /// re-escape and sort) built it, before the single-pass one.
    fn reference(input: &str) -> Result<(String, String), DnError> {
        let rdns = parse_rdns(input)?;
        let mut text = String::new();
        let mut norm = String::new();
        for (i, rdn) in rdns.iter().enumerate() {
            if i > 0 {
                text.push(',');
                norm.push(',');
            }
            let mut keys = Vec::new();
            for (j, ava) in rdn.iter().enumerate() {
                if j > 0 {
                    text.push('+');
                }
                text.push_str(&ava.attr_type);
                text.push('=');
                write_value(&mut text, &ava.value, ava.hex);
                let mut key = ava.attr_type.to_ascii_lowercase();
                key.push('=');
                if ava.hex {
                    key.push_str(&ava.value.to_ascii_lowercase());
                } else {
                    write_value(&mut key, &fold_case(&ava.value), false);
                }
                keys.push(key);
            }
            keys.sort_unstable();
            norm.push_str(&keys.join("+"));
        }
        Ok((text, norm))
    }

    proptest::proptest! {
        #[test]
        fn single_pass_agrees_with_the_reference_on_any_input(
            s in "[a-zA-Z0-9 =,+#;<>.\\\\\"ÄäΣσİ\u{1}-]{0,40}"
        ) {
            match (reference(&s), Dn::parse(&s)) {
                (Ok((text, norm)), Ok(d)) => {
                    proptest::prop_assert_eq!(d.as_str(), &*text);
                    proptest::prop_assert_eq!(d.normalized(), &*norm);
                }
                (Err(a), Err(b)) => proptest::prop_assert_eq!(a, b),
                (a, b) => proptest::prop_assert!(false, "{:?} vs {:?}", a, b),
            }
        }
    }

    #[test]
    fn single_pass_agrees_with_the_reference() {
        let cases = [
            "CN=Ann Lee,OU=Staff,DC=corp,DC=example,DC=com",
            r"CN=Bob\, Jr.,OU=Sales,DC=corp",
            r"CN=\ lead and trail\ ,DC=x",
            r"CN=\#1\=\<\>\;\\",
            r"CN=Lu\C4\8Di\C4\87,OU=ŁÓDŹ",
            "cn = spaced , ou = Out  ,dc=x",
            "OU=Sales+CN=J. Smith+UID=Q,DC=x",
            r"CN=bob\0ADEL:5eadd77c-4142-4ff3-8dce-f8b35d8b3956,CN=Deleted Objects,DC=corp",
            "1.3.6.1.4.1.1466.0=#04024869,DC=Example",
            "CN=aΣ0+SN=ΑΣ,DC=x",
            "CN=trailing   ,DC=x",
            r"CN=x\7F\01y,DC=x",
            "CN=İstanbul ẞ,DC=x",
            "",
            "   ",
        ];
        for c in cases {
            let (text, norm) = reference(c).unwrap();
            let d = dn(c);
            assert_eq!((d.as_str(), d.normalized()), (&*text, &*norm), "{c}");
            let starts: Vec<&str> = d.rdns().collect();
            assert_eq!(starts.len(), d.len(), "{c}");
            if let Some(p) = d.parent() {
                assert_eq!(p, dn(&starts[1..].join(",")), "{c}");
            }
        }
    }

    /// `parse_plain` either declines or gives exactly what `parse` gives.
    fn plain_agrees(input: &str) -> Result<bool, String> {
        let Some(p) = Dn::parse_plain(input) else {
            return Ok(false);
        };
        let d = Dn::parse(input).map_err(|e| format!("{input:?}: plain {p:?}, parse {e}"))?;
        let same = p.as_str() == d.as_str()
            && p.normalized() == d.normalized()
            && p.0.split == d.0.split
            && p.0.starts == d.0.starts;
        if same {
            Ok(true)
        } else {
            Err(format!(
                "{input:?}: plain {:?} {:?} {:?}, parse {:?} {:?} {:?}",
                p.as_str(),
                p.normalized(),
                p.0.starts,
                d.as_str(),
                d.normalized(),
                d.0.starts
            ))
        }
    }

    #[test]
    fn plain_form_agrees_with_parse() {
        let taken = [
            "CN=Ann Lee,OU=Staff,DC=corp,DC=example,DC=com",
            "cn=a,dc=X",
            "CN=José Müller 7,OU=Users,DC=corp",
            "CN=ÖBERG İ ẞ ΑΣ,DC=x",
            r"CN=bob\0ADEL:5eadd77c-4142-4ff3-8dce-f8b35d8b3956,CN=Deleted Objects,DC=corp",
            r"CN=x\7F\1Fy,DC=x",
            "CN=a=b,DC=x",
            "CN=a  b,DC=x",
            "ms-DS-x=1,DC=x",
        ];
        for c in taken {
            assert_eq!(plain_agrees(c), Ok(true), "{c}");
        }
        let declined = [
            "",
            " CN=a",
            "CN =a",
            "CN= a",
            "CN=a ",
            "CN=a, DC=x",
            "CN=a,",
            "CN=a+SN=b",
            "CN=#04",
            r"CN=Bob\, Jr.",
            r"CN=x\0a",
            r"CN=x\20",
            "CN=\u{1}",
            "1.2.3=x",
            "CN=,DC=x",
            "CN",
            "CN=a;b",
        ];
        for c in declined {
            assert_eq!(plain_agrees(c), Ok(false), "{c}");
        }
    }

    proptest::proptest! {
        #[test]
        fn plain_form_agrees_with_parse_on_any_input(
            s in "([a-zA-Z1.-]{0,3}=[a-zA-Z0-9 =#,+;\\\\\"ÄäΣσİẞ\u{1}\u{7f}-]{0,8}(\\\\[0-9A-Fa-f ,]{0,2})?,?){0,4}"
        ) {
            if let Err(e) = plain_agrees(&s) {
                proptest::prop_assert!(false, "{}", e);
            }
        }

        /// Mostly input the plain form takes (escapes, non-ASCII case
        /// folding, inner spaces), so the agreement is checked where it
        /// matters, not only on input both decline.
        #[test]
        fn plain_form_agrees_with_parse_on_plain_input(
            s in "([a-zA-Z][a-zA-Z0-9-]{0,3}=([a-zA-Z0-9 =.ÄäÖΣσİẞ-]|\\\\[01][0-9A-F]|\\\\7F){1,10},){0,4}[a-zA-Z]{1,3}=[a-zA-Z0-9ÄÖσ]{1,6}"
        ) {
            let taken = plain_agrees(&s);
            proptest::prop_assert!(taken.is_ok(), "{:?}", taken);
        }
    }

    #[test]
    fn hex_values() {
        let d = dn("1.3.6.1.4.1.1466.0=#04024869,DC=example,DC=com");
        assert_eq!(d.rdn_avas(0).unwrap()[0].value, "#04024869");
        assert!(d.rdn_avas(0).unwrap()[0].hex);
        assert_eq!(d, dn("1.3.6.1.4.1.1466.0=#04024869,dc=Example,DC=com"));
    }
}
