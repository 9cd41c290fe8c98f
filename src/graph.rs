//! Rendering plan operations as the Microsoft Graph requests a host would
//! send: method, relative URL, headers and JSON body, and JSON `$batch`
//! groupings of up to 20 requests. Pure: no HTTP client, no I/O; the host
//! sends what it gets (serde-serializable) and feeds the results back to
//! the engine. It must never put a password hash anywhere but the one body
//! that carries it, and never print that body.
//!
//! # Requests
//!
//! URLs are relative to the Graph version root (`https://graph.microsoft.com/v1.0`),
//! as JSON batching wants them. Each op renders to exactly one request whose
//! `id` is the op's number, so a [`TargetRef::CreatedBy`] renders as the
//! content-id reference `$<n>` (in the URL, or in `@odata.id`) plus
//! `dependsOn: ["<n>"]`.
//!
//! | action | request |
//! | --- | --- |
//! | create user | `POST /users`, body with `onPremisesImmutableId` and the mapped properties |
//! | create group | `POST /groups`, `@odata.type: #microsoft.graph.group`; `mailEnabled` false and `securityEnabled` true when the plan sets neither (Graph requires both) |
//! | create contact | `POST /contacts`, `@odata.type: #microsoft.graph.orgContact` (Graph v1.0 exposes `orgContact` read-only: a host needs a channel that may write contacts; idsync renders the request that would carry it) |
//! | update | `PATCH /{users,groups,contacts}/{id}`, only the changed properties (an emptied attribute is `null`, `[]` for a collection) |
//! | stamp anchor | `PATCH /users/{id}` with `onPremisesImmutableId` and the changed properties |
//! | delete | `DELETE /{collection}/{id}` (Entra soft-deletes users and groups) |
//! | restore | `POST /directory/deletedItems/{id}/restore` |
//! | add member | `POST /groups/{id}/members/$ref`, `{"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/{member}"}` |
//! | remove member | `DELETE /groups/{id}/members/{member}/$ref` |
//! | password hash | `POST /users/{id}/idsync.setPasswordHash`, `{"passwordHash": "<base64>"}` (Graph has no password-hash property: the product uses a private channel; this idsync-named bound action marks the request for the host to route there) |
//!
//! Only users carry `onPremisesImmutableId` in Graph; for groups and
//! contacts the anchor is reported as not rendered. Graph requires a
//! `passwordProfile` to create a user: idsync never invents a password, so
//! a host that creates users through plain Graph adds one.
//!
//! # Attribute names
//!
//! The engine's target attributes use the provisioning schema's names
//! (case-insensitive); they map to Graph properties by [`graph_property`]:
//!
//! | provisioning schema | Graph | kinds |
//! | --- | --- | --- |
//! | `AccountEnabled` | `accountEnabled` (boolean) | user |
//! | `Alias`, `MailNickname` | `mailNickname` | all |
//! | `City` | `city` | user |
//! | `Company`, `CompanyName` | `companyName` | user, contact |
//! | `Country` | `country` | user |
//! | `Department` | `department` | user, contact |
//! | `Description` | `description` | group |
//! | `DisplayName` | `displayName` | all |
//! | `EmployeeId` | `employeeId` | user |
//! | `ExtensionAttribute1`..`15` | `onPremisesExtensionAttributes.extensionAttributeN` | user |
//! | `FacsimileTelephoneNumber` | `faxNumber` | user |
//! | `GivenName` | `givenName` | user, contact |
//! | `Mail` | `mail` | all |
//! | `MailEnabled`, `SecurityEnabled` | `mailEnabled`, `securityEnabled` (booleans) | group |
//! | `Mobile` | `mobilePhone` | user |
//! | `PhysicalDeliveryOfficeName` | `officeLocation` | user |
//! | `PostalCode`, `State`, `StreetAddress` | `postalCode`, `state`, `streetAddress` | user |
//! | `PreferredLanguage` | `preferredLanguage` | user |
//! | `ProxyAddresses` | `proxyAddresses` (collection) | all |
//! | `Surname` | `surname` | user, contact |
//! | `TelephoneNumber` | `businessPhones` (collection) | user |
//! | `Title` | `jobTitle` | user, contact |
//! | `UsageLocation` | `usageLocation` | user |
//! | `UserPrincipalName` | `userPrincipalName` | user |
//! | `SourceAnchor` | `onPremisesImmutableId` | user |
//! | `onPremisesSamAccountName` | `onPremisesSamAccountName` | user, group |
//! | `OnPremiseSecurityIdentifier` | `onPremisesSecurityIdentifier` | user, group |
//! | `onPremisesDistinguishedName`, `onPremisesUserPrincipalName` | same names | user |
//! | `dnsDomainName` | `onPremisesDomainName` | user |
//!
//! The `onPremises*` properties and `proxyAddresses` are read-only to
//! ordinary Graph callers (the sync service writes them); they are rendered
//! so the request says everything the op does. Any other attribute is
//! returned in [`Rendered::not_rendered`] with the reason, never dropped
//! silently.
//!
//! # Batches
//!
//! [`batch`] cuts requests, in plan order, into `$batch` bodies of at most 20
//! requests. It cuts where no later request depends on one before the cut,
//! so a create and the ops that reference it travel together; only a chain
//! of dependent requests longer than a batch is split, and then the later
//! batch keeps the `$<n>` reference without a `dependsOn` (Graph refuses a
//! `dependsOn` outside its batch): the host substitutes the created id with
//! [`GraphRequest::resolve_created`] once the earlier batch answered.
//! Requests without `dependsOn` may run in any order inside a batch (Graph's
//! rule), so a host that needs strict plan order sends one request at a time.
//!
//! Graph's JSON batching orders dependent requests but does not substitute
//! one response's id into another request (OData's `$<content-id>`
//! referencing is not supported there), so a `$<n>` is a placeholder for
//! the host: it sends [`GraphBatch::ready`] first, then fills in the created
//! ids with [`GraphRequest::resolve_created`] and sends the rest.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json, json};

use crate::object::{AttrName, ObjectKind, Value};
use crate::target::{Action, AttrChange, OpId, TargetId, TargetOp, TargetRef};

/// The Graph version root the relative URLs are under.
pub const GRAPH_ROOT: &str = "https://graph.microsoft.com/v1.0";

/// The most requests one JSON batch may hold.
pub const MAX_BATCH_REQUESTS: usize = 20;

/// The bound action name idsync uses for password hashes.
pub const PASSWORD_HASH_ACTION: &str = "idsync.setPasswordHash";

/// An HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    /// GET.
    Get,
    /// POST.
    Post,
    /// PATCH.
    Patch,
    /// DELETE.
    Delete,
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        })
    }
}

/// One Graph request, in the shape of a JSON batch entry.
///
/// Its serialized form is the wire form (a password hash included, in the
/// one request that carries it); `Debug`, `Display` and
/// [`GraphRequest::log_form`] redact such a body.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GraphRequest {
    /// The request id: the op's number.
    pub id: String,
    /// The method.
    pub method: Method,
    /// The URL relative to [`GRAPH_ROOT`].
    pub url: String,
    /// Headers (`Content-Type` when there is a body).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// The JSON body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Json>,
    /// Ids of requests of the same batch this one waits for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
}

impl GraphRequest {
    /// Whether the body carries a secret (a password hash).
    pub fn carries_secret(&self) -> bool {
        self.url.ends_with(PASSWORD_HASH_ACTION)
    }

    /// The request as it may be logged: a secret-carrying body replaced by
    /// `"<redacted>"`.
    pub fn log_form(&self) -> Json {
        let mut v = serde_json::to_value(self).unwrap_or(Json::Null);
        if self.carries_secret() {
            if let Some(obj) = v.as_object_mut() {
                obj.insert("body".to_owned(), Json::String("<redacted>".to_owned()));
            }
        }
        v
    }

    /// The ops whose created objects this request still refers to as
    /// `$<n>` (in the URL or in `@odata.id`).
    pub fn unresolved_refs(&self) -> Vec<OpId> {
        let mut refs: Vec<OpId> = self.url.split('/').filter_map(content_ref).collect();
        if let Some(target) = self
            .body
            .as_ref()
            .and_then(|b| b.get("@odata.id"))
            .and_then(Json::as_str)
        {
            refs.extend(target.rsplit('/').next().and_then(content_ref));
        }
        refs.dedup();
        refs
    }

    /// Substitutes the id of the object op `op` created for its `$<n>`
    /// reference and drops the matching `dependsOn`.
    pub fn resolve_created(&mut self, op: OpId, id: &TargetId) {
        let reference = format!("${}", op.0);
        let encoded = encode_segment(id.as_str());
        self.url = self
            .url
            .split('/')
            .map(|s| if s == reference { encoded.as_str() } else { s })
            .collect::<Vec<_>>()
            .join("/");
        if let Some(Json::String(target)) = self.body.as_mut().and_then(|b| b.get_mut("@odata.id"))
        {
            if let Some(prefix) = target.strip_suffix(&reference) {
                *target = format!("{prefix}{encoded}");
            }
        }
        let n = op.0.to_string();
        self.depends_on.retain(|d| *d != n);
    }
}

fn content_ref(segment: &str) -> Option<OpId> {
    let digits = segment.strip_prefix('$')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().map(OpId)
}

impl fmt::Debug for GraphRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let body: &dyn fmt::Debug = if self.carries_secret() {
            &"<redacted>"
        } else {
            &self.body
        };
        f.debug_struct("GraphRequest")
            .field("id", &self.id)
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &self.headers)
            .field("body", body)
            .field("depends_on", &self.depends_on)
            .finish()
    }
}

/// `METHOD url body` on one line, secrets redacted.
impl fmt::Display for GraphRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.url)?;
        match &self.body {
            Some(_) if self.carries_secret() => f.write_str(" <redacted>"),
            Some(b) => write!(f, " {b}"),
            None => Ok(()),
        }
    }
}

/// An attribute of an op that has no Graph rendering.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotRendered {
    /// The op.
    pub op: OpId,
    /// The attribute (provisioning-schema name).
    pub attribute: AttrName,
    /// Why.
    pub reason: String,
}

/// One op rendered.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// The request.
    pub request: GraphRequest,
    /// The op's attributes that are not in the request, with the reason.
    pub not_rendered: Vec<NotRendered>,
}

/// An op whose values cannot be put in a Graph request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GraphError {
    /// A value of the wrong type for the property.
    #[error(
        "{op}: attribute {attribute}: graph property {property} needs {expected}, found {found}"
    )]
    ValueType {
        /// The op.
        op: OpId,
        /// The attribute.
        attribute: String,
        /// The Graph property.
        property: &'static str,
        /// What the property needs.
        expected: &'static str,
        /// What the value was (its kind, never the value itself).
        found: &'static str,
    },
    /// Several values for a single-valued property.
    #[error(
        "{op}: attribute {attribute}: graph property {property} takes one value, found {count}"
    )]
    MultiValued {
        /// The op.
        op: OpId,
        /// The attribute.
        attribute: String,
        /// The Graph property.
        property: &'static str,
        /// How many values there were.
        count: usize,
    },
    /// An op on an object kind Graph does not sync.
    #[error("{op}: object kind {kind} has no graph collection")]
    UnsupportedKind {
        /// The op.
        op: OpId,
        /// The kind.
        kind: ObjectKind,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Shape {
    Text,
    Bool,
    List,
    Extension,
}

/// A Graph property an attribute maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GraphProperty {
    /// The property name (for an extension attribute, the name inside
    /// `onPremisesExtensionAttributes`).
    pub name: &'static str,
    /// Whether it sits inside `onPremisesExtensionAttributes`.
    pub in_extension_attributes: bool,
    shape: Shape,
}

const USER: u8 = 1;
const GROUP: u8 = 2;
const CONTACT: u8 = 4;
const ALL: u8 = USER | GROUP | CONTACT;

const TABLE: &[(&str, &str, Shape, u8)] = &[
    ("AccountEnabled", "accountEnabled", Shape::Bool, USER),
    ("Alias", "mailNickname", Shape::Text, ALL),
    ("MailNickname", "mailNickname", Shape::Text, ALL),
    ("City", "city", Shape::Text, USER),
    ("Company", "companyName", Shape::Text, USER | CONTACT),
    ("CompanyName", "companyName", Shape::Text, USER | CONTACT),
    ("Country", "country", Shape::Text, USER),
    ("Department", "department", Shape::Text, USER | CONTACT),
    ("Description", "description", Shape::Text, GROUP),
    ("DisplayName", "displayName", Shape::Text, ALL),
    ("EmployeeId", "employeeId", Shape::Text, USER),
    ("FacsimileTelephoneNumber", "faxNumber", Shape::Text, USER),
    ("GivenName", "givenName", Shape::Text, USER | CONTACT),
    ("Mail", "mail", Shape::Text, ALL),
    ("MailEnabled", "mailEnabled", Shape::Bool, GROUP),
    ("SecurityEnabled", "securityEnabled", Shape::Bool, GROUP),
    ("Mobile", "mobilePhone", Shape::Text, USER),
    (
        "PhysicalDeliveryOfficeName",
        "officeLocation",
        Shape::Text,
        USER,
    ),
    ("PostalCode", "postalCode", Shape::Text, USER),
    ("State", "state", Shape::Text, USER),
    ("StreetAddress", "streetAddress", Shape::Text, USER),
    ("PreferredLanguage", "preferredLanguage", Shape::Text, USER),
    ("ProxyAddresses", "proxyAddresses", Shape::List, ALL),
    ("Surname", "surname", Shape::Text, USER | CONTACT),
    ("TelephoneNumber", "businessPhones", Shape::List, USER),
    ("Title", "jobTitle", Shape::Text, USER | CONTACT),
    ("UsageLocation", "usageLocation", Shape::Text, USER),
    ("UserPrincipalName", "userPrincipalName", Shape::Text, USER),
    ("SourceAnchor", "onPremisesImmutableId", Shape::Text, USER),
    (
        "onPremisesSamAccountName",
        "onPremisesSamAccountName",
        Shape::Text,
        USER | GROUP,
    ),
    (
        "OnPremiseSecurityIdentifier",
        "onPremisesSecurityIdentifier",
        Shape::Text,
        USER | GROUP,
    ),
    (
        "onPremisesDistinguishedName",
        "onPremisesDistinguishedName",
        Shape::Text,
        USER,
    ),
    (
        "onPremisesUserPrincipalName",
        "onPremisesUserPrincipalName",
        Shape::Text,
        USER,
    ),
    ("dnsDomainName", "onPremisesDomainName", Shape::Text, USER),
];

const EXTENSION_NAMES: [&str; 15] = [
    "extensionAttribute1",
    "extensionAttribute2",
    "extensionAttribute3",
    "extensionAttribute4",
    "extensionAttribute5",
    "extensionAttribute6",
    "extensionAttribute7",
    "extensionAttribute8",
    "extensionAttribute9",
    "extensionAttribute10",
    "extensionAttribute11",
    "extensionAttribute12",
    "extensionAttribute13",
    "extensionAttribute14",
    "extensionAttribute15",
];

fn kind_bit(kind: ObjectKind) -> u8 {
    match kind {
        ObjectKind::User => USER,
        ObjectKind::Group => GROUP,
        ObjectKind::Contact => CONTACT,
        ObjectKind::Unsupported => 0,
    }
}

/// The Graph property a provisioning-schema attribute maps to for this
/// kind of object, if any (the table in the module docs).
///
/// ```
/// use idsync::graph::graph_property;
/// use idsync::object::ObjectKind;
/// assert_eq!(graph_property(ObjectKind::User, "title").map(|p| p.name), Some("jobTitle"));
/// let ext = graph_property(ObjectKind::User, "ExtensionAttribute7").ok_or("none")?;
/// assert!(ext.in_extension_attributes);
/// assert_eq!(ext.name, "extensionAttribute7");
/// assert!(graph_property(ObjectKind::User, "MSExchMailboxGuid").is_none());
/// # Ok::<(), &str>(())
/// ```
pub fn graph_property(kind: ObjectKind, attribute: &str) -> Option<GraphProperty> {
    let bit = kind_bit(kind);
    if let Some((_, name, shape, _)) = TABLE
        .iter()
        .find(|(a, _, _, kinds)| a.eq_ignore_ascii_case(attribute) && kinds & bit != 0)
    {
        return Some(GraphProperty {
            name,
            in_extension_attributes: false,
            shape: *shape,
        });
    }
    if kind == ObjectKind::User {
        if let Some(name) = EXTENSION_NAMES
            .iter()
            .find(|n| n.eq_ignore_ascii_case(attribute))
        {
            return Some(GraphProperty {
                name,
                in_extension_attributes: true,
                shape: Shape::Extension,
            });
        }
    }
    None
}

fn collection(op: &TargetOp) -> Result<&'static str, GraphError> {
    match op.kind {
        ObjectKind::User => Ok("users"),
        ObjectKind::Group => Ok("groups"),
        ObjectKind::Contact => Ok("contacts"),
        ObjectKind::Unsupported => Err(GraphError::UnsupportedKind {
            op: op.id,
            kind: op.kind,
        }),
    }
}

/// Percent-encodes an id for a URL path segment (Entra ids are GUIDs and
/// pass unchanged).
fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Builds request ids, paths and references.
struct Builder<'a> {
    op: &'a TargetOp,
    depends_on: Vec<String>,
    not_rendered: Vec<NotRendered>,
}

impl<'a> Builder<'a> {
    fn reference(&mut self, r: &TargetRef) -> String {
        match r {
            TargetRef::Id(id) => encode_segment(id.as_str()),
            TargetRef::CreatedBy(op) => {
                let n = op.0.to_string();
                if !self.depends_on.contains(&n) {
                    self.depends_on.push(n);
                }
                format!("${}", op.0)
            }
        }
    }

    fn skip(&mut self, attribute: &AttrName, reason: String) {
        self.not_rendered.push(NotRendered {
            op: self.op.id,
            attribute: attribute.clone(),
            reason,
        });
    }

    /// Puts one attribute's values in `body` (or records why not).
    fn property(
        &mut self,
        body: &mut Map<String, Json>,
        attribute: &AttrName,
        values: &[Value],
    ) -> Result<(), GraphError> {
        let kind = self.op.kind;
        let Some(prop) = graph_property(kind, attribute.as_str()) else {
            self.skip(
                attribute,
                format!("no microsoft graph property for this attribute on a {kind}"),
            );
            return Ok(());
        };
        let value = self.json_value(attribute, &prop, values)?;
        if prop.in_extension_attributes {
            let ext = body
                .entry("onPremisesExtensionAttributes")
                .or_insert_with(|| Json::Object(Map::new()));
            if let Some(ext) = ext.as_object_mut() {
                ext.insert(prop.name.to_owned(), value);
            }
        } else {
            body.insert(prop.name.to_owned(), value);
        }
        Ok(())
    }

    fn json_value(
        &self,
        attribute: &AttrName,
        prop: &GraphProperty,
        values: &[Value],
    ) -> Result<Json, GraphError> {
        let type_err = |expected, found| GraphError::ValueType {
            op: self.op.id,
            attribute: attribute.to_string(),
            property: prop.name,
            expected,
            found,
        };
        for v in values {
            if let Value::Secret(_) = v {
                return Err(type_err("a plain value", "secret"));
            }
        }
        if prop.shape == Shape::List {
            return Ok(Json::Array(
                values.iter().map(|v| Json::String(v.to_string())).collect(),
            ));
        }
        let v = match values {
            [] => return Ok(Json::Null),
            [v] => v,
            _ => {
                return Err(GraphError::MultiValued {
                    op: self.op.id,
                    attribute: attribute.to_string(),
                    property: prop.name,
                    count: values.len(),
                });
            }
        };
        match (prop.shape, v) {
            (Shape::Bool, Value::Bool(b)) => Ok(Json::Bool(*b)),
            (Shape::Bool, Value::Str(s)) if s.eq_ignore_ascii_case("true") => Ok(Json::Bool(true)),
            (Shape::Bool, Value::Str(s)) if s.eq_ignore_ascii_case("false") => {
                Ok(Json::Bool(false))
            }
            (Shape::Bool, other) => Err(type_err("a boolean", other.kind_name())),
            (_, other) => Ok(Json::String(other.to_string())),
        }
    }

    fn changes(
        &mut self,
        body: &mut Map<String, Json>,
        changes: &[AttrChange],
    ) -> Result<(), GraphError> {
        for c in changes {
            self.property(body, &c.name, &c.to)?;
        }
        Ok(())
    }

    fn anchor_not_rendered(&mut self) {
        let kind = self.op.kind;
        self.skip(
            &AttrName::new("SourceAnchor"),
            format!("microsoft graph has no onPremisesImmutableId on a {kind}"),
        );
    }

    fn finish(self, method: Method, url: String, body: Option<Json>) -> Rendered {
        let mut headers = BTreeMap::new();
        if body.is_some() {
            headers.insert("Content-Type".to_owned(), "application/json".to_owned());
        }
        Rendered {
            request: GraphRequest {
                id: self.op.id.0.to_string(),
                method,
                url,
                headers,
                body,
                depends_on: self.depends_on,
            },
            not_rendered: self.not_rendered,
        }
    }
}

/// Renders one op as a Graph request.
///
/// ```
/// use idsync::anchor::Guid;
/// use idsync::graph::{render, Method};
/// use idsync::object::{AttrName, ObjectKind, Value, Values};
/// use idsync::target::{Action, OpId, Reason, TargetOp, TargetRef};
///
/// let guid = Guid::parse("6f9619ff-8b86-d011-b42d-00c04fc964ff")?;
/// let create = TargetOp {
///     id: OpId(1),
///     object: guid,
///     kind: ObjectKind::User,
///     action: Action::Create {
///         anchor: guid.immutable_id(),
///         attributes: vec![
///             (AttrName::new("UserPrincipalName"), Values::from_iter([Value::str("ann@contoso.com")])),
///             (AttrName::new("AccountEnabled"), Values::from_iter([Value::str("True")])),
///         ],
///     },
///     reason: Reason::NewObject,
/// };
/// let r = render(&create)?;
/// assert_eq!((r.request.method, r.request.url.as_str()), (Method::Post, "/users"));
/// let body = r.request.body.ok_or("no body")?;
/// assert_eq!(body["onPremisesImmutableId"], "/xmWb4aLEdC0LQDAT8lk/w==");
/// assert_eq!(body["accountEnabled"], true);
///
/// let add = TargetOp {
///     id: OpId(2),
///     object: guid,
///     kind: ObjectKind::Group,
///     action: Action::AddMember {
///         group: TargetRef::Id(idsync::target::TargetId::new("g1")),
///         member: TargetRef::CreatedBy(OpId(1)),
///     },
///     reason: Reason::Membership,
/// };
/// let r = render(&add)?;
/// assert_eq!(r.request.url, "/groups/g1/members/$ref");
/// assert_eq!(r.request.depends_on, vec!["1".to_owned()]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn render(op: &TargetOp) -> Result<Rendered, GraphError> {
    let mut b = Builder {
        op,
        depends_on: Vec::new(),
        not_rendered: Vec::new(),
    };
    let coll = collection(op)?;
    match &op.action {
        Action::Create { anchor, attributes } => {
            let mut body = Map::new();
            match op.kind {
                ObjectKind::Group => {
                    body.insert("@odata.type".into(), json!("#microsoft.graph.group"));
                }
                ObjectKind::Contact => {
                    body.insert("@odata.type".into(), json!("#microsoft.graph.orgContact"));
                }
                _ => {}
            }
            if op.kind == ObjectKind::User {
                body.insert("onPremisesImmutableId".into(), json!(anchor.to_string()));
            } else {
                b.anchor_not_rendered();
            }
            for (name, values) in attributes {
                if name.is("SourceAnchor") {
                    // The op's anchor is the one to stamp; a mapped copy adds nothing.
                    continue;
                }
                b.property(&mut body, name, values)?;
            }
            if op.kind == ObjectKind::Group {
                body.entry("mailEnabled").or_insert(Json::Bool(false));
                body.entry("securityEnabled").or_insert(Json::Bool(true));
            }
            Ok(b.finish(Method::Post, format!("/{coll}"), Some(Json::Object(body))))
        }
        Action::Update { target, changes } => {
            let id = b.reference(target);
            let mut body = Map::new();
            b.changes(&mut body, changes)?;
            Ok(b.finish(
                Method::Patch,
                format!("/{coll}/{id}"),
                Some(Json::Object(body)),
            ))
        }
        Action::StampAnchor {
            target,
            anchor,
            changes,
        } => {
            let id = encode_segment(target.as_str());
            let mut body = Map::new();
            if op.kind == ObjectKind::User {
                body.insert("onPremisesImmutableId".into(), json!(anchor.to_string()));
            } else {
                b.anchor_not_rendered();
            }
            b.changes(&mut body, changes)?;
            Ok(b.finish(
                Method::Patch,
                format!("/{coll}/{id}"),
                Some(Json::Object(body)),
            ))
        }
        Action::Delete { target } => {
            let id = encode_segment(target.as_str());
            Ok(b.finish(Method::Delete, format!("/{coll}/{id}"), None))
        }
        Action::Restore { target } => {
            let id = encode_segment(target.as_str());
            Ok(b.finish(
                Method::Post,
                format!("/directory/deletedItems/{id}/restore"),
                None,
            ))
        }
        Action::AddMember { group, member } => {
            let g = b.reference(group);
            let m = b.reference(member);
            let body = json!({ "@odata.id": format!("{GRAPH_ROOT}/directoryObjects/{m}") });
            Ok(b.finish(
                Method::Post,
                format!("/groups/{g}/members/$ref"),
                Some(body),
            ))
        }
        Action::RemoveMember { group, member } => {
            let g = b.reference(group);
            let m = b.reference(member);
            Ok(b.finish(
                Method::Delete,
                format!("/groups/{g}/members/{m}/$ref"),
                None,
            ))
        }
        Action::SetPasswordHash { target, hash } => {
            let id = b.reference(target);
            let encoded = base64::engine::general_purpose::STANDARD.encode(hash.expose());
            let body = json!({ "passwordHash": encoded });
            Ok(b.finish(
                Method::Post,
                format!("/users/{id}/{PASSWORD_HASH_ACTION}"),
                Some(body),
            ))
        }
    }
}

/// One JSON `$batch` request body (`POST /$batch`).
///
/// Serializes as `{"requests": [...]}`, the wire form; `Debug` and
/// [`GraphBatch::log_form`] redact secret-carrying bodies.
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct GraphBatch {
    /// The requests, in plan order.
    pub requests: Vec<GraphRequest>,
}

impl GraphBatch {
    /// The batch as it may be logged (secrets redacted).
    pub fn log_form(&self) -> Json {
        json!({ "requests": self.requests.iter().map(GraphRequest::log_form).collect::<Vec<_>>() })
    }

    /// The requests that refer to no object still to be created (no
    /// `$<n>`): what a host can send to Graph as they are.
    pub fn ready(&self) -> Vec<&GraphRequest> {
        self.requests
            .iter()
            .filter(|r| r.unresolved_refs().is_empty())
            .collect()
    }

    /// The ops outside this batch whose created ids its requests still
    /// need (substitute them with [`GraphRequest::resolve_created`]).
    pub fn external_refs(&self) -> Vec<OpId> {
        let inside: Vec<&str> = self.requests.iter().map(|r| r.id.as_str()).collect();
        let mut refs: Vec<OpId> = self
            .requests
            .iter()
            .flat_map(GraphRequest::unresolved_refs)
            .filter(|op| !inside.contains(&op.0.to_string().as_str()))
            .collect();
        refs.sort();
        refs.dedup();
        refs
    }
}

impl fmt::Debug for GraphBatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GraphBatch")
            .field("requests", &self.requests)
            .finish()
    }
}

/// Cuts requests, in order, into batches of at most `max` requests (clamped
/// to 1..=20), keeping each request with the requests it depends on when
/// the chain fits in one batch (see the module docs).
///
/// ```
/// use idsync::graph::{batch, GraphRequest, Method};
/// let reqs: Vec<GraphRequest> = (1..=45)
///     .map(|i| GraphRequest {
///         id: i.to_string(),
///         method: Method::Delete,
///         url: format!("/users/u{i}"),
///         headers: Default::default(),
///         body: None,
///         depends_on: vec![],
///     })
///     .collect();
/// let batches = batch(reqs, 20);
/// assert_eq!(batches.iter().map(|b| b.requests.len()).collect::<Vec<_>>(), vec![20, 20, 5]);
/// ```
pub fn batch(requests: Vec<GraphRequest>, max: usize) -> Vec<GraphBatch> {
    let max = max.clamp(1, MAX_BATCH_REQUESTS);
    let n = requests.len();
    let position: HashMap<&str, usize> = requests
        .iter()
        .enumerate()
        .map(|(i, r)| (r.id.as_str(), i))
        .collect();
    // For each request, the last request that depends on it.
    let mut last_dependent: Vec<usize> = (0..n).collect();
    for (i, r) in requests.iter().enumerate() {
        for d in &r.depends_on {
            if let Some(&j) = position.get(d.as_str()) {
                if let Some(last) = last_dependent.get_mut(j).filter(|_| j < i) {
                    *last = (*last).max(i);
                }
            }
        }
    }
    let mut cuts = Vec::new();
    let mut start = 0;
    while start < n {
        let limit = (start + max).min(n);
        let mut reach = start;
        let mut clean_end = None;
        for (i, last) in last_dependent.iter().enumerate().take(limit).skip(start) {
            reach = reach.max(*last);
            if reach <= i {
                clean_end = Some(i + 1);
            }
        }
        let end = clean_end.unwrap_or(limit);
        cuts.push(end);
        start = end;
    }
    let mut out = Vec::with_capacity(cuts.len());
    let mut iter = requests.into_iter();
    let mut prev = 0;
    for end in cuts {
        let mut reqs: Vec<GraphRequest> = iter.by_ref().take(end - prev).collect();
        prev = end;
        let ids: Vec<String> = reqs.iter().map(|r| r.id.clone()).collect();
        for r in &mut reqs {
            r.depends_on.retain(|d| ids.contains(d));
        }
        out.push(GraphBatch { requests: reqs });
    }
    out
}

/// A plan rendered as batches.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RenderedPlan {
    /// The batches, in plan order.
    pub batches: Vec<GraphBatch>,
    /// Attributes not rendered, per op.
    pub not_rendered: Vec<NotRendered>,
    /// Ops that could not be rendered (left out of the batches; ops that
    /// reference them keep an unresolved `$<n>`).
    pub errors: Vec<GraphError>,
}

/// Renders every op and cuts the requests into batches of at most 20. A
/// bad op fails alone: it is reported in `errors`, the rest is rendered.
pub fn render_plan<'a>(ops: impl IntoIterator<Item = &'a TargetOp>) -> RenderedPlan {
    let mut requests = Vec::new();
    let mut plan = RenderedPlan::default();
    for op in ops {
        match render(op) {
            Ok(r) => {
                requests.push(r.request);
                plan.not_rendered.extend(r.not_rendered);
            }
            Err(e) => plan.errors.push(e),
        }
    }
    plan.batches = batch(requests, MAX_BATCH_REQUESTS);
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(id: u64, deps: &[u64]) -> GraphRequest {
        GraphRequest {
            id: id.to_string(),
            method: Method::Post,
            url: format!("/x/{id}"),
            headers: BTreeMap::new(),
            body: None,
            depends_on: deps.iter().map(u64::to_string).collect(),
        }
    }

    #[test]
    fn cuts_before_a_dependency_group() {
        // 1..=18 independent, 19 created, 20..=22 depend on 19.
        let mut reqs: Vec<GraphRequest> = (1..=19).map(|i| req(i, &[])).collect();
        reqs.extend((20..=22).map(|i| req(i, &[19])));
        let b = batch(reqs, 20);
        let sizes: Vec<usize> = b.iter().map(|b| b.requests.len()).collect();
        assert_eq!(sizes, vec![18, 4]);
        assert_eq!(b[1].requests[1].depends_on, vec!["19".to_owned()]);
    }

    #[test]
    fn too_long_chain_is_split_and_reference_kept() {
        let mut reqs = vec![req(1, &[])];
        reqs.extend((2..=25).map(|i| req(i, &[1])));
        let b = batch(reqs, 20);
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].requests.len(), 20);
        assert!(b[1].requests.iter().all(|r| r.depends_on.is_empty()));
    }

    #[test]
    fn content_refs_parse() {
        assert_eq!(content_ref("$12"), Some(OpId(12)));
        assert_eq!(content_ref("$ref"), None);
        assert_eq!(content_ref("$"), None);
        assert_eq!(encode_segment("a b/c"), "a%20b%2Fc");
    }
}
